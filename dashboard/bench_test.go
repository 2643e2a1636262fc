package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/dashboard"
	"github.com/sentistream/sentistream/internal/benchload"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/testenv"
)

// benchRowsVar sets how many rows BenchmarkDashboardAPI loads; the target is 1000000.
const benchRowsVar = "SENTISTREAM_BENCH_ROWS"

// benchClients is the number of concurrent clients per endpoint.
const benchClients = 20

// BenchmarkDashboardAPI loads rows spread over the last 7 days into a fresh PostgreSQL schema and
// Elasticsearch index, then measures each endpoint with benchClients concurrent clients over real
// HTTP, in three variants:
//
//   - cache=1s: the production cache (1 s), warmed by one request: what polling screens meet.
//   - cold: a new dashboard with the production cache before each round, so every round is the
//     first of a freshly started instance (scale from zero): the clients' identical requests
//     share one query. Elasticsearch's request cache is emptied too; the clients (PostgreSQL
//     pool, Elasticsearch, Kafka) stay connected.
//   - cache=off: no cache, so each of the clients' requests runs its own queries: the worst case,
//     as if every client asked something different.
//
// Each b.Loop iteration is one round of benchClients concurrent requests; it reports p50 and p99
// in ms and the number of answers other than 200 (503 when a query outlives QUERY_TIMEOUT).
//
//	SENTISTREAM_BENCH_ROWS=1000000 go test -run '^$' -bench DashboardAPI -benchtime 50x ./dashboard/
func BenchmarkDashboardAPI(b *testing.B) {
	n := 200_000
	if s := os.Getenv(benchRowsVar); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", benchRowsVar, s)
		}
	}
	pool := pgstoretest.Open(b)
	ix := esindextest.New(b)
	es := esindextest.Client(b)
	brokers := strings.Split(testenv.KafkaBrokers(b), ",")
	start := time.Now()
	// Rows spread over the last 7 days, into the test's schema (the pool's search_path).
	if err := benchload.Load(b.Context(), pool, ix, n, benchload.Config{
		Progress: func(done int, el time.Duration) { b.Logf("loaded %d/%d rows, %v", done, n, el.Round(time.Second)) },
	}); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d rows into PostgreSQL and Elasticsearch in %v", n, time.Since(start).Round(time.Second))

	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kcl.Close)
	paths := []string{
		"/api/mood?window=5m", "/api/mood?window=24h", "/api/timeline?range=1h", "/api/timeline?range=7d",
		"/api/latest?limit=30", "/api/search?q=coffee&size=20", "/api/search?q=service+slow&label=negative&range=24h",
		"/api/pipeline", "/api/drivers?window=5m", "/api/drivers?window=24h",
	}
	deps := dashboard.Deps{
		DB: pool, Search: es, Kafka: kadm.NewClient(kcl), DeadLetters: dashboard.NewDeadLetterReader(kgo.SeedBrokers(brokers...)),
	}
	newServer := func(cache time.Duration) *serve.Server {
		d, err := dashboard.New(dashboard.Config{Index: ix.Name(), CacheTTL: cache}, deps, nil)
		if err != nil {
			b.Fatal(err)
		}
		srv := serve.New(serve.Config{}, nil, nil, nil)
		d.Register(srv)
		return srv
	}
	variants := []struct {
		name  string
		cache time.Duration
		// cold builds a new dashboard, with an empty cache, before each round, and empties
		// Elasticsearch's request cache: a new instance's drivers and counts end at a second no
		// one asked about yet, and under live indexing each refresh empties that cache anyway.
		cold bool
	}{
		{"cache=1s", time.Second, false},
		{"cache=off", -1, false},
		{"cold", time.Second, true}, // cmd/dashboard's CACHE_TTL default
	}
	for _, v := range variants {
		// One server per variant; a cold round swaps a new dashboard in behind it.
		var current atomic.Pointer[serve.Server]
		current.Store(newServer(v.cache))
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			current.Load().ServeHTTP(w, r)
		}))
		b.Cleanup(hs.Close)
		var newRound func()
		if v.cold {
			newRound = func() {
				clearRequestCache(b, es, ix.Name())
				current.Store(newServer(v.cache))
			}
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients * 2}, Timeout: 10 * time.Second}
		for _, p := range paths {
			b.Run(v.name+"/"+strings.TrimPrefix(p, "/api/"), func(b *testing.B) {
				benchEndpoint(b, client, hs.URL, newRound, []string{p})
			})
		}
		// A page load: the HTML and its assets, then the panels' first data, as the page's first
		// tick asks for it (search asks nothing until there is a query, a label or a range).
		b.Run(v.name+"/page-load", func(b *testing.B) {
			benchEndpoint(b, client, hs.URL, newRound, []string{"/", "/static/app.js", "/static/app.css",
				"/api/mood?window=5m", "/api/drivers?window=5m", "/api/timeline?range=1h", "/api/latest?limit=30", "/api/pipeline",
				"/api/shift"})
		})
	}
}

// clearRequestCache empties Elasticsearch's shard request cache of index, which answers a repeated
// size-0 search (drivers, counts) until the next refresh.
func clearRequestCache(b *testing.B, es esindex.Transport, index string) {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, "/"+index+"/_cache/clear?request=true", nil)
	if err != nil {
		b.Fatal(err)
	}
	res, err := es.Perform(req)
	if err != nil {
		b.Fatalf("clear request cache: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("clear request cache: %s", res.Status)
	}
}

// benchEndpoint runs rounds of benchClients concurrent clients, each fetching paths (the first
// alone, the rest concurrently), and reports latency percentiles. newRound, when not nil, runs
// before each round.
func benchEndpoint(b *testing.B, client *http.Client, base string, newRound func(), paths []string) {
	var (
		mu     sync.Mutex
		lats   []time.Duration
		failed atomic.Int64
	)
	fetch := func(p string) {
		res, err := client.Get(base + p)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			failed.Add(1) // a 503 past QUERY_TIMEOUT under overload is a result, reported below
		}
	}
	// One request first: it pays for the instance's first (uncached) query, which the cache=off
	// runs measure; polling screens then meet a warm cache.
	for _, p := range paths {
		fetch(p)
	}
	for b.Loop() {
		if newRound != nil {
			newRound()
		}
		var wg sync.WaitGroup
		for range benchClients {
			wg.Go(func() {
				t0 := time.Now()
				fetch(paths[0])
				var inner sync.WaitGroup
				for _, p := range paths[1:] {
					inner.Go(func() { fetch(p) })
				}
				inner.Wait()
				el := time.Since(t0)
				mu.Lock()
				lats = append(lats, el)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	slices.Sort(lats)
	pct := func(q float64) float64 {
		return float64(lats[min(len(lats)-1, int(q*float64(len(lats))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(lats))/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(failed.Load()), "non-200")
}
