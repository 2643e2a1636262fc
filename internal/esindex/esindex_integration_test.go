package esindex_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

func doc(key, sentence string) esindex.Doc {
	a := sentiment.New()
	rec := event.Record{
		Key:        key,
		Sentence:   sentence,
		CreatedAt:  time.Date(2025, 4, 14, 8, 0, 0, 123456789, time.UTC),
		Provenance: event.Provenance{EventID: key, EventSource: "urn:test"},
	}
	return esindex.NewDoc(rec, a.Score(sentence), time.Date(2025, 4, 14, 8, 0, 1, 0, time.UTC))
}

func scanAll(t *testing.T, x *esindex.Index, pageSize int) []esindex.Doc {
	t.Helper()
	var got []esindex.Doc
	if err := x.Scan(t.Context(), pageSize, func(d []esindex.Doc) error {
		got = append(got, d...)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

func TestBulkIntegration(t *testing.T) {
	x := esindextest.New(t)
	ctx := t.Context()
	docs := []esindex.Doc{
		doc("k1", "This is great!"),
		doc("k2", "I LOVED the delivery"),
		doc("k3", "The parcel was late and damaged."),
	}
	bad := doc("k4", "A date from before the common era")
	bad.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // "10000-01-01T00:00:00Z": ES refuses a 5-digit year
	batch := append(slices.Clone(docs), bad)

	errs := x.Bulk(ctx, batch)
	for i, err := range errs[:3] {
		if err != nil {
			t.Errorf("Bulk item %d = %v, want nil", i, err)
		}
	}
	e, ok := errs[3].(*esindex.Error)
	if !ok || esindex.Transient(e) || e.Status != 400 || e.Field != "created_at" {
		t.Fatalf("Bulk bad item = %#v, want permanent 400 on created_at", errs[3])
	}

	// A redelivery of the whole batch is a no-op for the written ones.
	errs = x.Bulk(ctx, docs)
	for i, err := range errs {
		if i != 3 && !errors.Is(err, esindex.ErrExists) {
			t.Errorf("second Bulk item %d = %v, want ErrExists (duplicate)", i, err)
		}
	}
	if err := x.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := x.Count(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	if diff := cmp.Diff(docs, scanAll(t, x, 2)); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
}

func TestSearchIntegration(t *testing.T) {
	x := esindextest.New(t)
	es := esindextest.Client(t)
	docs := []esindex.Doc{
		doc("great", "This is great!"),
		doc("loved", "I LOVED the delivery"),
		doc("late", "The parcel was late."),
	}
	for _, err := range x.Bulk(t.Context(), docs) {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The built-in english analyzer stems; the fallback of a node without it (the local
	// integ-test-zip) only lowercases and drops stop words.
	stemmed := []string{}
	switch a := x.Analyzer(); a {
	case esindex.EnglishAnalyzer:
		stemmed = []string{"loved"}
	case esindex.FallbackAnalyzer:
		t.Logf("this node has no built-in english analyzer: sentence.english uses %s", a)
	default:
		t.Fatalf("Analyzer() = %q after a write", a)
	}
	q := func(s string) string { return "/" + x.Name() + "/_search?q=" + url.QueryEscape(s) }
	tests := []struct {
		name, path string
		want       []string
	}{
		{"seed query", "/" + x.Name() + "/_search?q=great", []string{"great"}},
		{"english stem", q("sentence.english:love"), stemmed},
		{"english lowercases", q("sentence.english:loved"), []string{"loved"}},
		{"english stop words", q("sentence.english:the"), []string{}},
		{"plain field does not stem", "/" + x.Name() + "/_search?q=" + url.QueryEscape("sentence:love"), []string{}},
		{"label keyword", "/" + x.Name() + "/_search?q=" + url.QueryEscape("label:negative"), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := esindextest.Search(t, x, es, tt.path)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestSwitchAliasIntegration(t *testing.T) {
	x := esindextest.New(t)
	ctx := t.Context()
	// The name starts as a concrete index, as the first write makes it.
	if errs := x.Bulk(ctx, []esindex.Doc{doc("old", "old")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	for round := range 2 {
		name := x.FreshName(time.Now().Add(time.Duration(round) * time.Second))
		fresh, err := x.CreateFresh(ctx, name)
		if err != nil {
			t.Fatalf("CreateFresh: %v", err)
		}
		key := fmt.Sprintf("fresh%d", round)
		if errs := fresh.Put(ctx, []esindex.Doc{doc(key, "new")}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		if err := fresh.FinishFresh(ctx); err != nil {
			t.Fatal(err)
		}
		old, err := x.SwitchAlias(ctx, name)
		if err != nil {
			t.Fatalf("SwitchAlias: %v", err)
		}
		for _, o := range old {
			if err := x.DeleteConcrete(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		indices, alias, err := x.Resolve(ctx)
		if err != nil || !alias || !slices.Equal(indices, []string{name}) {
			t.Fatalf("Resolve = %v, %v, %v; want [%s], alias", indices, alias, err, name)
		}
		got := scanAll(t, x, 10)
		if len(got) != 1 || got[0].Key != key {
			t.Fatalf("after switch %d: docs %v, want only %s", round, got, key)
		}
		// Writes through the alias keep working.
		if errs := x.Bulk(ctx, []esindex.Doc{doc("via-alias", "x")}); errs[0] != nil {
			t.Fatalf("Bulk through alias: %v", errs[0])
		}
	}
}

// TestScanSeedIndex scans an index the seed's Logstash made (dynamic mapping, no key field, a
// created_at without a zone): the scan works and reads what it can.
func TestScanSeedIndex(t *testing.T) {
	x := esindextest.New(t)
	es := esindextest.Client(t)
	if code := esindextest.Do(t, es, "PUT", "/"+x.Name()+"/_doc/random-id?refresh=true",
		map[string]any{"sentence": "This is great!", "created_at": "2025-04-14T08:00:00.123456"}, nil); code != 201 {
		t.Fatalf("index seed document: status %d", code)
	}
	got := scanAll(t, x, 10)
	want := []esindex.Doc{{Sentence: "This is great!", CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
}

// TestSearchSeedIndex searches an index the seed's Logstash made: its zone-less created_at and
// missing key, which the dashboard's former own _source type failed on, read as UTC and the _id.
func TestSearchSeedIndex(t *testing.T) {
	x := esindextest.New(t)
	es := esindextest.Client(t)
	if code := esindextest.Do(t, es, "PUT", "/"+x.Name()+"/_doc/random-id?refresh=true",
		map[string]any{"sentence": "This is great!", "created_at": "2025-04-14T08:00:00.123456", "sentiment": 0.6588}, nil); code != 201 {
		t.Fatalf("index seed document: status %d", code)
	}
	for _, q := range []esindex.Query{{Text: "great"}, {From: time.Date(2025, 4, 14, 7, 0, 0, 0, time.UTC)}} {
		got, err := x.Search(t.Context(), q)
		if err != nil {
			t.Fatalf("Search(%+v): %v", q, err)
		}
		want := esindex.Doc{Key: "random-id", Sentence: "This is great!", CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC),
			Scores: sentiment.Scores{Compound: 0.6588}}
		if got.Total != 1 || len(got.Hits) != 1 {
			t.Fatalf("Search(%+v) = %+v, want the seed document", q, got)
		}
		if diff := cmp.Diff(want, got.Hits[0].Doc); diff != "" {
			t.Errorf("Search(%+v) hit (-want +got):\n%s", q, diff)
		}
	}
	if _, err := esindex.New(es, x.Name()+"-missing").Search(t.Context(), esindex.Query{}); err == nil {
		t.Error("Search of a missing index = nil error")
	} else if e, ok := errors.AsType[*esindex.Error](err); !ok || e.Status != 404 {
		t.Errorf("Search of a missing index = %v, want an *Error with status 404", err)
	}
}
