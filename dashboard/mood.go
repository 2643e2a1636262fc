package dashboard

import (
	"context"
	"net/http"
	"time"

	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// Counts is the volume and mood of a set of messages.
type Counts struct {
	// Count is the number of messages.
	Count int64 `json:"count"`
	// Mean is the mean compound score, or nil when there are no messages.
	Mean *float64 `json:"mean"`
	// Positive, Neutral and Negative count the messages per label.
	Positive int64 `json:"positive"`
	Neutral  int64 `json:"neutral"`
	Negative int64 `json:"negative"`
	// Share holds each label's fraction of Count (0 when Count is 0).
	Share Shares `json:"share"`
}

// Shares are fractions per label.
type Shares struct {
	Positive float64 `json:"positive"`
	Neutral  float64 `json:"neutral"`
	Negative float64 `json:"negative"`
}

// countsOf completes the store's counts with the neutral count and the shares.
func countsOf(s pgstore.Counts) Counts {
	c := Counts{Count: s.Count, Mean: s.Mean, Positive: s.Positive, Negative: s.Negative}
	c.Neutral = c.Count - c.Positive - c.Negative
	if c.Count > 0 {
		n := float64(c.Count)
		c.Share = Shares{float64(c.Positive) / n, float64(c.Neutral) / n, float64(c.Negative) / n}
	}
	return c
}

// Mood is the answer of /api/mood.
type Mood struct {
	Window        string    `json:"window"`
	WindowSeconds float64   `json:"window_seconds"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	// Label is the label of the current mean, "" when there are no messages.
	Label    string `json:"label"`
	Current  Counts `json:"current"`
	Previous Counts `json:"previous"`
	Change   Change `json:"change"`
	// Future counts the messages dated in the future (see the package doc), which no window
	// holds.
	Future int64 `json:"future"`
}

// Change compares the current window with the previous one.
type Change struct {
	// Mean is the change of the mean compound, nil unless both windows have messages.
	Mean *float64 `json:"mean"`
	// Count is the change in volume.
	Count int64 `json:"count"`
	// CountRatio is current/previous volume − 1, nil when the previous window is empty.
	CountRatio *float64 `json:"count_ratio"`
	// Share is the change of each label's share, in fractions.
	Share Shares `json:"share"`
}

func (d *Dashboard) serveMood(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	win, err := spanParam(r.URL.Query(), "window", 5*time.Minute, time.Minute, 24*time.Hour, "a duration from 1m to 24h, e.g. 5m")
	if err != nil {
		return err
	}
	v, err := d.cache.get(r.Context(), "mood "+win.String(), 1, d.cfg.QueryTimeout, func(ctx context.Context) (any, error) {
		return d.mood(ctx, win)
	})
	if err != nil {
		return unavailable(depPostgres, err)
	}
	writeLive(w, v)
	return nil
}

func (d *Dashboard) mood(ctx context.Context, win time.Duration) (*Mood, error) {
	if d.pg == nil {
		return nil, errNotConfigured
	}
	to := d.cfg.Now().UTC()
	mid, from := to.Add(-win), to.Add(-2*win)
	prev, cur, err := d.pg.Mood(ctx, from, mid, to)
	if err != nil {
		return nil, err
	}
	future, err := d.pg.Future(ctx, d.futureFrom(to))
	if err != nil {
		return nil, err
	}
	m := &Mood{Window: win.String(), WindowSeconds: win.Seconds(), From: mid, To: to, Current: countsOf(cur), Previous: countsOf(prev), Future: future}
	if m.Current.Mean != nil {
		m.Label = sentiment.Label(*m.Current.Mean)
	}
	if m.Current.Mean != nil && m.Previous.Mean != nil {
		m.Change.Mean = ptr(*m.Current.Mean - *m.Previous.Mean)
	}
	m.Change.Count = m.Current.Count - m.Previous.Count
	if m.Previous.Count > 0 {
		m.Change.CountRatio = ptr(float64(m.Current.Count)/float64(m.Previous.Count) - 1)
	}
	m.Change.Share = Shares{
		m.Current.Share.Positive - m.Previous.Share.Positive,
		m.Current.Share.Neutral - m.Previous.Share.Neutral,
		m.Current.Share.Negative - m.Previous.Share.Negative,
	}
	return m, nil
}

func ptr[T any](v T) *T { return &v }
