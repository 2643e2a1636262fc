package tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/testenv"
)

// binDir holds the binaries the system tests run, built once per test process (without -race:
// the race detector would make the system, not the test, the thing measured).
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sentistream-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "../cmd/score", "../cmd/index", "../cmd/runner", "../cmd/reconcile")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// proc is one of the system's processes, started, killed and restarted by a test.
type proc struct {
	t    *testing.T
	name string
	path string
	args []string
	env  []string
	log  *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

// signal sends sig and waits up to timeout for the process to exit.
func (p *proc) signal(sig syscall.Signal, timeout time.Duration) {
	p.t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		p.t.Errorf("%s did not exit within %s of %s; killed", p.name, timeout, sig)
	}
}

func (p *proc) kill() { p.signal(syscall.SIGKILL, 10*time.Second) }
func (p *proc) stop() { p.signal(syscall.SIGTERM, 20*time.Second) }

// system is one isolated copy of the pipeline: its own topic, dead-letter topic, consumer groups,
// PostgreSQL schema and Elasticsearch index, with score, index and the runner as processes.
type system struct {
	t        *testing.T
	brokers  []string
	topic    string
	dlq      string
	schema   string
	esIndex  string
	dbURL    string
	esURL    string
	pool     *pgxpool.Pool
	es       esindex.Transport
	storeEnv []string // for the functions and commands: see writeStoreEnv
	kcl      *kgo.Client
	adm      *kadm.Client
	score    *proc
	index    *proc
	runner   *proc
	scoreURL string
	indexURL string
	// runnerMetrics is the base URL of the runner's /metrics.
	runnerMetrics string
	groups        []string
}

func ptrTo[T any](v T) *T { return &v }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newSystem(t *testing.T) *system {
	t.Helper()
	brokers := strings.Split(testenv.KafkaBrokers(t), ",")
	dbURL := testenv.DatabaseURL(t)
	esURL := testenv.ElasticsearchURL(t)
	bin := buildBinaries(t)
	ctx := t.Context()

	id := strings.ReplaceAll(uniqueName("e2e"), "-", "_")
	s := &system{
		t: t, brokers: brokers, dbURL: dbURL, esURL: esURL,
		topic: strings.ReplaceAll(id, "_", "-"), dlq: strings.ReplaceAll(id, "_", "-") + "-dlq",
		schema: id, esIndex: strings.ReplaceAll(id, "_", "-") + "-idx",
	}
	s.groups = []string{s.topic + "-score", s.topic + "-index"}

	var err error
	if s.kcl, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kcl.Close)
	s.adm = kadm.NewClient(s.kcl)
	// As infra/local/kafka.sh: the dead-letter topic takes a record of the largest size the
	// source topic accepts plus the error attributes.
	dlqConfig := map[string]*string{"max.message.bytes": ptrTo("2097152")}
	for topic, configs := range map[string]map[string]*string{s.topic: nil, s.dlq: dlqConfig} {
		if _, err := s.adm.CreateTopic(ctx, 3, 1, configs, topic); err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	if s.pool, err = pgxpool.New(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	if _, err := s.pool.Exec(ctx, "CREATE SCHEMA "+s.schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	s.es = esindextest.Client(t)
	t.Cleanup(func() {
		for _, p := range []*proc{s.runner, s.index, s.score} {
			if p != nil {
				p.stop()
			}
		}
		ctx := context.Background()
		_, _ = s.adm.DeleteTopics(ctx, s.topic, s.dlq)
		_, _ = s.adm.DeleteGroups(ctx, s.groups...)
		_, _ = s.pool.Exec(ctx, "DROP SCHEMA "+s.schema+" CASCADE")
		// The index function installs a template named after its index.
		esindextest.Remove(t, s.es, s.esIndex)
	})

	logDir := filepath.Join(os.TempDir(), "sentistream-"+s.topic)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	newProc := func(name string, args []string, env ...string) *proc {
		f, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			f.Close()
			if t.Failed() {
				t.Logf("%s log: %s", name, tailFile(f.Name(), 25))
			}
		})
		return &proc{t: t, name: name, path: filepath.Join(bin, name), args: args, env: env, log: f}
	}

	scorePort, indexPort := freePort(t), freePort(t)
	s.scoreURL = fmt.Sprintf("http://127.0.0.1:%d", scorePort)
	s.indexURL = fmt.Sprintf("http://127.0.0.1:%d", indexPort)
	s.storeEnv = s.writeStoreEnv(logDir)
	s.score = newProc("score", nil, slices.Concat(s.storeEnv, []string{fmt.Sprintf("PORT=%d", scorePort), "LOG_LEVEL=warn"})...)
	s.index = newProc("index", nil, slices.Concat(s.storeEnv, []string{fmt.Sprintf("PORT=%d", indexPort), "LOG_LEVEL=warn"})...)
	sources := s.writeSources(logDir)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.runnerMetrics = "http://" + metricsAddr
	s.runner = newProc("runner", append([]string{
		"--brokers", strings.Join(brokers, ","),
		"--sink", "score=" + s.scoreURL, "--sink", "index=" + s.indexURL,
		"--dlq-topic", s.dlq, "--metrics-addr", metricsAddr,
	}, sources...))

	s.score.start()
	s.index.start()
	s.waitReady(s.scoreURL)
	s.waitReady(s.indexURL)
	s.runner.start()
	return s
}

// writeSources writes the two KafkaSources of infra/knative, pointed at this system's topic and
// groups, with a retry budget that outlasts a 30-second outage.
func (s *system) writeSources(dir string) []string {
	var paths []string
	for i, fn := range []string{"score", "index"} {
		doc := fmt.Sprintf(`apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata:
  name: %[1]s
  namespace: default
spec:
  bootstrapServers: [%[2]s]
  topics: [%[3]s]
  consumerGroup: %[4]s
  consumers: 3
  initialOffset: earliest
  ordering: unordered
  delivery:
    retry: 9
    backoffPolicy: exponential
    backoffDelay: PT0.2S
    timeout: PT10S
    deadLetterSink:
      ref:
        apiVersion: eventing.knative.dev/v1alpha1
        kind: KafkaSink
        name: sentence-dlq
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: %[1]s
`, fn, strings.Join(s.brokers, ","), s.topic, s.groups[i])
		p := filepath.Join(dir, "kafkasource-"+fn+".yaml")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			s.t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// writeStoreEnv returns the environment that points a function or command at this system's schema
// and index: the database URL (scoped to the schema) in a file of dir, as a secret is mounted,
// and the Elasticsearch URL with the tests' CA and credentials files, if any.
func (s *system) writeStoreEnv(dir string) []string {
	path := filepath.Join(dir, "database-url")
	if err := os.WriteFile(path, []byte(s.scopedDBURL()+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	env := []string{"DATABASE_URL=", "DATABASE_URL_FILE=" + path, "ES_INDEX=" + s.esIndex}
	env = append(env, testenv.ElasticsearchEnviron(s.t)...)
	return env
}

// scopedDBURL is the database URL with the system's schema as search_path.
func (s *system) scopedDBURL() string {
	u, err := url.Parse(s.dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", s.schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *system) waitReady(base string) {
	s.t.Helper()
	eventually(s.t, 30*time.Second, "ready "+base, func() error {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	})
}

// eventually polls f every 250 ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n" + strings.Join(lines, "\n")
}

// pgCounts returns the number of rows and of distinct keys in the system's table.
func (s *system) pgCounts(ctx context.Context) (rows, keys int, err error) {
	err = s.pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT key) FROM "+s.schema+".sentences").Scan(&rows, &keys)
	return rows, keys, err
}

// esCount returns the number of documents in the system's index after a refresh.
func (s *system) esCount(ctx context.Context) (int, error) {
	_ = esRequest(ctx, s.es, http.MethodPost, "/"+s.esIndex+"/_refresh", nil, nil)
	var out struct {
		Count int `json:"count"`
	}
	err := esRequest(ctx, s.es, http.MethodGet, "/"+s.esIndex+"/_count", nil, &out)
	return out.Count, err
}

// lag returns the total lag of the system's consumer groups on its topic.
func (s *system) lag(ctx context.Context) (int64, error) {
	lags, err := s.adm.Lag(ctx, s.groups...)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, g := range s.groups {
		gl, ok := lags[g]
		if !ok || gl.Error() != nil {
			return 0, fmt.Errorf("lag of %s unknown (%v)", g, gl.Error())
		}
		l := gl.Lag[s.topic]
		if len(l) == 0 {
			return 0, fmt.Errorf("group %s has no committed offsets on %s yet", g, s.topic)
		}
		for _, pl := range l {
			if pl.Err != nil {
				return 0, pl.Err
			}
			total += pl.Lag
		}
	}
	return total, nil
}

// dlqRecords reads every record of the dead-letter topic.
func (s *system) dlqRecords(ctx context.Context) []*kgo.Record {
	s.t.Helper()
	ends, err := s.adm.ListEndOffsets(ctx, s.dlq)
	if err != nil {
		s.t.Fatalf("dlq end offsets: %v", err)
	}
	want := map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		want[o.Partition] = o.Offset
		total += o.Offset
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(s.dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for int64(len(out)) < total {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			s.t.Fatalf("read dlq: got %d of %d records: %v", len(out), total, ctx.Err())
		}
		out = append(out, fetches.Records()...)
	}
	return out
}

func header(r *kgo.Record, name string) string {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}

// postJSON is a tiny helper for direct requests to a function.
func postJSON(url string, body []byte) (int, error) {
	res, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return res.StatusCode, nil
}
