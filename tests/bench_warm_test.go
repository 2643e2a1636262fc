package tests

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/benchload"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// esWarmRound is how many documents one round of [warmElasticsearch] writes, in bulks of
// esWarmBulk, and esWarmRounds the most rounds it runs.
const (
	esWarmRound  = 20000
	esWarmBulk   = 500
	esWarmRounds = 12
	// esWarmSteady is how close two pairs of rounds' CPU per document must be for the JIT to
	// count as warm.
	esWarmSteady = 0.15
)

// esWarmth is what [warmElasticsearch] did.
type esWarmth struct {
	rounds int
	perDoc []float64 // Elasticsearch's CPU µs per document, by round
	steady bool      // the last two pairs of rounds agreed within esWarmSteady
}

func (w esWarmth) String() string {
	s := fmt.Sprintf("%d rounds of %d documents", w.rounds, esWarmRound)
	for i, us := range w.perDoc {
		if i == 0 {
			s += ", Elasticsearch CPU per document "
		} else {
			s += " → "
		}
		s += fmt.Sprintf("%.0f", us)
	}
	s += " µs"
	if !w.steady {
		s += fmt.Sprintf(" (pairs of rounds not yet within %.0f%% of each other after %d rounds)", esWarmSteady*100, esWarmRounds)
	}
	return s
}

// warmElasticsearch warms the node's JIT before anything is measured: a node started minutes
// ago spends several times the CPU per document of a warm one, for the first ~150,000
// documents, which a warm-up through the pipeline at its own pace would take minutes to cover.
// It writes rounds of esWarmRound generated documents into a scratch index, in bulks of
// esWarmBulk, until two pairs of rounds in a row cost within esWarmSteady of each other, and
// removes the index. SENTISTREAM_BENCH_ES_WARM=0 skips it.
func warmElasticsearch(t *testing.T, s *system, root string) esWarmth {
	t.Helper()
	if os.Getenv("SENTISTREAM_BENCH_ES_WARM") == "0" {
		return esWarmth{steady: true}
	}
	ctx := t.Context()
	name := "warm-" + s.esIndex // not under the index's template pattern, <index>-*
	x := esindex.New(s.es, name)
	t.Cleanup(func() { esindextest.Remove(t, s.es, name) })
	es := []watched{{name: "elasticsearch", root: stackPID(root, "elasticsearch/elasticsearch.pid"), tree: true}}
	a := sentiment.New()
	r := rand.New(rand.NewPCG(3, 4))
	now := time.Now().UTC()
	var w esWarmth
	next := 0
	for w.rounds < esWarmRounds && !w.steady {
		before := takeCPU(es)
		for written := 0; written < esWarmRound; written += esWarmBulk {
			docs := make([]esindex.Doc, esWarmBulk)
			for i := range docs {
				sentence, _ := benchload.Sentence(r)
				rec := event.Record{Key: fmt.Sprintf("warm-%d", next), Sentence: sentence, CreatedAt: now}
				docs[i] = esindex.NewDoc(rec, a.Score(sentence), now)
				next++
			}
			for _, err := range x.Bulk(ctx, docs) {
				if err != nil {
					t.Fatalf("warming Elasticsearch: %v", err)
				}
			}
		}
		us := float64(cpuTicks(before, takeCPU(es))["elasticsearch"]) / clockTicks * 1e6 / esWarmRound
		w.perDoc = append(w.perDoc, us)
		w.rounds++
		// Merges make single rounds alternate cheap and dear, so pairs of rounds are compared.
		if n := len(w.perDoc); n >= 4 && n%2 == 0 {
			last, prev := w.perDoc[n-1]+w.perDoc[n-2], w.perDoc[n-3]+w.perDoc[n-4]
			w.steady = math.Abs(last-prev) <= esWarmSteady*prev
		}
		t.Logf("Elasticsearch warm-up round %d: %.0f µs of CPU per document", w.rounds, us)
	}
	return w
}
