// Package batch provides group commit: it coalesces the items that concurrent callers submit into
// batches, hands each batch to one flush function, and gives every caller its own item's result.
//
// A [Batcher] keeps a bounded queue. A batch is cut as soon as a flush slot is free and items wait,
// so a lone item on an idle Batcher is flushed at once, and under load the items that arrive while
// a flush runs form the next batch. A batch waits up to [Config.MaxWait] (or until
// [Config.MaxSize] items) for company when it could start but the queue is still filling: its
// last two items came less than MaxWait apart (a burst, as a delivery layer sends when its
// previous requests are answered), or, with [Config.Flushers] > 1, another flush is running. So
// batches grow with the load, and an item that arrives alone never waits.
//
// # Metrics
//
// [NewMetrics] registers, each with the constant label function:
//
//   - sentistream_batch_size: histogram of the number of items per flush.
//   - sentistream_batch_flush_duration_seconds: histogram of flush call durations.
//   - sentistream_batch_queue_depth: gauge of items submitted and not yet handed to a flush.
package batch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrQueueFull is returned by [Batcher.Submit] when Config.QueueSize items already wait. The item
// was not queued; the caller should shed load (HTTP 429).
var ErrQueueFull = errors.New("batch: queue full")

// ErrClosed is returned by [Batcher.Submit] after [Batcher.Close].
var ErrClosed = errors.New("batch: closed")

// Config tunes a [Batcher]. The zero value of each field means its default.
type Config struct {
	// MaxSize is the most items in one flush; default 500.
	MaxSize int
	// MaxWait bounds how long a batch that could start waits for more items while the queue is
	// still filling (see the package doc); default 2ms. An item that arrives alone never waits.
	MaxWait time.Duration
	// QueueSize is the most items submitted and not yet handed to a flush; default 10000. Past
	// it, Submit returns ErrQueueFull.
	QueueSize int
	// Flushers is how many flushes may run at once; default 1. Two let one batch's round trip
	// overlap the next batch's, which can help when the flush is latency-bound (a network round
	// trip and a commit); against the local PostgreSQL, 1 and 2 measured the same within noise
	// (functions/score BenchmarkScoreHTTP). More flushers make smaller batches.
	Flushers int
}

func (c Config) withDefaults() Config {
	if c.MaxSize <= 0 {
		c.MaxSize = 500
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 2 * time.Millisecond
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 10000
	}
	if c.Flushers <= 0 {
		c.Flushers = 1
	}
	return c
}

// FlushFunc writes a batch and returns one error per item, in order (nil means that item
// succeeded). It must bound its own duration: the ctx it gets is never cancelled, so that Close
// can flush what is queued.
type FlushFunc[T any] func(ctx context.Context, items []T) []error

// Batcher coalesces submitted items into batches. It is safe for concurrent use. Its goroutine
// runs from [New] until [Batcher.Close] returns.
type Batcher[T any] struct {
	cfg     Config
	flush   FlushFunc[T]
	m       *Metrics
	in      chan *request[T]
	pending atomic.Int64 // submitted, not yet handed to a flush
	mu      sync.RWMutex // guards closed against sends on a closed in
	closed  bool
	done    chan struct{} // closed when run returns
}

type request[T any] struct {
	item T
	res  chan error // buffered: the flusher never blocks on a caller that left
}

// New starts a Batcher that hands batches to flush. m may be nil (no metrics). Call Close to stop
// it.
func New[T any](cfg Config, flush FlushFunc[T], m *Metrics) *Batcher[T] {
	cfg = cfg.withDefaults()
	b := &Batcher[T]{
		cfg:   cfg,
		flush: flush,
		m:     m,
		in:    make(chan *request[T], cfg.QueueSize),
		done:  make(chan struct{}),
	}
	go b.run()
	return b
}

// Submit queues item and waits for the result of its batch: nil, or the error flush returned for
// it. It returns [ErrQueueFull] at once when the queue is full, [ErrClosed] after Close, and
// ctx.Err() when ctx ends first, in which case the item may still be written later (idempotent
// writes absorb that). An item is not queued when ctx has already ended.
func (b *Batcher[T]) Submit(ctx context.Context, item T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request[T]{item: item, res: make(chan error, 1)}
	if err := b.enqueue(r); err != nil {
		return err
	}
	select {
	case err := <-r.res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Batcher[T]) enqueue(r *request[T]) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	if b.pending.Add(1) > int64(b.cfg.QueueSize) {
		b.pending.Add(-1)
		return ErrQueueFull
	}
	// Never blocks: len(in) <= pending <= QueueSize = cap(in).
	b.in <- r
	b.m.addDepth(1)
	return nil
}

// Close stops accepting items, flushes every item already queued, waits for the running flushes
// and stops the goroutine. It is safe to call more than once.
func (b *Batcher[T]) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.in)
	}
	b.mu.Unlock()
	<-b.done
}

// run owns the batch being built and the flush goroutines; it returns after in is closed and
// drained and every flush has finished.
func (b *Batcher[T]) run() {
	defer close(b.done)
	var (
		batch    = make([]*request[T], 0, b.cfg.MaxSize)
		in       = b.in // nil once closed and drained
		running  int
		finished = make(chan struct{}, b.cfg.Flushers)
		timer    *time.Timer
		timerC   <-chan time.Time
		waited   bool // the current batch has waited MaxWait
		// last and gap are the arrival time of the newest item and the time since the one before.
		last time.Time
		gap  = time.Duration(math.MaxInt64)
	)
	arrived := func() {
		now := time.Now()
		gap, last = now.Sub(last), now
	}
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
		}
		timerC, waited = nil, false
	}
	for {
		// Take what is already queued, without blocking.
	drain:
		for in != nil && len(batch) < b.cfg.MaxSize {
			select {
			case r, ok := <-in:
				if !ok {
					in = nil
					break drain
				}
				batch = append(batch, r)
				arrived()
			default:
				break drain
			}
		}
		filling := running > 0 || gap < b.cfg.MaxWait
		if len(batch) > 0 && running < b.cfg.Flushers &&
			(!filling || waited || len(batch) >= b.cfg.MaxSize || in == nil) {
			stopTimer()
			b.pending.Add(-int64(len(batch)))
			b.m.addDepth(-len(batch))
			running++
			go b.flushBatch(batch, finished)
			batch = make([]*request[T], 0, b.cfg.MaxSize)
			continue
		}
		if in == nil && len(batch) == 0 && running == 0 {
			return
		}
		// A batch that may not start yet only because the queue is filling waits at most MaxWait.
		if len(batch) > 0 && filling && running < b.cfg.Flushers && timerC == nil && !waited {
			if timer == nil {
				timer = time.NewTimer(b.cfg.MaxWait)
			} else {
				timer.Reset(b.cfg.MaxWait)
			}
			timerC = timer.C
		}
		recv := in
		if len(batch) >= b.cfg.MaxSize {
			recv = nil // full: wait for a flush slot, leave the rest queued
		}
		select {
		case r, ok := <-recv:
			if !ok {
				in = nil
				continue
			}
			batch = append(batch, r)
			arrived()
		case <-finished:
			running--
		case <-timerC:
			timerC, waited = nil, true
		}
	}
}

// flushBatch runs flush on batch, answers each request and signals finished.
func (b *Batcher[T]) flushBatch(batch []*request[T], finished chan<- struct{}) {
	defer func() { finished <- struct{}{} }()
	items := make([]T, len(batch))
	for i, r := range batch {
		items[i] = r.item
	}
	start := time.Now()
	errs := b.flush(context.Background(), items)
	b.m.observe(len(items), time.Since(start))
	if len(errs) != len(items) {
		err := fmt.Errorf("batch: flush returned %d results for %d items", len(errs), len(items))
		for _, r := range batch {
			r.res <- err
		}
		return
	}
	for i, r := range batch {
		r.res <- errs[i]
	}
}

// Metrics holds a Batcher's Prometheus series, listed in the package doc.
type Metrics struct {
	size     prometheus.Histogram
	duration prometheus.Histogram
	depth    prometheus.Gauge
}

// NewMetrics registers the batch series on reg, labelled function=function ("score", "index").
// It panics if they are already registered with the same label, as [prometheus.MustRegister] does;
// call it once per function, from main.
func NewMetrics(reg prometheus.Registerer, function string) *Metrics {
	labels := prometheus.Labels{"function": function}
	m := &Metrics{
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "sentistream_batch_size",
			Help:        "Items per batch flush.",
			ConstLabels: labels,
			Buckets:     []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "sentistream_batch_flush_duration_seconds",
			Help:        "Duration of batch flushes.",
			ConstLabels: labels,
			Buckets:     []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "sentistream_batch_queue_depth",
			Help:        "Items submitted and not yet handed to a flush.",
			ConstLabels: labels,
		}),
	}
	reg.MustRegister(m.size, m.duration, m.depth)
	return m
}

func (m *Metrics) observe(n int, d time.Duration) {
	if m == nil {
		return
	}
	m.size.Observe(float64(n))
	m.duration.Observe(d.Seconds())
}

func (m *Metrics) addDepth(n int) {
	if m == nil {
		return
	}
	m.depth.Add(float64(n))
}
