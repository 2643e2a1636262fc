package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
)

var sentences = []string{
	"This is great!", "I loved the delivery.", "The parcel was late and damaged.",
	"It is fine, I guess.", "What a terrible day.", "Not bad at all :)",
}

// seed stores n scored rows with COPY, the way bulk loads do, and returns their keys.
func seed(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	a := sentiment.New()
	scores := make([]sentiment.Scores, len(sentences))
	for i, s := range sentences {
		scores[i] = a.Score(s)
	}
	base := time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC)
	rows := pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		s := scores[i%len(sentences)]
		return []any{
			fmt.Sprintf("kafka:sentence/%d/%d", i%3, i), sentences[i%len(sentences)], s.Compound,
			base.Add(time.Duration(i) * time.Millisecond), s.Pos, s.Neu, s.Neg, sentiment.Label(s.Compound),
			base, "sentence", int32(i % 3), int64(i), fmt.Sprintf("partition:%d/offset:%d", i%3, i),
			"/apis/v1/namespaces/sentistream/kafkasources/sentistream-score#sentence",
		}, nil
	})
	cols := []string{"key", "sentence", "sentiment", "created_at", "pos", "neu", "neg", "label",
		"scored_at", "topic", "kafka_partition", "kafka_offset", "event_id", "event_source"}
	if _, err := pool.CopyFrom(tb.Context(), pgx.Identifier{"sentences"}, cols, rows); err != nil {
		tb.Fatalf("seed %d rows: %v", n, err)
	}
}

func pgDocs(t *testing.T, pool *pgxpool.Pool) []esindex.Doc {
	t.Helper()
	var docs []esindex.Doc
	if err := pgstore.New(pool).ScanByKey(t.Context(), 1000, func(rows []pgstore.ExportRow) error {
		for _, r := range rows {
			docs = append(docs, docOf(r))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return docs
}

func esDocs(t *testing.T, x *esindex.Index) []esindex.Doc {
	t.Helper()
	var docs []esindex.Doc
	if err := x.Scan(t.Context(), 1000, func(d []esindex.Doc) error {
		docs = append(docs, d...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return docs
}

var testOpts = options{batch: 700, workers: 2, retries: 3}

func TestReindexRestoresEveryDocument(t *testing.T) {
	pool := pgstoretest.Open(t)
	x := esindextest.New(t)
	seed(t, pool, 2500)
	want := pgDocs(t, pool)

	for _, step := range []string{"into an empty cluster", "rerun", "after deleting the index", "fresh", "fresh again"} {
		if step == "after deleting the index" {
			if err := x.DeleteIndex(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		opts := testOpts
		opts.fresh = strings.HasPrefix(step, "fresh")
		var out bytes.Buffer
		res, err := reindex(t.Context(), pool, x, opts, &out)
		if err != nil || len(res.failed) > 0 || res.indexed != 2500 {
			t.Fatalf("%s: reindex = %+v, %v; want 2500 indexed\n%s", step, res, err, &out)
		}
		if diff := cmp.Diff(want, esDocs(t, x)); diff != "" {
			t.Errorf("%s: documents (-postgres +elasticsearch):\n%s", step, diff)
		}
		indices, alias, err := x.Resolve(t.Context())
		if err != nil || len(indices) != 1 || alias != opts.fresh && step != "rerun" && !strings.HasPrefix(step, "after") {
			t.Errorf("%s: Resolve = %v, alias %v, %v; want one index", step, indices, alias, err)
		}
		if n, err := x.Count(t.Context()); err != nil || n != 2500 {
			t.Errorf("%s: Count = %d, %v; want 2500", step, n, err)
		}
	}
}

func TestRunOutput(t *testing.T) {
	pool := pgstoretest.Open(t)
	x := esindextest.New(t)
	seed(t, pool, 10)
	var out, errOut bytes.Buffer
	res, err := reindex(t.Context(), pool, x, options{batch: 3, workers: 2, retries: 1, progress: time.Millisecond}, &out)
	if code := report(res, err, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, &out, &errOut)
	}
	if !strings.Contains(out.String(), "reindex: done: 10 rows read, 10 documents indexed into "+x.Name()) {
		t.Errorf("output lacks the final count:\n%s", &out)
	}
}

func TestRunFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--workers", "0"}, func(string) string { return "" }, &out, &errOut); code != 2 {
		t.Errorf("run --workers 0 = %d, want 2", code)
	}
}

// BenchmarkReindex copies rows seeded with COPY from PostgreSQL into a real Elasticsearch, fresh
// index each time, and reports rows/s.
func BenchmarkReindex(b *testing.B) {
	const rows = 100_000
	pool := pgstoretest.Open(b)
	seed(b, pool, rows)
	x := esindextest.New(b)
	opts := options{fresh: true, batch: 2000, workers: 4, retries: 5}
	var total int64
	for b.Loop() {
		res, err := reindex(b.Context(), pool, x, opts, &bytes.Buffer{})
		if err != nil || len(res.failed) > 0 {
			b.Fatalf("reindex: %v, %d failed", err, len(res.failed))
		}
		total += res.indexed
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}
