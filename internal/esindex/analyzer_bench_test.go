package esindex_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// hunspellSettings are the analysis settings the template used before it moved to the built-in
// english analyzer: core parts plus the hunspell en_US stemmer, which needs a dictionary in each
// node's config/hunspell/en_US, beside the template's own (the drivers analyzer the mapping
// uses). They are kept here only to measure what the move saved.
var hunspellSettings = func() map[string]any {
	s := esindex.Settings(esindex.EnglishAnalyzer)
	analysis := s["analysis"].(map[string]any)
	filters := analysis["filter"].(map[string]any)
	filters["en_stop"] = map[string]any{"type": "stop", "stopwords": "_english_"}
	filters["en_stem"] = map[string]any{"type": "hunspell", "locale": "en_US", "dedup": true}
	analysis["analyzer"].(map[string]any)["hunspell_english"] = map[string]any{
		"type": "custom", "tokenizer": "standard", "filter": []string{"lowercase", "en_stop", "en_stem"},
	}
	return s
}()

// BenchmarkAnalyzerCPU measures Elasticsearch's own CPU per document (from its node stats) for
// bulks of 100 real review sentences into an index whose sentence.english uses each analyzer:
// the built-in english one (where the node has it), the fallback of a node without it, and the
// former hunspell one (where the node has the dictionary). Each variant warms up first with 20
// bulks. Run it on a quiet machine against a node nothing else uses:
//
//	go test -run '^$' -bench AnalyzerCPU -benchtime 300x ./internal/esindex/
func BenchmarkAnalyzerCPU(b *testing.B) {
	es := esindextest.Client(b)
	scored := scoredCorpus(b)
	variants := []struct {
		name     string
		analyzer string
		settings map[string]any
	}{
		{"english", esindex.EnglishAnalyzer, esindex.Settings(esindex.EnglishAnalyzer)},
		{"fallback", esindex.FallbackAnalyzer, esindex.Settings(esindex.FallbackAnalyzer)},
		{"hunspell", "hunspell_english", hunspellSettings},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			name := esindextest.Name(b)
			body := map[string]any{"settings": v.settings, "mappings": esindex.Mappings(v.analyzer)}
			if code := esindextest.Do(b, es, http.MethodPut, "/"+name, body, nil); code != http.StatusOK {
				b.Skipf("this node cannot create an index with the %s analyzer (status %d)", v.name, code)
			}
			b.Cleanup(func() { esindextest.Remove(b, es, name) })
			x := esindex.New(es, name)
			next := 0
			docs := make([]esindex.Doc, 100)
			bulk := func() {
				next = fillDocs(docs, scored, next)
				for _, err := range x.Put(b.Context(), docs) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			for range 20 {
				bulk()
			}
			before := nodeCPUMillis(b, es)
			n := 0
			for b.Loop() {
				bulk()
				n++
			}
			cpu := nodeCPUMillis(b, es) - before
			b.ReportMetric(float64(cpu)*1000/float64(n*100), "es-cpu-µs/doc")
		})
	}
}

// BenchmarkBulkSizeCPU measures Elasticsearch's own CPU per document against the size of the
// bulks the index function sends (create, _id = key, the template's settings: a refresh every
// [esindex.RefreshInterval] and a translog fsync per request), on a fresh index per size: after a warm-up of 5,000
// documents, 30,000 documents in bulks of each size, one bulk at a time. The function's bulks
// are as large as the events in flight let them be (the runner's 50 per consumer), so this is
// what more partitions and consumers would buy. Run it on a quiet machine against a node
// nothing else uses, whose JIT is warm (a run before the measured one):
//
//	go test -run '^$' -bench BulkSizeCPU -benchtime 1x ./internal/esindex/
func BenchmarkBulkSizeCPU(b *testing.B) {
	es := esindextest.Client(b)
	scored := scoredCorpus(b)
	const warm, measured = 5000, 30000
	for _, size := range []int{25, 50, 75, 150, 300, 600} {
		b.Run(fmt.Sprintf("bulk=%d", size), func(b *testing.B) {
			x := esindex.New(es, esindextest.Name(b))
			b.Cleanup(func() { esindextest.Remove(b, es, x.Name()) })
			next := 0
			write := func(n int) {
				docs := make([]esindex.Doc, size)
				for written := 0; written < n; written += size {
					next = fillDocs(docs, scored, next)
					for _, err := range x.Bulk(b.Context(), docs) {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			for b.Loop() {
				write(warm)
				before, start := nodeCPUMillis(b, es), time.Now()
				write(measured)
				cpu, wall := nodeCPUMillis(b, es)-before, time.Since(start)
				b.ReportMetric(float64(cpu)*1000/measured, "es-cpu-µs/doc")
				b.ReportMetric(float64(wall.Microseconds())/float64(measured/size), "µs/bulk")
			}
		})
	}
}

// nodeCPUMillis returns the CPU time the Elasticsearch process has used, in milliseconds.
func nodeCPUMillis(b *testing.B, es esindex.Transport) int64 {
	var stats struct {
		Nodes map[string]struct {
			Process struct {
				CPU struct {
					TotalInMillis int64 `json:"total_in_millis"`
				} `json:"cpu"`
			} `json:"process"`
		} `json:"nodes"`
	}
	if code := esindextest.Do(b, es, http.MethodGet, "/_nodes/_local/stats/process", nil, &stats); code != http.StatusOK {
		b.Fatalf("node stats: status %d", code)
	}
	for _, n := range stats.Nodes {
		return n.Process.CPU.TotalInMillis
	}
	b.Fatal("node stats name no node")
	return 0
}

// scoredCorpus returns the corpus as documents, scored once up front so that each bulk's wall
// time, over which the node's idle CPU also counts, is mostly Elasticsearch's work.
func scoredCorpus(b *testing.B) []esindex.Doc {
	a := sentiment.New()
	var scored []esindex.Doc
	for i, s := range corpus(b) {
		rec := event.Record{Key: fmt.Sprint(i), Sentence: s, CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC)}
		scored = append(scored, esindex.NewDoc(rec, a.Score(s), rec.CreatedAt))
	}
	return scored
}

// fillDocs fills docs with scored's documents in turn from the next-th on, each under a key of
// its own, and returns the next one's number.
func fillDocs(docs, scored []esindex.Doc, next int) int {
	for i := range docs {
		docs[i] = scored[next%len(scored)]
		docs[i].Key = fmt.Sprintf("k%d", next)
		next++
	}
	return next
}

// corpus returns the sentiment package's test sentences: real review-like text.
func corpus(b *testing.B) []string {
	f, err := os.Open("../sentiment/testdata/corpus.txt")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if sc.Text() != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}
