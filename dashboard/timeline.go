package dashboard

import (
	"context"
	"net/http"
	"time"
)

// Timeline is the answer of /api/timeline.
type Timeline struct {
	Range       string    `json:"range"`
	StepSeconds float64   `json:"step_seconds"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	// Buckets cover [From, To) in order, one per step, empty ones included.
	Buckets []Bucket `json:"buckets"`
	// Future counts the messages dated in the future (see the package doc), which no bucket
	// holds, not even the current one.
	Future int64 `json:"future"`
}

// Bucket is one step of a timeline.
type Bucket struct {
	Start time.Time `json:"start"`
	Counts
}

func (d *Dashboard) serveTimeline(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	span, err := spanParam(r.URL.Query(), "range", time.Hour, 15*time.Minute, 7*24*time.Hour, "a duration from 15m to 7d, e.g. 1h, 24h, 7d")
	if err != nil {
		return err
	}
	// Coarse buckets change slowly and cost the most: keep them longer (a minute for hourly
	// buckets) and give their query more time, since it mostly runs as a background refresh.
	step := stepFor(span)
	scale, timeout := int(step/time.Minute), d.cfg.QueryTimeout
	if step >= 10*time.Minute {
		timeout *= 4
	}
	v, err := d.cache.get(r.Context(), "timeline "+span.String(), scale, timeout, func(ctx context.Context) (any, error) {
		return d.timeline(ctx, span)
	})
	if err != nil {
		return unavailable(depPostgres, err)
	}
	writeLive(w, v)
	return nil
}

func (d *Dashboard) timeline(ctx context.Context, span time.Duration) (*Timeline, error) {
	if d.pg == nil {
		return nil, errNotConfigured
	}
	step := stepFor(span)
	now := d.cfg.Now().UTC()
	// Buckets are aligned on multiples of step since the Unix epoch; the last one holds now.
	to := now.Truncate(step).Add(step)
	from := to.Add(-span).Truncate(step)
	n := int(to.Sub(from) / step)
	tl := &Timeline{Range: span.String(), StepSeconds: step.Seconds(), From: from, To: to, Buckets: make([]Bucket, n)}
	for i := range tl.Buckets {
		tl.Buckets[i].Start = from.Add(time.Duration(i) * step)
	}
	// The current bucket may reach past the future-dated cut-off (an hour's bucket does).
	future, end := d.futureFrom(now), to
	if future.Before(end) {
		end = future
	}
	got, err := d.pg.Timeline(ctx, from, end, step)
	if err != nil {
		return nil, err
	}
	if tl.Future, err = d.pg.Future(ctx, future); err != nil {
		return nil, err
	}
	for _, b := range got {
		i := int(b.Start.Sub(from) / step)
		if i < 0 || i >= n {
			continue
		}
		tl.Buckets[i].Counts = countsOf(b.Counts)
	}
	return tl, nil
}
