package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sentistream/sentistream/internal/sentiment"
)

// The label of a row is computed from its compound score with the thresholds of
// [sentiment.Label] (positive ≥ 0.05, negative ≤ −0.05), so rows written by the seed, which have no
// label column value, count too.
const (
	sqlPositive = `sentiment >= 0.05`
	sqlNegative = `sentiment <= -0.05`
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

func (c *Counts) finish() {
	c.Neutral = c.Count - c.Positive - c.Negative
	if c.Count > 0 {
		n := float64(c.Count)
		c.Share = Shares{float64(c.Positive) / n, float64(c.Neutral) / n, float64(c.Negative) / n}
	}
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
	if d.deps.DB == nil {
		return nil, errNotConfigured
	}
	to := d.cfg.Now().UTC()
	mid, from := to.Add(-win), to.Add(-2*win)
	m := &Mood{Window: win.String(), WindowSeconds: win.Seconds(), From: mid, To: to}
	err := d.deps.DB.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE created_at >= $2),
       avg(sentiment) FILTER (WHERE created_at >= $2),
       count(*) FILTER (WHERE created_at >= $2 AND `+sqlPositive+`),
       count(*) FILTER (WHERE created_at >= $2 AND `+sqlNegative+`),
       count(*) FILTER (WHERE created_at < $2),
       avg(sentiment) FILTER (WHERE created_at < $2),
       count(*) FILTER (WHERE created_at < $2 AND `+sqlPositive+`),
       count(*) FILTER (WHERE created_at < $2 AND `+sqlNegative+`)
FROM sentences WHERE created_at >= $1 AND created_at < $3`, from, mid, to).Scan(
		&m.Current.Count, &m.Current.Mean, &m.Current.Positive, &m.Current.Negative,
		&m.Previous.Count, &m.Previous.Mean, &m.Previous.Positive, &m.Previous.Negative)
	if err != nil {
		return nil, fmt.Errorf("mood: %w", err)
	}
	m.Current.finish()
	m.Previous.finish()
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

// Timeline is the answer of /api/timeline.
type Timeline struct {
	Range       string    `json:"range"`
	StepSeconds float64   `json:"step_seconds"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	// Buckets cover [From, To) in order, one per step, empty ones included.
	Buckets []Bucket `json:"buckets"`
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
	if d.deps.DB == nil {
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
	var (
		got []Bucket
		err error
	)
	if d.rollup.usable(now) {
		// The per-minute rollup answers exactly, since buckets are whole minutes.
		got, err = d.timelineRows(ctx, `
SELECT date_bin(make_interval(secs => $3), minute, 'epoch'::timestamptz) AS b,
       sum(n)::bigint, sum(sum_compound) / nullif(sum(n), 0), sum(positive)::bigint, sum(negative)::bigint
FROM sentences_minute WHERE minute >= $1 AND minute < $2
GROUP BY b ORDER BY b`, from, to, step)
		if missingRollup(err) {
			d.rollup.missing(now)
			d.log.LogAttrs(ctx, slog.LevelInfo, "timeline: no rollup table sentences_minute; reading sentences", slog.Any("error", err))
		}
	}
	if got == nil && (err == nil || missingRollup(err)) {
		got, err = d.timelineRows(ctx, `
SELECT date_bin(make_interval(secs => $3), created_at, 'epoch'::timestamptz) AS b,
       count(*), avg(sentiment),
       count(*) FILTER (WHERE `+sqlPositive+`),
       count(*) FILTER (WHERE `+sqlNegative+`)
FROM sentences WHERE created_at >= $1 AND created_at < $2
GROUP BY b ORDER BY b`, from, to, step)
	}
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	for _, b := range got {
		i := int(b.Start.Sub(from) / step)
		if i < 0 || i >= n {
			continue
		}
		b.finish()
		tl.Buckets[i].Counts = b.Counts
	}
	return tl, nil
}

// timelineRows runs a timeline query whose rows are (bucket start, count, mean, positive,
// negative). It returns a non-nil slice on success.
func (d *Dashboard) timelineRows(ctx context.Context, sql string, from, to time.Time, step time.Duration) ([]Bucket, error) {
	rows, err := d.deps.DB.Query(ctx, sql, from, to, step.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Bucket{}
	for rows.Next() {
		var b Bucket
		if err := rows.Scan(&b.Start, &b.Count, &b.Mean, &b.Positive, &b.Negative); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// rollupState remembers that the rollup table sentences_minute is missing, and looks again a
// minute later, so a migration that adds it is picked up without a restart.
type rollupState struct {
	missingUntil atomic.Int64 // Unix nanoseconds
}

func (r *rollupState) usable(now time.Time) bool { return now.UnixNano() >= r.missingUntil.Load() }

func (r *rollupState) missing(now time.Time) { r.missingUntil.Store(now.Add(time.Minute).UnixNano()) }

// missingRollup reports whether err says the rollup table or one of its columns does not exist.
func missingRollup(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "42703") // undefined_table, undefined_column
}

// Message is one row of /api/latest.
type Message struct {
	ID        int64     `json:"id"`
	Sentence  string    `json:"sentence"`
	Truncated bool      `json:"truncated,omitempty"`
	Compound  *float64  `json:"compound"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
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
	if d.deps.DB == nil {
		return nil, errNotConfigured
	}
	// The seed's query, bounded, with the label column when the score function wrote one.
	rows, err := d.deps.DB.Query(ctx, `
SELECT id, sentence, sentiment, label, created_at
FROM sentences ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("latest: %w", err)
	}
	defer rows.Close()
	l := &Latest{Messages: []Message{}}
	for rows.Next() {
		var (
			m        Message
			sentence *string
			label    *string
		)
		if err := rows.Scan(&m.ID, &sentence, &m.Compound, &label, &m.CreatedAt); err != nil {
			return nil, fmt.Errorf("latest: %w", err)
		}
		if sentence != nil {
			m.Sentence, m.Truncated = shorten(*sentence)
		}
		switch {
		case label != nil && *label != "":
			m.Label = *label
		case m.Compound != nil:
			m.Label = sentiment.Label(*m.Compound)
		}
		l.Messages = append(l.Messages, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest: %w", err)
	}
	return l, nil
}

// scoredStats returns when the newest row was scored and how many rows were scored in the last
// minute (both from the score function's scored_at column).
func (d *Dashboard) scoredStats(ctx context.Context, now time.Time) (newest *time.Time, lastMinute int64, err error) {
	if d.deps.DB == nil {
		return nil, 0, errNotConfigured
	}
	err = d.deps.DB.QueryRow(ctx, `
SELECT (SELECT max(scored_at) FROM sentences),
       (SELECT count(*) FROM sentences WHERE scored_at >= $1)`, now.Add(-time.Minute)).Scan(&newest, &lastMinute)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, fmt.Errorf("scored stats: %w", err)
	}
	return newest, lastMinute, nil
}
