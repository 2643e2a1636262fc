package score

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/serve"
)

// fakeSaver records the rows it is given; insert, when set, decides the answer.
type fakeSaver struct {
	mu     sync.Mutex
	rows   []pgstore.Row
	insert func(ctx context.Context, rows []pgstore.Row) ([]bool, error)
}

func (f *fakeSaver) Insert(ctx context.Context, rows []pgstore.Row) ([]bool, error) {
	f.mu.Lock()
	f.rows = append(f.rows, rows...)
	f.mu.Unlock()
	if f.insert != nil {
		return f.insert(ctx, rows)
	}
	return all(len(rows), true), nil
}

func (f *fakeSaver) saved() []pgstore.Row {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pgstore.Row(nil), f.rows...)
}

func all(n int, v bool) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// newHandler returns h with metrics on a fresh registry, served through serve.Adapt.
func newHandler(t testing.TB, cfg Config, s Saver) (http.Handler, *Handler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := NewHandler(cfg, event.NewDecoder(event.Config{MaxSentenceChars: 100}), analyzer, s, NewMetrics(reg))
	t.Cleanup(h.Close)
	return serve.Adapt(discard, h.ServeEvent), h, reg
}

func serveOne(t testing.TB, h http.Handler, r request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r.httpRequest(t, "/"))
	return w
}

// outcomes returns sentistream_events_total by outcome, leaving out zeros.
func outcomes(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "sentistream_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && m.GetCounter().GetValue() > 0 {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return got
}

func TestStoreAnswers(t *testing.T) {
	tests := []struct {
		name        string
		insert      func(ctx context.Context, rows []pgstore.Row) ([]bool, error)
		wantCode    int
		wantOutcome string
	}{
		{"stored", nil, http.StatusNoContent, "ok"},
		{"duplicate", func(_ context.Context, rows []pgstore.Row) ([]bool, error) { return all(len(rows), false), nil },
			http.StatusNoContent, "duplicate"},
		{"postgres shutting down", func(context.Context, []pgstore.Row) ([]bool, error) {
			return nil, &pgconn.PgError{Code: "57P01"}
		}, http.StatusServiceUnavailable, "transient"},
		{"write timeout", func(ctx context.Context, _ []pgstore.Row) ([]bool, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, http.StatusServiceUnavailable, "transient"},
		{"refused for good", func(context.Context, []pgstore.Row) ([]bool, error) {
			return nil, &pgconn.PgError{Code: "23514"}
		}, http.StatusInternalServerError, "error"},
		{"wrong result count", func(context.Context, []pgstore.Row) ([]bool, error) { return nil, nil },
			http.StatusInternalServerError, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fs := &fakeSaver{insert: tt.insert}
				h, _, reg := newHandler(t, Config{}, fs)
				r := wrapped(2, 1234, "This is great!")
				w := serveOne(t, h, r)
				if w.Code != tt.wantCode {
					t.Errorf("status = %d, want %d (body %s)", w.Code, tt.wantCode, w.Body)
				}
				if tt.wantCode == http.StatusNoContent && w.Body.Len() != 0 {
					t.Errorf("body = %q, want empty", w.Body)
				}
				if ra := w.Header().Get("Retry-After"); (tt.wantCode == http.StatusServiceUnavailable) != (ra != "") {
					t.Errorf("Retry-After = %q with status %d", ra, w.Code)
				}
				if diff := cmp.Diff(map[string]float64{tt.wantOutcome: 1}, outcomes(t, reg)); diff != "" {
					t.Errorf("events_total (-want +got):\n%s", diff)
				}
				saved := fs.saved()
				if len(saved) != 1 || saved[0].Record.Key != r.key || saved[0].Scores != analyzer.Score(r.sentence) {
					t.Errorf("saved %+v, want one row with key %s and the sentence's scores", saved, r.key)
				}
			})
		})
	}
}

func TestMalformedWritesNothing(t *testing.T) {
	tests := []struct {
		name      string
		r         request
		wantCode  int
		wantField string
	}{
		{"not JSON", request{header: map[string]string{"Content-Type": "application/json"}, body: "{nope"}, 400, ""},
		{"no sentence", request{header: map[string]string{"Content-Type": "application/json"}, body: `{"created_at":"2025-04-14T08:00:00Z"}`}, 422, "sentence"},
		{"sentence not a string", request{header: map[string]string{"Content-Type": "application/json"}, body: `{"sentence":5}`}, 422, "sentence"},
		{"bad created_at", request{header: map[string]string{"Content-Type": "application/json"}, body: `{"sentence":"x","created_at":"yesterday"}`}, 422, "created_at"},
		{"bad UTF-8", request{header: map[string]string{"Content-Type": "application/json"}, body: "{\"sentence\":\"\xff\"}"}, 400, "sentence"},
		{"too long", request{header: map[string]string{"Content-Type": "application/json"}, body: data(strings.Repeat("a", 101))}, 413, "sentence"},
		{"wrong content type", request{header: map[string]string{"Content-Type": "application/xml"}, body: "<x/>"}, 415, "Content-Type"},
		{"bad kafka offset", request{header: map[string]string{"X-Topic": "sentence", "X-Kafka-Partition": "1", "X-Kafka-Offset": "x"}, body: data("x")}, 400, "X-Kafka-Offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeSaver{}
			h, _, reg := newHandler(t, Config{}, fs)
			w := serveOne(t, h, tt.r)
			if w.Code != tt.wantCode {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tt.wantCode, w.Body)
			}
			var body struct{ Error, Field string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Field != tt.wantField {
				t.Errorf("body = %s (%v), want a JSON reason with field %q", w.Body, err, tt.wantField)
			}
			if n := len(fs.saved()); n != 0 {
				t.Errorf("saved %d rows, want 0", n)
			}
			if diff := cmp.Diff(map[string]float64{"malformed": 1}, outcomes(t, reg)); diff != "" {
				t.Errorf("events_total (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		fs := &fakeSaver{insert: func(_ context.Context, rows []pgstore.Row) ([]bool, error) {
			<-gate
			return all(len(rows), true), nil
		}}
		h, _, reg := newHandler(t, Config{StoreTimeout: time.Minute, Batch: batch.Config{QueueSize: 1}}, fs)
		codes := make(chan int, 2)
		for i := range 2 { // one held in the flush, one queued
			go func() { codes <- serveOne(t, h, wrapped(0, i, "fine")).Code }()
			synctest.Wait()
		}
		if w := serveOne(t, h, wrapped(0, 2, "fine")); w.Code != http.StatusTooManyRequests {
			t.Errorf("status with the queue full = %d, want 429 (body %s)", w.Code, w.Body)
		}
		close(gate)
		for range 2 {
			if c := <-codes; c != http.StatusNoContent {
				t.Errorf("status of a queued event = %d, want 204", c)
			}
		}
		if diff := cmp.Diff(map[string]float64{"ok": 2, "overloaded": 1}, outcomes(t, reg)); diff != "" {
			t.Errorf("events_total (-want +got):\n%s", diff)
		}
	})
}

func TestBatchAnswers(t *testing.T) {
	good1 := ceJSON("1", data("I love it."))
	good2 := ceJSON("2", data("I hate it."))
	bad := ceJSON("3", `{"created_at":"2025-04-14T08:00:00Z"}`)
	tests := []struct {
		name     string
		r        request
		insert   func(ctx context.Context, rows []pgstore.Row) ([]bool, error)
		wantCode int
		want     []result
		wantRows int
	}{
		{"all good", batchOf(good1, good2), nil, 200,
			[]result{{Key: "ce:urn:batch#1", Status: 200}, {Key: "ce:urn:batch#2", Status: 200}}, 2},
		{"one bad", batchOf(good1, bad, good2), nil, 200,
			[]result{{Key: "ce:urn:batch#1", Status: 200}, {Status: 422, Error: "sentence is missing", Field: "sentence"},
				{Key: "ce:urn:batch#2", Status: 200}}, 2},
		{"all bad", batchOf(bad, bad), nil, 422,
			[]result{{Status: 422, Error: "sentence is missing", Field: "sentence"}, {Status: 422, Error: "sentence is missing", Field: "sentence"}}, 0},
		{"database down", batchOf(good1, bad), func(context.Context, []pgstore.Row) ([]bool, error) {
			return nil, &pgconn.PgError{Code: "57P03"}
		}, 503, []result{{Key: "ce:urn:batch#1", Status: 503, Error: "database unavailable"},
			{Status: 422, Error: "sentence is missing", Field: "sentence"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeSaver{insert: tt.insert}
			h, _, _ := newHandler(t, Config{}, fs)
			w := serveOne(t, h, tt.r)
			if w.Code != tt.wantCode {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tt.wantCode, w.Body)
			}
			var body struct{ Results []result }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if diff := cmp.Diff(tt.want, body.Results); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if n := len(fs.saved()); n != tt.wantRows {
				t.Errorf("rows given to the saver = %d, want %d", n, tt.wantRows)
			}
		})
	}
}

func TestFlushIsolatesRefusedRow(t *testing.T) {
	refused := &pgconn.PgError{Code: "22001"}
	fs := &fakeSaver{insert: func(_ context.Context, rows []pgstore.Row) ([]bool, error) {
		for _, r := range rows {
			if r.Record.Key == "bad" {
				return nil, refused
			}
		}
		return []bool{rows[0].Record.Key != "dup"}[:len(rows)], nil
	}}
	_, h, _ := newHandler(t, Config{}, fs)
	rows := []pgstore.Row{{Record: event.Record{Key: "a"}}, {Record: event.Record{Key: "bad"}}, {Record: event.Record{Key: "dup"}}}
	errs := h.flush(t.Context(), rows)
	if len(errs) != 3 || errs[0] != nil || !errors.Is(errs[1], refused) || !errors.Is(errs[2], errDuplicate) {
		t.Errorf("flush = %v, want [nil, the refusal, errDuplicate]", errs)
	}
}
