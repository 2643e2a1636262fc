package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sentistream/sentistream/internal/sentiment"
)

// ErrNoTable is the cause of a read of a database whose sentences table does not exist yet: the
// score function's migrations create it on start-up. The dashboard's reads return errors that
// wrap it (check with errors.Is), alongside PostgreSQL's own error.
var ErrNoTable = errors.New("pgstore: no sentences table")

// SQL conditions on a sentences row's compound score with the thresholds of [sentiment.Label], so
// rows count by label whatever their label column holds (rows of other writers may have none).
// Migration 0002's rollup trigger counts with the same conditions (a test checks it).
var (
	sqlPositive = "sentiment >= " + strconv.FormatFloat(sentiment.PositiveThreshold, 'f', -1, 64)
	sqlNegative = "sentiment <= " + strconv.FormatFloat(sentiment.NegativeThreshold, 'f', -1, 64)
)

// readErr wraps the error of the read op, adding [ErrNoTable] when PostgreSQL says a table does
// not exist.
func readErr(op string, err error) error {
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return fmt.Errorf("%s: %w: %w", op, ErrNoTable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Counts are the volume and mood of a set of rows.
type Counts struct {
	// Count is the number of rows.
	Count int64
	// Mean is the mean compound score, nil when Count is 0.
	Mean *float64
	// Positive and Negative count the rows by the thresholds of [sentiment.Label]; the others
	// are neutral.
	Positive, Negative int64
}

// Mood returns the counts of the rows created in [from, mid) (previous) and in [mid, to)
// (current), in one query. The whole minutes of each side come from the per-minute rollup
// sentences_minute (migration 0002), the partial minutes at the edges from sentences on its
// created_at index, so a day's window costs a few thousand rollup rows instead of every message
// (at 1,000,000 rows, a 24 h mood read from sentences took over 1.5 s under 20 clients). Without
// the rollup, or for sides shorter than three minutes, it reads sentences alone.
func (s *Store) Mood(ctx context.Context, from, mid, to time.Time) (previous, current Counts, err error) {
	now := time.Now().UnixNano()
	if mid.Sub(from) >= 3*time.Minute && to.Sub(mid) >= 3*time.Minute && now >= s.rollupMissingUntil.Load() {
		previous, current, err = s.moodRollup(ctx, from, mid, to)
		if !missingRollup(err) {
			if err != nil {
				return Counts{}, Counts{}, readErr("mood", err)
			}
			return previous, current, nil
		}
		s.rollupMissingUntil.Store(now + int64(time.Minute))
	}
	err = s.pool.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE created_at >= $2),
       avg(sentiment) FILTER (WHERE created_at >= $2),
       count(*) FILTER (WHERE created_at >= $2 AND `+sqlPositive+`),
       count(*) FILTER (WHERE created_at >= $2 AND `+sqlNegative+`),
       count(*) FILTER (WHERE created_at < $2),
       avg(sentiment) FILTER (WHERE created_at < $2),
       count(*) FILTER (WHERE created_at < $2 AND `+sqlPositive+`),
       count(*) FILTER (WHERE created_at < $2 AND `+sqlNegative+`)
FROM sentences WHERE created_at >= $1 AND created_at < $3`, from, mid, to).Scan(
		&current.Count, &current.Mean, &current.Positive, &current.Negative,
		&previous.Count, &previous.Mean, &previous.Positive, &previous.Negative)
	if err != nil {
		return Counts{}, Counts{}, readErr("mood", err)
	}
	return previous, current, nil
}

// moodRollup is Mood from the rollup's whole minutes and sentences' partial ones: the minutes
// [ceil(from), floor(mid)) and [ceil(mid), floor(to)) from sentences_minute, and [from,
// ceil(from)), [floor(mid), ceil(mid)) and [floor(to), to) from sentences.
func (s *Store) moodRollup(ctx context.Context, from, mid, to time.Time) (previous, current Counts, err error) {
	ceil := func(t time.Time) time.Time {
		if f := t.Truncate(time.Minute); !f.Equal(t) {
			return f.Add(time.Minute)
		}
		return t
	}
	var sums [2]*float64
	var counts [2]Counts
	rows, err := s.pool.Query(ctx, `
SELECT side, sum(n)::bigint, sum(s), sum(p)::bigint, sum(ng)::bigint FROM (
	SELECT (minute >= $2)::int AS side, n, sum_compound AS s, positive AS p, negative AS ng
	FROM sentences_minute WHERE (minute >= $4 AND minute < $5) OR (minute >= $6 AND minute < $7)
	UNION ALL
	SELECT (created_at >= $2)::int, 1, sentiment, (`+sqlPositive+`)::int, (`+sqlNegative+`)::int
	FROM sentences WHERE (created_at >= $1 AND created_at < $4) OR (created_at >= $5 AND created_at < $6)
		OR (created_at >= $7 AND created_at < $3)
) parts GROUP BY side`, from, mid, to, ceil(from), mid.Truncate(time.Minute), ceil(mid), to.Truncate(time.Minute))
	if err != nil {
		return Counts{}, Counts{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var side int
		var c Counts
		var sum *float64
		if err := rows.Scan(&side, &c.Count, &sum, &c.Positive, &c.Negative); err != nil {
			return Counts{}, Counts{}, err
		}
		counts[side], sums[side] = c, sum
	}
	if err := rows.Err(); err != nil {
		return Counts{}, Counts{}, err
	}
	for i := range counts {
		if counts[i].Count > 0 && sums[i] != nil {
			m := *sums[i] / float64(counts[i].Count)
			counts[i].Mean = &m
		}
	}
	return counts[0], counts[1], nil
}

// Bucket is the counts of the rows created in one step of a [Store.Timeline], from Start.
type Bucket struct {
	Start time.Time
	Counts
}

// Timeline returns the counts of the rows created in [from, to) per step, in buckets aligned on
// multiples of step since the Unix epoch, in order; buckets without rows are left out. When step
// is a whole number of minutes it reads the per-minute rollup sentences_minute (migration 0002),
// which answers exactly and, over days, a hundred times faster; when that table does not exist it
// reads sentences, and looks for the rollup again a minute later, so a migration that adds it is
// picked up without a restart.
func (s *Store) Timeline(ctx context.Context, from, to time.Time, step time.Duration) ([]Bucket, error) {
	now := time.Now().UnixNano()
	if step%time.Minute == 0 && now >= s.rollupMissingUntil.Load() {
		got, err := s.timelineRows(ctx, `
SELECT date_bin(make_interval(secs => $3), minute, 'epoch'::timestamptz) AS b,
       sum(n)::bigint, sum(sum_compound) / nullif(sum(n), 0), sum(positive)::bigint, sum(negative)::bigint
FROM sentences_minute WHERE minute >= $1 AND minute < $2
GROUP BY b ORDER BY b`, from, to, step)
		if !missingRollup(err) {
			if err != nil {
				return nil, readErr("timeline", err)
			}
			return got, nil
		}
		s.rollupMissingUntil.Store(now + int64(time.Minute))
	}
	got, err := s.timelineRows(ctx, `
SELECT date_bin(make_interval(secs => $3), created_at, 'epoch'::timestamptz) AS b,
       count(*), avg(sentiment),
       count(*) FILTER (WHERE `+sqlPositive+`),
       count(*) FILTER (WHERE `+sqlNegative+`)
FROM sentences WHERE created_at >= $1 AND created_at < $2
GROUP BY b ORDER BY b`, from, to, step)
	if err != nil {
		return nil, readErr("timeline", err)
	}
	return got, nil
}

// timelineRows runs a timeline query whose rows are (bucket start, count, mean, positive,
// negative).
func (s *Store) timelineRows(ctx context.Context, sql string, from, to time.Time, step time.Duration) ([]Bucket, error) {
	rows, err := s.pool.Query(ctx, sql, from, to, step.Seconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bucket, error) {
		var b Bucket
		err := r.Scan(&b.Start, &b.Count, &b.Mean, &b.Positive, &b.Negative)
		return b, err
	})
}

// missingRollup reports whether err says the rollup table or one of its columns does not exist.
func missingRollup(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "42703") // undefined_table, undefined_column
}

// Message is a stored sentence as [Store.Latest] lists it.
type Message struct {
	ID       int64
	Sentence string
	// Compound is the VADER compound score; nil when the row has none.
	Compound *float64
	// Label is the row's label, or [sentiment.Label] of Compound when the row has none; empty
	// when it has neither.
	Label     string
	CreatedAt time.Time
	// ScoredAt is when the row was stored (the score function's transaction time): when it
	// arrived.
	ScoredAt time.Time
}

// Latest returns the limit rows that arrived last, newest first: by scored_at, and by created_at
// among the rows of one batch (which share it). Arrival, not created_at, because created_at is
// the producer's clock: one row stamped years ahead would otherwise stay on top for good. It
// reads the scored_at index backwards, sorting only within equal scored_at.
func (s *Store) Latest(ctx context.Context, limit int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, sentence, sentiment, label, created_at, scored_at
FROM sentences ORDER BY scored_at DESC, created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, readErr("latest", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var (
			m               Message
			sentence, label *string
		)
		if err := r.Scan(&m.ID, &sentence, &m.Compound, &label, &m.CreatedAt, &m.ScoredAt); err != nil {
			return m, err
		}
		if sentence != nil {
			m.Sentence = *sentence
		}
		switch {
		case label != nil && *label != "":
			m.Label = *label
		case m.Compound != nil:
			m.Label = sentiment.Label(*m.Compound)
		}
		return m, nil
	})
	if err != nil {
		return nil, readErr("latest", err)
	}
	return out, nil
}

// Future returns how many rows were created at or after from, on the created_at index. With from
// a little past now, these are the rows a producer's wrong clock or zone stamped in the future,
// which [Store.Mood] and [Store.Timeline] windows ending now leave out.
func (s *Store) Future(ctx context.Context, from time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM sentences WHERE created_at >= $1`, from).Scan(&n); err != nil {
		return 0, readErr("future", err)
	}
	return n, nil
}

// ScoredStats returns when the newest row was scored (nil when there are no rows) and how many
// rows were scored at or after since (both from the scored_at column the score function sets).
func (s *Store) ScoredStats(ctx context.Context, since time.Time) (newest *time.Time, n int64, err error) {
	err = s.pool.QueryRow(ctx, `
SELECT (SELECT max(scored_at) FROM sentences),
       (SELECT count(*) FROM sentences WHERE scored_at >= $1)`, since).Scan(&newest, &n)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, readErr("scored stats", err)
	}
	return newest, n, nil
}
