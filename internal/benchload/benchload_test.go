package benchload

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/sentiment"
)

func TestSentenceAdjectivesMatchLabel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		s, c := Sentence(r)
		f := strings.Fields(s) // The <subj> was <adj> and the <subj> <adj> today #<n>
		if len(f) != 10 {
			t.Fatalf("Sentence() = %q: want 10 words", s)
		}
		adj := adjectives(sentiment.Label(c))
		if !slices.Contains(adj, f[3]) || !slices.Contains(adj, f[7]) {
			t.Errorf("Sentence() = %q, %.2f: adjectives not of label %s", s, c, sentiment.Label(c))
		}
	}
}

func TestNewBatchSpanAndKeys(t *testing.T) {
	now := time.Now()
	span := 3 * 24 * time.Hour
	b := newBatch(rand.New(rand.NewPCG(1, 2)), now, span, 10, 50)
	keys := map[string]bool{}
	for i, d := range b.docs {
		if d.CreatedAt.After(now) || d.CreatedAt.Before(now.Add(-span)) {
			t.Errorf("doc %d created_at %v: not within %v before %v", i, d.CreatedAt, span, now)
		}
		if !strings.HasPrefix(d.Key, "ce:"+Source+"#p-") || keys[d.Key] {
			t.Errorf("doc %d key %q: want a unique ce:%s#p-N", i, d.Key, Source)
		}
		keys[d.Key] = true
		if len(b.rows[i]) != len(columns) || b.rows[i][3] != d.Key {
			t.Errorf("row %d = %v: want %d columns with key %q", i, b.rows[i], len(columns), d.Key)
		}
	}
	if b.docs[0].Key != "ce:"+Source+"#p-10" {
		t.Errorf("first key %q: want p-10", b.docs[0].Key)
	}
}

func TestProgressReportsEachMultipleOnce(t *testing.T) {
	var got []int
	p := newProgress(Config{ProgressEvery: 100, Progress: func(done int, _ time.Duration) { got = append(got, done) }})
	for range 5 {
		p.add(60, 0)
		p.add(0, 60)
	}
	// Both stores: 60, 120, 180, 240, 300 after each pair.
	if want := []int{120, 240, 300}; !slices.Equal(got, want) {
		t.Errorf("reported %v, want %v", got, want)
	}
}
