// Package index is the indexing function: it decodes an event with the shared intake, scores it
// with the shared VADER analyzer, and writes it to Elasticsearch through a group-committing
// batcher, answering each request once its document is written.
//
// # Answers
//
//	204  every event of the request is indexed, or already was (a redelivery)
//	400/413/415/422  the request or an event is malformed (the intake's *event.Error), with
//	     {"error": reason, "field": field}
//	422  Elasticsearch refused the document (a mapping or parsing failure), with
//	     {"error": "document refused by elasticsearch", "type": ES error type, "field": field}
//	429  the batcher's queue is full: this instance sheds load
//	503  Elasticsearch is unreachable, slow (past STORE_TIMEOUT) or refused the item for a
//	     retryable reason, or the function is shutting down (Retry-After: 1)
//	500  anything unexpected
//
// A request with several events (a CloudEvents batch) gets the most urgent answer among its
// events, in the order 500, 503, 429, then the first 4xx; the body then lists every event's
// status under "events". Retrying such a request is safe: its written events are duplicates.
//
// # Metrics
//
// [NewMetrics] registers:
//
//   - sentistream_events_total{function="index",outcome}: events handled, by outcome: ok
//     (indexed, or already indexed), malformed (refused by the intake or by Elasticsearch),
//     transient (Elasticsearch unavailable, queue full, shutting down) or error.
package index

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

// Submitter writes one document and returns when it is written, or with why not. A
// *batch.Batcher[esindex.Doc] is one.
type Submitter interface {
	Submit(ctx context.Context, d esindex.Doc) error
}

// Bulker writes a batch of documents, one error per document. *esindex.Index is one.
type Bulker interface {
	Bulk(ctx context.Context, docs []esindex.Doc) []error
}

// Flush returns the batcher's flush function: one [esindex.Index.Bulk] per batch, bounded by
// timeout (STORE_TIMEOUT), after which every document of the batch fails as transient.
func Flush(b Bulker, timeout time.Duration) batch.FlushFunc[esindex.Doc] {
	return func(ctx context.Context, docs []esindex.Doc) []error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return b.Bulk(ctx, docs)
	}
}

// Config holds a [Handler]'s dependencies.
type Config struct {
	Decoder   *event.Decoder
	Analyzer  *sentiment.Analyzer
	Submitter Submitter
	// Metrics may be nil.
	Metrics *Metrics
	// Now gives the scored_at time; nil means time.Now.
	Now func() time.Time
}

// Handler serves events. It is safe for concurrent use.
type Handler struct {
	cfg Config
}

// NewHandler returns a Handler using cfg.
func NewHandler(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

// Metrics holds the function's Prometheus series, listed in the package doc.
type Metrics struct {
	events *prometheus.CounterVec
}

// NewMetrics registers the function's series on reg. It panics if they are already registered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "sentistream_events_total",
		Help:        "Events handled, by outcome.",
		ConstLabels: prometheus.Labels{"function": "index"},
	}, []string{"outcome"})}
	reg.MustRegister(m.events)
	return m
}

func (m *Metrics) count(outcome string) {
	if m != nil {
		m.events.WithLabelValues(outcome).Inc()
	}
}

// ServeEvent handles one POST: see the package doc for its answers. Wrap it with serve.Adapt.
func (h *Handler) ServeEvent(w http.ResponseWriter, r *http.Request) error {
	items, err := h.cfg.Decoder.Decode(r)
	if err != nil {
		h.cfg.Metrics.count("malformed")
		return answerError(err)
	}
	ctx := r.Context()
	if len(items) == 1 {
		serve.AddLogAttrs(ctx, items[0].Record.LogAttrs()...)
	}
	errs := make([]error, len(items))
	if len(items) == 1 {
		errs[0] = h.one(ctx, items[0])
	} else {
		var wg sync.WaitGroup
		for i, it := range items {
			wg.Go(func() { errs[i] = h.one(ctx, it) })
		}
		wg.Wait()
	}
	worst := -1
	for i, err := range errs {
		h.cfg.Metrics.count(outcome(err))
		if err != nil && (worst < 0 || rank(err) > rank(errs[worst])) {
			worst = i
		}
	}
	if worst < 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	se := answerError(errs[worst])
	if len(items) > 1 {
		events := make([]map[string]any, len(errs))
		for i, err := range errs {
			if err == nil {
				events[i] = map[string]any{"status": http.StatusNoContent}
				continue
			}
			e := answerError(err)
			ev := map[string]any{"status": e.Code, "error": e.Msg}
			for k, v := range e.Detail {
				ev[k] = v
			}
			events[i] = ev
		}
		se = &serve.Error{Code: se.Code, Msg: se.Msg, Err: se.Err, Detail: map[string]any{"events": events}}
	}
	return se
}

// one scores and writes one decoded event.
func (h *Handler) one(ctx context.Context, it event.Item) error {
	if it.Err != nil {
		return it.Err
	}
	rec := it.Record
	doc := esindex.NewDoc(rec, h.cfg.Analyzer.Score(rec.Sentence), h.cfg.Now())
	return h.cfg.Submitter.Submit(ctx, doc)
}

// answerError maps an event's error to its HTTP answer, as the package doc lists.
func answerError(err error) *serve.Error {
	if e, ok := errors.AsType[*event.Error](err); ok {
		se := &serve.Error{Code: e.Status, Msg: e.Reason, Err: err}
		if e.Field != "" {
			se.Detail = map[string]any{"field": e.Field}
		}
		return se
	}
	switch {
	case errors.Is(err, batch.ErrQueueFull):
		return serve.Errorf(http.StatusTooManyRequests, "overloaded", err)
	case errors.Is(err, batch.ErrClosed):
		return serve.Errorf(http.StatusServiceUnavailable, "shutting down", err)
	}
	if me, ok := errors.AsType[*env.MisconfigError](err); ok {
		// No retry fixes it, but the event is fine: 503 keeps it for when someone has.
		return serve.Errorf(http.StatusServiceUnavailable, me.Reason, err)
	}
	if e, ok := errors.AsType[*esindex.Error](err); ok && !e.Transient() {
		detail := map[string]any{"type": e.Type}
		if e.Field != "" {
			detail["field"] = e.Field
		}
		return &serve.Error{Code: http.StatusUnprocessableEntity, Msg: "document refused by elasticsearch", Detail: detail, Err: err}
	}
	if esindex.Transient(err) {
		return serve.Errorf(http.StatusServiceUnavailable, "elasticsearch unavailable", err)
	}
	return serve.Errorf(http.StatusInternalServerError, "internal error", err)
}

// rank orders errors by how urgently the request must be retried: 500, 503, 429, then 4xx.
func rank(err error) int {
	switch c := answerError(err).Code; {
	case c == http.StatusInternalServerError:
		return 4
	case c >= 500:
		return 3
	case c == http.StatusTooManyRequests:
		return 2
	default:
		return 1
	}
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	switch c := answerError(err).Code; {
	case c == http.StatusInternalServerError:
		return "error"
	case c >= 500, c == http.StatusTooManyRequests:
		return "transient"
	default:
		return "malformed"
	}
}
