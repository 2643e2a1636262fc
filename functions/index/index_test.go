package index

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

// fakeSubmitter records documents and answers each with err(doc).
type fakeSubmitter struct {
	mu   sync.Mutex
	docs []esindex.Doc
	err  func(esindex.Doc) error
}

func (f *fakeSubmitter) Submit(_ context.Context, d esindex.Doc) error {
	f.mu.Lock()
	f.docs = append(f.docs, d)
	f.mu.Unlock()
	if f.err == nil {
		return nil
	}
	return f.err(d)
}

// request reads testdata/name: a request line, headers, a blank line and the body (its final
// newline dropped), as in internal/event's tests.
func request(tb testing.TB, name string) *http.Request {
	tb.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	if _, err := tp.ReadLine(); err != nil {
		tb.Fatal(err)
	}
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(tp.R)
	if err != nil {
		tb.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(bytes.TrimSuffix(body, []byte("\n"))))
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}

var fixedNow = time.Date(2025, 4, 14, 9, 0, 0, 0, time.UTC)

func newTestHandler(sub Submitter, reg prometheus.Registerer) (http.Handler, *Metrics) {
	m := NewMetrics(reg)
	h := NewHandler(Config{
		Decoder:   event.NewDecoder(event.Config{Now: func() time.Time { return fixedNow }}),
		Analyzer:  sentiment.New(),
		Submitter: sub,
		Metrics:   m,
		Now:       func() time.Time { return fixedNow },
	})
	return serve.Adapt(slog.New(slog.DiscardHandler), h.ServeEvent), m
}

func TestServeEventDocument(t *testing.T) {
	sub := &fakeSubmitter{}
	rec := httptest.NewRecorder()
	h, _ := newTestHandler(sub, prometheus.NewRegistry())
	h.ServeHTTP(rec, request(t, "kafkasource_wrapped.http"))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", rec.Code, rec.Body)
	}
	want := []esindex.Doc{{
		Key:        "kafka:sentence/2/1234",
		Sentence:   "This is great!",
		CreatedAt:  time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC),
		Scores:     sentiment.New().Score("This is great!"),
		Label:      sentiment.LabelPositive,
		ScoredAt:   fixedNow,
		Provenance: event.Provenance{EventID: "partition:2/offset:1234", EventSource: "/apis/v1/namespaces/sentistream/kafkasources/sentistream-score#sentence", Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true},
	}}
	if diff := cmp.Diff(want, sub.docs); diff != "" {
		t.Errorf("submitted docs (-want +got):\n%s", diff)
	}
}

func TestServeEventAnswers(t *testing.T) {
	refused := &esindex.Error{Status: 400, Type: "document_parsing_exception", Field: "created_at"}
	tests := []struct {
		name       string
		file       string
		err        func(esindex.Doc) error
		wantCode   int
		wantBody   map[string]any
		wantRetry  bool
		wantMetric map[string]float64
	}{
		{
			name: "indexed", file: "structured.http",
			wantCode: 204, wantMetric: map[string]float64{"ok": 1},
		},
		{
			name: "refused by elasticsearch", file: "curl.http",
			err:        func(esindex.Doc) error { return refused },
			wantCode:   422,
			wantBody:   map[string]any{"error": "document refused by elasticsearch", "type": "document_parsing_exception", "field": "created_at"},
			wantMetric: map[string]float64{"malformed": 1},
		},
		{
			name: "elasticsearch down", file: "openfaas.http",
			err:       func(esindex.Doc) error { return context.DeadlineExceeded },
			wantCode:  503,
			wantBody:  map[string]any{"error": "elasticsearch unavailable"},
			wantRetry: true, wantMetric: map[string]float64{"transient": 1},
		},
		{
			name: "queue full", file: "kafkasource_forwarded.http",
			err:        func(esindex.Doc) error { return batch.ErrQueueFull },
			wantCode:   429,
			wantBody:   map[string]any{"error": "overloaded"},
			wantMetric: map[string]float64{"transient": 1},
		},
		{
			name: "unexpected", file: "kafkasource_forwarded.http",
			err:        func(esindex.Doc) error { return errors.New("boom") },
			wantCode:   500,
			wantBody:   map[string]any{"error": "internal error"},
			wantMetric: map[string]float64{"error": 1},
		},
		{
			name: "batch with a bad event and a transient one", file: "batch.http",
			err: func(d esindex.Doc) error {
				if d.Provenance.EventID == "b-4" {
					return context.DeadlineExceeded
				}
				return nil
			},
			wantCode: 503,
			wantBody: map[string]any{"error": "elasticsearch unavailable", "events": []any{
				map[string]any{"status": 204.0},
				map[string]any{"status": 422.0, "error": "sentence is missing", "field": "sentence"},
				map[string]any{"status": 400.0, "error": "invalid CloudEvent", "field": "id"},
				map[string]any{"status": 503.0, "error": "elasticsearch unavailable"},
			}},
			wantRetry:  true,
			wantMetric: map[string]float64{"ok": 1, "malformed": 2, "transient": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := &fakeSubmitter{err: tt.err}
			rec := httptest.NewRecorder()
			reg := prometheus.NewRegistry()
			h, _ := newTestHandler(sub, reg)
			h.ServeHTTP(rec, request(t, tt.file))
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantBody != nil {
				var got map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				if diff := cmp.Diff(tt.wantBody, got); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
			if got := rec.Header().Get("Retry-After") != ""; got != tt.wantRetry {
				t.Errorf("Retry-After set = %v, want %v", got, tt.wantRetry)
			}
			for outcome, want := range tt.wantMetric {
				if got := eventCount(t, reg, outcome); got != want {
					t.Errorf("events{outcome=%q} = %v, want %v", outcome, got, want)
				}
			}
		})
	}
}

func TestServeEventMalformed(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, _ := newTestHandler(&fakeSubmitter{}, reg)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewBufferString(`{"created_at":"2025-01-01T00:00:00Z"}`)))
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422; body %s", rec.Code, rec.Body)
	}
	if got := eventCount(t, reg, "malformed"); got != 1 {
		t.Errorf("malformed events = %v, want 1", got)
	}
}

// eventCount returns sentistream_events_total{outcome}, gathered from reg (prometheus/testutil
// needs one more module in go.sum).
func eventCount(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sentistream_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
