// Package watch tells when the mood shifts: it compares the share of negative messages in the last
// window with a baseline before it, and reports a shift once, when it starts, as a CloudEvent of
// type [EventType] that users route (Knative Triggers to Slack, PagerDuty, a webhook).
//
// # The rule
//
// Each check, at a minute boundary t, takes the current window [t−Window, t) and the baseline
// [t−Window−Baseline, t−Window) from the store, and runs a two-proportion z-test on the share of
// negative messages (compound ≤ −0.05, the label threshold): with p₀ and p₁ the baseline's and the
// window's shares over n₀ and n₁ messages, and p the pooled share,
//
//	z = (p₁ − p₀) / √(p(1−p)(1/n₀ + 1/n₁))
//
// The mood has shifted when both sides hold at least MinCount messages, |z| ≥ Z and |p₁ − p₀| ≥
// MinDelta. The z-test keeps a quiet hour from alerting on three unlucky messages (at n₁ = 100 and
// p near 0.35, a share must move about 0.2 for z to reach 4); MinDelta keeps a busy stream from
// alerting on a significant but tiny move.
//
// # Once per shift, without memory
//
// A check emits only when the window is shifted at t and was not at t − 1 minute, which it
// recomputes from the store: a function scaled to zero remembers nothing, and needs not. The
// event's id is the direction and t, so a retried check of the same minute sends the same id.
package watch

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sentistream/sentistream/internal/pgstore"
)

// EventType is the CloudEvent type of a mood shift.
const EventType = "dev.sentistream.mood.shifted"

// Directions of a shift.
const (
	Negative = "negative" // the share of negative messages rose
	Positive = "positive" // it fell
)

// Config is the rule; the zero value of each field means its default.
type Config struct {
	Window   time.Duration // the current window; default 10m
	Baseline time.Duration // the baseline before it; default 2h
	MinCount int64         // fewest messages on each side; default 100
	Z        float64       // least |z|; default 4
	MinDelta float64       // least change of the negative share; default 0.1
}

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.Baseline <= 0 {
		c.Baseline = 2 * time.Hour
	}
	if c.MinCount <= 0 {
		c.MinCount = 100
	}
	if c.Z <= 0 {
		c.Z = 4
	}
	if c.MinDelta <= 0 {
		c.MinDelta = 0.1
	}
	return c
}

// Side is one side of the comparison.
type Side struct {
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	Count         int64     `json:"count"`
	Negative      int64     `json:"negative"`
	Positive      int64     `json:"positive"`
	NegativeShare float64   `json:"negative_share"`
	Mean          *float64  `json:"mean"`
}

func side(from, to time.Time, c pgstore.Counts) Side {
	s := Side{From: from, To: to, Count: c.Count, Negative: c.Negative, Positive: c.Positive, Mean: c.Mean}
	if c.Count > 0 {
		s.NegativeShare = float64(c.Negative) / float64(c.Count)
	}
	return s
}

// Verdict is the comparison at one minute.
type Verdict struct {
	At       time.Time `json:"at"`
	Baseline Side      `json:"baseline"`
	Current  Side      `json:"current"`
	Z        float64   `json:"z"`
	// Direction is Negative or Positive when the mood has shifted, "" when it has not.
	Direction string `json:"direction"`
}

// Judge applies the rule to a baseline and a current window.
func (c Config) Judge(baseline, current Side) (z float64, direction string) {
	c = c.withDefaults()
	n0, n1 := float64(baseline.Count), float64(current.Count)
	if baseline.Count < c.MinCount || current.Count < c.MinCount {
		return 0, ""
	}
	p0, p1 := baseline.NegativeShare, current.NegativeShare
	p := (p0*n0 + p1*n1) / (n0 + n1)
	se := math.Sqrt(p * (1 - p) * (1/n0 + 1/n1))
	if se == 0 {
		return 0, "" // every message on both sides negative, or none: nothing moved
	}
	z = (p1 - p0) / se
	if math.Abs(z) < c.Z || math.Abs(p1-p0) < c.MinDelta {
		return z, ""
	}
	if z > 0 {
		return z, Negative
	}
	return z, Positive
}

// Reader reads the counts of two adjacent windows; [pgstore.Store] is one.
type Reader interface {
	Mood(ctx context.Context, from, mid, to time.Time) (previous, current pgstore.Counts, err error)
}

// Watcher checks the mood in a store.
type Watcher struct {
	cfg Config
	db  Reader
}

// New returns a Watcher applying cfg to db.
func New(cfg Config, db Reader) *Watcher { return &Watcher{cfg: cfg.withDefaults(), db: db} }

// Config returns the rule in force, defaults filled in.
func (w *Watcher) Config() Config { return w.cfg }

// At returns the verdict at minute at (truncated to the minute).
func (w *Watcher) At(ctx context.Context, at time.Time) (Verdict, error) {
	at = at.UTC().Truncate(time.Minute)
	mid := at.Add(-w.cfg.Window)
	from := mid.Add(-w.cfg.Baseline)
	prev, cur, err := w.db.Mood(ctx, from, mid, at)
	if err != nil {
		return Verdict{}, fmt.Errorf("watch: read the mood: %w", err)
	}
	v := Verdict{At: at, Baseline: side(from, mid, prev), Current: side(mid, at, cur)}
	v.Z, v.Direction = w.cfg.Judge(v.Baseline, v.Current)
	return v, nil
}

// Check is the verdict at minute at and whether it starts a shift: shifted now, and not (or the
// other way) a minute before.
type Check struct {
	Verdict
	// Starts is true when this minute starts a shift: the event to emit.
	Starts bool `json:"starts"`
	// ID is the event's id when Starts.
	ID string `json:"id,omitempty"`
}

// Check returns the verdict at minute at, and whether it starts a shift.
func (w *Watcher) Check(ctx context.Context, at time.Time) (Check, error) {
	now, err := w.At(ctx, at)
	if err != nil {
		return Check{}, err
	}
	c := Check{Verdict: now}
	if now.Direction == "" {
		return c, nil
	}
	before, err := w.At(ctx, now.At.Add(-time.Minute))
	if err != nil {
		return Check{}, err
	}
	if before.Direction != now.Direction {
		c.Starts = true
		c.ID = "mood-shift/" + now.Direction + "/" + now.At.Format(time.RFC3339)
	}
	return c, nil
}
