package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

func TestSearch(t *testing.T) {
	body, err := os.ReadFile("testdata/search_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	es := &fakeES{other: map[string]*http.Response{"POST /ix/_search": answer(http.StatusOK, string(body))}}
	got, err := New(es, "ix").Search(t.Context(), Query{Text: "coffee", Size: 5})
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	created := time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC)
	want := &SearchResult{Total: 2, Took: 3 * time.Millisecond, Hits: []Hit{
		{Doc: Doc{Key: "kafka:sentence/0/7", Sentence: "The coffee was great today", CreatedAt: created, Label: "positive",
			Scores: sentiment.Scores{Compound: 0.6249, Pos: 0.577, Neu: 0.423}, ScoredAt: time.Date(2025, 4, 14, 8, 0, 1, 0, time.UTC),
			Provenance: event.Provenance{Topic: "sentence", Partition: 0, Offset: 7, HasOffset: true}},
			Highlight: []Span{{Text: "The "}, {Text: "coffee", Match: true}, {Text: " was great today"}}},
		// A seed document: no key (the _id stands in), no label, a created_at without a zone.
		{Doc: Doc{Key: "seed-1", Sentence: "Terrible coffee", CreatedAt: created, Scores: sentiment.Scores{Compound: -0.4767}},
			Highlight: []Span{{Text: "Terrible "}, {Text: "coffee", Match: true}}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Search (-want +got):\n%s", diff)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(es.bodies["POST /ix/_search"]), &sent); err != nil || sent["size"] != 5.0 {
		t.Errorf("search body %s: size %v, %v; want 5", es.bodies["POST /ix/_search"], sent["size"], err)
	}
}

func TestSearchErrors(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusNotFound} {
		es := &fakeES{other: map[string]*http.Response{"POST /ix/_search": answer(code, `{"error":{"type":"x","reason":"y"}}`)}}
		_, err := New(es, "ix").Search(context.Background(), Query{Text: "a"})
		if e, ok := errors.AsType[*Error](err); !ok || e.Status != code {
			t.Errorf("Search answered %d = %v, want an *Error with that status", code, err)
		}
	}
}

func TestSearchBody(t *testing.T) {
	from := time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC)
	b, err := json.Marshal(searchBody(Query{Text: `great "coffee`, Label: "positive", From: from, Size: 5}))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"simple_query_string"`, `"lenient":true`, `"query":"great \"coffee"`, `{"term":{"label":"positive"}}`,
		`"created_at":{"gte":"2025-04-14T08:00:00Z"}`, `"size":5`, `"track_total_hits":10000`, `"timeout":"1s"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("search body %s lacks %s", b, want)
		}
	}
	// An empty query lists by arrival, then by created_at.
	b, err = json.Marshal(searchBody(Query{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"sort":[{"scored_at":{"order":"desc","unmapped_type":"date"}},{"created_at":{"order":"desc","unmapped_type":"date"}}]`; !strings.Contains(string(b), want) {
		t.Errorf("search body %s lacks %s", b, want)
	}
}

func TestSplitHighlight(t *testing.T) {
	tests := []struct {
		in   string
		want []Span
	}{
		{"plain", []Span{{Text: "plain"}}},
		{hlPre + "great" + hlPost + " coffee", []Span{{Text: "great", Match: true}, {Text: " coffee"}}},
		{"a " + hlPre + "b" + hlPost + " c " + hlPre + "d" + hlPost, []Span{{Text: "a "}, {Text: "b", Match: true}, {Text: " c "}, {Text: "d", Match: true}}},
		{"<script>" + hlPre + "x", []Span{{Text: "<script>"}, {Text: "x", Match: true}}},
		{"", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, splitHighlight(tt.in)); diff != "" {
			t.Errorf("splitHighlight(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
