package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Message is one row of /api/latest.
type Message struct {
	ID        int64     `json:"id"`
	Sentence  string    `json:"sentence"`
	Truncated bool      `json:"truncated,omitempty"`
	Compound  *float64  `json:"compound"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	// ScoredAt is when the message was stored: the order of the list.
	ScoredAt time.Time `json:"scored_at"`
	// Future marks a message dated in the future (see the package doc).
	Future bool `json:"future,omitempty"`
}

// Latest is the answer of /api/latest.
type Latest struct {
	Messages []Message `json:"messages"`
}

// maxShown is how many characters of a message the panels show.
const maxShown = 500

// shorten cuts s to maxShown characters.
func shorten(s string) (string, bool) {
	if utf8.RuneCountInString(s) <= maxShown {
		return s, false
	}
	i, n := 0, 0
	for i = range s {
		if n == maxShown {
			break
		}
		n++
	}
	return s[:i] + "…", true
}

func (d *Dashboard) serveLatest(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	limit, err := intParam(r.URL.Query(), "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	v, err := d.cache.get(r.Context(), "latest "+strconv.Itoa(limit), 1, d.cfg.QueryTimeout, func(ctx context.Context) (any, error) {
		return d.latest(ctx, limit)
	})
	if err != nil {
		return unavailable(depPostgres, err)
	}
	writeLive(w, v)
	return nil
}

func (d *Dashboard) latest(ctx context.Context, limit int) (*Latest, error) {
	if d.pg == nil {
		return nil, errNotConfigured
	}
	got, err := d.pg.Latest(ctx, limit)
	if err != nil {
		return nil, err
	}
	future := d.futureFrom(d.cfg.Now())
	l := &Latest{Messages: make([]Message, 0, len(got))}
	for _, m := range got {
		msg := Message{ID: m.ID, Compound: m.Compound, Label: m.Label, CreatedAt: m.CreatedAt, ScoredAt: m.ScoredAt, Future: !m.CreatedAt.Before(future)}
		msg.Sentence, msg.Truncated = shorten(m.Sentence)
		l.Messages = append(l.Messages, msg)
	}
	return l, nil
}
