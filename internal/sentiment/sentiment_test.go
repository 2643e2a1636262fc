package sentiment_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jonreiter/govader"

	"github.com/sentistream/sentistream/internal/sentiment"
)

// refLine is one line of testdata/reference.jsonl, written by
// scripts/vader/reference.py with vaderSentiment 3.3.2.
type refLine struct {
	Text     string  `json:"text"`
	Compound float64 `json:"compound"`
	Pos      float64 `json:"pos"`
	Neu      float64 `json:"neu"`
	Neg      float64 `json:"neg"`
}

func (r refLine) scores() sentiment.Scores {
	return sentiment.Scores{Compound: r.Compound, Pos: r.Pos, Neu: r.Neu, Neg: r.Neg}
}

// readJSONL decodes every line of a JSON Lines file in testdata.
func readJSONL[T any](tb testing.TB, name string) []T {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s:%d: %v", name, n, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func loadReference(tb testing.TB) []refLine {
	tb.Helper()
	ref := readJSONL[refLine](tb, "reference.jsonl")
	if len(ref) == 0 {
		tb.Fatal("testdata/reference.jsonl is empty")
	}
	return ref
}

func loadCorpus(tb testing.TB) []string {
	tb.Helper()
	lines := readJSONL[struct{ Text string }](tb, "corpus.txt")
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.Text
	}
	return texts
}

// pyRound rounds as Python's round(x, digits) does, via a correctly rounded
// decimal string.
func pyRound(x float64, digits int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return r
}

// diff describes how got differs from want at the reference's precision
// (4 decimals for compound, 3 for the ratios), or returns "".
func diff(want, got sentiment.Scores) string {
	var s string
	check := func(name string, w, g float64, digits int) {
		if pyRound(w, digits) != pyRound(g, digits) {
			s += fmt.Sprintf(" %s=%.*f (want %.*f)", name, digits, g, digits, w)
		}
	}
	check("compound", want.Compound, got.Compound, 4)
	check("pos", want.Pos, got.Pos, 3)
	check("neu", want.Neu, got.Neu, 3)
	check("neg", want.Neg, got.Neg, 3)
	return s
}

func TestLabel(t *testing.T) {
	tests := []struct {
		compound float64
		want     string
	}{
		{1, sentiment.LabelPositive},
		{0.05, sentiment.LabelPositive},
		{0.0499, sentiment.LabelNeutral},
		{0, sentiment.LabelNeutral},
		{-0.0499, sentiment.LabelNeutral},
		{-0.05, sentiment.LabelNegative},
		{-1, sentiment.LabelNegative},
	}
	for _, tt := range tests {
		if got := sentiment.Label(tt.compound); got != tt.want {
			t.Errorf("Label(%v) = %q, want %q", tt.compound, got, tt.want)
		}
	}
}

func TestScore(t *testing.T) {
	// Expected values are vaderSentiment 3.3.2's.
	tests := []struct {
		name string
		in   string
		want sentiment.Scores
	}{
		{"empty", "", sentiment.Scores{}},
		{"only whitespace", " \t\n", sentiment.Scores{}},
		{"positive", "The headphones are great.", sentiment.Scores{Compound: 0.6249, Pos: 0.577, Neu: 0.423}},
		{"negated", "The headphones are not great.", sentiment.Scores{Compound: -0.5096, Neu: 0.548, Neg: 0.452}},
		{"tab splits words", "not\tgood", sentiment.Scores{Compound: -0.3412, Neg: 0.706, Neu: 0.294}},
		// "so" right before a word scales it by 1.25 on top of its booster
		// increase: Python reads `a and b or c` as `(a and b) or c`.
		{"so before word", "It is so good.", sentiment.Scores{Compound: 0.5777, Pos: 0.555, Neu: 0.445}},
		// The reference's lexicon has "heart", which the red heart emoji's
		// description contains.
		{"heart emoji", "❤", sentiment.Scores{Compound: 0.6369, Pos: 0.808, Neu: 0.192}},
		{"bus stop", "I waited at the bus stop for an hour.", sentiment.Scores{Neu: 1}},
		// list.index: "accept" (1.6) after "but" matches the halved "love"
		// and halves it again, and stays unscaled itself.
		{"but scales first equal value", "I love it but I accept the flaws.", sentiment.Scores{Compound: 0.5267, Pos: 0.423, Neu: 0.577}},
		{"non-ASCII caps", "The ÉCRAN is BEAUTIFUL.", sentiment.Scores{Compound: 0.6841, Pos: 0.607, Neu: 0.393}},
		{"emoji description with !", "Go 🔛 now", sentiment.Scores{Neu: 1}},
	}
	a := sentiment.New()
	ref := make(map[string]sentiment.Scores)
	for _, r := range loadReference(t) {
		ref[r.Text] = r.scores()
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r, ok := ref[tt.in]; ok {
				if d := cmp.Diff(r, tt.want); d != "" {
					t.Fatalf("table case %q disagrees with testdata/reference.jsonl (-reference +table):\n%s", tt.in, d)
				}
			}
			if d := cmp.Diff(tt.want, a.Score(tt.in)); d != "" {
				t.Errorf("Score(%q) mismatch (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

// TestCorpusMatchesReference checks that testdata/reference.jsonl was
// generated from the current testdata/corpus.txt.
func TestCorpusMatchesReference(t *testing.T) {
	corpus := loadCorpus(t)
	ref := loadReference(t)
	var texts []string
	for _, r := range ref {
		texts = append(texts, r.Text)
	}
	if d := cmp.Diff(corpus, texts); d != "" {
		t.Errorf("reference.jsonl is stale; rerun scripts/vader/reference.py (-corpus +reference):\n%s", d)
	}
	if len(corpus) < 400 {
		t.Errorf("corpus has %d texts, want at least 400", len(corpus))
	}
}

// TestParity compares every reference score with Score's, and logs how
// often govader's own PolarityScores disagrees with the reference.
func TestParity(t *testing.T) {
	ref := loadReference(t)
	a := sentiment.New()
	g := govader.NewSentimentIntensityAnalyzer()
	var bad, govBad int
	for i, r := range ref {
		if d := diff(r.scores(), a.Score(r.Text)); d != "" {
			bad++
			t.Errorf("line %d: Score(%q):%s", i+1, r.Text, d)
		}
		gs := g.PolarityScores(r.Text)
		got := sentiment.Scores{Compound: gs.Compound, Pos: gs.Positive, Neu: gs.Neutral, Neg: gs.Negative}
		if d := diff(r.scores(), got); d != "" {
			govBad++
			t.Logf("govader differs on line %d: PolarityScores(%q):%s", i+1, r.Text, d)
		}
	}
	n := len(ref)
	t.Logf("sentiment.Score matches the reference on %d/%d texts", n-bad, n)
	t.Logf("govader.PolarityScores differs from the reference on %d/%d texts (%.1f%%)",
		govBad, n, 100*float64(govBad)/float64(n))
}

func TestScoreConcurrent(t *testing.T) {
	texts := loadCorpus(t)
	a := sentiment.New()
	want := make([]sentiment.Scores, len(texts))
	for i, s := range texts {
		want[i] = a.Score(s)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(texts))
	for w := range 8 {
		wg.Go(func() {
			for k := range texts {
				i := (k + w*len(texts)/8) % len(texts)
				if got := a.Score(texts[i]); got != want[i] {
					errs <- fmt.Sprintf("Score(%q) = %+v concurrently, %+v alone", texts[i], got, want[i])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkScore(b *testing.B) {
	texts := loadCorpus(b)
	a := sentiment.New()
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range texts {
			a.Score(s)
		}
	}
	reportPerSentence(b, len(texts))
}

func BenchmarkGovader(b *testing.B) {
	texts := loadCorpus(b)
	g := govader.NewSentimentIntensityAnalyzer()
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range texts {
			g.PolarityScores(s)
		}
	}
	reportPerSentence(b, len(texts))
}

func reportPerSentence(b *testing.B, n int) {
	sentences := float64(n * b.N)
	b.ReportMetric(sentences/b.Elapsed().Seconds(), "sentences/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/sentences, "ns/sentence")
}

// FuzzScore checks invariants that hold for any text: no panic, scores in
// range, and ratios that sum to 1 (within rounding) unless all are 0.
func FuzzScore(f *testing.F) {
	for _, s := range loadCorpus(f) {
		f.Add(s)
	}
	f.Add("\xff\xfe invalid UTF-8 \xc3")
	a := sentiment.New()
	f.Fuzz(func(t *testing.T, s string) {
		got := a.Score(s)
		if math.IsNaN(got.Compound) || math.Abs(got.Compound) > 1 {
			t.Errorf("Score(%q).Compound = %v, want within [-1, 1]", s, got.Compound)
		}
		if got.Pos < 0 || got.Neu < 0 || got.Neg < 0 {
			t.Errorf("Score(%q) = %+v, want non-negative ratios", s, got)
		}
		if sum := got.Pos + got.Neu + got.Neg; sum != 0 && math.Abs(sum-1) > 0.0021 {
			t.Errorf("Score(%q) = %+v, ratios sum to %v", s, got, sum)
		}
	})
}
