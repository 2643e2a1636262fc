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
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// seed stores n scored rows with COPY; keys are kafka:sentence/<i%3>/<i>.
func seed(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	a := sentiment.New()
	sentences := []string{"This is great!", "I loved the delivery.", "The parcel was late and damaged."}
	base := time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC)
	rows := pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		text := sentences[i%len(sentences)]
		s := a.Score(text)
		return []any{fmt.Sprintf("kafka:sentence/%d/%d", i%3, i), text, s.Compound,
			base.Add(time.Duration(i) * time.Microsecond), s.Pos, s.Neu, s.Neg, sentiment.Label(s.Compound)}, nil
	})
	cols := []string{"key", "sentence", "sentiment", "created_at", "pos", "neu", "neg", "label"}
	if _, err := pool.CopyFrom(tb.Context(), pgx.Identifier{"sentences"}, cols, rows); err != nil {
		tb.Fatalf("seed %d rows: %v", n, err)
	}
}

func TestReconcile(t *testing.T) {
	pool := pgstoretest.Open(t)
	x := esindextest.New(t)
	seed(t, pool, 1200)
	ctx := t.Context()
	opts := options{show: 10, page: 500}

	check := func(step string, fix bool, wantCode int, want map[string][]string) {
		t.Helper()
		o := opts
		o.fix = fix
		rep, err := reconcile(ctx, pool, x, o)
		if err != nil {
			t.Fatalf("%s: reconcile: %v", step, err)
		}
		var out bytes.Buffer
		rep.print(&out, fix)
		code := 0
		if rep.unresolved(fix) > 0 {
			code = 1
		}
		got := map[string][]string{"missing in elasticsearch": rep.missingES, "missing in postgres": rep.missingPG, "mismatched": rep.mismatched}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, "|") == strings.Join(b, "|") })); diff != "" || code != wantCode {
			t.Errorf("%s: exit %d (want %d), drift (-want +got):\n%s\n%s", step, code, wantCode, diff, &out)
		}
	}
	none := map[string][]string{"missing in elasticsearch": nil, "missing in postgres": nil, "mismatched": nil}

	// An empty index: everything is missing; --fix indexes it.
	rep, err := reconcile(ctx, pool, x, options{show: 0, page: 500, fix: true})
	if err != nil || rep.nMissingES != 1200 || rep.fixed != 1200 || rep.unresolved(true) != 0 {
		t.Fatalf("first --fix: %+v, %v; want 1200 missing and fixed", rep, err)
	}
	check("after fix", false, 0, none)

	// Delete documents by hand, change one, add one without a row.
	deleted := []string{"kafka:sentence/0/3", "kafka:sentence/1/1000", "kafka:sentence/2/599"}
	for _, err := range x.Delete(ctx, deleted) {
		if err != nil {
			t.Fatal(err)
		}
	}
	changed := docFor(t, x, "kafka:sentence/0/9")
	changed.Scores.Compound, changed.Label = -0.5, sentiment.LabelNegative
	extra := changed
	extra.Key = "kafka:sentence/9/9"
	for _, err := range x.Put(ctx, []esindex.Doc{changed, extra}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	drift := map[string][]string{
		"missing in elasticsearch": deleted,
		"missing in postgres":      {"kafka:sentence/9/9"},
		"mismatched":               {"kafka:sentence/0/9: sentiment, label"},
	}
	check("after deleting by hand", false, 1, drift)
	check("fix", true, 1, drift) // the extra document stays: only reported
	check("after fix", false, 1, map[string][]string{
		"missing in elasticsearch": nil, "missing in postgres": {"kafka:sentence/9/9"}, "mismatched": nil,
	})
	x.Delete(ctx, []string{"kafka:sentence/9/9"})
	check("clean", false, 0, none)
}

func docFor(t *testing.T, x *esindex.Index, key string) esindex.Doc {
	t.Helper()
	var found *esindex.Doc
	err := x.Scan(t.Context(), 5000, func(docs []esindex.Doc) error {
		for _, d := range docs {
			if d.Key == key {
				found = &d
			}
		}
		return nil
	})
	if err != nil || found == nil {
		t.Fatalf("document %s: %v", key, err)
	}
	return *found
}

func TestRunReportsDrift(t *testing.T) {
	pool := pgstoretest.Open(t)
	x := esindextest.New(t)
	seed(t, pool, 5)
	var out bytes.Buffer
	rep, err := reconcile(t.Context(), pool, x, options{show: 2, page: 2})
	if err != nil {
		t.Fatal(err)
	}
	rep.print(&out, false)
	want := `reconcile: postgres 5 rows, elasticsearch ` + x.Name() + ` 0 documents
missing in elasticsearch: 5
  kafka:sentence/0/0
  kafka:sentence/0/3
  … and 3 more
missing in postgres: 0
mismatched: 0
drift: 5 unresolved
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestRunFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--page", "0"}, func(string) string { return "" }, &out, &errOut); code != 2 {
		t.Errorf("run --page 0 = %d, want 2", code)
	}
}
