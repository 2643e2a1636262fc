package esindex

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// replayES answers each "METHOD path" with the next of its testdata files, in order, and records
// the request bodies.
type replayES struct {
	mu      sync.Mutex
	answers map[string][]string // file names under testdata/
	bodies  map[string][]string
}

func (f *replayES) Perform(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := req.Method + " " + req.URL.Path
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		if f.bodies == nil {
			f.bodies = map[string][]string{}
		}
		f.bodies[call] = append(f.bodies[call], string(b))
	}
	files := f.answers[call]
	if len(files) == 0 {
		return answer(http.StatusNotFound, `{"error":{"type":"index_not_found_exception","reason":"no such index"},"status":404}`), nil
	}
	f.answers[call] = files[1:]
	body, err := os.ReadFile("testdata/" + files[0])
	if err != nil {
		return nil, err
	}
	return answer(http.StatusOK, string(body)), nil
}

func TestDrivers(t *testing.T) {
	es := &replayES{answers: map[string][]string{
		"GET /ix/_mapping/field/sentence.drivers": {"drivers_mapping.json"},
		"POST /ix/_search":                        {"drivers_candidates.json", "drivers_counts.json"},
	}}
	to := time.Date(2025, 4, 14, 8, 15, 0, 0, time.UTC)
	got, err := New(es, "ix").Drivers(t.Context(), DriversQuery{
		From: to.Add(-15 * time.Minute), To: to, Exclude: []string{"Zephyr Buds"},
		Keep: func(term string) bool { return term != "terrible" },
	})
	if err != nil {
		t.Fatalf("Drivers: %v", err)
	}
	f := func(v float64) *float64 { return &v }
	// terrible is not kept, 😡 has no letter, battery and life repeat "battery life", case is in
	// 1 message of the window only, and anc is not over-represented in the negative ones.
	want := &Drivers{
		Field:    DriversField,
		Current:  Totals{Count: 16, Negative: 7, Positive: 6},
		Previous: Totals{Count: 4, Negative: 2, Positive: 1},
		Negative: []Driver{{Term: "battery life", Score: 1.9, Background: 6, Z: zScore(5, 7, 5, 16),
			Current: TermCounts{Count: 5, Mentions: 5, Mean: f(-0.56)}, Previous: TermCounts{Count: 1, Mentions: 1, Mean: f(-0.5)}}},
		Positive: []Driver{{Term: "anc", Score: 1.4, Background: 9, Z: zScore(4, 6, 4, 16),
			Current: TermCounts{Count: 4, Mentions: 4, Mean: f(0.65)}, Previous: TermCounts{Count: 1, Mentions: 1, Mean: f(0.3)}}},
		Probability: 1,
		Took:        10 * time.Millisecond,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Drivers (-want +got):\n%s", diff)
	}

	bodies := es.bodies["POST /ix/_search"]
	if len(bodies) != 2 {
		t.Fatalf("%d searches, want 2", len(bodies))
	}
	for _, want := range []string{`"sampler":{"shard_size":100}`, `"min_doc_count":2`, `"significant_text":{`, `"field":"sentence.drivers"`,
		`"source_fields":["sentence"]`, `"random_score":{"field":"_seq_no","seed":16}`, `"lt":"2025-04-14T08:15:00Z"`,
		`"gte":"2025-04-14T08:00:00Z"`, `"sentiment":{"lte":-0.05}`, `"sentiment":{"gte":0.05}`, `zephyr|buds`} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("candidates search %s lacks %s", bodies[0], want)
		}
	}
	var counts struct {
		Query struct {
			Bool struct {
				Filter []map[string]map[string]map[string]string `json:"filter"`
			} `json:"bool"`
		} `json:"query"`
		Aggs struct {
			Terms struct {
				Filters struct {
					Filters map[string]map[string]map[string]string `json:"filters"`
				} `json:"filters"`
				RandomSampler any `json:"random_sampler"`
			} `json:"terms"`
		} `json:"aggs"`
	}
	if err := json.Unmarshal([]byte(bodies[1]), &counts); err != nil {
		t.Fatal(err)
	}
	phrases := map[string]string{}
	for k, q := range counts.Aggs.Terms.Filters.Filters {
		phrases[k] = q["term"][DriversField]
	}
	if counts.Aggs.Terms.RandomSampler != nil {
		t.Errorf("counts of a small window are sampled: %s", bodies[1])
	}
	if diff := cmp.Diff(map[string]string{"0": "battery life", "1": "case", "2": "anc"}, phrases); diff != "" {
		t.Errorf("counted terms (-want +got):\n%s", diff)
	}
	if r := counts.Query.Bool.Filter[0]["range"]["created_at"]; r["gte"] != "2025-04-14T07:45:00Z" || r["lt"] != "2025-04-14T08:15:00Z" {
		t.Errorf("counts search reads %v, want the window and the one before", r)
	}
}

// TestDriversOldIndex: an index from before sentence.drivers is read through sentence; a missing
// index is a 404 *Error; an empty window is refused.
func TestDriversOldIndex(t *testing.T) {
	es := &replayES{answers: map[string][]string{
		"GET /ix/_mapping/field/sentence.drivers": {"drivers_mapping_old.json"},
		"POST /ix/_search":                        {"drivers_candidates.json", "drivers_counts.json"},
	}}
	x := New(es, "ix")
	to := time.Date(2025, 4, 14, 8, 15, 0, 0, time.UTC)
	got, err := x.Drivers(t.Context(), DriversQuery{From: to.Add(-15 * time.Minute), To: to})
	if err != nil {
		t.Fatalf("Drivers: %v", err)
	}
	if got.Field != "sentence" || !strings.Contains(es.bodies["POST /ix/_search"][0], `"field":"sentence"`) ||
		!strings.Contains(es.bodies["POST /ix/_search"][1], `{"match_phrase":{"sentence":"battery life"}}`) {
		t.Errorf("Field = %q, searches %s; want sentence, and phrases counted", got.Field, es.bodies["POST /ix/_search"])
	}
	_, err = x.Drivers(t.Context(), DriversQuery{From: to.Add(-15 * time.Minute), To: to})
	if e, ok := errors.AsType[*Error](err); !ok || e.Status != http.StatusNotFound {
		t.Errorf("Drivers of a missing index = %v, want an *Error with status 404", err)
	}
	if _, err := x.Drivers(t.Context(), DriversQuery{From: to, To: to}); err == nil {
		t.Error("Drivers of an empty window = nil error")
	}
}

// TestDriversSampledCounts: a window of a million messages is counted in a random sample of
// about CountSample; the estimates come back scaled, and z is that of the messages counted.
func TestDriversSampledCounts(t *testing.T) {
	es := &replayES{answers: map[string][]string{
		"GET /ix/_mapping/field/sentence.drivers": {"drivers_mapping.json"},
		"POST /ix/_search":                        {"drivers_candidates_big.json", "drivers_counts_sampled.json"},
	}}
	to := time.Date(2025, 4, 14, 8, 15, 0, 0, time.UTC)
	got, err := New(es, "ix").Drivers(t.Context(), DriversQuery{From: to.Add(-15 * time.Minute), To: to})
	if err != nil {
		t.Fatalf("Drivers: %v", err)
	}
	if got.Probability != 0.025 {
		t.Errorf("Probability = %v, want 50000 of 2 × 1,000,000", got.Probability)
	}
	if !strings.Contains(es.bodies["POST /ix/_search"][1], `"random_sampler":{"probability":0.025,"seed":16}`) {
		t.Errorf("counts search %s lacks the random_sampler", es.bodies["POST /ix/_search"][1])
	}
	// battery life: 5 of 7 against 0 of 9 (scaled estimates) is z 3.06 among the counted
	// messages only at full probability; at 2.5% it is 3.06 × √0.025, below the bar.
	if len(got.Negative) != 0 || len(got.Positive) != 0 {
		t.Errorf("drivers = %+v / %+v, want none: too few messages counted to be significant", got.Negative, got.Positive)
	}
}

func TestDedupe(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]int64 // in this order: see terms
		ord  []string
		want []string
	}{
		{"word inside a phrase, same messages", map[string]int64{"battery life": 10, "battery": 11, "life": 12}, []string{"battery life", "battery", "life"}, []string{"battery life"}},
		{"word mostly elsewhere", map[string]int64{"battery life": 10, "battery": 30}, []string{"battery life", "battery"}, []string{"battery life", "battery"}},
		{"chained phrases", map[string]int64{"nobody ever": 8, "ever answered": 8}, []string{"nobody ever", "ever answered"}, []string{"nobody ever"}},
		{"phrases sharing a last word", map[string]int64{"sound quality": 8, "build quality": 8}, []string{"sound quality", "build quality"}, []string{"sound quality", "build quality"}},
		{"unrelated", map[string]int64{"anc": 4, "case": 4}, []string{"anc", "case"}, []string{"anc", "case"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var list []Driver
			for _, term := range tt.ord {
				list = append(list, Driver{Term: term})
			}
			var got []string
			for _, d := range dedupe(list, func(d Driver) int64 { return tt.in[d.Term] }) {
				got = append(got, d.Term)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("dedupe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZScore(t *testing.T) {
	// 5 of 7 negative messages against 0 of the 9 others: well over 2.
	if z := zScore(5, 7, 5, 16); z == nil || math.Abs(*z-3.06) > 0.01 {
		t.Errorf("zScore(5, 7, 5, 16) = %v, want about 3.06", z)
	}
	// The same share on both sides.
	if z := zScore(2, 10, 4, 20); z == nil || *z != 0 {
		t.Errorf("zScore(2, 10, 4, 20) = %v, want 0", z)
	}
	if z := zScore(3, 10, 3, 10); z != nil {
		t.Errorf("zScore with no other messages = %v, want nil", *z)
	}
	if z := zScore(0, 10, 0, 20); z == nil || *z != 0 {
		t.Errorf("zScore of an unmentioned term = %v, want 0", z)
	}
}

// TestExcludePattern checks the pattern with Go's regexp, which reads these constructs as
// Lucene does (Lucene's patterns match the whole term, hence the anchors).
func TestExcludePattern(t *testing.T) {
	re := regexp.MustCompile("^(?:" + excludePattern([]string{"Zephyr Buds", "ZephyrSync"}) + ")$")
	for term, excluded := range map[string]bool{
		"battery": false, "battery life": false, "anc": false, "sound quality": false,
		"10": true, "2nd": true, "hours 10": true, "w": true, " battery": true, "battery ": true,
		"the": true, "i'm": true, "zephyr": true, "buds": true, "zephyr buds": true, "battery zephyr": true, "zephyrsync": true,
		"budget": false,
	} {
		if got := re.MatchString(term); got != excluded {
			t.Errorf("excludes %q = %v, want %v", term, got, excluded)
		}
	}
}
