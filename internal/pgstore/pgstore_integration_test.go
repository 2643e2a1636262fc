package pgstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// queryCounter is a pgx tracer that counts the queries sent.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestMigrateIdempotentAndFast(t *testing.T) {
	cfg := pgstoretest.Config(t)
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	all := migrationCount(t)
	n, err := pgstore.Migrate(t.Context(), pool)
	if err != nil || n != all {
		t.Fatalf("first Migrate = %d, %v, want %d, nil", n, err, all)
	}
	for range 2 {
		before := counter.n.Load()
		n, err := pgstore.Migrate(t.Context(), pool)
		if err != nil || n != 0 {
			t.Fatalf("Migrate again = %d, %v, want 0, nil", n, err)
		}
		if q := counter.n.Load() - before; q != 1 {
			t.Errorf("Migrate when up to date sent %d queries, want 1", q)
		}
	}
	var count int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&count); err != nil || count != all {
		t.Errorf("schema_migrations rows = %d, %v, want %d", count, err, all)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	cfg := pgstoretest.Config(t)
	var (
		wg    sync.WaitGroup
		total atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			pool, err := pgxpool.NewWithConfig(t.Context(), cfg.Copy())
			if err != nil {
				t.Error(err)
				return
			}
			defer pool.Close()
			n, err := pgstore.Migrate(t.Context(), pool)
			if err != nil {
				t.Errorf("Migrate: %v", err)
			}
			total.Add(int64(n))
		})
	}
	wg.Wait()
	if got, want := total.Load(), int64(migrationCount(t)); got != want {
		t.Errorf("migrations applied by 4 concurrent instances = %d, want %d (each once)", got, want)
	}
}

// migrationCount is the number of migration files the package embeds.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}

func row(key, text string, p event.Provenance) pgstore.Row {
	return pgstore.Row{
		Record: event.Record{Key: key, Sentence: text, CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC), Provenance: p},
		Scores: sentiment.New().Score(text),
	}
}

func TestInsert(t *testing.T) {
	pool := pgstoretest.Open(t)
	s := pgstore.New(pool)
	kafka := event.Provenance{EventID: "partition:2/offset:7", EventSource: "/apis/v1/namespaces/ns/kafkasources/k#sentence",
		Topic: "sentence", Partition: 2, Offset: 7, HasOffset: true}
	rows := []pgstore.Row{
		row("kafka:sentence/2/7", "This is great!", kafka),
		row("ce:urn:p#1", "This is terrible.", event.Provenance{EventID: "1", EventSource: "urn:p"}),
		row("ce:urn:p#1", "This is terrible.", event.Provenance{EventID: "1", EventSource: "urn:p"}), // same key in the batch
		row("sha256:00", "A table.", event.Provenance{}),
	}
	got, err := s.Insert(t.Context(), rows)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if diff := cmp.Diff([]bool{true, true, false, true}, got); diff != "" {
		t.Errorf("Insert inserted (-want +got):\n%s", diff)
	}
	got, err = s.Insert(t.Context(), rows[:2])
	if err != nil {
		t.Fatalf("Insert again: %v", err)
	}
	if diff := cmp.Diff([]bool{false, false}, got); diff != "" {
		t.Errorf("Insert of stored rows inserted (-want +got):\n%s", diff)
	}

	type stored struct {
		Key, Sentence, Label    string
		Compound, Pos, Neu, Neg float64
		CreatedAt               time.Time
		Topic, EventID, Src     *string
		Partition               *int32
		Offset                  *int64
	}
	var all []stored
	res, err := pool.Query(t.Context(), `SELECT key, sentence, label, sentiment, pos, neu, neg, created_at,
		topic, event_id, event_source, kafka_partition, kafka_offset FROM sentences ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var r stored
		if err := res.Scan(&r.Key, &r.Sentence, &r.Label, &r.Compound, &r.Pos, &r.Neu, &r.Neg, &r.CreatedAt,
			&r.Topic, &r.EventID, &r.Src, &r.Partition, &r.Offset); err != nil {
			t.Fatal(err)
		}
		r.CreatedAt = r.CreatedAt.UTC()
		all = append(all, r)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	want := make([]stored, 0, 3)
	for _, r := range []pgstore.Row{rows[1], rows[0], rows[3]} { // key order: ce, kafka, sha256
		p := r.Record.Provenance
		w := stored{Key: r.Record.Key, Sentence: r.Record.Sentence, Label: sentiment.Label(r.Scores.Compound),
			Compound: r.Scores.Compound, Pos: r.Scores.Pos, Neu: r.Scores.Neu, Neg: r.Scores.Neg, CreatedAt: r.Record.CreatedAt}
		if p.Topic != "" {
			w.Topic = str(p.Topic)
		}
		if p.EventID != "" {
			w.EventID, w.Src = str(p.EventID), str(p.EventSource)
		}
		if p.HasOffset {
			w.Partition, w.Offset = i32(p.Partition), i64(p.Offset)
		}
		want = append(want, w)
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("stored rows (-want +got):\n%s", diff)
	}
}

func TestSeedQuery(t *testing.T) {
	pool := pgstoretest.Open(t)
	s := pgstore.New(pool)
	if _, err := s.Insert(t.Context(), []pgstore.Row{row("a", "Good.", event.Provenance{}), row("b", "Bad.", event.Provenance{})}); err != nil {
		t.Fatal(err)
	}
	// The seed's dashboard query, and the seed's columns by name.
	res, err := pool.Query(t.Context(), "SELECT * FROM sentences ORDER BY created_at DESC")
	if err != nil {
		t.Fatalf("seed query: %v", err)
	}
	maps, err := pgx.CollectRows(res, pgx.RowToMap)
	if err != nil {
		t.Fatalf("seed query: %v", err)
	}
	if len(maps) != 2 {
		t.Fatalf("seed query returned %d rows, want 2", len(maps))
	}
	for _, col := range []string{"id", "sentence", "sentiment", "created_at"} {
		if _, ok := maps[0][col]; !ok {
			t.Errorf("seed query rows lack column %q", col)
		}
	}
}

func TestInsertPermanentError(t *testing.T) {
	pool := pgstoretest.Open(t)
	s := pgstore.New(pool)
	long := row("long", strings.Repeat("a", 10001), event.Provenance{})
	_, err := s.Insert(t.Context(), []pgstore.Row{row("ok", "fine", event.Provenance{}), long})
	if err == nil || pgstore.Transient(err) {
		t.Fatalf("Insert of a sentence over the column size = %v (transient %v), want a permanent error", err, pgstore.Transient(err))
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM sentences").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after a failed Insert = %d, %v, want 0", n, err)
	}
}

func TestTransientOnDeadDatabase(t *testing.T) {
	pool, err := pgstore.NewPool(t.Context(), pgstore.PoolConfig{URL: "postgres://postgres@127.0.0.1:1/none?sslmode=disable"})
	if err != nil {
		t.Fatalf("NewPool must not connect: %v", err)
	}
	defer pool.Close()
	s := pgstore.New(pool)
	_, err = s.Insert(t.Context(), []pgstore.Row{row("k", "x", event.Provenance{})})
	if !pgstore.Transient(err) {
		t.Errorf("Insert with PostgreSQL unreachable: Transient(%v) = false, want true", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping with PostgreSQL unreachable = nil")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := s.Insert(ctx, []pgstore.Row{row("k", "x", event.Provenance{})}); !pgstore.Transient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Insert past its deadline = %v, want a transient deadline error", err)
	}
}

// TestTransientOnReadOnlyDatabase: a server in read-only mode (a standby reached during a
// failover, or default_transaction_read_only) refuses the write with 25006, which must stay a
// retryable failure until it clears, never a dead letter.
func TestTransientOnReadOnlyDatabase(t *testing.T) {
	migrated := pgstoretest.Open(t) // a schema of its own, migrated
	cfg := migrated.Config().Copy()
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, err = pgstore.New(pool).Insert(t.Context(), []pgstore.Row{row("k", "x", event.Provenance{})})
	if err == nil || !pgstore.Transient(err) {
		t.Errorf("Insert into a read-only server = %v (transient %v), want a transient error", err, pgstore.Transient(err))
	}
}
