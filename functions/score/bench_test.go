package score

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
	"github.com/sentistream/sentistream/internal/testenv"
)

// corpusBodies returns seed-format JSON bodies of the sentiment parity corpus, realistic texts.
func corpusBodies(b *testing.B) [][]byte {
	b.Helper()
	f, err := os.Open(filepath.Join(repoRoot(b), "internal", "sentiment", "testdata", "corpus.txt"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var bodies [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct{ Text string }
		if json.Unmarshal(sc.Bytes(), &line) != nil || strings.TrimSpace(line.Text) == "" || strings.ContainsRune(line.Text, 0) {
			continue
		}
		body, _ := json.Marshal(map[string]string{"sentence": line.Text, "created_at": "2025-04-14T08:00:00.123456"})
		bodies = append(bodies, body)
	}
	if len(bodies) == 0 {
		b.Fatal("empty corpus")
	}
	return bodies
}

// BenchmarkScoreHTTP drives the function end to end over real HTTP against the real PostgreSQL,
// with 64 concurrent clients sending binary-mode CloudEvents with unique ids, as KafkaSource
// (unordered) does. It reports events/s, request latency percentiles, the mean batch size and the
// CPU this process used (server and load generator together; PostgreSQL not included).
//
// rate=2000 sends at a fixed 2,000 events/s instead (open loop), for latency at a moderate load.
func BenchmarkScoreHTTP(b *testing.B) {
	bodies := corpusBodies(b)
	for _, flushers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("clients=64/flushers=%d", flushers), func(b *testing.B) {
			benchHTTP(b, bodies, batch.Config{Flushers: flushers}, 0)
		})
	}
	b.Run("rate=2000/flushers=2", func(b *testing.B) {
		benchHTTP(b, bodies, batch.Config{Flushers: 2}, 2000)
	})
}

func benchHTTP(b *testing.B, bodies [][]byte, bc batch.Config, rate int) {
	pool := pgstoretest.Open(b)
	reg := prometheus.NewRegistry()
	h := New(sink.Config{Batch: bc}, pgstore.New(pool), sink.NewMetrics(reg, "score"))
	srv := serve.New(serve.Config{}, discard, reg, nil)
	srv.Handle("POST /", serve.Adapt(discard, h.ServeEvent))
	ts := httptest.NewServer(srv)
	defer h.Close()
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()

	var (
		id   atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	run := fmt.Sprint(time.Now().UnixNano())
	post := func() time.Duration {
		n := id.Add(1)
		req, err := http.NewRequest(http.MethodPost, ts.URL, bytes.NewReader(bodies[n%int64(len(bodies))]))
		if err != nil {
			b.Fatal(err)
		}
		req.Header["Ce-Specversion"] = []string{"1.0"}
		req.Header["Ce-Id"] = []string{run + "-" + strconv.FormatInt(n, 10)}
		req.Header["Ce-Source"] = []string{"urn:sentistream:bench"}
		req.Header["Ce-Type"] = []string{"dev.sentistream.sentence.v1"}
		req.Header["Content-Type"] = []string{"application/json"}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}

	var cpu0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	b.ResetTimer()
	if rate == 0 {
		b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			var local []time.Duration
			for pb.Next() {
				local = append(local, post())
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		})
	} else {
		// Open loop: event i goes out at start + i/rate, at once when behind, so the mean rate
		// holds even when the scheduler is late.
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		var wg sync.WaitGroup
		for i := range b.N {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d) // pacing, not synchronisation
			}
			wg.Go(func() {
				d := post()
				mu.Lock()
				lats = append(lats, d)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	var cpu1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)

	elapsed := b.Elapsed().Seconds()
	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))].Microseconds()) / 1000
	}
	cpu := time.Duration(cpu1.Utime.Nano()+cpu1.Stime.Nano()-cpu0.Utime.Nano()-cpu0.Stime.Nano()).Seconds() / elapsed
	b.ReportMetric(float64(b.N)/elapsed, "events/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(histogramMean(b, reg, "sentistream_batch_size"), "rows/batch")
	b.ReportMetric(histogramMean(b, reg, "sentistream_batch_flush_duration_seconds")*1000, "flush-ms")
	b.ReportMetric(cpu, "cpu-cores")
	b.ReportMetric(0, "ns/op") // events/s says it better
}

// histogramMean returns sum/count of the histogram name in reg.
func histogramMean(b *testing.B, reg *prometheus.Registry, name string) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() > 0 {
				return h.GetSampleSum() / float64(h.GetSampleCount())
			}
		}
	}
	return 0
}

// BenchmarkColdStart builds cmd/score, and per iteration starts it against an already migrated
// schema and measures process start to the first /readyz 200 (PostgreSQL connected, migrations
// checked), and its resident memory (VmRSS) then, idle.
func BenchmarkColdStart(b *testing.B) {
	pool := pgstoretest.Open(b) // migrated: start-up takes the one-query fast path
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	u, err := url.Parse(testenv.DatabaseURL(b))
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	bin := filepath.Join(b.TempDir(), "score")
	build := exec.Command("go", "build", "-o", bin, "github.com/sentistream/sentistream/cmd/score")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var ready []time.Duration
	var rss []float64
	for b.Loop() {
		d, kb := coldStart(b, bin, u.String())
		ready = append(ready, d)
		rss = append(rss, kb/1024)
	}
	slices.Sort(ready)
	b.ReportMetric(float64(ready[len(ready)/2].Microseconds())/1000, "ms-to-ready(p50)")
	b.ReportMetric(float64(ready[len(ready)-1].Microseconds())/1000, "ms-to-ready(max)")
	b.ReportMetric(slices.Max(rss), "MiB-rss(max)")
}

func coldStart(b *testing.B, bin, dbURL string) (time.Duration, float64) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "DATABASE_URL="+dbURL, "LOG_LEVEL=warn")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	client := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("no /readyz 200 within 10s (last: %v)", err)
		case <-tick.C:
		}
	}
	d := time.Since(start)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	var kb float64
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ = strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		}
	}
	return d, kb
}
