package tests

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/benchload"
	"github.com/sentistream/sentistream/internal/esindex"
)

// benchVar enables TestBenchEndToEnd; `make bench` sets it.
const benchVar = "SENTISTREAM_BENCH_E2E"

// benchSeconds is how long each latency run produces (SENTISTREAM_BENCH_SECONDS, default 60).
func benchSeconds(t *testing.T) int {
	t.Helper()
	n := 60
	if v := os.Getenv("SENTISTREAM_BENCH_SECONDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 5 {
			t.Fatalf("SENTISTREAM_BENCH_SECONDS=%q: want an integer >= 5", v)
		}
	}
	return n
}

// preloadVar sets how many documents and rows each latency run's index and table hold before
// its warm-up (default defaultPreload; 0 means none): a live index holds a few days of a modest
// stream, and searchable latency depends on its size.
const preloadVar = "SENTISTREAM_BENCH_PRELOAD"

const (
	defaultPreload = 500_000
	// preloadSpan is how far back the preloaded records' created_at goes.
	preloadSpan = 3 * 24 * time.Hour
)

// benchPreload returns the number of records to preload (preloadVar).
func benchPreload(t *testing.T) int {
	t.Helper()
	n := defaultPreload
	if v := os.Getenv(preloadVar); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			t.Fatalf("%s=%q: want an integer >= 0", preloadVar, v)
		}
	}
	return n
}

var (
	benchLatencyRates = []int{1000, 5000}
	benchRampRates    = []int{1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000}
)

// benchSamplesPerSecond is how many records per second the latency runs follow with searches.
const benchSamplesPerSecond = 5

// latencyRun is what one fixed-rate run measured.
type latencyRun struct {
	rate       int
	seconds    float64 // producing
	produced   int64
	stored     int // rows of the run in PostgreSQL
	searchable int // documents of the run in Elasticsearch
	pg         dist
	pgVisible  dist               // sampled: produce → a SELECT finds the row
	pgCommit   dist               // sampled: scored_at → a SELECT finds the row (insert + commit + poll)
	note       string             // why the figures are partial, if they are
	esLeft     int                // sampled records no search found
	pgLeft     int                // sampled records no SELECT found
	es         dist               // sampled: produce → a search finds the document
	maxLag     map[string]int64   // runner lag (records not yet final) by source
	delivery   map[string]float64 // mean ms from the runner's POST to the 2xx, by source
	cpu        map[string]float64
	rss        map[string]int64
	hwm        map[string]int64
	pgPoints   []point
	pgP99      []point
	esPoints   []point
}

// rampStep is one step of the sustained-rate search.
type rampStep struct {
	rate     int
	achieved float64
	endLag   int64            // both sources
	maxLag   int64            // both sources
	endBy    map[string]int64 // lag at the end by source
	delivery map[string]float64
	slope    float64 // records/s, least squares over the last half of the step
	bounded  bool
	cpu      map[string]float64
}

// TestBenchEndToEnd measures the whole system on the local stack: latency from produce to
// stored in PostgreSQL (every row's scored_at minus the produce time it carries as created_at)
// and to searchable in Elasticsearch (sampled searches), at fixed rates; the highest rate at
// which lag stays bounded; and CPU and memory of every process. It writes reports/bench-e2e.md
// and reports/latency.png at the repository root. Run it with `make bench`.
func TestBenchEndToEnd(t *testing.T) {
	if os.Getenv(benchVar) != "1" {
		t.Skip("load benchmark of the whole system: run make bench (or " + benchVar + "=1 with the SENTISTREAM_TEST_* variables)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	secs := benchSeconds(t)
	preload := benchPreload(t)
	stepSecs := min(20, secs)
	loadAvg, _ := os.ReadFile("/proc/loadavg")
	started := time.Now()

	var runs []latencyRun
	for _, rate := range benchLatencyRates {
		t.Run(fmt.Sprintf("rate=%d", rate), func(t *testing.T) {
			runs = append(runs, benchLatency(t, root, rate, time.Duration(secs)*time.Second, preload))
		})
	}
	var steps []rampStep
	t.Run("ramp", func(t *testing.T) {
		steps = benchRamp(t, root, time.Duration(stepSecs)*time.Second)
	})

	md := benchMarkdown(root, started, strings.TrimSpace(string(loadAvg)), secs, stepSecs, preload, runs, steps)
	dir := filepath.Join(root, "reports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-e2e.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	var panels []panel
	for _, r := range runs {
		panels = append(panels, panel{
			title: fmt.Sprintf("%d events/s: latency by produce time", r.rate),
			xMax:  r.seconds,
			series: []series{
				{name: "PostgreSQL every row", c: color.RGBA{31, 119, 180, 255}, pts: r.pgPoints, dots: true, faint: true},
				{name: "PostgreSQL p99 per s", c: color.RGBA{31, 119, 180, 255}, pts: r.pgP99},
				{name: "Elasticsearch searchable (sampled)", c: color.RGBA{255, 127, 14, 255}, pts: r.esPoints},
			},
		})
	}
	if len(panels) == 0 { // -run chose only the ramp: no latency to chart
		t.Logf("report: %s\n%s", filepath.Join(dir, "bench-e2e.md"), md)
		return
	}
	if err := writeChart(filepath.Join(dir, "latency.png"), panels); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s and %s\n%s", filepath.Join(dir, "bench-e2e.md"), filepath.Join(dir, "latency.png"), md)
}

// benchProcNames are the rows of the process table, in order.
var benchProcNames = []string{"score", "index", "runner", "kafka", "postgresql", "elasticsearch", "bench (producer, probes)", machineRow}

// benchProcs lists the processes of s and of the local stack.
func benchProcs(s *system, root string) []watched {
	return []watched{
		{name: "score", root: s.score.cmd.Process.Pid},
		{name: "index", root: s.index.cmd.Process.Pid},
		{name: "runner", root: s.runner.cmd.Process.Pid},
		{name: "kafka", root: stackPID(root, "kafka/kafka.pid"), tree: true},
		{name: "postgresql", root: stackPID(root, "postgres/postgres.pid"), tree: true},
		{name: "elasticsearch", root: stackPID(root, "elasticsearch/elasticsearch.pid"), tree: true},
		{name: "bench (producer, probes)", root: os.Getpid()},
	}
}

// benchProducer produces binary-mode CloudEvents whose data carries the produce time as
// created_at; the record timestamp is the same instant.
type benchProducer struct {
	s      *system
	source string
	next   int
	acked  atomic.Int64
	errs   atomic.Int64
}

func newBenchProducer(s *system, phase string) *benchProducer {
	return &benchProducer{s: s, source: "urn:sentistream:bench:" + s.topic + ":" + phase}
}

// keyPrefix is the idempotency key prefix of every record this producer sends.
func (p *benchProducer) keyPrefix() string { return "ce:" + p.source + "#" }

// produce sends one record and returns its key and produce time.
func (p *benchProducer) produce(ctx context.Context) (string, time.Time) {
	i := p.next
	p.next++
	id := "b-" + strconv.Itoa(i)
	now := time.Now()
	data, _ := json.Marshal(map[string]string{
		"sentence":   fmt.Sprintf("%s (#%d)", e2eSentences[i%len(e2eSentences)], i),
		"created_at": now.UTC().Format(time.RFC3339Nano),
	})
	rec := &kgo.Record{
		Topic: p.s.topic, Key: []byte(id), Value: data, Timestamp: now,
		Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte(id)},
			{Key: "ce_source", Value: []byte(p.source)},
			{Key: "ce_type", Value: []byte("dev.sentistream.sentence")},
			{Key: "content-type", Value: []byte("application/json")},
		},
	}
	p.s.kcl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil {
			p.errs.Add(1)
			return
		}
		p.acked.Add(1)
	})
	return p.keyPrefix() + id, now
}

// paced produces at rate records per second for d, calling each (if not nil) after every
// record, and returns how long it produced.
func (p *benchProducer) paced(ctx context.Context, rate int, d time.Duration, each func(i int, key string, at time.Time)) time.Duration {
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for {
		el := time.Since(start)
		if el >= d || ctx.Err() != nil {
			return el
		}
		for target := int(el.Seconds() * float64(rate)); sent < target; sent++ {
			key, at := p.produce(ctx)
			if each != nil {
				each(sent, key, at)
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// warmUp sends n records and waits until both sinks have them, so that connections, pools and
// the index exist before anything is measured.
func (p *benchProducer) warmUp(t *testing.T, n int) {
	t.Helper()
	ctx := t.Context()
	for range n {
		p.produce(ctx)
	}
	if err := p.s.kcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.s.waitRows(t, p.keyPrefix(), n, 2*time.Minute)
}

// runnerMetricsURL is the runner's /metrics address, from the flags newSystem gave it.
func (s *system) runnerMetricsURL() string {
	i := slices.Index(s.runner.args, "--metrics-addr")
	if i < 0 || i+1 >= len(s.runner.args) {
		s.t.Fatal("runner has no --metrics-addr")
	}
	return "http://" + s.runner.args[i+1] + "/metrics"
}

// runnerLag returns sentistream_kafkasource_lag_records summed over partitions, by source:
// records whose delivery is not final yet. Unlike the committed consumer-group lag it does not
// include up to one commit interval (5 s) of delivered records.
func runnerLag(ctx context.Context, url string) (map[string]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "sentistream_kafkasource_lag_records{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		source, _, _ := strings.Cut(line[strings.Index(line, `source="`)+len(`source="`):], `"`)
		out[source] += int64(v)
	}
	return out, sc.Err()
}

// deliveryTotals returns the runner's delivery-duration histogram sums (seconds) and counts, by
// source, to give the mean time from sending an event to its final success over an interval.
func deliveryTotals(ctx context.Context, url string) (sum, count map[string]float64) {
	sum, count = map[string]float64{}, map[string]float64{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sum, count
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return sum, count
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]float64
		switch {
		case strings.HasPrefix(line, "sentistream_kafkasource_delivery_duration_seconds_sum{"):
			m = sum
		case strings.HasPrefix(line, "sentistream_kafkasource_delivery_duration_seconds_count{"):
			m = count
		default:
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			continue
		}
		source, _, _ := strings.Cut(line[strings.Index(line, `source="`)+len(`source="`):], `"`)
		m[source] += v
	}
	return sum, count
}

// meanDelivery returns the mean delivery time in ms by source between two deliveryTotals.
func meanDelivery(sum0, count0, sum1, count1 map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k := range sum1 {
		if n := count1[k] - count0[k]; n > 0 {
			out[k] = (sum1[k] - sum0[k]) / n * 1000
		}
	}
	return out
}

func fmtDelivery(m map[string]float64) string {
	return fmt.Sprintf("%.1f / %.1f ms", m["score"], m["index"])
}

func sumLag(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func fmtLag(m map[string]int64) string {
	return fmt.Sprintf("%d / %d", m["score"], m["index"])
}

// lagSample is the runner's lag at one moment.
type lagSample struct {
	at       time.Time
	lag      int64 // both sources
	bySource map[string]int64
}

// sampleLoop calls f every interval until ctx ends; the returned func stops it and waits.
func sampleLoop(ctx context.Context, interval time.Duration, f func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			f(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// countRows returns how many rows with keys starting with prefix are in PostgreSQL.
func (s *system) countRows(ctx context.Context, prefix string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.schema+".sentences WHERE starts_with(key, $1)", prefix).Scan(&n)
	return n, err
}

// countDocs returns how many searchable documents have keys starting with prefix.
func (s *system) countDocs(ctx context.Context, query string) (int, error) {
	var out struct {
		Count int `json:"count"`
	}
	err := esRequest(ctx, s.es, http.MethodPost, "/"+s.esIndex+"/_count", []byte(query), &out)
	return out.Count, err
}

func prefixQuery(prefix string) string {
	b, _ := json.Marshal(map[string]any{"query": map[string]any{"prefix": map[string]any{"key": prefix}}})
	return string(b)
}

func termQuery(key string) string {
	b, _ := json.Marshal(map[string]any{"query": map[string]any{"term": map[string]any{"key": key}}})
	return string(b)
}

// waitRows waits until PostgreSQL and Elasticsearch both hold n records with the key prefix.
func (s *system) waitRows(t *testing.T, prefix string, n int, timeout time.Duration) {
	t.Helper()
	if err := s.settle(t.Context(), prefix, n, timeout); err != nil {
		t.Fatal(err)
	}
}

// settle polls until PostgreSQL and Elasticsearch both hold n records with the key prefix, and
// returns an error saying how far they got if timeout passes first.
func (s *system) settle(ctx context.Context, prefix string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Second) // each poll counts rows: keep what it costs PostgreSQL small
	defer tick.Stop()
	for {
		err := s.caughtUp(ctx, prefix, n)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d records in both sinks: not true after %s: %w", n, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *system) caughtUp(ctx context.Context, prefix string, n int) error {
	rows, err := s.countRows(ctx, prefix)
	if err != nil {
		return err
	}
	docs, err := s.countDocs(ctx, prefixQuery(prefix))
	if err != nil {
		return err
	}
	if rows < n || docs < n {
		return fmt.Errorf("postgres %d, elasticsearch %d of %d", rows, docs, n)
	}
	return nil
}

// prober follows sampled records until a query finds them. It sends one query per interval for
// all pending records, so the load it adds does not grow with the latency it measures. A record
// counts as found when the answer that lists it arrives (an upper bound, coarse by the interval).
type prober struct {
	interval time.Duration
	start    time.Time
	// find returns which of keys exist, each with a time of its own (scored_at) or the zero time.
	find func(ctx context.Context, keys []string) (map[string]time.Time, error)

	mu      sync.Mutex
	pending map[string]time.Time // key -> produce time
	ms      []float64            // produce → found
	since   []float64            // the time find returned → found, where there is one
	pts     []point
}

func newProber(start time.Time, interval time.Duration, find func(context.Context, []string) (map[string]time.Time, error)) *prober {
	return &prober{interval: interval, start: start, find: find, pending: map[string]time.Time{}}
}

func (p *prober) add(key string, at time.Time) {
	p.mu.Lock()
	p.pending[key] = at
	p.mu.Unlock()
}

func (p *prober) left() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

func (p *prober) poll(ctx context.Context) {
	p.mu.Lock()
	keys := make([]string, 0, len(p.pending))
	for k := range p.pending {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	found, err := p.find(ctx, keys)
	now := time.Now()
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, ts := range found {
		at, ok := p.pending[k]
		if !ok {
			continue
		}
		delete(p.pending, k)
		ms := float64(now.Sub(at)) / float64(time.Millisecond)
		p.ms = append(p.ms, ms)
		p.pts = append(p.pts, point{at.Sub(p.start).Seconds(), ms})
		if !ts.IsZero() {
			p.since = append(p.since, float64(now.Sub(ts))/float64(time.Millisecond))
		}
	}
}

// searchKeys returns which of keys a search of the system's index finds now.
func (s *system) searchKeys(ctx context.Context, keys []string) (map[string]time.Time, error) {
	body, _ := json.Marshal(map[string]any{
		"query": map[string]any{"terms": map[string]any{"key": keys}},
		"size":  len(keys), "_source": []string{"key"},
	})
	var out struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Key string `json:"key"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := esRequest(ctx, s.es, http.MethodPost, "/"+s.esIndex+"/_search", body, &out); err != nil {
		return nil, err
	}
	found := map[string]time.Time{}
	for _, h := range out.Hits.Hits {
		found[h.Source.Key] = time.Time{}
	}
	return found, nil
}

// selectKeys returns which of keys PostgreSQL has now, with their scored_at.
func (s *system) selectKeys(ctx context.Context, keys []string) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, "SELECT key, scored_at FROM "+s.schema+".sentences WHERE key = ANY($1)", keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := map[string]time.Time{}
	for rows.Next() {
		var k string
		var ts time.Time
		if err := rows.Scan(&k, &ts); err != nil {
			return nil, err
		}
		found[k] = ts
	}
	return found, rows.Err()
}

func fmtCPU(m map[string]float64) string {
	var parts []string
	for _, n := range benchProcNames {
		parts = append(parts, fmt.Sprintf("%s %.0f", n, m[n]))
	}
	return strings.Join(parts, ", ")
}

func benchLatency(t *testing.T, root string, rate int, d time.Duration, preload int) latencyRun {
	s := newSystem(t)
	ctx := t.Context()
	if preload > 0 {
		s.preload(t, preload)
	}
	benchWarmUp(t, s)
	p := newBenchProducer(s, "run")
	procs := benchProcs(s, root)
	out := latencyRun{rate: rate}

	var mem memPeaks
	stopMem := sampleLoop(ctx, 250*time.Millisecond, func(context.Context) { mem.sample(procs) })
	lagURL := s.runnerMetricsURL()
	out.maxLag = map[string]int64{}
	stopLag := sampleLoop(ctx, 500*time.Millisecond, func(ctx context.Context) {
		if l, err := runnerLag(ctx, lagURL); err == nil {
			for k, v := range l {
				out.maxLag[k] = max(out.maxLag[k], v)
			}
		}
	})

	every := max(1, rate/benchSamplesPerSecond)
	start := time.Now()
	esProbe := newProber(start, 50*time.Millisecond, s.searchKeys)
	pgProbe := newProber(start, 10*time.Millisecond, s.selectKeys)
	stopES := sampleLoop(ctx, esProbe.interval, esProbe.poll)
	stopPG := sampleLoop(ctx, pgProbe.interval, pgProbe.poll)
	cpu0 := takeCPU(procs)
	dsum0, dcount0 := deliveryTotals(ctx, lagURL)
	produced := p.paced(ctx, rate, d, func(i int, key string, at time.Time) {
		if i%every == 0 {
			esProbe.add(key, at)
			pgProbe.add(key, at)
		}
	})
	out.seconds = produced.Seconds()
	if err := s.kcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e := p.errs.Load(); e > 0 {
		t.Errorf("%d records failed to produce", e)
	}
	out.produced = p.acked.Load()
	// A rate the system cannot sustain is a finding, not a failure: the report says how far the
	// sinks got, and the latencies cover what they stored.
	settled := s.settle(ctx, p.keyPrefix(), int(out.produced), 3*time.Minute)
	if settled != nil {
		out.note = fmt.Sprintf("the sinks had not caught up 3 min after the run (%v); figures cover what they stored by then", settled)
		t.Log(out.note)
	}
	cpu1 := takeCPU(procs)
	dsum1, dcount1 := deliveryTotals(ctx, lagURL)
	out.delivery = meanDelivery(dsum0, dcount0, dsum1, dcount1)
	stopLag()
	stopMem()
	if settled == nil {
		eventually(t, time.Minute, "probes found every sampled record", func() error {
			if n := esProbe.left() + pgProbe.left(); n > 0 {
				return fmt.Errorf("%d left", n)
			}
			return nil
		})
	}
	stopES()
	stopPG()
	out.esLeft, out.pgLeft = esProbe.left(), pgProbe.left()
	out.cpu = cpuPercent(cpu0, cpu1)
	out.rss = mem.peak
	out.hwm = lifetimeHWM(procs)

	// Every row: scored_at (the insert's transaction time) minus created_at (the produce time).
	rows, err := s.pool.Query(ctx, "SELECT created_at, scored_at FROM "+s.schema+".sentences WHERE starts_with(key, $1)", p.keyPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var pgMS []float64
	perSecond := map[int][]float64{}
	for rows.Next() {
		var created, scored time.Time
		if err := rows.Scan(&created, &scored); err != nil {
			t.Fatal(err)
		}
		ms := float64(scored.Sub(created)) / float64(time.Millisecond)
		x := created.Sub(start).Seconds()
		pgMS = append(pgMS, ms)
		out.pgPoints = append(out.pgPoints, point{x, ms})
		perSecond[int(x)] = append(perSecond[int(x)], ms)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for sec := range int(math.Ceil(out.seconds)) {
		if v := perSecond[sec]; len(v) > 0 {
			out.pgP99 = append(out.pgP99, point{float64(sec) + 0.5, summarise(v).p99})
		}
	}
	out.stored = len(pgMS)
	if out.searchable, err = s.countDocs(ctx, prefixQuery(p.keyPrefix())); err != nil {
		t.Error(err)
	}
	esPts := slices.Clone(esProbe.pts)
	slices.SortFunc(esPts, func(a, b point) int { return cmp.Compare(a.x, b.x) })
	out.pg, out.es, out.esPoints = summarise(pgMS), summarise(esProbe.ms), esPts
	out.pgVisible, out.pgCommit = summarise(pgProbe.ms), summarise(pgProbe.since)
	t.Logf("%d/s for %.0fs: %d produced, %d stored; produce→PostgreSQL p50/p99/max %s (sampled SELECT %s, %s after scored_at); produce→searchable %s (%d samples); max lag score/index %s; mean delivery score/index %s; CPU %% %s",
		rate, out.seconds, out.produced, out.stored, out.pg, out.pgVisible, out.pgCommit, out.es, out.es.n, fmtLag(out.maxLag), fmtDelivery(out.delivery), fmtCPU(out.cpu))
	return out
}

// preload writes n records (created_at over the last preloadSpan) into the system's table and
// index, which then get ANALYZE and a refresh but no force-merge, as a live index would. The
// table is there: newSystem waited for score's /readyz, which answers only once its migrations
// have run; the index is created here, from the template the index function installs.
func (s *system) preload(t *testing.T, n int) {
	t.Helper()
	start := time.Now()
	err := benchload.Load(t.Context(), s.pool, esindex.New(s.es, s.esIndex), n, benchload.Config{
		Schema: s.schema, Span: preloadSpan,
		Progress: func(done int, el time.Duration) {
			t.Logf("preload: %d/%d docs, %v", done, n, el.Round(time.Second))
		},
	})
	if err != nil {
		t.Fatalf("preload: %v", err)
	}
	t.Logf("preload: %d documents and rows in %v", n, time.Since(start).Round(100*time.Millisecond))
	s.waitMerges(t, time.Minute)
}

// waitMerges waits until the index has run no merge for two polls in a row, a second apart,
// so that a run after a preload measures an index in its steady state rather than the merges
// a bulk load of minutes' worth of documents sets off; within timeout, else it says so.
func (s *system) waitMerges(t *testing.T, timeout time.Duration) {
	t.Helper()
	start, quiet := time.Now(), 0
	for quiet < 2 {
		if time.Since(start) > timeout {
			t.Logf("preload: merges still running after %v; measuring anyway", timeout)
			return
		}
		time.Sleep(time.Second)
		var stats struct {
			All struct {
				Primaries struct {
					Merges struct {
						Current int `json:"current"`
					} `json:"merges"`
				} `json:"primaries"`
			} `json:"_all"`
		}
		if err := esRequest(t.Context(), s.es, http.MethodGet, "/"+s.esIndex+"/_stats/merge", nil, &stats); err != nil {
			t.Fatalf("merge stats: %v", err)
		}
		if stats.All.Primaries.Merges.Current == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	t.Logf("preload: merges done %v after the load", time.Since(start).Round(time.Second))
}

// benchWarmUp warms s up with records of their own source, kept out of every measurement.
func benchWarmUp(t *testing.T, s *system) {
	t.Helper()
	newBenchProducer(s, "warmup").warmUp(t, 500)
}

// benchRamp raises the rate step by step on one system and stops at the first step whose lag
// is not bounded: at the end of the step under two seconds of records, and not growing
// (least-squares slope over the second half of the step under 5% of the rate).
func benchRamp(t *testing.T, root string, step time.Duration) []rampStep {
	s := newSystem(t)
	ctx := t.Context()
	benchWarmUp(t, s)
	p := newBenchProducer(s, "ramp")
	procs := benchProcs(s, root)
	lagURL := s.runnerMetricsURL()
	var out []rampStep
	for _, rate := range benchRampRates {
		var (
			mu      sync.Mutex
			samples []lagSample
		)
		before := p.next
		cpu0 := takeCPU(procs)
		dsum0, dcount0 := deliveryTotals(ctx, lagURL)
		stop := sampleLoop(ctx, 500*time.Millisecond, func(ctx context.Context) {
			if l, err := runnerLag(ctx, lagURL); err == nil {
				mu.Lock()
				samples = append(samples, lagSample{time.Now(), sumLag(l), l})
				mu.Unlock()
			}
		})
		el := p.paced(ctx, rate, step, nil)
		stop()
		cpu1 := takeCPU(procs)
		dsum1, dcount1 := deliveryTotals(ctx, lagURL)
		// Records still buffered in the client count at the rate the step offered them.
		produced := p.next - before
		st := rampStep{rate: rate, achieved: float64(produced) / el.Seconds(), cpu: cpuPercent(cpu0, cpu1),
			delivery: meanDelivery(dsum0, dcount0, dsum1, dcount1)}
		if len(samples) > 0 {
			st.endLag, st.endBy = samples[len(samples)-1].lag, samples[len(samples)-1].bySource
			var half []lagSample
			for _, smp := range samples {
				st.maxLag = max(st.maxLag, smp.lag)
				if smp.at.Sub(samples[0].at) >= step/2 {
					half = append(half, smp)
				}
			}
			st.slope = lagSlope(half)
		}
		st.bounded = len(samples) > 0 && st.endLag < int64(2*rate) && st.slope < 0.05*float64(rate) &&
			st.achieved >= 0.95*float64(rate)
		out = append(out, st)
		t.Logf("step %d/s: produced %.0f/s, lag at end %d (score/index %s), max %d, slope %.0f/s, bounded %v; mean delivery score/index %s; CPU %% %s",
			rate, st.achieved, st.endLag, fmtLag(st.endBy), st.maxLag, st.slope, st.bounded, fmtDelivery(st.delivery), fmtCPU(st.cpu))
		if !st.bounded {
			break
		}
	}
	return out
}

// lagSlope is the least-squares slope of lag over time, in records per second.
func lagSlope(v []lagSample) float64 {
	if len(v) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, p := range v {
		x := p.at.Sub(v[0].at).Seconds()
		y := float64(p.lag)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(v))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// benchMarkdown renders the report.
func benchMarkdown(root string, started time.Time, loadAvg string, secs, stepSecs, preload int, runs []latencyRun, steps []rampStep) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	commit, _ := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	w("# sentistream end-to-end benchmark\n\n")
	w("- date: %s (took %s)\n", started.UTC().Format(time.RFC3339), time.Since(started).Round(time.Second))
	w("- machine: %d CPUs (nproc), load average at start %s, Linux %s, %s\n", runtime.NumCPU(), loadAvg,
		strings.TrimSpace(string(kernel)), runtime.Version())
	w("- commit: %s\n", strings.TrimSpace(string(commit)))
	w("- all services on this machine: the local stack (Kafka, PostgreSQL, Elasticsearch) and the score, index\n" +
		"  and runner binaries as processes, each latency run and the ramp on a fresh topic, schema and index\n")
	if preload > 0 {
		w("- index and table preloaded with %d documents (created_at over the last %.0f days, not force-merged) "+
			"before each latency run; the ramp runs on a fresh, empty system\n", preload, preloadSpan.Hours()/24)
	} else {
		w("- fresh (no preload): each latency run and the ramp start on an empty index and table\n")
	}
	w("- command: `make bench` (`SENTISTREAM_BENCH_E2E=1 go test -run '^TestBenchEndToEnd$' -v -timeout 60m ./tests/`); "+
		"SENTISTREAM_BENCH_SECONDS=%d, %s=%d\n\n", secs, preloadVar, preload)

	w("## Latency, produce → stored and → searchable\n\n")
	w("Binary-mode CloudEvents, produced at a fixed rate; created_at in the data and the record timestamp are the\n"+
		"produce time. **PostgreSQL**: every row, `scored_at − created_at`. **Elasticsearch**: %d records a second\n"+
		"followed by one search (a `terms` query on `key` for every record not yet found) every 50 ms; a record\n"+
		"counts as searchable when the answer listing it arrives (an upper bound, up to ~50 ms coarse).\n"+
		"The PostgreSQL check follows the same records with one `SELECT … WHERE key = ANY(…)` every 10 ms.\n\n", benchSamplesPerSecond)
	w("| rate | run | produced | in PostgreSQL / ES | produce → PostgreSQL p50 / p99 / max | produce → searchable in ES p50 / p99 / max (samples) | max lag score / index | mean delivery score / index |\n")
	w("|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		w("| %d/s | %.0f s | %d (%.0f/s) | %d / %d | %s | %s (%d) | %s | %s |\n", r.rate, r.seconds, r.produced,
			float64(r.produced)/r.seconds, r.stored, r.searchable, r.pg, r.es, r.es.n, fmtLag(r.maxLag), fmtDelivery(r.delivery))
	}
	for _, r := range runs {
		if r.note != "" {
			w("\n%d/s: %s; sampled records not found: %d in ES, %d in PostgreSQL.\n", r.rate, r.note, r.esLeft, r.pgLeft)
		}
	}
	w("\nCheck of `scored_at` as the stored time (sampled records): a `SELECT` first finds the row after\n\n")
	w("| rate | produce → row visible p50 / p99 / max | scored_at → row visible p50 / p99 / max |\n|---|---|---|\n")
	for _, r := range runs {
		w("| %d/s | %s | %s |\n", r.rate, r.pgVisible, r.pgCommit)
	}
	w("\n`scored_at` is the insert's transaction time (`now()`), so it precedes the commit by the statement's\n" +
		"duration; the second column bounds that gap (plus up to 10 ms of polling).\n" +
		"Max lag is the runner's `sentistream_kafkasource_lag_records` (records not yet final) by source. Mean\n" +
		"delivery is the runner's `sentistream_kafkasource_delivery_duration_seconds` (start of the POST to the\n" +
		"2xx, retries included) over the run.\n\n")
	w("![latency over time](latency.png)\n\n")

	w("## Highest sustained rate\n\n")
	w("One system, the rate raised every %d s; a step is bounded when the runner's lag (both sources) at its end\n"+
		"is under 2 s of records, its least-squares slope over the step's second half is under 5%% of the rate, and\n"+
		"the producer kept up (≥ 95%% of the rate).\n\n", stepSecs)
	names := benchProcNames
	w("| rate | produced/s | lag at end (score / index) | max lag | slope (rec/s) | bounded | mean delivery score / index | CPU %% %s |\n", strings.Join(names, " / "))
	w("|---|---|---|---|---|---|---|---|\n")
	best := 0
	for _, st := range steps {
		var cpus []string
		for _, n := range names {
			cpus = append(cpus, fmt.Sprintf("%.0f", st.cpu[n]))
		}
		w("| %d/s | %.0f | %d (%s) | %d | %.0f | %v | %s | %s |\n", st.rate, st.achieved, st.endLag, fmtLag(st.endBy), st.maxLag, st.slope, st.bounded, fmtDelivery(st.delivery), strings.Join(cpus, " / "))
		if st.bounded {
			best = st.rate
		}
	}
	w("\n**Highest sustained rate with bounded lag: %d events/s**", best)
	if len(steps) > 0 && steps[len(steps)-1].bounded {
		w(" (the highest step tried; the limit is above it)")
	}
	w(".\n\n")

	w("## Processes\n\n")
	w("CPU in %% of one core (utime+stime from /proc/<pid>/stat over the run, until both sinks held every record;\n"+
		"%d cores = %d%%). Peak RSS: the highest resident set sampled every 250 ms during the run; VmHWM: the\n"+
		"lifetime peak. Services are process trees summed (PostgreSQL: postmaster and backends, shared buffers\n"+
		"counted once per process that touched them; Elasticsearch: launcher and JVM). The whole machine row is\n"+
		"every process on it (/proc/stat), so what it adds to the rows above is other work on the machine.\n\n", runtime.NumCPU(), 100*runtime.NumCPU())
	w("| process |")
	for _, r := range runs {
		w(" CPU @ %d/s | peak RSS @ %d/s |", r.rate, r.rate)
	}
	w(" VmHWM (lifetime) |\n|---|")
	for range runs {
		w("---|---|")
	}
	w("---|\n")
	for _, n := range names {
		w("| %s |", n)
		var hwm int64
		for _, r := range runs {
			rss := fmtMiB(r.rss[n])
			if n == machineRow {
				rss = "–"
			}
			w(" %.0f%% | %s |", r.cpu[n], rss)
			hwm = max(hwm, r.hwm[n])
		}
		if n == machineRow {
			w(" – |\n")
			continue
		}
		w(" %s |\n", fmtMiB(hwm))
	}
	return b.String()
}
