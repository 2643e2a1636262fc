package index

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
	"github.com/sentistream/sentistream/internal/testenv"
)

// newFunction returns the index function as cmd/index wires it, writing to x.
func newFunction(t testing.TB, x *esindex.Index, storeTimeout time.Duration) http.Handler {
	t.Helper()
	return newFunctionWith(t, x, storeTimeout)
}

// newFunctionWith is newFunction writing through bk, with the default batching.
func newFunctionWith(t testing.TB, bk Bulker, storeTimeout time.Duration) http.Handler {
	t.Helper()
	h := New(sink.Config{StoreTimeout: storeTimeout}, bk, nil, nil)
	t.Cleanup(h.Close)
	return serve.Adapt(slog.New(slog.DiscardHandler), h.ServeEvent)
}

func post(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func scanAll(t testing.TB, x *esindex.Index) []esindex.Doc {
	t.Helper()
	if err := x.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	var docs []esindex.Doc
	if err := x.Scan(t.Context(), 1000, func(d []esindex.Doc) error {
		docs = append(docs, d...)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return docs
}

var singleForms = []string{
	"kafkasource_wrapped.http", "kafkasource_forwarded.http", "structured.http", "openfaas.http", "curl.http",
}

// TestIndexEventForms sends every accepted event form through the function into a real index
// and checks that each becomes one document with _id = key (tests/ checks it agrees with PostgreSQL).
func TestIndexEventForms(t *testing.T) {
	x := esindextest.New(t)
	f := newFunction(t, x, time.Minute)
	dec := event.NewDecoder(event.Config{})
	var records []event.Record
	for round := range 2 { // the second round is a redelivery
		for _, file := range singleForms {
			if rec := post(f, request(t, file)); rec.Code != http.StatusNoContent {
				t.Fatalf("round %d: POST %s = %d %s, want 204", round, file, rec.Code, rec.Body)
			}
			if round == 0 {
				items, err := dec.Decode(request(t, file))
				if err != nil {
					t.Fatal(err)
				}
				records = append(records, items[0].Record)
			}
		}
		// The batch has two bad events and two good ones: 200, the good ones indexed.
		if rec := post(f, request(t, "batch.http")); rec.Code != http.StatusOK {
			t.Fatalf("round %d: POST batch.http = %d %s, want 200", round, rec.Code, rec.Body)
		}
	}
	items, err := dec.Decode(request(t, "batch.http"))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Err == nil {
			records = append(records, it.Record)
		}
	}

	a := sentiment.New()
	want := map[string]esindex.Doc{}
	for _, r := range records {
		want[r.Key] = esindex.NewDoc(r, a.Score(r.Sentence), time.Time{})
	}
	got := scanAll(t, x)
	gotByKey := map[string]esindex.Doc{}
	for _, d := range got {
		d.ScoredAt = time.Time{}
		gotByKey[d.Key] = d
	}
	if len(got) != len(want) {
		t.Errorf("%d documents, want %d (one per key): %v", len(got), len(want), slices.Sorted(maps.Keys(gotByKey)))
	}
	// wrapped and openfaas are the same Kafka record: the first delivery's provenance stays.
	if diff := cmp.Diff(want, gotByKey, cmpIgnoreProvenanceOf("kafka:sentence/2/1234")); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}

}

// cmpIgnoreProvenanceOf ignores the provenance of the document with key, which two deliveries
// of one Kafka record (KafkaSource and kafka-connector) describe differently.
func cmpIgnoreProvenanceOf(key string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		if len(p) < 3 {
			return false
		}
		mi, ok := p[1].(cmp.MapIndex)
		if !ok || mi.Key().String() != key {
			return false
		}
		sf, ok := p[2].(cmp.StructField)
		return ok && sf.Name() == "Provenance"
	}, cmp.Ignore())
}

// TestIndexDuplicates sends one event twice, then 50 times at once: one document.
func TestIndexDuplicates(t *testing.T) {
	x := esindextest.New(t)
	f := newFunction(t, x, time.Minute)
	for range 2 {
		if rec := post(f, request(t, "kafkasource_forwarded.http")); rec.Code != http.StatusNoContent {
			t.Fatalf("POST = %d %s, want 204", rec.Code, rec.Body)
		}
	}
	codes := make([]int, 50)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = post(f, request(t, "kafkasource_wrapped.http")).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusNoContent {
			t.Errorf("concurrent POST %d = %d, want 204", i, c)
		}
	}
	if n := len(scanAll(t, x)); n != 2 {
		t.Errorf("%d documents, want 2", n)
	}
}

// TestIndexMappingFailure writes into an index whose mapping disagrees with one event (event_id
// is a long there, as in an index drifted from the template): that event gets a 422 with ES's
// reason in the batch's results, the others of the same request are indexed.
func TestIndexMappingFailure(t *testing.T) {
	x := esindextest.New(t)
	es := esindextest.Client(t)
	mappings := esindex.Mappings(esindex.FallbackAnalyzer)
	mappings["properties"].(map[string]any)["event_id"] = map[string]any{"type": "long"}
	if code := esindextest.Do(t, es, http.MethodPut, "/"+x.Name(), map[string]any{"settings": esindex.Settings(esindex.FallbackAnalyzer), "mappings": mappings}, nil); code != http.StatusOK {
		t.Fatalf("create drifted index: status %d", code)
	}
	f := newFunction(t, x, time.Minute)
	var events []string
	for _, id := range []string{"101", "not-a-number", "102"} {
		events = append(events, fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"urn:test","type":"t","data":{"sentence":"ok %s","created_at":"2025-04-14T08:00:00Z"}}`, id, id))
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("["+strings.Join(events, ",")+"]"))
	r.Header.Set("Content-Type", "application/cloudevents-batch+json")
	rec := post(f, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST = %d %s, want 200", rec.Code, rec.Body)
	}
	wantBody := `{"results":[{"key":"ce:urn:test#101","status":200},{"cause":"document_parsing_exception","error":"refused by elasticsearch","field":"event_id","key":"ce:urn:test#not-a-number","status":422},{"key":"ce:urn:test#102","status":200}]}`
	if got := strings.TrimSpace(rec.Body.String()); got != wantBody {
		t.Errorf("body = %s, want %s", got, wantBody)
	}
	var keys []string
	for _, d := range scanAll(t, x) {
		keys = append(keys, d.Key)
	}
	if diff := cmp.Diff([]string{"ce:urn:test#101", "ce:urn:test#102"}, keys); diff != "" {
		t.Errorf("indexed keys (-want +got):\n%s", diff)
	}
}

// TestIndexSeedQuery checks the seed's query and the English sub-field through the function.
func TestIndexSeedQuery(t *testing.T) {
	x := esindextest.New(t)
	es := esindextest.Client(t)
	f := newFunction(t, x, time.Minute)
	for i, s := range []string{"This is great!", "I loved the delivery.", "The parcel was late."} {
		body := fmt.Sprintf(`{"sentence":%q,"created_at":"2025-04-14T08:00:0%dZ"}`, s, i)
		if rec := post(f, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))); rec.Code != http.StatusNoContent {
			t.Fatalf("POST %d = %d %s", i, rec.Code, rec.Body)
		}
	}
	sentenceOf := map[string]string{}
	for _, d := range scanAll(t, x) {
		sentenceOf[d.Key] = d.Sentence
	}
	english := "sentence.english:loved" // the fallback analyzer of a node without english does not stem
	if x.Analyzer() == esindex.EnglishAnalyzer {
		english = "sentence.english:love"
	}
	for q, want := range map[string]string{"great": "This is great!", english: "I loved the delivery."} {
		keys := esindextest.Search(t, x, es, "/"+x.Name()+"/_search?q="+url.QueryEscape(q))
		if len(keys) != 1 || sentenceOf[keys[0]] != want {
			t.Errorf("q=%s found %v, want the document %q", q, keys, want)
		}
	}
}

// TestIndexElasticsearchOutage stops the local Elasticsearch while events flow: they get 503s;
// once it is back, their retries land, each exactly once. It needs the local stack's scripts,
// takes a minute or two, and runs in the serial fault phase of make test ([testenv.Faults]),
// because stopping the shared Elasticsearch fails whatever else uses it meanwhile.
func TestIndexElasticsearchOutage(t *testing.T) {
	testenv.Faults(t)
	esURL := testenv.ElasticsearchURL(t)
	u, err := url.Parse(esURL)
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		t.Skipf("Elasticsearch at %s is not the local stack's; not stopping it", esURL)
	}
	const down, up = "../../infra/local/down.sh", "../../infra/local/up.sh"
	if _, err := os.Stat(down); err != nil {
		t.Skipf("no %s: %v", down, err)
	}
	x := esindextest.New(t) // registered first, so its cleanup runs after the restart below
	restart := func() {
		out, err := exec.Command(up, "elasticsearch").CombinedOutput()
		if err != nil {
			t.Errorf("%s elasticsearch: %v\n%s", up, err, out)
		}
	}
	stopped := false
	t.Cleanup(func() {
		if stopped {
			restart()
		}
	})

	f := newFunction(t, x, 2*time.Second)
	send := func(i int) int {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"%d","source":"urn:outage","type":"t","data":{"sentence":"event %d is great","created_at":"2025-04-14T08:00:00Z"}}`, i, i)
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/cloudevents+json")
		return post(f, r).Code
	}

	// Load from 8 senders while Elasticsearch goes down; record each event's last answer.
	var (
		mu      sync.Mutex
		status  = map[int]int{}
		next    int
		stop    = make(chan struct{})
		failed  = make(chan struct{}, 1)
		wg      sync.WaitGroup
		okCount int
	)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				code := send(i)
				mu.Lock()
				status[i] = code
				if code == http.StatusNoContent {
					okCount++
				}
				n503 := 0
				if code == http.StatusServiceUnavailable {
					n503 = 1
				}
				mu.Unlock()
				if n503 > 0 {
					select {
					case failed <- struct{}{}:
					default:
					}
					time.Sleep(20 * time.Millisecond) // back off, as a delivery layer does
				}
				if code != http.StatusNoContent && code != http.StatusServiceUnavailable {
					t.Errorf("event %d: status %d, want 204 or 503", i, code)
				}
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := okCount
		mu.Unlock()
		if n >= 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped = true
	if out, err := exec.Command(down, "elasticsearch").CombinedOutput(); err != nil {
		t.Fatalf("%s elasticsearch: %v\n%s", down, err, out)
	}
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Error("no 503 within 30s of stopping Elasticsearch")
	}
	// A few more seconds of load against the stopped Elasticsearch.
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	var retry []int
	for i, c := range status {
		if c != http.StatusNoContent {
			retry = append(retry, i)
		}
	}
	total := len(status)
	mu.Unlock()
	t.Logf("%d events sent, %d answered 503 while Elasticsearch was down", total, len(retry))
	if len(retry) == 0 {
		t.Fatal("no event failed while Elasticsearch was down")
	}

	restart()
	stopped = false
	// Retry as the delivery layer would, until every event is accepted (bounded).
	deadline = time.Now().Add(3 * time.Minute)
	var lastCodes map[int]int
	for len(retry) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still failing 3 minutes after restart (last answers: %v)", len(retry), lastCodes)
		}
		codes := make([]int, len(retry))
		var rw sync.WaitGroup
		for w := range 8 {
			rw.Go(func() {
				for j := w; j < len(retry); j += 8 {
					codes[j] = send(retry[j])
				}
			})
		}
		rw.Wait()
		var still []int
		lastCodes = map[int]int{}
		for j, i := range retry {
			if codes[j] != http.StatusNoContent {
				still = append(still, i)
				lastCodes[codes[j]]++
			}
		}
		retry = still
		if len(retry) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	// A redelivery of some accepted events changes nothing.
	for i := range 20 {
		if code := send(i); code != http.StatusNoContent {
			t.Errorf("redelivery of event %d: %d", i, code)
		}
	}
	docs := scanAll(t, x)
	seen := map[string]int{}
	for _, d := range docs {
		seen[d.Key]++
	}
	if len(docs) != total || len(seen) != total {
		t.Errorf("%d documents with %d keys, want %d, each once", len(docs), len(seen), total)
	}
	for i := range total {
		if k := fmt.Sprintf("ce:urn:outage#%d", i); seen[k] != 1 {
			t.Errorf("key %s indexed %d times, want 1", k, seen[k])
		}
	}
}
