package esindex

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// fakeES answers template and mapping requests with 200 and _bulk requests with a file from
// testdata (or a transport error), recording each bulk body.
type fakeES struct {
	mu        sync.Mutex
	bulkFile  string
	bulkCode  int
	err       error
	bulkBodys []string
	paths     []string
	// other answers requests other than _bulk by "METHOD path"; missing ones get 200.
	other map[string]*http.Response
	// bodies records the bodies of those requests by "METHOD path".
	bodies map[string]string
}

func (f *fakeES) Perform(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := req.Method + " " + req.URL.Path
	f.paths = append(f.paths, call)
	if !strings.HasSuffix(req.URL.Path, "/_bulk") {
		if req.Body != nil {
			b, _ := io.ReadAll(req.Body)
			if f.bodies == nil {
				f.bodies = map[string]string{}
			}
			f.bodies[call] = string(b)
		}
		if res, ok := f.other[call]; ok {
			return res, nil
		}
		return answer(http.StatusOK, `{"acknowledged":true}`), nil
	}
	if f.err != nil {
		return nil, f.err
	}
	b, _ := io.ReadAll(req.Body)
	f.bulkBodys = append(f.bulkBodys, string(b))
	body, err := os.ReadFile("testdata/" + f.bulkFile)
	if err != nil {
		return nil, err
	}
	code := f.bulkCode
	if code == 0 {
		code = http.StatusOK
	}
	return answer(code, string(body)), nil
}

func answer(code int, body string) *http.Response {
	return &http.Response{
		StatusCode: code,
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Elastic-Product": {"Elasticsearch"}},
		Body:       io.NopCloser(bytes.NewBufferString(body)),
	}
}

func testDocs(n int) []Doc {
	docs := make([]Doc, n)
	for i := range docs {
		docs[i] = Doc{
			Key:       "ce:urn:p#" + string(rune('1'+i)),
			Sentence:  "This is great!",
			CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC),
			Scores:    sentiment.Scores{Compound: 0.6588, Pos: 0.594, Neu: 0.406},
			Label:     sentiment.LabelPositive,
		}
	}
	return docs
}

// outcome summarises an error for comparison.
type outcome struct {
	Nil       bool
	Exists    bool
	Transient bool
	Status    int
	Type      string
	Field     string
}

func outcomes(errs []error) []outcome {
	out := make([]outcome, len(errs))
	for i, err := range errs {
		switch {
		case err == nil:
			out[i] = outcome{Nil: true}
			continue
		case errors.Is(err, ErrExists):
			out[i] = outcome{Exists: true}
			continue
		}
		out[i].Transient = Transient(err)
		if e, ok := errors.AsType[*Error](err); ok {
			out[i].Status, out[i].Type, out[i].Field = e.Status, e.Type, e.Field
		}
	}
	return out
}

func TestBulkReadsItems(t *testing.T) {
	transportErr := errors.New("dial tcp 127.0.0.1:9200: connect: connection refused")
	tests := []struct {
		name string
		es   *fakeES
		n    int
		want []outcome
	}{
		{
			name: "mixed items",
			es:   &fakeES{bulkFile: "bulk_mixed.json"},
			n:    7,
			want: []outcome{
				{Nil: true},
				{Exists: true}, // 409 on create: already there
				{Status: 400, Type: "document_parsing_exception", Field: "created_at"},
				{Transient: true, Status: 429, Type: "es_rejected_execution_exception"},
				{Transient: true, Status: 503, Type: "unavailable_shards_exception"},
				{Status: 400, Type: "strict_dynamic_mapping_exception", Field: "x"},
				{Transient: true, Status: 403, Type: "cluster_block_exception"},
			},
		},
		{
			name: "no errors",
			es:   &fakeES{bulkFile: "bulk_ok.json"},
			n:    3,
			want: []outcome{{Nil: true}, {Nil: true}, {Nil: true}},
		},
		{
			name: "request refused",
			es:   &fakeES{bulkFile: "bulk_request_failed.json", bulkCode: 400},
			n:    2,
			want: []outcome{
				{Transient: true, Status: 400, Type: "illegal_argument_exception"},
				{Transient: true, Status: 400, Type: "illegal_argument_exception"},
			},
		},
		{
			name: "item count mismatch",
			es:   &fakeES{bulkFile: "bulk_mixed.json"},
			n:    2,
			want: []outcome{{Transient: true, Status: 200}, {Transient: true, Status: 200}},
		},
		{
			name: "unreachable",
			es:   &fakeES{err: transportErr},
			n:    2,
			want: []outcome{{Transient: true}, {Transient: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := New(tt.es, "sentence_idx")
			got := outcomes(x.Bulk(t.Context(), testDocs(tt.n)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Bulk outcomes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBulkRequest(t *testing.T) {
	es := &fakeES{bulkFile: "bulk_ok.json"}
	x := New(es, "sentence_idx")
	docs := testDocs(2)
	docs[1].Key = ""
	docs[0].Provenance = event.Provenance{Topic: "sentence", Partition: 2, Offset: 7, HasOffset: true}
	docs[0].ScoredAt = time.Date(2025, 4, 14, 8, 0, 1, 0, time.UTC)
	errs := x.Bulk(t.Context(), docs)
	if errs[0] != nil || errs[1] == nil || Transient(errs[1]) {
		t.Fatalf("Bulk = %v, want [nil, permanent empty key error]", errs)
	}
	want := `{"create":{"_id":"ce:urn:p#1"}}
{"key":"ce:urn:p#1","sentence":"This is great!","created_at":"2025-04-14T08:00:00.123456Z","sentiment":0.6588,"pos":0.594,"neu":0.406,"neg":0,"label":"positive","scored_at":"2025-04-14T08:00:01Z","topic":"sentence","kafka_partition":2,"kafka_offset":7}
`
	if diff := cmp.Diff([]string{want}, es.bulkBodys); diff != "" {
		t.Errorf("bulk bodies (-want +got):\n%s", diff)
	}
	wantPaths := []string{"GET /_nodes/_local/plugins", "PUT /_index_template/sentence_idx", "PUT /sentence_idx/_mapping", "POST /sentence_idx/_bulk"}
	x.Bulk(t.Context(), testDocs(1)) // the template is installed once
	wantPaths = append(wantPaths, "POST /sentence_idx/_bulk")
	if diff := cmp.Diff(wantPaths, es.paths); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestDocJSONRoundTrip(t *testing.T) {
	d := testDocs(1)[0]
	d.ScoredAt = time.Date(2025, 4, 14, 8, 0, 1, 5000, time.UTC)
	d.Provenance = event.Provenance{EventID: "42", EventSource: "urn:p", Topic: "t", Partition: 0, Offset: 0, HasOffset: true}
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var got Doc
	if err := got.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped deadline", errors.Join(errors.New("x"), context.DeadlineExceeded), true},
		{"permanent item", itemError(400, &esError{Type: "mapper_parsing_exception"}), false},
		{"429 item", itemError(429, &esError{Type: "es_rejected_execution_exception"}), true},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrorTextHidesValue(t *testing.T) {
	err := itemError(400, &esError{Type: "document_parsing_exception",
		Reason: "[1:15] failed to parse field [created_at] of type [date] in document with id 'a'. Preview of field's value: 'secret text'"})
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("Error() = %q, shows the value", err.Error())
	}
	if r := err.(*Error).Reason; strings.Contains(r, "secret") {
		t.Errorf("Reason = %q, shows the value", r)
	}
}
