package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
	"github.com/sentistream/sentistream/internal/sink/sinktest"
)

// item is the fake sink's item.
type item struct {
	Key    string
	Scores sentiment.Scores
}

// fakeWriter records the items it is given; write, when set, decides each item's result.
type fakeWriter struct {
	mu    sync.Mutex
	items []item
	write func(ctx context.Context, items []item) []error
}

func (f *fakeWriter) Write(ctx context.Context, items []item) []error {
	f.mu.Lock()
	f.items = append(f.items, items...)
	f.mu.Unlock()
	if f.write != nil {
		return f.write(ctx, items)
	}
	return make([]error, len(items))
}

func (f *fakeWriter) written() []item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]item(nil), f.items...)
}

// each answers every item with err.
func each(err error) func(context.Context, []item) []error {
	return func(_ context.Context, items []item) []error {
		errs := make([]error, len(items))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
}

var analyzer = sentiment.New()

// newHandler returns a handler over w with metrics on a fresh registry, served through serve.Adapt.
func newHandler(t testing.TB, cfg sink.Config, w *fakeWriter) (http.Handler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if cfg.MaxSentenceChars == 0 {
		cfg.MaxSentenceChars = 100
	}
	h := sink.New(cfg, sink.Sink[item]{
		Store:  "the store",
		Build:  func(rec event.Record, s sentiment.Scores) item { return item{rec.Key, s} },
		Writer: w,
	}, sink.NewMetrics(reg, "test"))
	t.Cleanup(h.Close)
	return serve.Adapt(slog.New(slog.DiscardHandler), h.ServeEvent), reg
}

func serveOne(h http.Handler, r sinktest.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r.HTTPRequest("/"))
	return w
}

func TestStoreAnswers(t *testing.T) {
	tests := []struct {
		name        string
		write       func(ctx context.Context, items []item) []error
		wantCode    int
		wantBody    string
		wantOutcome string
	}{
		{"stored", nil, 204, ``, "ok"},
		{"duplicate", each(sink.ErrDuplicate), 204, ``, "duplicate"},
		{"store down", each(sink.Unavailable(errors.New("connection refused"))), 503, `{"error":"the store unavailable"}`, "transient"},
		{"write timeout", func(ctx context.Context, items []item) []error {
			<-ctx.Done()
			return each(ctx.Err())(ctx, items)
		}, 503, `{"error":"the store timed out"}`, "transient"},
		{"misconfigured", each(&env.MisconfigError{Reason: "wrong password: set X", Err: errors.New("28P01")}),
			503, `{"error":"wrong password: set X"}`, "misconfigured"},
		{"refused for good", each(sink.Refused(errors.New("22021"), "row refused", map[string]any{"field": "sentence"})),
			422, `{"error":"row refused","field":"sentence"}`, "refused"},
		{"unclassified", each(errors.New("a bug")), 500, `{"error":"internal error"}`, "error"},
		{"wrong result count", func(context.Context, []item) []error { return nil }, 500, `{"error":"internal error"}`, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fw := &fakeWriter{write: tt.write}
				h, reg := newHandler(t, sink.Config{}, fw)
				r := sinktest.WrappedSentence(2, 1234, "This is great!")
				w := serveOne(h, r)
				if w.Code != tt.wantCode || strings.TrimSpace(w.Body.String()) != tt.wantBody {
					t.Errorf("answer = %d %s, want %d %s", w.Code, w.Body, tt.wantCode, tt.wantBody)
				}
				if ra := w.Header().Get("Retry-After"); (tt.wantCode == http.StatusServiceUnavailable) != (ra != "") {
					t.Errorf("Retry-After = %q with status %d", ra, w.Code)
				}
				if diff := cmp.Diff(map[string]float64{tt.wantOutcome: 1}, sinktest.Outcomes(t, reg)); diff != "" {
					t.Errorf("events_total (-want +got):\n%s", diff)
				}
				got := fw.written()
				if len(got) != 1 || got[0].Key != r.Key || got[0].Scores != analyzer.Score(r.Sentence) {
					t.Errorf("written %+v, want one item with key %s and the sentence's scores", got, r.Key)
				}
			})
		})
	}
}

func TestMalformedWritesNothing(t *testing.T) {
	tests := []struct {
		name      string
		r         sinktest.Request
		wantCode  int
		wantField string
	}{
		{"not JSON", sinktest.JSON("{nope"), 400, ""},
		{"no sentence", sinktest.JSON(`{"created_at":"2025-04-14T08:00:00Z"}`), 422, "sentence"},
		{"sentence not a string", sinktest.JSON(`{"sentence":5}`), 422, "sentence"},
		{"bad created_at", sinktest.JSON(`{"sentence":"x","created_at":"yesterday"}`), 422, "created_at"},
		{"bad UTF-8", sinktest.JSON("{\"sentence\":\"\xff\"}"), 400, "sentence"},
		{"NUL", sinktest.JSON(`{"sentence":"a\u0000b"}`), 400, "sentence"},
		{"lone surrogate", sinktest.JSON(`{"sentence":"a\ud800b"}`), 400, "sentence"},
		{"too long", sinktest.JSON(sinktest.Data(strings.Repeat("a", 101))), 413, "sentence"},
		{"wrong content type", sinktest.Request{Header: map[string]string{"Content-Type": "application/xml"}, Body: "<x/>"}, 415, "Content-Type"},
		{"bad kafka offset", sinktest.Request{Header: map[string]string{"X-Topic": "sentence", "X-Kafka-Partition": "1", "X-Kafka-Offset": "x"}, Body: sinktest.Data("x")}, 400, "X-Kafka-Offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := &fakeWriter{}
			h, reg := newHandler(t, sink.Config{}, fw)
			w := serveOne(h, tt.r)
			if w.Code != tt.wantCode {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tt.wantCode, w.Body)
			}
			var body struct{ Error, Field string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Field != tt.wantField {
				t.Errorf("body = %s (%v), want a JSON reason with field %q", w.Body, err, tt.wantField)
			}
			if n := len(fw.written()); n != 0 {
				t.Errorf("wrote %d items, want 0", n)
			}
			if diff := cmp.Diff(map[string]float64{"malformed": 1}, sinktest.Outcomes(t, reg)); diff != "" {
				t.Errorf("events_total (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		fw := &fakeWriter{write: func(_ context.Context, items []item) []error {
			<-gate
			return make([]error, len(items))
		}}
		h, reg := newHandler(t, sink.Config{StoreTimeout: time.Minute, Batch: batch.Config{QueueSize: 1, Flushers: 1}}, fw)
		codes := make(chan int, 2)
		for i := range 2 { // one held in the write, one queued
			go func() { codes <- serveOne(h, sinktest.WrappedSentence(0, i, "fine")).Code }()
			synctest.Wait()
		}
		if w := serveOne(h, sinktest.WrappedSentence(0, 2, "fine")); w.Code != http.StatusTooManyRequests {
			t.Errorf("status with the queue full = %d, want 429 (body %s)", w.Code, w.Body)
		}
		close(gate)
		for range 2 {
			if c := <-codes; c != http.StatusNoContent {
				t.Errorf("status of a queued event = %d, want 204", c)
			}
		}
		if diff := cmp.Diff(map[string]float64{"ok": 2, "overloaded": 1}, sinktest.Outcomes(t, reg)); diff != "" {
			t.Errorf("events_total (-want +got):\n%s", diff)
		}
	})
}

// result is one event's entry in a batch answer.
type result struct {
	Key    string `json:"key,omitempty"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
	Field  string `json:"field,omitempty"`
}

func TestBatchAnswers(t *testing.T) {
	good1 := sinktest.CEJSON("1", sinktest.Data("I love it."))
	good2 := sinktest.CEJSON("2", sinktest.Data("I hate it."))
	bad := sinktest.CEJSON("3", `{"created_at":"2025-04-14T08:00:00Z"}`)
	missing := result{Status: 422, Error: "sentence is missing", Field: "sentence"}
	refuseKey2 := func(_ context.Context, items []item) []error {
		errs := make([]error, len(items))
		for i, it := range items {
			if it.Key == "ce:urn:batch#2" {
				errs[i] = sink.Refused(errors.New("no"), "refused", map[string]any{"field": "sentence"})
			}
		}
		return errs
	}
	tests := []struct {
		name      string
		r         sinktest.Request
		write     func(ctx context.Context, items []item) []error
		wantCode  int
		wantError string
		want      []result
		wantItems int
	}{
		{"all good", sinktest.BatchOf(good1, good2), nil, 200, "",
			[]result{{Key: "ce:urn:batch#1", Status: 200}, {Key: "ce:urn:batch#2", Status: 200}}, 2},
		{"one good", sinktest.BatchOf(good1), nil, 200, "", []result{{Key: "ce:urn:batch#1", Status: 200}}, 1},
		{"duplicates", sinktest.BatchOf(good1, good2), each(sink.ErrDuplicate), 200, "",
			[]result{{Key: "ce:urn:batch#1", Status: 200}, {Key: "ce:urn:batch#2", Status: 200}}, 2},
		{"one bad", sinktest.BatchOf(good1, bad, good2), nil, 200, "",
			[]result{{Key: "ce:urn:batch#1", Status: 200}, missing, {Key: "ce:urn:batch#2", Status: 200}}, 2},
		{"one refused", sinktest.BatchOf(good1, good2), refuseKey2, 200, "",
			[]result{{Key: "ce:urn:batch#1", Status: 200}, {Key: "ce:urn:batch#2", Status: 422, Error: "refused", Field: "sentence"}}, 2},
		{"all bad", sinktest.BatchOf(bad, bad), nil, 422, "sentence is missing", []result{missing, missing}, 0},
		{"store down", sinktest.BatchOf(good1, bad), each(sink.Unavailable(errors.New("down"))), 503, "the store unavailable",
			[]result{{Key: "ce:urn:batch#1", Status: 503, Error: "the store unavailable"}, missing}, 1},
		{"a bug beats an outage", sinktest.BatchOf(good1, good2), func(_ context.Context, items []item) []error {
			errs := make([]error, len(items))
			for i, it := range items {
				errs[i] = sink.Unavailable(errors.New("down"))
				if it.Key == "ce:urn:batch#2" {
					errs[i] = errors.New("bug")
				}
			}
			return errs
		}, 500, "internal error", []result{{Key: "ce:urn:batch#1", Status: 503, Error: "the store unavailable"},
			{Key: "ce:urn:batch#2", Status: 500, Error: "internal error"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := &fakeWriter{write: tt.write}
			h, _ := newHandler(t, sink.Config{}, fw)
			w := serveOne(h, tt.r)
			var body struct {
				Error   string
				Results []result
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if w.Code != tt.wantCode || body.Error != tt.wantError {
				t.Errorf("answer = %d %q, want %d %q (body %s)", w.Code, body.Error, tt.wantCode, tt.wantError, w.Body)
			}
			if diff := cmp.Diff(tt.want, body.Results); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if n := len(fw.written()); n != tt.wantItems {
				t.Errorf("items given to the writer = %d, want %d", n, tt.wantItems)
			}
		})
	}
}
