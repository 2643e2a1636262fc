package kafkasource

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/testenv"
)

// kafka is a test's view of the real Kafka: fresh topics that are deleted afterwards.
type kafka struct {
	t       testing.TB
	brokers []string
	cl      *kgo.Client
	adm     *kadm.Client
}

func newKafka(t testing.TB) *kafka {
	t.Helper()
	brokers := strings.Split(testenv.KafkaBrokers(t), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &kafka{t: t, brokers: brokers, cl: cl, adm: kadm.NewClient(cl)}
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%06d", prefix, time.Now().UnixNano(), rand.IntN(1_000_000))
}

// topic creates a fresh topic with n partitions and deletes it when the test ends.
func (k *kafka) topic(prefix string, n int32) string {
	k.t.Helper()
	name := uniqueName(prefix)
	resp, err := k.adm.CreateTopic(context.Background(), n, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		k.t.Fatalf("create topic %s: %v", name, err)
	}
	k.t.Cleanup(func() { _, _ = k.adm.DeleteTopics(context.Background(), name) })
	return name
}

// group returns a fresh consumer group name, deleted when the test ends.
func (k *kafka) group(prefix string) string {
	name := uniqueName(prefix)
	k.t.Cleanup(func() { _, _ = k.adm.DeleteGroups(context.Background(), name) })
	return name
}

func (k *kafka) produce(recs ...*kgo.Record) []*kgo.Record {
	k.t.Helper()
	res := k.cl.ProduceSync(context.Background(), recs...)
	if err := res.FirstErr(); err != nil {
		k.t.Fatalf("produce: %v", err)
	}
	out := make([]*kgo.Record, len(res))
	for i, r := range res {
		out[i] = r.Record
	}
	return out
}

// consume reads n records of topic from the start, failing after timeout.
func (k *kafka) consume(topic string, n int, timeout time.Duration) []*kgo.Record {
	k.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		k.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			k.t.Fatalf("consume %s: got %d records, want %d", topic, len(out), n)
		}
		out = append(out, f.Records()...)
	}
	return out
}

// endOffsets returns the end offset of each partition of topic.
func (k *kafka) endOffsets(topic string) map[int32]int64 {
	k.t.Helper()
	ends, err := k.adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		k.t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// committed returns the group's committed offsets of topic.
func (k *kafka) committed(group, topic string) map[int32]int64 {
	k.t.Helper()
	offs, err := k.adm.FetchOffsets(context.Background(), group)
	if err != nil {
		k.t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// request is one request a recording sink received.
type request struct {
	header http.Header
	body   []byte
	at     time.Time
}

// sink is a recording HTTP sink; answer decides each response (nil: 204).
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []request
	answer   func(n int, r *http.Request) (int, string)
	arrived  chan struct{}
	inFlight int
	maxIn    int
}

func newSink(t testing.TB, answer func(n int, r *http.Request) (int, string)) *sink {
	s := &sink{answer: answer, arrived: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, request{header: r.Header.Clone(), body: body, at: time.Now()})
		s.inFlight++
		s.maxIn = max(s.maxIn, s.inFlight)
		s.mu.Unlock()
		select {
		case s.arrived <- struct{}{}:
		default:
		}
		code, text := http.StatusNoContent, ""
		if s.answer != nil {
			code, text = s.answer(n, r)
		}
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sourceYAML returns a KafkaSource manifest for topic and group delivering to sink "fn".
func sourceYAML(name, topic, group, ordering, delivery string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata:
  name: %s
  namespace: sentistream
spec:
  bootstrapServers: [my-cluster-kafka-bootstrap.kafka:9092]
  topics: [%s]
  consumerGroup: %s
  initialOffset: earliest
  ordering: %s
%s  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: fn
`, name, topic, group, ordering, delivery))
}

// dlqDelivery is a delivery block with short backoffs and a dead-letter KafkaSink.
func dlqDelivery(retry int, policy, delay string) string {
	return fmt.Sprintf(`  delivery:
    retry: %d
    backoffPolicy: %s
    backoffDelay: %s
    timeout: PT5S
    deadLetterSink:
      ref:
        apiVersion: eventing.knative.dev/v1alpha1
        kind: KafkaSink
        name: sentence-dlq
`, retry, policy, delay)
}

// startRunner runs the manifest against k, delivering "fn" to sinkURL, until the test ends.
func startRunner(t testing.TB, k *kafka, manifest []byte, sinkURL, dlqTopic string, mod func(*Config)) *Runner {
	t.Helper()
	m, err := Parse(manifest)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Brokers:         k.brokers,
		Sinks:           map[string]string{"fn": sinkURL},
		DeadLetterTopic: dlqTopic,
		CommitInterval:  100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg, m.Sources)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return 20s after cancel")
		}
	})
	return r
}

func header(rec *kgo.Record, key string) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// metricValue returns the value of the counter or gauge name whose labels include want, from
// reg, or -1 when there is none.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}
