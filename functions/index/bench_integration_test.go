package index

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
)

// countingBulker counts bulk requests and documents.
type countingBulker struct {
	b           Bulker
	calls, docs atomic.Int64
}

func (c *countingBulker) Bulk(ctx context.Context, docs []esindex.Doc) []error {
	c.calls.Add(1)
	c.docs.Add(int64(len(docs)))
	return c.b.Bulk(ctx, docs)
}

// BenchmarkIndexHTTP drives the function over HTTP with 64 concurrent senders of binary-mode
// CloudEvents (as KafkaSource sends them) against the real Elasticsearch, with cmd/index's
// default batching, and reports events/s, latency percentiles and the mean bulk size.
func BenchmarkIndexHTTP(b *testing.B) {
	x := esindextest.New(b)
	if err := x.EnsureTemplate(b.Context()); err != nil {
		b.Fatal(err)
	}
	benchHTTP(b, x)
}

// discardBulker accepts every document without writing it.
type discardBulker struct{}

func (discardBulker) Bulk(_ context.Context, docs []esindex.Doc) []error {
	return make([]error, len(docs))
}

// BenchmarkIndexHTTPNoES is BenchmarkIndexHTTP with a bulk that writes nothing: the function's
// own cost (HTTP, decoding, VADER, batching) on this machine, to compare with the real one.
func BenchmarkIndexHTTPNoES(b *testing.B) { benchHTTP(b, discardBulker{}) }

func benchHTTP(b *testing.B, bk Bulker) {
	cb := &countingBulker{b: bk}
	f := newFunctionWith(b, cb, 5*time.Second)
	srv := httptest.NewServer(f)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)

	var (
		seq  atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
		bad  atomic.Int64
	)
	send := func(i int64) (time.Duration, int) {
		body := fmt.Appendf(nil, `{"sentence":"Event %d: the delivery was great, I loved it!","created_at":"2025-04-14T08:00:00.123456Z"}`, i)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", fmt.Sprint(i))
		req.Header.Set("Ce-Source", "urn:bench")
		req.Header.Set("Ce-Type", "dev.sentistream.sentence.v1")
		req.Header.Set("Ce-Knativekafkapartition", "0")
		req.Header.Set("Ce-Knativekafkaoffset", fmt.Sprint(i))
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return time.Since(start), 0
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return time.Since(start), res.StatusCode
	}
	cb.calls.Store(0)
	cb.docs.Store(0)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 senders on GOMAXPROCS 1, 2, 4, …
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			d, code := send(seq.Add(1))
			if code != http.StatusNoContent {
				bad.Add(1)
			}
			mine = append(mine, d)
		}
		mu.Lock()
		lats = append(lats, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Errorf("%d requests did not answer 204", n)
	}
	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[int(p*float64(len(lats)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if c := cb.calls.Load(); c > 0 {
		b.ReportMetric(float64(cb.docs.Load())/float64(c), "docs/bulk")
	}
}
