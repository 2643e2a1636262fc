package kafkasource

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkRunner measures unordered delivery of pre-produced records (binary CloudEvents, as the
// producer writes them) from the real Kafka to a local sink that answers 204. Run it with a
// fixed count, e.g. -benchtime=200000x. events/s counts from the runner's start (group join
// included) to the last delivery; cpu-% is the whole test process (runner and sink) over that
// time, and events/s-at-2-cores the rate its CPU cost per event allows on two idle cores, which
// is the number to compare when other work shares the machine.
func BenchmarkRunner(b *testing.B) {
	k := newKafka(b)
	topic := k.topic("bench-runner", 3)
	value := []byte(`{"sentence":"Zephyr's battery life is honestly amazing 😍","created_at":"2025-04-14T08:00:00.123456Z"}`)
	batch := make([]*kgo.Record, 0, 5000)
	flush := func() {
		k.produce(batch...)
		batch = batch[:0]
	}
	for i := range b.N {
		id := strconv.Itoa(i)
		batch = append(batch, &kgo.Record{Topic: topic, Key: []byte(id), Value: value, Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("bench-" + id)},
			{Key: "ce_source", Value: []byte("urn:sentistream:producer")}, {Key: "ce_type", Value: []byte("dev.sentistream.sentence.v1")},
			{Key: "content-type", Value: []byte("application/json")},
		}})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()

	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		if got.Add(1) == n {
			close(done)
		}
	}))
	defer sink.Close()
	m, err := Parse(sourceYAML("bench", topic, k.group("bench-runner"), "unordered", ""))
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(Config{Brokers: k.brokers, Sinks: map[string]string{"fn": sink.URL}}, m.Sources)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	go func() { _ = r.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("delivered %d of %d in 10 minutes", got.Load(), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	cpu := (cpuTime() - cpu0).Seconds()
	b.ReportMetric(100*cpu/elapsed.Seconds(), "cpu-%")
	// What two idle cores would reach at this CPU cost per event (runner and sink together).
	b.ReportMetric(2*float64(n)/cpu, "events/s-at-2-cores")
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
