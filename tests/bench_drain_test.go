package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/produce"
)

// drainVar enables TestBenchDrain; `make bench-drain` and `make bench` set it.
const drainVar = "SENTISTREAM_BENCH_DRAIN"

// drainPythonVar names the Python of a virtualenv with scripts/bench/requirements.txt installed.
const drainPythonVar = "SENTISTREAM_BENCH_PYTHON"

// The targets of issue 15 the drain measures.
const (
	drainTargetCPU   = 300.0  // µs of CPU per event, whole pipeline, at most
	drainTargetRate  = 6000.0 // events/s into both sinks, at least
	drainTargetRatio = 5.0    // times the seed's consumer logic, at least
)

// drainSentenceSeed seeds the project's sentence generator, so every run drains the same text.
const drainSentenceSeed = 7

// drainResult is what one drain measured, through the pipeline or through the seed's consumer.
type drainResult struct {
	records   int
	elapsed   time.Duration // process start → the last event final in every sink
	firstAt   time.Duration // process start → the first event delivered (pipeline only)
	doneAt    map[string]time.Duration
	outcomes  map[string]map[string]float64 // source → outcome → events
	ticks     map[string]int64              // row → CPU clock ticks over the drain
	loadStart string
	loadEnd   string
	batches   map[string][2]float64 // function → flushes, items (pipeline only)
}

func (r drainResult) rate() float64 { return float64(r.records) / r.elapsed.Seconds() }

// usPerEvent returns the CPU of row in µs per event.
func (r drainResult) usPerEvent(row string) float64 {
	return float64(r.ticks[row]) / clockTicks * 1e6 / float64(r.records)
}

// The rows of the drain's CPU table: the pipeline's processes, whose sum is the whole pipeline,
// then what is not part of it.
var (
	drainPipelineRows = []string{"score", "index", "runner", "elasticsearch", "postgresql", "kafka"}
	drainOtherRows    = []string{"bench (this test: polls /metrics)", machineRow}
)

// TestBenchDrain drains a fixed backlog of seed-format records, produced beforehand by
// librdkafka (scripts/bench/produce.py), through the runner into score and index, and then the
// same records through the seed's consumer logic (scripts/bench/seed_consumer.py: kafka-python,
// VADER in Python, an INSERT and a commit per row). It reports events/s, CPU per event of every
// process and the functions' batch sizes beside the targets of issue 15, in reports/bench-drain.md.
// A missed target is a finding of the report, not a failure. Run it with `make bench-drain`.
func TestBenchDrain(t *testing.T) {
	if os.Getenv(drainVar) != "1" {
		t.Skip("drain benchmark of the whole system: run make bench-drain (or " + drainVar + "=1, " +
			drainPythonVar + " and the SENTISTREAM_TEST_* variables)")
	}
	python := os.Getenv(drainPythonVar)
	if python == "" {
		t.Fatal(drainPythonVar + " is unset: point it at a virtualenv's python with scripts/bench/requirements.txt installed (make bench-drain does)")
	}
	records := drainEnvInt(t, "SENTISTREAM_BENCH_DRAIN_RECORDS", 30000)
	warmRecords := drainEnvInt(t, "SENTISTREAM_BENCH_DRAIN_WARMUP", 5000)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	uptimeStart := drainUptime()
	ctx := t.Context()
	dir := t.TempDir()
	warmFile, drainFile := writeDrainSentences(t, dir, warmRecords, records)

	s := newSystem(t)
	esWarm := warmElasticsearch(t, s, root)
	profiles := drainProfiles(t, s)
	seedSchema := "seed_bench_" + strings.TrimPrefix(s.schema, "e2e_")
	if _, err := s.pool.Exec(ctx, "CREATE SCHEMA "+seedSchema+"; CREATE TABLE "+seedSchema+
		".sentences (id serial, sentence text, sentiment float8, created_at timestamp)"); err != nil {
		t.Fatalf("create the seed's table: %v", err)
	}
	drainTopic := s.topic + "-drain"
	groups := map[string]string{"score": drainTopic + "-score", "index": drainTopic + "-index"}
	seedGroups := []string{s.topic + "-seed", drainTopic + "-seed"}
	if _, err := s.adm.CreateTopic(ctx, 3, 1, nil, drainTopic); err != nil {
		t.Fatalf("create topic %s: %v", drainTopic, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = s.adm.DeleteTopics(ctx, drainTopic)
		_, _ = s.adm.DeleteGroups(ctx, append(seedGroups, groups["score"], groups["index"])...)
		_, _ = s.pool.Exec(ctx, "DROP SCHEMA "+seedSchema+" CASCADE")
	})
	pyRun := func(ctx context.Context, script string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, python, append([]string{filepath.Join(root, "scripts", "bench", script)}, args...)...)
		cmd.Stderr = os.Stderr
		return cmd
	}
	produceWith := func(topic, file string, n int) map[string]any {
		t.Helper()
		out, err := pyRun(ctx, "produce.py", "--brokers", strings.Join(s.brokers, ","), "--topic", topic,
			"--count", strconv.Itoa(n), file).Output()
		if err != nil {
			t.Fatalf("produce.py: %v", err)
		}
		var res map[string]any
		if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
			t.Fatalf("produce.py printed %q: %v", out, err)
		}
		return res
	}

	// Warm-up: the first records of the generator go through the system's own runner into the
	// same score, index, schema and Elasticsearch index the drain uses, and through the seed's
	// consumer into its table (emptied afterwards), on a topic and groups of their own.
	produceWith(s.topic, warmFile, warmRecords)
	if _, err := waitDrained(ctx, s.runnerMetricsURL(), warmRecords, time.Now(), nil); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	if _, err := runSeedConsumer(ctx, pyRun, s, root, seedSchema, s.topic, seedGroups[0], warmRecords); err != nil {
		t.Fatalf("warm-up of the seed's consumer: %v", err)
	}
	s.runner.stop()
	if _, err := s.pool.Exec(ctx, "TRUNCATE "+seedSchema+".sentences"); err != nil {
		t.Fatal(err)
	}

	// The backlog, produced before anything consumes it.
	produced := produceWith(drainTopic, drainFile, records)
	t.Logf("backlog: %v", produced)

	pipe := drainPipeline(t, s, root, dir, drainTopic, groups, records, profiles)
	prefix := "kafka:" + drainTopic + "/"
	if err := s.settle(ctx, prefix, records, 2*time.Minute); err != nil {
		t.Errorf("after the drain: %v", err)
	}
	for src, by := range pipe.outcomes {
		if by["delivered"] != float64(records) {
			t.Errorf("source %s: outcomes %v, want %d delivered", src, by, records)
		}
	}
	t.Logf("pipeline: %d records in %s = %.0f events/s; CPU µs/event %s", records, pipe.elapsed.Round(time.Millisecond),
		pipe.rate(), drainFmtCPU(pipe))

	seed, err := runSeedConsumer(ctx, pyRun, s, root, seedSchema, drainTopic, seedGroups[1], records)
	if err != nil {
		t.Fatalf("seed's consumer: %v", err)
	}
	var seedRows int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+seedSchema+".sentences").Scan(&seedRows); err != nil {
		t.Fatal(err)
	}
	if seedRows != records {
		t.Errorf("the seed's table holds %d rows, want %d", seedRows, records)
	}
	t.Logf("seed: %d rows in %s = %.0f rows/s; ratio %.2f×", records, seed.elapsed.Round(time.Millisecond), seed.rate(),
		pipe.rate()/seed.rate())

	md := drainMarkdown(root, started, uptimeStart, drainUptime(), records, warmRecords, esWarm, produced, pipe, seed)
	out := filepath.Join(root, "reports", "bench-drain.md")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s\n%s", out, md)
}

func drainEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// writeDrainSentences writes warm and then n sentences of the project's generator (mood mixed,
// as cmd/producer's default) to two files, one a line, and returns their paths.
func writeDrainSentences(t *testing.T, dir string, warm, n int) (warmFile, drainFile string) {
	t.Helper()
	mood, err := produce.ParseMood("mixed")
	if err != nil {
		t.Fatal(err)
	}
	gen := produce.NewGenerator(drainSentenceSeed)
	write := func(name string, count int) string {
		var b bytes.Buffer
		for range count {
			line := gen.Sentence(nil, gen.Pick(mood.At(0)))
			if bytes.ContainsAny(line, "\r\n") {
				t.Fatalf("sentence %q spans lines", line)
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("warmup.txt", warm), write("drain.txt", n)
}

// writeDrainSources writes infra/knative's two KafkaSources with their topic and consumer group
// replaced, and nothing else changed.
func writeDrainSources(t *testing.T, root, dir, topic string, groups map[string]string) []string {
	t.Helper()
	topicRe := regexp.MustCompile(`(?m)^(\s*topics:\s*\n\s*-\s*)\S+[ \t]*$`)
	groupRe := regexp.MustCompile(`(?m)^(\s*consumerGroup:\s*)\S+[ \t]*$`)
	var paths []string
	for _, fn := range []string{"score", "index"} {
		b, err := os.ReadFile(filepath.Join(root, "infra", "knative", "kafkasource-"+fn+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(topicRe.FindAll(b, -1)) != 1 || len(groupRe.FindAll(b, -1)) != 1 {
			t.Fatalf("kafkasource-%s.yaml: want exactly one topic and one consumerGroup to replace", fn)
		}
		b = topicRe.ReplaceAll(b, []byte("${1}"+topic))
		b = groupRe.ReplaceAll(b, []byte("${1}"+groups[fn]))
		p := filepath.Join(dir, "kafkasource-"+fn+".yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// drainPipeline starts a runner of its own on the backlog's topic, with the system's score and
// index as sinks, and measures from its start until both sources have every record final.
func drainPipeline(t *testing.T, s *system, root, dir, topic string, groups map[string]string, n int, profiles *drainProfiler) drainResult {
	t.Helper()
	ctx := t.Context()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logf, err := os.Create(filepath.Join(dir, "runner-drain.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			t.Logf("drain runner log: %s", tailFile(logf.Name(), 25))
		}
	})
	runner := &proc{t: t, name: "runner", path: filepath.Join(buildBinaries(t), "runner"), log: logf,
		args: append([]string{
			"--brokers", strings.Join(s.brokers, ","),
			"--sink", "score=" + s.scoreURL, "--sink", "index=" + s.indexURL,
			"--dlq-topic", s.dlq, "--metrics-addr", metricsAddr,
		}, writeDrainSources(t, root, dir, topic, groups)...), env: profiles.env("runner")}
	rows := func(runnerPID int) []watched {
		return []watched{
			{name: "score", root: s.score.cmd.Process.Pid},
			{name: "index", root: s.index.cmd.Process.Pid},
			{name: "runner", root: runnerPID},
			{name: "elasticsearch", root: stackPID(root, "elasticsearch/elasticsearch.pid"), tree: true},
			{name: "postgresql", root: stackPID(root, "postgres/postgres.pid"), tree: true},
			{name: "kafka", root: stackPID(root, "kafka/kafka.pid"), tree: true},
			{name: drainOtherRows[0], root: os.Getpid()},
		}
	}
	batches0 := batchTotals(ctx, s.scoreURL, s.indexURL)
	res := drainResult{records: n, loadStart: drainLoad()}
	cpu0 := takeCPU(rows(-1)) // the runner does not exist yet: it counts from zero
	start := time.Now()
	runner.start()
	t.Cleanup(runner.stop)
	profiles.collect()
	var first time.Time
	res.doneAt = map[string]time.Duration{}
	res.outcomes, err = waitDrained(ctx, "http://"+metricsAddr+"/metrics", n, start, func(src string, delivered float64, at time.Time) {
		if first.IsZero() && delivered > 0 {
			first = at
		}
		if _, ok := res.doneAt[src]; !ok && delivered >= float64(n) {
			res.doneAt[src] = at.Sub(start)
		}
	})
	end := time.Now()
	cpu1 := takeCPU(rows(runner.cmd.Process.Pid))
	res.loadEnd = drainLoad()
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	res.elapsed, res.firstAt = end.Sub(start), first.Sub(start)
	res.ticks = cpuTicks(cpu0, cpu1)
	batches1 := batchTotals(ctx, s.scoreURL, s.indexURL)
	res.batches = map[string][2]float64{}
	for fn, v := range batches1 {
		res.batches[fn] = [2]float64{v[0] - batches0[fn][0], v[1] - batches0[fn][1]}
	}
	profiles.wait() // before the runner stops, or its profile is cut off when the drain is short
	runner.stop()
	return res
}

// drainProfileVar names a folder: when set, the drain writes a CPU profile of score, index and
// the runner (the first SENTISTREAM_BENCH_PROFILE_SECONDS, default 5, of the drain) into it,
// for `go tool pprof`.
const drainProfileVar = "SENTISTREAM_BENCH_PROFILE"

// drainProfiler takes the drain's CPU profiles through each process's PPROF_ADDR. A nil one
// takes none.
type drainProfiler struct {
	t       *testing.T
	dir     string
	seconds int
	addrs   map[string]string // process → its pprof address
	wg      sync.WaitGroup
}

// drainProfiles returns nil unless drainProfileVar is set; else it restarts s's functions with
// a pprof listener each.
func drainProfiles(t *testing.T, s *system) *drainProfiler {
	dir := os.Getenv(drainProfileVar)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &drainProfiler{t: t, dir: dir, seconds: drainEnvInt(t, drainProfileVar+"_SECONDS", 5), addrs: map[string]string{}}
	for _, fn := range []*proc{s.score, s.index} {
		fn.stop()
		fn.env = append(fn.env, p.env(fn.name)...)
		fn.start()
	}
	s.waitReady(s.scoreURL)
	s.waitReady(s.indexURL)
	return p
}

// env returns the PPROF_ADDR setting for process name.
func (p *drainProfiler) env(name string) []string {
	if p == nil {
		return nil
	}
	p.addrs[name] = fmt.Sprintf("127.0.0.1:%d", freePort(p.t))
	return []string{"PPROF_ADDR=" + p.addrs[name]}
}

// collect starts taking a CPU profile of every process.
func (p *drainProfiler) collect() {
	if p == nil {
		return
	}
	for name, addr := range p.addrs {
		p.wg.Go(func() {
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, p.seconds)
			res, err := http.Get(url)
			for wait := time.Now().Add(3 * time.Second); err != nil && time.Now().Before(wait); {
				time.Sleep(20 * time.Millisecond) // the runner starts its listener as the drain begins
				res, err = http.Get(url)
			}
			if err != nil {
				p.t.Errorf("profile of %s: %v", name, err)
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err == nil && res.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d: %s", res.StatusCode, b)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(p.dir, name+".pprof"), b, 0o644)
			}
			if err != nil {
				p.t.Errorf("profile of %s: %v", name, err)
			}
		})
	}
}

// wait waits for the profiles and says where they are.
func (p *drainProfiler) wait() {
	if p == nil {
		return
	}
	p.wg.Wait()
	p.t.Logf("CPU profiles of the drain's first %d s: %s/{score,index,runner}.pprof", p.seconds, p.dir)
}

// waitDrained polls the runner's /metrics every 100 ms until two sources each have n events
// final (delivered, dead-lettered or dropped), and returns the outcomes by source. each, if not
// nil, sees every source's delivered count at every poll.
func waitDrained(ctx context.Context, url string, n int, start time.Time, each func(src string, delivered float64, at time.Time)) (map[string]map[string]float64, error) {
	deadline := start.Add(max(2*time.Minute, time.Duration(n)*10*time.Millisecond))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last map[string]map[string]float64
	for {
		m, err := runnerOutcomes(ctx, url)
		now := time.Now()
		if err == nil {
			last = m
			done := 0
			for src, by := range m {
				if each != nil {
					each(src, by["delivered"], now)
				}
				var final float64
				for _, v := range by {
					final += v
				}
				if final >= float64(n) {
					done++
				}
			}
			if done >= 2 {
				return m, nil
			}
		}
		if now.After(deadline) {
			return last, fmt.Errorf("%d events final in both sources: not true after %s (outcomes %v, last error %v)",
				n, deadline.Sub(start).Round(time.Second), last, err)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}

// promLabelRe matches one name="value" pair of a Prometheus text-format series.
var promLabelRe = regexp.MustCompile(`(\w+)="([^"]*)"`)

// promSamples calls f with the labels and value of every sample of metric at url.
func promSamples(ctx context.Context, url, metric string, f func(labels map[string]string, v float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return fmt.Errorf("metrics line %q: %w", line, err)
		}
		labels := map[string]string{}
		if lb, _, ok := strings.Cut(rest, "}"); ok {
			for _, m := range promLabelRe.FindAllStringSubmatch(lb, -1) {
				labels[m[1]] = m[2]
			}
		}
		f(labels, v)
	}
	return sc.Err()
}

// runnerOutcomes returns sentistream_kafkasource_events_total by source and outcome.
func runnerOutcomes(ctx context.Context, url string) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	err := promSamples(ctx, url, "sentistream_kafkasource_events_total", func(l map[string]string, v float64) {
		if out[l["source"]] == nil {
			out[l["source"]] = map[string]float64{}
		}
		out[l["source"]][l["outcome"]] += v
	})
	return out, err
}

// batchTotals returns the flushes and items of each function's sentistream_batch_size histogram.
func batchTotals(ctx context.Context, urls ...string) map[string][2]float64 {
	out := map[string][2]float64{}
	for _, base := range urls {
		_ = promSamples(ctx, base+"/metrics", "sentistream_batch_size_count", func(l map[string]string, v float64) {
			e := out[l["function"]]
			e[0] += v
			out[l["function"]] = e
		})
		_ = promSamples(ctx, base+"/metrics", "sentistream_batch_size_sum", func(l map[string]string, v float64) {
			e := out[l["function"]]
			e[1] += v
			out[l["function"]] = e
		})
	}
	return out
}

// cpuTicks returns each row's CPU clock ticks between two snapshots, counted as cpuPercent does.
func cpuTicks(from, to cpuSnapshot) map[string]int64 {
	out := map[string]int64{}
	for name, m := range to.ticks {
		for k, v := range m {
			out[name] += v - from.ticks[name][k]
		}
	}
	return out
}

// runSeedConsumer runs scripts/bench/seed_consumer.py on topic in group until it has committed n
// rows, timed from its start to its last commit, with its own CPU and PostgreSQL's over that time.
func runSeedConsumer(ctx context.Context, pyRun func(context.Context, string, ...string) *exec.Cmd, s *system, root, schema, topic, group string, n int) (drainResult, error) {
	ctx, cancel := context.WithTimeout(ctx, max(2*time.Minute, time.Duration(n)*20*time.Millisecond))
	defer cancel()
	cmd := pyRun(ctx, "seed_consumer.py", "--brokers", strings.Join(s.brokers, ","), "--topic", topic, "--group", group,
		"--dsn", s.dbURL, "--schema", schema, "--count", strconv.Itoa(n))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return drainResult{}, err
	}
	rows := []watched{
		{name: "postgresql", root: stackPID(root, "postgres/postgres.pid"), tree: true},
		{name: "kafka", root: stackPID(root, "kafka/kafka.pid"), tree: true},
	}
	res := drainResult{records: n, loadStart: drainLoad()}
	cpu0 := takeCPU(rows)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	var report struct {
		Rows       int     `json:"rows"`
		DoneAt     float64 `json:"done_at"`
		CPUSeconds float64 `json:"cpu_seconds"`
	}
	out := bufio.NewReader(stdout)
	line, readErr := out.ReadBytes('\n')
	cpu1 := takeCPU(rows)
	res.loadEnd = drainLoad()
	_, _ = io.Copy(io.Discard, out) // Wait needs the pipe drained
	if err := cmd.Wait(); err != nil {
		return res, fmt.Errorf("seed_consumer.py: %w", err)
	}
	if readErr != nil {
		return res, fmt.Errorf("seed_consumer.py output: %w", readErr)
	}
	if err := json.Unmarshal(line, &report); err != nil {
		return res, fmt.Errorf("seed_consumer.py printed %q: %w", line, err)
	}
	if report.Rows != n {
		return res, fmt.Errorf("seed_consumer.py committed %d rows, want %d", report.Rows, n)
	}
	res.elapsed = time.Unix(0, int64(report.DoneAt*1e9)).Sub(start)
	res.ticks = cpuTicks(cpu0, cpu1)
	res.ticks["python (seed consumer)"] = int64(report.CPUSeconds*clockTicks + 0.5)
	return res, nil
}

func drainLoad() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func drainUptime() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		return "load average " + drainLoad()
	}
	return strings.TrimSpace(string(out))
}

func drainFmtCPU(r drainResult) string {
	var parts []string
	var total float64
	for _, row := range drainPipelineRows {
		us := r.usPerEvent(row)
		total += us
		parts = append(parts, fmt.Sprintf("%s %.0f", row, us))
	}
	return fmt.Sprintf("%s, whole pipeline %.0f", strings.Join(parts, ", "), total)
}

// drainVerdict says whether got meets a target (at most target if atMost, else at least) and, if
// not, by how much: the difference in unit, and how far off in percent or as a multiple.
func drainVerdict(got, target float64, atMost bool, unit string) string {
	if atMost {
		if got <= target {
			return "met"
		}
		return fmt.Sprintf("**missed by %s%s** (%.1f× the target)", drainNum(got-target), unit, got/target)
	}
	if got >= target {
		return "met"
	}
	return fmt.Sprintf("**missed by %.0f%%** (%s%s short)", 100*(target-got)/target, drainNum(target-got), unit)
}

// drainNum formats v with thousands separators, or with two decimals below 10 unless it is whole.
func drainNum(v float64) string {
	if v < 10 && v != math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func drainMarkdown(root string, started time.Time, uptimeStart, uptimeEnd string, n, warm int, esWarm esWarmth, produced map[string]any, pipe, seed drainResult) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	commit, _ := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	dirty, _ := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	var pipeTotal float64
	for _, row := range drainPipelineRows {
		pipeTotal += pipe.usPerEvent(row)
	}
	seedRows := []string{"python (seed consumer)", "postgresql"}
	var seedTotal float64
	for _, row := range seedRows {
		seedTotal += seed.usPerEvent(row)
	}
	ratio := pipe.rate() / seed.rate()

	w("# sentistream drain benchmark\n\n")
	w("- date: %s (took %s)\n", started.UTC().Format(time.RFC3339), time.Since(started).Round(time.Second))
	w("- command: `make bench-drain` (also the first step of `make bench`): `SENTISTREAM_BENCH_DRAIN=1 " +
		"SENTISTREAM_BENCH_PYTHON=.build/bench-venv/bin/python go test -count=1 -run '^TestBenchDrain$' -v ./tests/`\n")
	w("- machine: %d CPUs (nproc), Linux %s, %s, shared with whatever else runs on it (see the whole-machine row)\n",
		runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version())
	w("- `uptime` at start: %s\n- `uptime` at end: %s\n", uptimeStart, uptimeEnd)
	w("- load average (1, 5, 15 min): pipeline drain %s → %s; seed's consumer %s → %s\n",
		pipe.loadStart, pipe.loadEnd, seed.loadStart, seed.loadEnd)
	state := ""
	if len(bytes.TrimSpace(dirty)) > 0 {
		state = " with uncommitted changes to tracked files (the binaries are built from the working tree)"
	}
	w("- commit: %s%s\n\n", strings.TrimSpace(string(commit)), state)

	w("## Targets (issue 15)\n\n")
	w("| figure | target | measured | verdict |\n|---|---|---|---|\n")
	w("| CPU per event, whole pipeline, warm | ≤ %.0f µs | %s µs | %s |\n", drainTargetCPU, drainNum(pipeTotal),
		drainVerdict(pipeTotal, drainTargetCPU, true, " µs"))
	w("| drain into both sinks | ≥ %s /s | %s /s | %s |\n", drainNum(drainTargetRate), drainNum(pipe.rate()),
		drainVerdict(pipe.rate(), drainTargetRate, false, " /s"))
	w("| ratio to the seed's consumer logic, same run | ≥ %.0f× | %.2f× (%s /s against %s rows/s; the seed writes PostgreSQL only) | %s |\n\n",
		drainTargetRatio, ratio, drainNum(pipe.rate()), drainNum(seed.rate()), drainVerdict(ratio, drainTargetRatio, false, "×"))

	w("## How\n\n")
	w("- **Records**: %s seed-format values `{\"sentence\": …, \"created_at\": \"<UTC, no zone>\"}`, no key, no headers, "+
		"produced by librdkafka %v (confluent-kafka %v, `scripts/bench/produce.py`, acks=all, idempotent) onto a fresh "+
		"topic of 3 partitions in %.1f s, before anything consumes it. The sentences are the project's generator's "+
		"(`internal/produce`, seed %d, mood mixed), the same every run.\n",
		drainNum(float64(n)), produced["librdkafka"], produced["confluent_kafka"], produced["seconds"], drainSentenceSeed)
	w("- **Warm-up**: score, index and the Elasticsearch index and PostgreSQL schema they write are the ones measured; "+
		"%s other records of the generator went through them first (produced the same way, on a topic of their own, "+
		"delivered by a runner of their own, which is then stopped), and through the seed's consumer into its table, "+
		"emptied afterwards. Before that, Elasticsearch's JIT was warmed on a scratch index (bulks of %d generated "+
		"documents, in rounds of %s, until two pairs of rounds cost within %.0f%% of each other): %s. Nothing of the warm-up is counted.\n",
		drainNum(float64(warm)), esWarmBulk, drainNum(esWarmRound), esWarmSteady*100, esWarm)
	w("- **Pipeline**: a fresh runner (`cmd/runner`) on infra/knative's two KafkaSource manifests with only the topic " +
		"and the consumer groups replaced (fresh groups, `initialOffset: earliest`), delivering to score and index. " +
		"Timed from the runner's start to both sources having every record final, by polling its /metrics " +
		"(`sentistream_kafkasource_events_total`) every 100 ms (so ±0.1 s); runner startup and group join are inside the time.\n")
	w("- **Seed's consumer**: `scripts/bench/seed_consumer.py` (kafka-python, vaderSentiment, psycopg2: poll, " +
		"`json.loads`, `polarity_scores(…)['compound']`, one INSERT and one commit per row) on the same topic with a group " +
		"of its own, into `sentences(id serial, sentence text, sentiment float8, created_at timestamp)` of a schema of " +
		"its own; timed the same way, from the process's start to its last commit, after the pipeline's drain (the two " +
		"never share the machine).\n")
	w("- **CPU**: utime+stime from /proc/<pid>/stat over the timed interval, divided by the records. Services are " +
		"process trees (Elasticsearch: launcher and JVM; PostgreSQL: postmaster and every backend; Kafka: the broker). " +
		"The seed's Python is its own `os.times()` at its last commit (all threads, its startup included).\n\n")

	w("## Pipeline: runner → score (PostgreSQL) + index (Elasticsearch)\n\n")
	w("%s records in %.2f s = **%s events/s into both sinks**; first delivery %.2f s after the runner started.\n",
		drainNum(float64(n)), pipe.elapsed.Seconds(), drainNum(pipe.rate()), pipe.firstAt.Seconds())
	for _, src := range drainSortedKeys(pipe.doneAt) {
		d := pipe.doneAt[src]
		w("Source %s had every record delivered at %.2f s (%s /s).\n", src, d.Seconds(), drainNum(float64(n)/d.Seconds()))
	}
	w("\n| process | CPU s | µs per event | CPU %% of one core |\n|---|---|---|---|\n")
	row := func(r drainResult, name string, bold bool) {
		s := float64(r.ticks[name]) / clockTicks
		f := "| %s | %.2f | %.0f | %.0f%% |\n"
		if bold {
			f = "| **%s** | **%.2f** | **%.0f** | **%.0f%%** |\n"
		}
		w(f, name, s, r.usPerEvent(name), 100*s/r.elapsed.Seconds())
	}
	for _, name := range drainPipelineRows {
		row(pipe, name, false)
	}
	var pipeTicks int64
	for _, name := range drainPipelineRows {
		pipeTicks += pipe.ticks[name]
	}
	pipe.ticks["whole pipeline"] = pipeTicks
	row(pipe, "whole pipeline", true)
	for _, name := range drainOtherRows {
		row(pipe, name, false)
	}
	w("\nThe last two rows are not part of the pipeline: this test's own polling, and every process on the machine "+
		"(/proc/stat, %d cores = %d%%), whatever else shares it included.\n\n", runtime.NumCPU(), 100*runtime.NumCPU())
	w("Batches over the drain (`sentistream_batch_size` sum and count from each function's /metrics):\n\n")
	w("| function | flushes | items | mean items per flush |\n|---|---|---|---|\n")
	for _, fn := range drainSortedKeys(pipe.batches) {
		v := pipe.batches[fn]
		mean := 0.0
		if v[0] > 0 {
			mean = v[1] / v[0]
		}
		w("| %s | %s | %s | %.1f |\n", fn, drainNum(v[0]), drainNum(v[1]), mean)
	}
	w("\nOutcomes by source (runner): ")
	var outs []string
	for _, src := range drainSortedKeys(pipe.outcomes) {
		by := pipe.outcomes[src]
		outs = append(outs, fmt.Sprintf("%s delivered %s, dead-lettered %s, dropped %s", src,
			drainNum(by["delivered"]), drainNum(by["dead_lettered"]), drainNum(by["dropped"])))
	}
	w("%s.\n\n", strings.Join(outs, "; "))

	w("## The seed's consumer logic, same records\n\n")
	w("%s rows in %.2f s = **%s rows/s into PostgreSQL** (one sink).\n\n", drainNum(float64(n)), seed.elapsed.Seconds(), drainNum(seed.rate()))
	w("| process | CPU s | µs per event | CPU %% of one core |\n|---|---|---|---|\n")
	for _, name := range seedRows {
		row(seed, name, false)
	}
	var seedTicks int64
	for _, name := range seedRows {
		seedTicks += seed.ticks[name]
	}
	seed.ticks["seed total (python + postgresql)"] = seedTicks
	row(seed, "seed total (python + postgresql)", true)
	row(seed, "kafka", false)
	row(seed, machineRow, false)
	w("\nKafka is shown apart: the seed's total is its Python process and PostgreSQL (%.0f µs per event against the "+
		"pipeline's %.0f µs for both sinks).\n", seedTotal, pipeTotal)
	return b.String()
}

func drainSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
