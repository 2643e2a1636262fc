// Package score is the scoring function: it decodes an event ([event.Decoder]), scores its sentence
// with VADER ([sentiment.Analyzer]) and stores it through a [Saver] with group commit
// ([batch.Batcher]), answering only once the row is committed.
//
// # HTTP answers
//
// A request holding one event (binary, structured, OpenFaaS or bare JSON):
//
//	204  stored, or already stored (a duplicate); empty body
//	400/413/415/422  the event is bad (event.Error's status) with {"error": reason, "field": name}
//	429  the write queue is full (Config.Batch.QueueSize); retry later
//	503  PostgreSQL is down or the write timed out (Config.StoreTimeout); Retry-After: 1
//	500  anything else (a bug, or a row PostgreSQL refuses for good)
//
// A batch request (application/cloudevents-batch+json, from direct clients; KafkaSource never sends
// one) is written event by event, good events being stored even when others are bad:
//
//   - every good event stored (or already stored): 200 with one result per event, in order:
//     {"results": [{"key": "...", "status": 200}, {"status": 422, "error": "...", "field": "..."}]}
//   - every event bad: the first bad event's status, with {"error", "field", "results"};
//   - a good event not stored: 429, 503 or 500 as above (the first of these that applies),
//     with "results". Stored events are not undone: resending the batch is safe, as they are
//     duplicates then.
//
// # Metrics
//
// [NewMetrics] registers, each with the constant label function="score":
//
//   - sentistream_events_total{outcome}: events by outcome: ok, duplicate, malformed, transient
//     (503), overloaded (429) or error (500).
//   - sentistream_store_write_duration_seconds: histogram of the duration of each batch write.
//   - sentistream_sentiment_compound: histogram of the compound scores of stored events.
//   - the batch series listed in [batch].
package score

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

// Saver stores scored rows. [pgstore.Store] implements it.
type Saver interface {
	// Insert writes rows in one transaction and reports, per row, whether it was new (false: a
	// duplicate). Errors are classified by [pgstore.Transient].
	Insert(ctx context.Context, rows []pgstore.Row) ([]bool, error)
}

// Config tunes a Handler. The zero value of each field means its default.
type Config struct {
	// StoreTimeout bounds the wait for a write, queueing included, and each batch write;
	// default 2s. Past it the event is answered 503.
	StoreTimeout time.Duration
	// Batch tunes the group commit; see [batch.Config] for its defaults.
	Batch batch.Config
}

// Handler serves events. Build it with [NewHandler] and stop it with [Handler.Close].
type Handler struct {
	cfg      Config
	dec      *event.Decoder
	analyzer *sentiment.Analyzer
	saver    Saver
	m        *Metrics
	batcher  *batch.Batcher[pgstore.Row]
}

// errDuplicate is the batch result of a row whose key was already stored.
var errDuplicate = errors.New("score: duplicate")

// NewHandler returns a Handler that decodes with dec, scores with a and stores with s, and starts
// its batcher. m may be nil (no metrics). Close it after the server has stopped.
func NewHandler(cfg Config, dec *event.Decoder, a *sentiment.Analyzer, s Saver, m *Metrics) *Handler {
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 2 * time.Second
	}
	h := &Handler{cfg: cfg, dec: dec, analyzer: a, saver: s, m: m}
	var bm *batch.Metrics
	if m != nil {
		bm = m.batch
	}
	h.batcher = batch.New(cfg.Batch, h.flush, bm)
	return h
}

// Close writes what is queued and stops the batcher. Call it after the server has stopped.
func (h *Handler) Close() { h.batcher.Close() }

// flush writes one batch; it is the batcher's flush function.
func (h *Handler) flush(ctx context.Context, rows []pgstore.Row) []error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.StoreTimeout)
	defer cancel()
	errs := make([]error, len(rows))
	inserted, err := h.insert(ctx, rows)
	_, misconfigured := errors.AsType[*env.MisconfigError](err)
	if err != nil && !pgstore.Transient(err) && !misconfigured && len(rows) > 1 {
		// One row PostgreSQL refuses for good must not fail the rows batched with it: write them
		// one at a time to find it.
		for i := range rows {
			ins, err := h.insert(ctx, rows[i:i+1])
			switch {
			case err != nil:
				errs[i] = err
			case !ins[0]:
				errs[i] = errDuplicate
			}
		}
		return errs
	}
	for i := range rows {
		switch {
		case err != nil:
			errs[i] = err
		case !inserted[i]:
			errs[i] = errDuplicate
		}
	}
	return errs
}

func (h *Handler) insert(ctx context.Context, rows []pgstore.Row) ([]bool, error) {
	start := time.Now()
	inserted, err := h.saver.Insert(ctx, rows)
	h.m.observeWrite(time.Since(start))
	if err == nil && len(inserted) != len(rows) {
		err = fmt.Errorf("saver returned %d results for %d rows", len(inserted), len(rows))
	}
	return inserted, err
}

// ServeEvent handles one request; wrap it with [serve.Adapt].
func (h *Handler) ServeEvent(w http.ResponseWriter, r *http.Request) error {
	items, err := h.dec.Decode(r)
	if err != nil {
		h.m.count(outcomeMalformed)
		return decodeError(err)
	}
	if len(items) == 1 && items[0].Err == nil && !isBatch(r) {
		rec := items[0].Record
		serve.AddLogAttrs(r.Context(), rec.LogAttrs()...)
		if err := h.store(r.Context(), rec); err != nil {
			return err
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

// result is one event's outcome in a batch answer.
type result struct {
	Key    string `json:"key,omitempty"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
	Field  string `json:"field,omitempty"`
}

func (h *Handler) serveBatch(w http.ResponseWriter, r *http.Request, items []event.Item) error {
	results := make([]result, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	good := 0
	for i, it := range items {
		if it.Err != nil {
			h.m.count(outcomeMalformed)
			var ee *event.Error
			if errors.As(it.Err, &ee) {
				results[i] = result{Status: ee.Status, Error: ee.Reason, Field: ee.Field}
			} else {
				results[i] = result{Status: http.StatusBadRequest, Error: "malformed event"}
			}
			continue
		}
		good++
		wg.Go(func() { errs[i] = h.store(r.Context(), it.Record) })
	}
	wg.Wait()
	serve.AddLogAttrs(r.Context(), slog.Int("events", len(items)), slog.Int("good_events", good))

	var first *serve.Error // the first failure of a good event decides the answer
	for i, it := range items {
		if it.Err != nil {
			continue
		}
		results[i].Key = it.Record.Key
		if errs[i] == nil {
			results[i].Status = http.StatusOK
			continue
		}
		var se *serve.Error
		if !errors.As(errs[i], &se) {
			se = serve.Errorf(http.StatusInternalServerError, "internal error", errs[i])
		}
		results[i].Status, results[i].Error = se.Code, se.Msg
		if first == nil || rank(se.Code) > rank(first.Code) {
			first = se
		}
	}
	switch {
	case first != nil:
		return &serve.Error{Code: first.Code, Msg: first.Msg, Detail: map[string]any{"results": results}, Err: first.Err}
	case good == 0:
		return &serve.Error{Code: results[0].Status, Msg: results[0].Error,
			Detail: map[string]any{"field": results[0].Field, "results": results}, Err: items[0].Err}
	}
	serve.WriteJSON(w, http.StatusOK, map[string]any{"results": results})
	return nil
}

// rank orders failure answers of a batch: a bug (500) over an outage (503) over overload (429).
func rank(code int) int {
	switch code {
	case http.StatusInternalServerError:
		return 3
	case http.StatusServiceUnavailable:
		return 2
	default:
		return 1
	}
}

// store scores rec and waits until it is committed (nil, also for a duplicate) or fails with a
// *serve.Error.
func (h *Handler) store(ctx context.Context, rec event.Record) error {
	scores := h.analyzer.Score(rec.Sentence)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.StoreTimeout)
	defer cancel()
	err := h.batcher.Submit(ctx, pgstore.Row{Record: rec, Scores: scores})
	switch {
	case err == nil:
		h.m.count(outcomeOK)
		h.m.observeCompound(scores.Compound)
		return nil
	case errors.Is(err, errDuplicate):
		h.m.count(outcomeDuplicate)
		return nil
	case errors.Is(err, batch.ErrQueueFull):
		h.m.count(outcomeOverloaded)
		return serve.Errorf(http.StatusTooManyRequests, "overloaded", err)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away; it never reads this answer.
		h.m.count(outcomeTransient)
		return serve.Errorf(http.StatusServiceUnavailable, "request cancelled", err)
	}
	if me, ok := errors.AsType[*env.MisconfigError](err); ok {
		// No retry fixes it, but the event is fine: 503 keeps it for when someone has.
		h.m.count(outcomeTransient)
		return serve.Errorf(http.StatusServiceUnavailable, me.Reason, err)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgstore.Transient(err), errors.Is(err, batch.ErrClosed):
		h.m.count(outcomeTransient)
		return serve.Errorf(http.StatusServiceUnavailable, "database unavailable", err)
	default:
		h.m.count(outcomeError)
		return fmt.Errorf("store %s: %w", rec.Key, err)
	}
}

// decodeError turns a decoding failure into its answer.
func decodeError(err error) error {
	var ee *event.Error
	if errors.As(err, &ee) {
		se := serve.Errorf(ee.Status, ee.Reason, err)
		if ee.Field != "" {
			se.Detail = map[string]any{"field": ee.Field}
		}
		return se
	}
	return err // a *http.MaxBytesError (413) or a bug (500): Adapt decides
}

const (
	outcomeOK         = "ok"
	outcomeDuplicate  = "duplicate"
	outcomeMalformed  = "malformed"
	outcomeTransient  = "transient"
	outcomeOverloaded = "overloaded"
	outcomeError      = "error"
)

// Metrics holds the score function's Prometheus series, listed in the package doc.
type Metrics struct {
	events   *prometheus.CounterVec
	write    prometheus.Histogram
	compound prometheus.Histogram
	batch    *batch.Metrics
}

// NewMetrics registers the score function's series, the batch series included, on reg. Call it
// once per registry.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := prometheus.Labels{"function": "score"}
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "sentistream_events_total",
			Help:        "Events handled, by outcome.",
			ConstLabels: labels,
		}, []string{"outcome"}),
		write: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "sentistream_store_write_duration_seconds",
			Help:        "Duration of each batch write to PostgreSQL.",
			ConstLabels: labels,
			Buckets:     []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
		}),
		compound: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "sentistream_sentiment_compound",
			Help:        "VADER compound score of stored events.",
			ConstLabels: labels,
			Buckets:     []float64{-0.9, -0.7, -0.5, -0.3, -0.05, 0.05, 0.3, 0.5, 0.7, 0.9, 1}, // ±0.05: the label thresholds
		}),
		batch: batch.NewMetrics(reg, "score"),
	}
	for _, o := range []string{outcomeOK, outcomeDuplicate, outcomeMalformed, outcomeTransient, outcomeOverloaded, outcomeError} {
		m.events.WithLabelValues(o) // start every outcome at 0 so rate() sees the first one
	}
	reg.MustRegister(m.events, m.write, m.compound)
	return m
}

func (m *Metrics) count(outcome string) {
	if m != nil {
		m.events.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) observeWrite(d time.Duration) {
	if m != nil {
		m.write.Observe(d.Seconds())
	}
}

func (m *Metrics) observeCompound(c float64) {
	if m != nil {
		m.compound.Observe(c)
	}
}
