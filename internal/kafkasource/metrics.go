package kafkasource

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the runner's series, listed in the package doc.
type Metrics struct {
	lag         *prometheus.GaugeVec
	inFlight    *prometheus.GaugeVec
	events      *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// NewMetrics registers the runner's series on reg; a nil reg keeps them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sentistream_kafkasource_lag_records",
			Help: "Records of a partition whose delivery is not final yet: high watermark minus the next offset to commit.",
		}, []string{"source", "topic", "partition"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sentistream_kafkasource_in_flight_events",
			Help: "Events being delivered, retry waits and dead-lettering included.",
		}, []string{"source"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentistream_kafkasource_events_total",
			Help: "Events whose outcome is final, by outcome: delivered, dead_lettered, dropped (failed without a dead-letter sink).",
		}, []string{"source", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentistream_kafkasource_retries_total",
			Help: "Delivery attempts after the first.",
		}, []string{"source"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentistream_kafkasource_dead_letters_total",
			Help: "Events written to the dead-letter topic.",
		}, []string{"source"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sentistream_kafkasource_delivery_duration_seconds",
			Help:    "Time from the start of delivery to the sink's success answer, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.lag, m.inFlight, m.events, m.retries, m.deadLetters, m.duration)
	}
	return m
}

// sourceMetrics are one source's children of the series.
type sourceMetrics struct {
	m           *Metrics
	source      string
	inFlight    prometheus.Gauge
	delivered   prometheus.Counter
	dropped     prometheus.Counter
	deadLetters prometheus.Counter
	dlEvents    prometheus.Counter
	retries     prometheus.Counter
	duration    prometheus.Observer
}

func (m *Metrics) forSource(name string) *sourceMetrics {
	return &sourceMetrics{
		m:           m,
		source:      name,
		inFlight:    m.inFlight.WithLabelValues(name),
		delivered:   m.events.WithLabelValues(name, "delivered"),
		dropped:     m.events.WithLabelValues(name, "dropped"),
		deadLetters: m.deadLetters.WithLabelValues(name),
		dlEvents:    m.events.WithLabelValues(name, "dead_lettered"),
		retries:     m.retries.WithLabelValues(name),
		duration:    m.duration.WithLabelValues(name),
	}
}

func (sm *sourceMetrics) lag(topic string, p int32) prometheus.Gauge {
	return sm.m.lag.WithLabelValues(sm.source, topic, strconv.Itoa(int(p)))
}

func (sm *sourceMetrics) deleteLag(topic string, p int32) {
	sm.m.lag.DeleteLabelValues(sm.source, topic, strconv.Itoa(int(p)))
}

// deadLettered counts one dead letter.
func (sm *sourceMetrics) deadLettered() {
	sm.deadLetters.Inc()
	sm.dlEvents.Inc()
}
