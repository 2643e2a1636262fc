package sink

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

// Writer writes a batch of items to a store, one error per item in order: nil when stored,
// [ErrDuplicate] when it was stored before, else why not, marked with [Unavailable] or [Refused]
// where the store told which (unmarked errors answer 500, except context deadlines and
// [env.MisconfigError], which answer 503). Write must return only once what it reports stored is
// durable, and must keep to ctx's deadline.
type Writer[T any] interface {
	Write(ctx context.Context, items []T) []error
}

// Sink is what tells one function from the other.
type Sink[T any] struct {
	// Store names the store in answers, as in "postgresql unavailable".
	Store string
	// Build makes the item to write from a decoded record and its scores.
	Build func(rec event.Record, s sentiment.Scores) T
	// Writer writes batches of items.
	Writer Writer[T]
}

// Handler serves events into one sink; see the package doc for its answers. Build it with [New],
// serve it through [serve.Adapt] and stop it with [Handler.Close]. It is safe for concurrent use.
type Handler[T any] struct {
	cfg      Config
	sink     Sink[T]
	dec      *event.Decoder
	analyzer *sentiment.Analyzer
	m        *Metrics
	batcher  *batch.Batcher[T]
}

// New returns a Handler writing to s and starts its batcher. m may be nil (no metrics).
func New[T any](cfg Config, s Sink[T], m *Metrics) *Handler[T] {
	cfg = cfg.withDefaults()
	h := &Handler[T]{
		cfg:      cfg,
		sink:     s,
		dec:      event.NewDecoder(event.Config{MaxSentenceChars: cfg.MaxSentenceChars, Now: cfg.Now}),
		analyzer: sentiment.New(),
		m:        m,
	}
	h.batcher = batch.New(cfg.Batch, h.flush, m.batchMetrics())
	return h
}

// Close writes what is queued and stops the batcher. Call it after the server has stopped.
func (h *Handler[T]) Close() { h.batcher.Close() }

// flush writes one batch within StoreTimeout; it is the batcher's flush function.
func (h *Handler[T]) flush(ctx context.Context, items []T) []error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.StoreTimeout)
	defer cancel()
	start := time.Now()
	errs := h.sink.Writer.Write(ctx, items)
	h.m.observeWrite(time.Since(start))
	if len(errs) != len(items) {
		err := fmt.Errorf("%s writer returned %d results for %d items", h.sink.Store, len(errs), len(items))
		errs = make([]error, len(items))
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// ServeEvent handles one request; wrap it with [serve.Adapt].
func (h *Handler[T]) ServeEvent(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	items, err := h.dec.Decode(r)
	if err != nil {
		o, se := h.classify(ctx, err)
		h.m.count(o)
		if se.Code == http.StatusInternalServerError {
			return err // a bug in the decoder: Adapt logs it whole
		}
		return se
	}
	if len(items) == 1 && !isBatch(r) {
		rec := items[0].Record
		serve.AddLogAttrs(ctx, rec.LogAttrs()...)
		o, se := h.classify(ctx, h.store(ctx, rec))
		h.m.count(o)
		if se != nil {
			return se
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return h.serveBatch(w, r, items)
}

// isBatch reports whether r is a CloudEvents batch, which is answered per event even when it holds
// one.
func isBatch(r *http.Request) bool {
	const batchType = "application/cloudevents-batch+json"
	ct := r.Header.Get("Content-Type")
	return len(ct) >= len(batchType) && strings.EqualFold(ct[:len(batchType)], batchType)
}

// store scores rec, submits its item and waits, within StoreTimeout, until it is written.
func (h *Handler[T]) store(ctx context.Context, rec event.Record) error {
	scores := h.analyzer.Score(rec.Sentence)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.StoreTimeout)
	defer cancel()
	err := h.batcher.Submit(ctx, h.sink.Build(rec, scores))
	if err == nil {
		h.m.observeCompound(scores.Compound)
	}
	return err
}

func (h *Handler[T]) serveBatch(w http.ResponseWriter, r *http.Request, items []event.Item) error {
	ctx := r.Context()
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	good := 0
	for i, it := range items {
		if it.Err != nil {
			errs[i] = it.Err
			continue
		}
		good++
		wg.Go(func() { errs[i] = h.store(ctx, it.Record) })
	}
	wg.Wait()
	serve.AddLogAttrs(ctx, slog.Int("events", len(items)), slog.Int("good_events", good))

	results := make([]map[string]any, len(items))
	var retry *serve.Error // the most urgent retryable failure decides the answer
	var firstErr *serve.Error
	for i, it := range items {
		o, se := h.classify(ctx, errs[i])
		h.m.count(o)
		res := map[string]any{"status": http.StatusOK}
		if it.Err == nil {
			res["key"] = it.Record.Key
		}
		if se != nil {
			for k, v := range se.Detail {
				res[k] = v
			}
			res["status"], res["error"] = se.Code, se.Msg
			if o.retryable() && (retry == nil || rank(se.Code) > rank(retry.Code)) {
				retry = se
			}
			if i == 0 {
				firstErr = se
			}
		}
		results[i] = res
	}
	switch {
	case retry != nil:
		return &serve.Error{Code: retry.Code, Msg: retry.Msg, Detail: map[string]any{"results": results}, Err: retry.Err}
	case firstErr != nil && !anyStored(results):
		detail := map[string]any{"results": results}
		for k, v := range firstErr.Detail {
			detail[k] = v
		}
		return &serve.Error{Code: firstErr.Code, Msg: firstErr.Msg, Detail: detail, Err: firstErr.Err}
	}
	serve.WriteJSON(w, http.StatusOK, map[string]any{"results": results})
	return nil
}

func anyStored(results []map[string]any) bool {
	for _, r := range results {
		if r["status"] == http.StatusOK {
			return true
		}
	}
	return false
}
