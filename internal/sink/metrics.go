package sink

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/batch"
)

// Metrics holds a function's series, listed in the package doc. A nil *Metrics records nothing.
type Metrics struct {
	events   map[Outcome]prometheus.Counter // resolved once: no label lookup per event
	write    prometheus.Histogram
	compound prometheus.Histogram
	batch    *batch.Metrics
}

// NewMetrics registers the series of the function named function (the constant label), the batch
// series included, on reg. Call it once per registry.
func NewMetrics(reg prometheus.Registerer, function string) *Metrics {
	labels := prometheus.Labels{"function": function}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "sentistream_events_total",
		Help:        "Events handled, by outcome.",
		ConstLabels: labels,
	}, []string{"outcome"})
	m := &Metrics{
		events: make(map[Outcome]prometheus.Counter, len(outcomes)),
		write: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "sentistream_store_write_duration_seconds",
			Help:        "Duration of each batch write to the store.",
			ConstLabels: labels,
			Buckets:     []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
		}),
		compound: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "sentistream_sentiment_compound",
			Help:        "VADER compound score of newly stored events.",
			ConstLabels: labels,
			Buckets:     []float64{-0.9, -0.7, -0.5, -0.3, -0.05, 0.05, 0.3, 0.5, 0.7, 0.9, 1}, // ±0.05: the label thresholds
		}),
		batch: batch.NewMetrics(reg, function),
	}
	for _, o := range outcomes {
		m.events[o] = events.WithLabelValues(string(o)) // every outcome starts at 0, so rate() sees the first one
	}
	reg.MustRegister(events, m.write, m.compound)
	return m
}

func (m *Metrics) batchMetrics() *batch.Metrics {
	if m == nil {
		return nil
	}
	return m.batch
}

func (m *Metrics) count(o Outcome) {
	if m != nil {
		m.events[o].Inc()
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
