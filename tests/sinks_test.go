package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/functions/index"
	"github.com/sentistream/sentistream/functions/score"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
	"github.com/sentistream/sentistream/internal/sink/sinktest"
)

// gate holds every write while closed is false, so that a test can fill a function's queue.
type gate struct {
	mu      sync.Mutex
	open    chan struct{}
	closed  bool
	waiting atomic.Int32 // writes held
}

func newGate(closed bool) *gate {
	g := &gate{open: make(chan struct{}), closed: closed}
	if !closed {
		close(g.open)
	}
	return g
}

func (g *gate) wait() {
	g.waiting.Add(1)
	<-g.open
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.open)
	}
}

// gatedInserter and gatedBulker pass writes to the real store once the gate is open.
type gatedInserter struct {
	g *gate
	score.Inserter
}

func (i gatedInserter) Insert(ctx context.Context, rows []pgstore.Row) ([]bool, error) {
	i.g.wait()
	return i.Inserter.Insert(ctx, rows)
}

type gatedBulker struct {
	g *gate
	index.Bulker
}

func (b gatedBulker) Bulk(ctx context.Context, docs []esindex.Doc) []error {
	b.g.wait()
	return b.Bulker.Bulk(ctx, docs)
}

// function is one of the two sinks, started as its command wires it, on a real server.
type function struct {
	name string
	// start serves the function with cfg on a store of the test's own (down: one nobody listens
	// on), writing once g is open, and returns its URL, its registry and a way to count what
	// the store holds per key. refuseEventID makes the store refuse, for good, any event whose
	// event_id is that value: a PostgreSQL trigger, an Elasticsearch mapping that wants a number.
	start func(t *testing.T, cfg sink.Config, g *gate, down bool, refuseEventID string) (string, *prometheus.Registry, func(key string) int)
}

func serveSink(t *testing.T, h interface {
	ServeEvent(http.ResponseWriter, *http.Request) error
	Close()
}) string {
	log := slog.New(slog.DiscardHandler)
	srv := serve.New(serve.Config{}, log, nil, nil)
	srv.Handle("POST /", serve.Adapt(log, h.ServeEvent))
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); h.Close() })
	return ts.URL
}

var functions = []function{
	{name: "score", start: func(t *testing.T, cfg sink.Config, g *gate, down bool, refuse string) (string, *prometheus.Registry, func(string) int) {
		var store *pgstore.Store
		var count func(string) int
		if down {
			pool, err := pgstore.NewPool(t.Context(), pgstore.PoolConfig{URL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			store, count = pgstore.New(pool), func(string) int { return 0 }
		} else {
			pool := pgstoretest.Open(t)
			if refuse != "" {
				_, err := pool.Exec(t.Context(), fmt.Sprintf(`
					CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
						IF NEW.event_id = %s THEN
							RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22023', COLUMN = 'event_id';
						END IF;
						RETURN NEW;
					END $$;
					CREATE TRIGGER refuse BEFORE INSERT ON sentences FOR EACH ROW EXECUTE FUNCTION refuse();`,
					"'"+strings.ReplaceAll(refuse, "'", "''")+"'"))
				if err != nil {
					t.Fatal(err)
				}
			}
			store = pgstore.New(pool)
			count = func(key string) int {
				var n int
				if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM sentences WHERE key = $1", key).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		reg := prometheus.NewRegistry()
		return serveSink(t, score.New(cfg, gatedInserter{g, store}, sink.NewMetrics(reg, "score"))), reg, count
	}},
	{name: "index", start: func(t *testing.T, cfg sink.Config, g *gate, down bool, refuse string) (string, *prometheus.Registry, func(string) int) {
		var x *esindex.Index
		count := func(string) int { return 0 }
		if down {
			es, err := esindex.NewClient(esindex.ClientConfig{URL: "http://127.0.0.1:1"})
			if err != nil {
				t.Fatal(err)
			}
			x = esindex.New(es, "down")
		} else {
			x = esindextest.New(t)
			if refuse != "" { // an index drifted from the template: event_id is a number there
				mappings := esindex.Mappings(esindex.FallbackAnalyzer)
				mappings["properties"].(map[string]any)["event_id"] = map[string]any{"type": "long"}
				body := map[string]any{"settings": esindex.Settings(esindex.FallbackAnalyzer), "mappings": mappings}
				if code := esindextest.Do(t, esindextest.Client(t), http.MethodPut, "/"+x.Name(), body, nil); code != http.StatusOK {
					t.Fatalf("create a drifted index: status %d", code)
				}
			}
			count = func(key string) int {
				if err := x.Refresh(t.Context()); err != nil {
					t.Fatal(err)
				}
				n := 0
				if err := x.Scan(t.Context(), 1000, func(docs []esindex.Doc) error {
					for _, d := range docs {
						if d.Key == key {
							n++
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		reg := prometheus.NewRegistry()
		return serveSink(t, index.New(cfg, gatedBulker{g, x}, sink.NewMetrics(reg, "index"), nil)), reg, count
	}},
}

// answer is what a test compares between the functions: the status, the body with the store's
// name taken out, and the outcomes counted.
type answer struct {
	Status   int
	Body     map[string]any
	Outcomes map[string]float64
}

func readAnswer(t *testing.T, status int, body string, reg *prometheus.Registry, store string) answer {
	t.Helper()
	a := answer{Status: status, Outcomes: sinktest.Outcomes(t, reg)}
	if body != "" {
		body = strings.ReplaceAll(body, store, "STORE")
		if err := json.Unmarshal([]byte(body), &a.Body); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
	}
	return a
}

var storeName = map[string]string{"score": "postgresql", "index": "elasticsearch"}

// TestSinksAnswerAlike sends the same inputs through both functions, each on its real store, and
// checks that they answer with the same status and body (but for the store's name and its own
// error code) and count the same outcome. The functions share internal/sink; this proves they
// are wired to it the same way and that their writers classify the stores' failures alike.
func TestSinksAnswerAlike(t *testing.T) {
	js := sinktest.JSON
	structured := func(id, data string) sinktest.Request {
		return sinktest.Request{Header: map[string]string{"Content-Type": "application/cloudevents+json"},
			Body: fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"urn:sinks","type":"t","data":%s}`, id, data),
			Key:  "ce:urn:sinks#" + id}
	}
	tests := []struct {
		name     string
		requests []sinktest.Request // all sent; the last one's answer is compared
		down     bool               // the store is unreachable
		queue    bool               // the store holds writes while the queue fills
		refuse   string             // the store refuses the event with this id
		wantCode int
		stored   int // how many times the store holds the last request's key afterwards
	}{
		{name: "not JSON", requests: []sinktest.Request{js("{nope")}, wantCode: 400},
		{name: "no sentence", requests: []sinktest.Request{js(`{"created_at":"2025-04-14T08:00:00Z"}`)}, wantCode: 422},
		{name: "sentence not a string", requests: []sinktest.Request{js(`{"sentence":5}`)}, wantCode: 422},
		{name: "bad created_at", requests: []sinktest.Request{js(`{"sentence":"x","created_at":"soon"}`)}, wantCode: 422},
		{name: "bad UTF-8", requests: []sinktest.Request{js("{\"sentence\":\"\xc3\x28\"}")}, wantCode: 400},
		{name: "U+0000", requests: []sinktest.Request{js(`{"sentence":"a\u0000b"}`)}, wantCode: 400},
		{name: "lone surrogate", requests: []sinktest.Request{js(`{"sentence":"a\ud800b"}`)}, wantCode: 400},
		{name: "XML", requests: []sinktest.Request{{Header: map[string]string{"Content-Type": "application/xml"}, Body: "<s/>"}}, wantCode: 415},
		{name: "bad CloudEvent", requests: []sinktest.Request{func() sinktest.Request {
			r := sinktest.WrappedSentence(0, 1, "x")
			r.Header["Ce-Id"] = "whatever"
			return r
		}()}, wantCode: 400},
		{name: "over MAX_SENTENCE_CHARS", requests: []sinktest.Request{js(sinktest.Data(strings.Repeat("é", 101)))}, wantCode: 413},
		{name: "1 MB sentence", requests: []sinktest.Request{js(sinktest.Data(strings.Repeat("a", 1<<20)))}, wantCode: 413},
		{name: "year 1", requests: []sinktest.Request{structured("y1", `{"sentence":"old news","created_at":"0001-01-02T00:00:00Z"}`)}, wantCode: 204, stored: 1},
		{name: "year 9999", requests: []sinktest.Request{structured("y9999", `{"sentence":"far ahead","created_at":"9999-12-31T23:59:59.999999Z"}`)}, wantCode: 204, stored: 1},
		{name: "stored", requests: []sinktest.Request{sinktest.WrappedSentence(1, 7, "This is great!")}, wantCode: 204, stored: 1},
		{name: "duplicate", requests: []sinktest.Request{sinktest.WrappedSentence(1, 8, "Twice."), sinktest.WrappedSentence(1, 8, "Twice.")}, wantCode: 204, stored: 1},
		{name: "store down", requests: []sinktest.Request{sinktest.WrappedSentence(1, 9, "Lost?")}, down: true, wantCode: 503},
		{name: "store refuses the event", requests: []sinktest.Request{structured("not-a-number", sinktest.Data("Refuse me."))}, refuse: "not-a-number", wantCode: 422},
		{name: "store refuses one event of a batch", requests: []sinktest.Request{sinktest.BatchOf(
			sinktest.CEJSON("101", sinktest.Data("Fine.")), sinktest.CEJSON("not-a-number", sinktest.Data("Refuse me.")))},
			refuse: "not-a-number", wantCode: 200},
		{name: "queue full", requests: []sinktest.Request{sinktest.WrappedSentence(2, 3, "Third in line.")}, queue: true, wantCode: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers := map[string]answer{}
			for _, f := range functions {
				cfg := sink.Config{MaxSentenceChars: 100, StoreTimeout: 3 * time.Second}
				g := newGate(false)
				if tt.queue {
					cfg.Batch.QueueSize, cfg.Batch.Flushers = 1, 1
					g = newGate(true)
				}
				url, reg, count := f.start(t, cfg, g, tt.down, tt.refuse)
				client := &http.Client{Timeout: 30 * time.Second}
				var held sync.WaitGroup
				if tt.queue { // one event held in the write, one queued: the next is one too many
					for i := range 2 {
						held.Go(func() {
							if code, body, _ := sinktest.Send(t, client, url, sinktest.WrappedSentence(2, i, "Waiting.")); code != 204 {
								t.Errorf("%s: held event %d: %d %s, want 204 once released", f.name, i, code, body)
							}
						})
						if i == 0 {
							waitFor(t, func() bool { return g.waiting.Load() == 1 })
						} else {
							waitFor(t, func() bool { return queued(t, reg) == 1 })
						}
					}
				}
				var status int
				var body string
				for _, r := range tt.requests {
					status, body, _ = sinktest.Send(t, client, url, r)
				}
				g.release()
				held.Wait()
				answers[f.name] = readAnswer(t, status, body, reg, storeName[f.name])
				if status != tt.wantCode {
					t.Errorf("%s: status %d (%s), want %d", f.name, status, body, tt.wantCode)
				}
				if last := tt.requests[len(tt.requests)-1]; last.Key != "" {
					if n := count(last.Key); n != tt.stored {
						t.Errorf("%s: the store holds %s %d times, want %d", f.name, last.Key, n, tt.stored)
					}
				}
			}
			// The store's own error code differs ("cause": a SQLSTATE, an Elasticsearch type).
			ignoreCause := cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "cause" })
			if diff := cmp.Diff(answers["score"], answers["index"], ignoreCause); diff != "" {
				t.Errorf("score and index answer differently (-score +index):\n%s", diff)
			}
		})
	}
}

// queued returns how many items wait in the batcher's queue (sentistream_batch_queue_depth).
func queued(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sentistream_batch_queue_depth" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSinksStoreTheSame sends every event form through both functions and checks that
// PostgreSQL's rows and Elasticsearch's documents agree: the same keys, sentences, times, scores,
// labels and provenance.
func TestSinksStoreTheSame(t *testing.T) {
	forms := []sinktest.Request{
		sinktest.WrappedSentence(2, 1234, "This is great!"),
		sinktest.BinaryCE("0b9c4f3e", "I love this so much ❤"),
		sinktest.Structured("5d1c1b8e", "What a terrible day."),
		sinktest.OpenFaaS(77, "The food was okay, I guess."),
		sinktest.Bare("Not bad at all!!"),
		sinktest.BatchOf(sinktest.CEJSON("b-1", sinktest.Data("Best. Day. Ever.")), sinktest.CEJSON("b-2", sinktest.Data("Meh."))),
	}
	pool := pgstoretest.Open(t)
	x := esindextest.New(t)
	urls := []string{
		serveSink(t, score.New(sink.Config{}, pgstore.New(pool), nil)),
		serveSink(t, index.New(sink.Config{}, x, nil, nil)),
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, r := range forms {
		for _, u := range urls {
			if code, body, _ := sinktest.Send(t, client, u, r); code != 200 && code != 204 {
				t.Fatalf("%s to %s: %d %s", r.Name, u, code, body)
			}
		}
	}

	fromPG := map[string]esindex.Doc{}
	if err := pgstore.New(pool).ScanByKey(t.Context(), 100, func(rows []pgstore.ExportRow) error {
		for _, r := range rows {
			fromPG[r.Record.Key] = esindex.Doc{Key: r.Record.Key, Sentence: r.Record.Sentence, CreatedAt: r.Record.CreatedAt,
				Scores: r.Scores, Label: r.Label, Provenance: r.Record.Provenance}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := x.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	fromES := map[string]esindex.Doc{}
	if err := x.Scan(t.Context(), 100, func(docs []esindex.Doc) error {
		for _, d := range docs {
			d.ScoredAt = time.Time{} // PostgreSQL's scored_at is its own clock's
			fromES[d.Key] = d
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(fromPG) != 7 {
		t.Errorf("PostgreSQL holds %d keys, want 7: %v", len(fromPG), slices.Sorted(maps.Keys(fromPG)))
	}
	if diff := cmp.Diff(fromPG, fromES); diff != "" {
		t.Errorf("PostgreSQL rows vs Elasticsearch documents (-pg +es):\n%s", diff)
	}
	a := sentiment.New()
	for k, d := range fromPG {
		if d.Scores != a.Score(d.Sentence) {
			t.Errorf("%s: stored scores %+v, want VADER's %+v", k, d.Scores, a.Score(d.Sentence))
		}
	}
}
