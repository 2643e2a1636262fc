package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

// DriversAnswer is the answer of /api/drivers: the words and two-word phrases significantly
// over-represented in the window's negative messages, and in its positive ones.
type DriversAnswer struct {
	Window        string    `json:"window"`
	WindowSeconds float64   `json:"window_seconds"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	// Background is what the terms' significance is measured against: "index", every indexed
	// message.
	Background string `json:"background"`
	// Field is the index field the terms come from: sentence.drivers (words and phrases), or
	// sentence (words only) on an index made before the template had the sub-field.
	Field string `json:"field"`
	// Current and Previous count the messages of the window and of the one before it.
	Current  DriverTotals `json:"current"`
	Previous DriverTotals `json:"previous"`
	// Negative and Positive are the drivers of each side, most significant first.
	Negative []Driver `json:"negative"`
	Positive []Driver `json:"positive"`
	// CountProbability is 1 when the terms' counts are exact, and the fraction of the messages
	// they were counted in when the windows are so busy that they are estimates from a random
	// sample (about 50,000 messages; see [esindex.DriversQuery]).
	CountProbability float64 `json:"count_probability"`
	// TookMillis is Elasticsearch's own time.
	TookMillis int64 `json:"took_ms"`
}

// DriverTotals count the messages of a window, and those of each side.
type DriverTotals struct {
	Count    int64 `json:"count"`
	Negative int64 `json:"negative"`
	Positive int64 `json:"positive"`
}

// Driver is a term of one side of /api/drivers.
type Driver struct {
	// Term is a lower-cased word or two-word phrase; the page searches for it when clicked.
	Term string `json:"term"`
	// Count is the number of the side's messages of the window holding the term, and Share its
	// fraction of the side's messages.
	Count int64   `json:"count"`
	Share float64 `json:"share"`
	// Mentions counts the window's messages of any label holding the term; Mean is their mean
	// compound score.
	Mentions int64    `json:"mentions"`
	Mean     *float64 `json:"mean"`
	// Score is Elasticsearch's significance of the term for the side against the background;
	// Z the z-score of the side's share against the window's other messages (nil when there
	// are none); Background the number of indexed messages holding it.
	Score      float64  `json:"score"`
	Z          *float64 `json:"z"`
	Background int64    `json:"background"`
	// Previous is the same in the window before; Change compares the two.
	Previous DriverPrevious `json:"previous"`
	Change   DriverChange   `json:"change"`
}

// DriverPrevious is a term's counts in the window before.
type DriverPrevious struct {
	Count int64 `json:"count"`
	// Share is nil when the previous window has no messages of the side.
	Share    *float64 `json:"share"`
	Mentions int64    `json:"mentions"`
	Mean     *float64 `json:"mean"`
}

// DriverChange compares a term's window with the one before.
type DriverChange struct {
	Count int64 `json:"count"`
	// Share is the change of the share, nil when the previous window has no messages of the side.
	Share *float64 `json:"share"`
	// Mean is the change of the mean compound, nil unless both windows mention the term.
	Mean *float64 `json:"mean"`
}

func (d *Dashboard) serveDrivers(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	win, err := spanParam(r.URL.Query(), "window", 5*time.Minute, time.Minute, 24*time.Hour, "a duration from 1m to 24h, e.g. 5m")
	if err != nil {
		return err
	}
	// Drivers move slowly and cost two searches: an answer serves 5 TTLs (5 s by default).
	v, err := d.cache.get(r.Context(), "drivers "+win.String(), 5, d.cfg.QueryTimeout, func(ctx context.Context) (any, error) {
		return d.drivers(ctx, win)
	})
	if err != nil {
		if e, ok := errors.AsType[*esindex.Error](err); ok && e.Status == http.StatusNotFound {
			return &serve.Error{Code: http.StatusServiceUnavailable, Msg: "the search index does not exist yet", Detail: map[string]any{"unavailable": depElasticsearch}, Err: err}
		}
		return unavailable(depElasticsearch, err)
	}
	writeLive(w, v)
	return nil
}

func (d *Dashboard) drivers(ctx context.Context, win time.Duration) (*DriversAnswer, error) {
	if d.es == nil {
		return nil, errNotConfigured
	}
	// Whole seconds: concurrent polls (of this instance without its cache, or of several
	// instances) send Elasticsearch the same searches, which its request cache then answers once
	// until the next refresh.
	to := d.cfg.Now().UTC().Truncate(time.Second)
	from := to.Add(-win)
	a := d.analyzer()
	got, err := d.es.Drivers(ctx, esindex.DriversQuery{
		From: from, To: to, Exclude: d.cfg.ProductNames,
		// A word that carries the sentiment itself ("terrible", "love") says how people feel,
		// not why: only terms VADER scores neutral on their own are listed.
		Keep: func(term string) bool { return sentiment.Label(a.Score(term).Compound) == sentiment.LabelNeutral },
	})
	if err != nil {
		return nil, fmt.Errorf("drivers: %w", err)
	}
	out := &DriversAnswer{
		Window: win.String(), WindowSeconds: win.Seconds(), From: from, To: to,
		Background: "index", Field: got.Field,
		Current:          DriverTotals(got.Current),
		Previous:         DriverTotals(got.Previous),
		TookMillis:       got.Took.Milliseconds(),
		CountProbability: got.Probability,
		Negative:         driversOf(got.Negative, got.Current.Negative, got.Previous.Negative),
		Positive:         driversOf(got.Positive, got.Current.Positive, got.Previous.Positive),
	}
	return out, nil
}

// driversOf completes a side's drivers with shares and changes; n and prev are the side's
// message counts in the window and the one before.
func driversOf(ds []esindex.Driver, n, prev int64) []Driver {
	out := make([]Driver, 0, len(ds))
	for _, x := range ds {
		dr := Driver{
			Term: x.Term, Count: x.Current.Count, Mentions: x.Current.Mentions, Mean: x.Current.Mean,
			Score: x.Score, Z: x.Z, Background: x.Background,
			Previous: DriverPrevious{Count: x.Previous.Count, Mentions: x.Previous.Mentions, Mean: x.Previous.Mean},
			Change:   DriverChange{Count: x.Current.Count - x.Previous.Count},
		}
		if n > 0 {
			dr.Share = float64(x.Current.Count) / float64(n)
		}
		if prev > 0 {
			dr.Previous.Share = ptr(float64(x.Previous.Count) / float64(prev))
			dr.Change.Share = ptr(dr.Share - *dr.Previous.Share)
		}
		if x.Current.Mean != nil && x.Previous.Mean != nil {
			dr.Change.Mean = ptr(*x.Current.Mean - *x.Previous.Mean)
		}
		out = append(out, dr)
	}
	return out
}
