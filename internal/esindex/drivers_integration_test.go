package esindex_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// driverDocs are a window of messages about earbuds: the battery in 5 negative ones, ANC in 4
// positive ones, the product's name, numbers and stop words everywhere; and 70 minutes before, the
// battery once in a negative one (the previous window of a 40-minute one).
func driverDocs(now time.Time) []esindex.Doc {
	type m struct {
		ago      time.Duration
		compound float64
		text     string
	}
	ms := []m{
		{1 * time.Minute, -0.6, "The battery on my Zephyr Buds is dead after 2 hours"},
		{2 * time.Minute, -0.5, "Zephyr Buds battery drains in 3 hours, this is the worst"},
		{3 * time.Minute, -0.7, "Battery died again on the 5th day"},
		{4 * time.Minute, -0.4, "Why is the battery of the Zephyr Buds so weak"},
		{5 * time.Minute, -0.6, "10 out of 10 times the battery is empty"},
		{6 * time.Minute, -0.5, "The case is scratched and the Zephyr Buds hurt"},
		{7 * time.Minute, 0.6, "The ANC on the Zephyr Buds is great"},
		{8 * time.Minute, 0.7, "Wow, ANC blocks the 7 train completely"},
		{9 * time.Minute, 0.5, "ANC is a joy on the Zephyr Buds"},
		{10 * time.Minute, 0.8, "Loving the ANC on 2 flights"},
		{11 * time.Minute, 0.5, "The Zephyr Buds fit is nice"},
		{12 * time.Minute, 0, "The Zephyr Buds come in black and white"},
		{13 * time.Minute, 0, "Is there a case in the box of the Zephyr Buds"},
		{14 * time.Minute, 0, "Shipping takes 3 days for the Zephyr Buds"},
		{70 * time.Minute, -0.5, "The battery was flat"},
		{75 * time.Minute, 0.5, "The fit of the Zephyr Buds is nice"},
	}
	var docs []esindex.Doc
	for i, x := range ms {
		created := now.Add(-x.ago)
		docs = append(docs, esindex.Doc{Key: fmt.Sprintf("d%d", i), Sentence: x.text, CreatedAt: created, ScoredAt: created,
			Label: sentiment.Label(x.compound), Scores: sentiment.Scores{Compound: x.compound, Neu: 1}})
	}
	return docs
}

func TestDriversIntegration(t *testing.T) {
	es := esindextest.Client(t)
	now := time.Now().UTC()
	a := sentiment.New()
	keep := func(term string) bool { return sentiment.Label(a.Score(term).Compound) == sentiment.LabelNeutral }
	for _, tt := range []struct {
		name      string
		old       bool // an index made before the template had sentence.drivers
		wantField string
	}{
		{"template", false, esindex.DriversField},
		{"index from before sentence.drivers", true, "sentence"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := esindextest.New(t)
			ctx := t.Context()
			if tt.old {
				// The former template: no drivers analyzer, no sentence.drivers, and no
				// event_source yet, which EnsureTemplate must still add.
				mappings := esindex.Mappings(esindex.FallbackAnalyzer)
				props := mappings["properties"].(map[string]any)
				delete(props["sentence"].(map[string]any)["fields"].(map[string]any), "drivers")
				delete(props, "event_source")
				settings := esindex.Settings(esindex.FallbackAnalyzer)
				analysis := settings["analysis"].(map[string]any)
				delete(analysis["analyzer"].(map[string]any), esindex.DriversAnalyzer)
				if code := esindextest.Do(t, es, http.MethodPut, "/"+x.Name(), map[string]any{"settings": settings, "mappings": mappings}, nil); code != http.StatusOK {
					t.Fatalf("create the old index: status %d", code)
				}
			}
			if err := x.EnsureTemplate(ctx); err != nil {
				t.Fatalf("EnsureTemplate: %v", err)
			}
			if tt.old {
				var m map[string]struct {
					Mappings map[string]any `json:"mappings"`
				}
				esindextest.Do(t, es, http.MethodGet, "/"+x.Name()+"/_mapping/field/event_source,sentence.english", nil, &m)
				if got := len(m[x.Name()].Mappings); got != 2 {
					t.Errorf("old index after EnsureTemplate maps %v, want event_source added and sentence.english kept", m)
				}
			}
			for i, err := range x.Bulk(ctx, driverDocs(now)) {
				if err != nil {
					t.Fatalf("bulk item %d: %v", i, err)
				}
			}
			if err := x.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := x.Drivers(ctx, esindex.DriversQuery{From: now.Add(-40 * time.Minute), To: now, Exclude: []string{"Zephyr Buds"}, Keep: keep})
			if err != nil {
				t.Fatalf("Drivers: %v", err)
			}
			if got.Field != tt.wantField {
				t.Errorf("Field = %q, want %q", got.Field, tt.wantField)
			}
			if want := (esindex.Totals{Count: 14, Negative: 6, Positive: 5}); got.Current != want {
				t.Errorf("Current = %+v, want %+v", got.Current, want)
			}
			if want := (esindex.Totals{Count: 2, Negative: 1, Positive: 1}); got.Previous != want {
				t.Errorf("Previous = %+v, want %+v", got.Previous, want)
			}
			terms := func(ds []esindex.Driver) []string {
				var out []string
				for _, d := range ds {
					out = append(out, d.Term)
				}
				return out
			}
			if diff := cmp.Diff([]string{"battery"}, terms(got.Negative)); diff != "" {
				t.Errorf("negative terms (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"anc"}, terms(got.Positive)); diff != "" {
				t.Errorf("positive terms (-want +got):\n%s", diff)
			}
			if len(got.Negative) == 1 {
				d := got.Negative[0]
				mean := (-0.6 - 0.5 - 0.7 - 0.4 - 0.6) / 5
				if d.Current.Count != 5 || d.Current.Mentions != 5 || d.Current.Mean == nil || !approxEq(*d.Current.Mean, mean) {
					t.Errorf("battery now = %+v (mean %v), want 5 of 5 mentions, mean %v", d.Current, d.Current.Mean, mean)
				}
				if d.Previous.Count != 1 || d.Previous.Mentions != 1 {
					t.Errorf("battery before = %+v, want 1", d.Previous)
				}
				if d.Z == nil || *d.Z < esindex.MinDriverZ || d.Score <= 0 {
					t.Errorf("battery z = %v, score %v; want z ≥ %v and a positive score", d.Z, d.Score, esindex.MinDriverZ)
				}
			}
			if len(got.Positive) == 1 {
				if d := got.Positive[0]; d.Current.Count != 4 || d.Current.Mentions != 4 || d.Previous.Count != 0 {
					t.Errorf("anc = %+v, want 4 now and none before", d)
				}
			}
		})
	}
}

func approxEq(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
