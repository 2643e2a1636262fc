package pgstore_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// readRows stores rows created ago before now with the given compound scores, at the thresholds
// of sentiment.Label and on either side of them.
func readRows(t *testing.T, s *pgstore.Store, now time.Time) {
	t.Helper()
	rows := []struct {
		ago      time.Duration
		compound float64
	}{
		{1 * time.Minute, 0.05}, {2 * time.Minute, -0.05}, {3 * time.Minute, 0.0499}, {4 * time.Minute, 0.8},
		{6 * time.Minute, -0.9}, {7 * time.Minute, 0.3}, {90 * time.Minute, -0.2},
	}
	batch := make([]pgstore.Row, len(rows))
	for i, r := range rows {
		batch[i] = pgstore.Row{
			Record: event.Record{Key: fmt.Sprint("k", i), Sentence: fmt.Sprint("sentence ", i), CreatedAt: now.Add(-r.ago)},
			Scores: sentiment.Scores{Compound: r.compound, Neu: 1},
		}
	}
	if _, err := s.Insert(t.Context(), batch); err != nil {
		t.Fatalf("Insert: %v", err)
	}
}

func TestReads(t *testing.T) {
	pool := pgstoretest.Open(t)
	s := pgstore.New(pool)
	now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	readRows(t, s, now)
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	mean := func(v float64) *float64 { return &v }

	prev, cur, err := s.Mood(t.Context(), now.Add(-10*time.Minute), now.Add(-5*time.Minute), now)
	if err != nil {
		t.Fatalf("Mood: %v", err)
	}
	want := []pgstore.Counts{
		{Count: 2, Mean: mean((-0.9 + 0.3) / 2), Positive: 1, Negative: 1},
		{Count: 4, Mean: mean((0.05 - 0.05 + 0.0499 + 0.8) / 4), Positive: 2, Negative: 1},
	}
	if diff := cmp.Diff(want, []pgstore.Counts{prev, cur}, approx); diff != "" {
		t.Errorf("Mood previous, current (-want +got):\n%s", diff)
	}
	if prev, _, err := s.Mood(t.Context(), now.Add(-time.Hour), now.Add(-time.Hour/2), now); err != nil || prev.Count != 0 || prev.Mean != nil {
		t.Errorf("Mood of an empty window = %+v, %v; want no rows and no mean", prev, err)
	}

	// The rollup and the rows give the same buckets, whole minutes or coarser.
	for _, step := range []time.Duration{time.Minute, 5 * time.Minute, time.Hour} {
		from, to := now.Add(-2*time.Hour).Truncate(step), now.Truncate(step).Add(step)
		fromRollup, err := s.Timeline(t.Context(), from, to, step)
		if err != nil {
			t.Fatalf("Timeline(%v): %v", step, err)
		}
		if _, err := pool.Exec(t.Context(), `ALTER TABLE sentences_minute RENAME TO sentences_minute_off`); err != nil {
			t.Fatal(err)
		}
		fromRows, err := pgstore.New(pool).Timeline(t.Context(), from, to, step) // a fresh Store tries the rollup first
		if _, err := pool.Exec(t.Context(), `ALTER TABLE sentences_minute_off RENAME TO sentences_minute`); err != nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("Timeline(%v) without the rollup: %v", step, err)
		}
		if diff := cmp.Diff(fromRows, fromRollup, approx); diff != "" {
			t.Errorf("Timeline(%v): rollup vs rows (-rows +rollup):\n%s", step, diff)
		}
		var n int64
		for _, b := range fromRollup {
			n += b.Count
			if !b.Start.Truncate(step).Equal(b.Start) || b.Start.Before(from) || !b.Start.Before(to) {
				t.Errorf("Timeline(%v): bucket at %v, want multiples of the step in [%v, %v)", step, b.Start, from, to)
			}
		}
		if n != 7 {
			t.Errorf("Timeline(%v) counts %d rows, want 7", step, n)
		}
	}
	tl, err := s.Timeline(t.Context(), now.Add(-5*time.Minute).Truncate(time.Minute), now.Truncate(time.Minute).Add(time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, b := range tl {
		labels = append(labels, fmt.Sprintf("%v %d/%d/%d", now.Truncate(time.Minute).Sub(b.Start), b.Count, b.Positive, b.Negative))
	}
	if diff := cmp.Diff([]string{"4m0s 1/1/0", "3m0s 1/0/0", "2m0s 1/0/1", "1m0s 1/1/0"}, labels); diff != "" {
		t.Errorf("minute buckets: age count/positive/negative (-want +got):\n%s", diff)
	}

	latest, err := s.Latest(t.Context(), 3)
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	var got []string
	for _, m := range latest {
		got = append(got, fmt.Sprintf("%s %s %+.4f %v", m.Sentence, m.Label, *m.Compound, now.Sub(m.CreatedAt)))
	}
	if diff := cmp.Diff([]string{"sentence 0 positive +0.0500 1m0s", "sentence 1 negative -0.0500 2m0s", "sentence 2 neutral +0.0499 3m0s"}, got); diff != "" {
		t.Errorf("Latest, newest first (-want +got):\n%s", diff)
	}

	newest, n, err := s.ScoredStats(t.Context(), time.Now().Add(-time.Minute))
	if err != nil || newest == nil || n != 7 || time.Since(*newest) > time.Minute {
		t.Errorf("ScoredStats = %v, %d, %v; want all 7 rows scored just now", newest, n, err)
	}
}

func TestReadsWithoutTable(t *testing.T) {
	cfg := pgstoretest.Config(t) // an empty schema: no migrations
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := pgstore.New(pool)
	ctx, now := t.Context(), time.Now()
	_, _, moodErr := s.Mood(ctx, now.Add(-time.Hour), now.Add(-time.Minute), now)
	_, tlErr := s.Timeline(ctx, now.Add(-time.Hour), now, time.Minute)
	_, latestErr := s.Latest(ctx, 1)
	_, _, statsErr := s.ScoredStats(ctx, now)
	_, futureErr := s.Future(ctx, now)
	for name, err := range map[string]error{"Mood": moodErr, "Timeline": tlErr, "Latest": latestErr, "ScoredStats": statsErr, "Future": futureErr} {
		if !errors.Is(err, pgstore.ErrNoTable) {
			t.Errorf("%s without a sentences table = %v, want ErrNoTable", name, err)
		}
	}
}

// TestLatestByArrival stores a batch with a row dated years ahead, then a later batch with an old
// row: Latest lists by arrival (the later batch first, then the earlier by created_at), so the
// future row is not on top for good, and Future counts it.
func TestLatestByArrival(t *testing.T) {
	pool := pgstoretest.Open(t)
	s := pgstore.New(pool)
	now := time.Now().UTC()
	insert := func(key string, created time.Time) {
		t.Helper()
		if _, err := s.Insert(t.Context(), []pgstore.Row{{Record: event.Record{Key: key, Sentence: key, CreatedAt: created}}}); err != nil {
			t.Fatalf("Insert: %v", err)
		}
	}
	if _, err := s.Insert(t.Context(), []pgstore.Row{
		{Record: event.Record{Key: "now", Sentence: "now", CreatedAt: now}},
		{Record: event.Record{Key: "2086", Sentence: "2086", CreatedAt: time.Date(2086, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	insert("late", now.Add(-time.Hour))
	latest, err := s.Latest(t.Context(), 10)
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	var got []string
	for _, m := range latest {
		got = append(got, m.Sentence)
	}
	if diff := cmp.Diff([]string{"late", "2086", "now"}, got); diff != "" {
		t.Errorf("Latest by arrival (-want +got):\n%s", diff)
	}
	if latest[0].ScoredAt.Before(latest[1].ScoredAt) || latest[1].ScoredAt != latest[2].ScoredAt {
		t.Errorf("scored_at = %v, want the later batch after the earlier one's shared time", []time.Time{latest[0].ScoredAt, latest[1].ScoredAt, latest[2].ScoredAt})
	}
	if n, err := s.Future(t.Context(), now.Add(5*time.Minute)); err != nil || n != 1 {
		t.Errorf("Future = %d, %v; want 1", n, err)
	}
}

// TestMoodEdges puts rows in each partial minute that Mood reads from sentences (the windows'
// edges, off the minute) and in whole minutes it reads from the rollup, on both sides of mid.
func TestMoodEdges(t *testing.T) {
	pool := pgstoretest.Open(t)
	s := pgstore.New(pool)
	to := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour).Add(20 * time.Second) // T+20s, an hour ago
	mid, from := to.Add(-5*time.Minute), to.Add(-10*time.Minute)
	rows := []struct {
		at       time.Time
		compound float64
	}{
		{from.Add(-time.Second), 0.9},      // before the windows
		{from, 0.5},                        // previous: the partial first minute
		{from.Add(90 * time.Second), -0.5}, // previous: a whole minute
		{mid.Add(-5 * time.Second), 0.2},   // previous: mid's partial minute
		{mid, -0.3},                        // current: mid's partial minute
		{mid.Add(2 * time.Minute), 0.6},    // current: a whole minute
		{to.Add(-time.Second), -0.8},       // current: the partial last minute
		{to, 0.7},                          // after the windows
	}
	batch := make([]pgstore.Row, len(rows))
	for i, r := range rows {
		batch[i] = pgstore.Row{Record: event.Record{Key: fmt.Sprint("e", i), Sentence: "s", CreatedAt: r.at},
			Scores: sentiment.Scores{Compound: r.compound, Neu: 1}}
	}
	if _, err := s.Insert(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	prev, cur, err := s.Mood(t.Context(), from, mid, to)
	if err != nil {
		t.Fatal(err)
	}
	mean := func(v float64) *float64 { return &v }
	want := []pgstore.Counts{
		{Count: 3, Mean: mean((0.5 - 0.5 + 0.2) / 3), Positive: 2, Negative: 1},
		{Count: 3, Mean: mean((-0.3 + 0.6 - 0.8) / 3), Positive: 1, Negative: 2},
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	if diff := cmp.Diff(want, []pgstore.Counts{prev, cur}, approx); diff != "" {
		t.Errorf("Mood previous, current (-want +got):\n%s", diff)
	}
}
