package kafkasource

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/event"
)

// eventHeaders keeps the headers that make the event: Ce-*, Content-Type, Prefer, Kn-Namespace.
func eventHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		if strings.HasPrefix(k, "Ce-") || k == "Content-Type" || k == "Prefer" || k == "Kn-Namespace" {
			out[k] = strings.Join(vs, ",")
		}
	}
	return out
}

// decode runs a received request through the functions' decoder.
func decode(t *testing.T, r request) event.Record {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(r.body))
	req.Header = r.header.Clone()
	items, err := event.NewDecoder(event.Config{}).Decode(req)
	if err != nil {
		t.Fatalf("event.Decode: %v", err)
	}
	return items[0].Record
}

func TestRunnerEventForms(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic := k.topic("runner-forms", 1)
	s := newSink(t, nil)
	startRunner(t, k, sourceYAML("score", topic, k.group("runner-forms"), "ordered", ""), s.URL, "", nil)

	ts := time.Date(2025, 4, 14, 8, 0, 1, 500_000_000, time.UTC)
	seed := `{"sentence":"This is great!","created_at":"2025-04-14T08:00:00.123456"}`
	structuredValue := `{"specversion":"1.0","id":"s-1","source":"urn:test","type":"dev.test","subject":"sub",` +
		`"time":"2025-04-14T08:00:00Z","datacontenttype":"application/json","myext":"x","data":` + seed + `}`
	recs := k.produce(
		&kgo.Record{Topic: topic, Key: []byte("sentence-1"), Value: []byte(seed), Timestamp: ts,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("Application/JSON")}, {Key: "X-Trace_ID", Value: []byte("abc")}}},
		&kgo.Record{Topic: topic, Value: []byte(seed), Timestamp: ts, Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("b-1")},
			{Key: "ce_source", Value: []byte("urn:sentistream:producer")}, {Key: "ce_type", Value: []byte("dev.sentistream.sentence.v1")},
			{Key: "ce_time", Value: []byte("2025-04-14T08:00:00.123456Z")}, {Key: "content-type", Value: []byte("application/json")},
			{Key: "ce_mood", Value: []byte("happy")},
		}},
		&kgo.Record{Topic: topic, Value: []byte(structuredValue), Timestamp: ts,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json; charset=utf-8")}}},
		// A structured event that makes sdk-go panic is wrapped, as an invalid CloudEvent.
		&kgo.Record{Topic: topic, Value: []byte(`{"data_base64":1,"specversion":"1.0"}`), Timestamp: ts,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}},
		// A binary event without ce_id is not a CloudEvent: wrapped too.
		&kgo.Record{Topic: topic, Value: []byte(seed), Timestamp: ts, Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_source", Value: []byte("urn:x")}, {Key: "ce_type", Value: []byte("t")}}},
	)
	waitFor(t, 30*time.Second, "5 deliveries", func() bool { return len(s.requests()) >= 5 })
	got := s.requests()
	p := strconv.Itoa(int(recs[0].Partition))
	off := func(i int) string { return strconv.FormatInt(recs[i].Offset, 10) }
	source := "/apis/v1/namespaces/sentistream/kafkasources/score#" + topic

	want := []map[string]string{
		{
			"Ce-Specversion": "1.0", "Ce-Id": "partition:" + p + "/offset:" + off(0), "Ce-Source": source,
			"Ce-Subject": "partition:" + p + "#" + off(0), "Ce-Type": "dev.knative.kafka.event",
			"Ce-Time": "2025-04-14T08:00:01.5Z", "Ce-Key": "sentence-1", "Ce-Partitionkey": "sentence-1",
			"Ce-Kafkaheaderxtraceid": "abc", "Content-Type": "application/json",
			"Ce-Knativekafkapartition": p, "Ce-Knativekafkaoffset": off(0), "Prefer": "reply", "Kn-Namespace": "sentistream",
		},
		{
			"Ce-Specversion": "1.0", "Ce-Id": "b-1", "Ce-Source": "urn:sentistream:producer", "Ce-Type": "dev.sentistream.sentence.v1",
			"Ce-Time": "2025-04-14T08:00:00.123456Z", "Content-Type": "application/json", "Ce-Mood": "happy",
			"Ce-Knativekafkapartition": p, "Ce-Knativekafkaoffset": off(1), "Prefer": "reply", "Kn-Namespace": "sentistream",
		},
		{
			"Ce-Specversion": "1.0", "Ce-Id": "s-1", "Ce-Source": "urn:test", "Ce-Type": "dev.test", "Ce-Subject": "sub",
			"Ce-Time": "2025-04-14T08:00:00Z", "Content-Type": "application/json", "Ce-Myext": "x",
			"Ce-Knativekafkapartition": p, "Ce-Knativekafkaoffset": off(2), "Prefer": "reply", "Kn-Namespace": "sentistream",
		},
		{
			"Ce-Specversion": "1.0", "Ce-Id": "partition:" + p + "/offset:" + off(3), "Ce-Source": source,
			"Ce-Subject": "partition:" + p + "#" + off(3), "Ce-Type": "dev.knative.kafka.event",
			"Ce-Time": "2025-04-14T08:00:01.5Z", "Content-Type": "application/cloudevents+json",
			"Ce-Knativekafkapartition": p, "Ce-Knativekafkaoffset": off(3), "Prefer": "reply", "Kn-Namespace": "sentistream",
		},
		{
			"Ce-Specversion": "1.0", "Ce-Id": "partition:" + p + "/offset:" + off(4), "Ce-Source": source,
			"Ce-Subject": "partition:" + p + "#" + off(4), "Ce-Type": "dev.knative.kafka.event",
			"Ce-Time": "2025-04-14T08:00:01.5Z", "Ce-Kafkaheadercespecversion": "1.0", "Ce-Kafkaheadercesource": "urn:x",
			"Ce-Kafkaheadercetype":     "t",
			"Ce-Knativekafkapartition": p, "Ce-Knativekafkaoffset": off(4), "Prefer": "reply", "Kn-Namespace": "sentistream",
		},
	}
	for i := range want {
		if diff := cmp.Diff(want[i], eventHeaders(got[i].header)); diff != "" {
			t.Errorf("event %d headers (-want +got):\n%s", i, diff)
		}
	}
	for _, i := range []int{0, 1, 2} {
		if !bytes.Equal(bytes.TrimSpace(got[i].body), []byte(seed)) {
			t.Errorf("event %d body = %s, want %s", i, got[i].body, seed)
		}
	}
	if rec := decode(t, got[0]); rec.Key != "kafka:"+topic+"/"+p+"/"+off(0) || rec.Sentence != "This is great!" {
		t.Errorf("wrapped record decodes to key %q sentence %q, want kafka:%s/%s/%s", rec.Key, rec.Sentence, topic, p, off(0))
	}
	if rec := decode(t, got[1]); rec.Key != "ce:urn:sentistream:producer#b-1" {
		t.Errorf("binary record decodes to key %q, want ce:urn:sentistream:producer#b-1", rec.Key)
	}
	if rec := decode(t, got[2]); rec.Key != "ce:urn:test#s-1" {
		t.Errorf("structured record decodes to key %q, want ce:urn:test#s-1", rec.Key)
	}
}

func TestRunnerRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic, dlq := k.topic("runner-retry", 1), k.topic("runner-retry-dlq", 1)
	s := newSink(t, func(n int, _ *http.Request) (int, string) {
		if n < 2 {
			return http.StatusServiceUnavailable, `{"error":"down"}`
		}
		return http.StatusOK, ""
	})
	const delay = 100 * time.Millisecond
	group := k.group("runner-retry")
	reg := prometheus.NewRegistry()
	startRunner(t, k, sourceYAML("score", topic, group, "unordered", dlqDelivery(3, "exponential", "PT0.1S")), s.URL, dlq,
		func(c *Config) { c.Metrics = NewMetrics(reg) })
	k.produce(&kgo.Record{Topic: topic, Value: []byte(`{"sentence":"ok"}`)})

	waitFor(t, 30*time.Second, "3 attempts", func() bool { return len(s.requests()) >= 3 })
	got := s.requests()
	for i, min := range []time.Duration{2 * delay, 4 * delay} { // retry n waits delay×2^n
		if gap := got[i+1].at.Sub(got[i].at); gap < min {
			t.Errorf("gap before retry %d = %v, want >= %v", i+1, gap, min)
		}
	}
	for i := 1; i < 3; i++ {
		if diff := cmp.Diff(eventHeaders(got[0].header), eventHeaders(got[i].header)); diff != "" {
			t.Errorf("retry %d differs from the first attempt (-first +retry):\n%s", i, diff)
		}
	}
	waitFor(t, 10*time.Second, "commit", func() bool { return k.committed(group, topic)[0] == 1 })
	if n := len(s.requests()); n != 3 {
		t.Errorf("sink got %d requests, want 3", n)
	}
	if ends := k.endOffsets(dlq); ends[0] != 0 {
		t.Errorf("dead-letter topic has %d records, want 0", ends[0])
	}
	src := map[string]string{"source": "score"}
	if v := metricValue(t, reg, "sentistream_kafkasource_retries_total", src); v != 2 {
		t.Errorf("retries_total = %v, want 2", v)
	}
	if v := metricValue(t, reg, "sentistream_kafkasource_events_total", map[string]string{"source": "score", "outcome": "delivered"}); v != 1 {
		t.Errorf("events_total{outcome=delivered} = %v, want 1", v)
	}
	waitFor(t, 5*time.Second, "lag 0", func() bool {
		return metricValue(t, reg, "sentistream_kafkasource_lag_records", map[string]string{"source": "score", "partition": "0"}) == 0
	})
	if v := metricValue(t, reg, "sentistream_kafkasource_in_flight_events", src); v != 0 {
		t.Errorf("in_flight_events = %v, want 0", v)
	}
}

func TestRunnerDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic, dlq := k.topic("runner-400", 1), k.topic("runner-400-dlq", 1)
	reason := `{"error":"sentence is missing","field":"sentence"}` + strings.Repeat(" ", 2000)
	s := newSink(t, func(int, *http.Request) (int, string) { return http.StatusBadRequest, reason })
	group := k.group("runner-400")
	reg := prometheus.NewRegistry()
	startRunner(t, k, sourceYAML("score", topic, group, "unordered", dlqDelivery(5, "linear", "PT1S")), s.URL, dlq,
		func(c *Config) { c.Metrics = NewMetrics(reg) })
	sent := k.produce(&kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(`{"text":"no sentence"}`)})

	dl := k.consume(dlq, 1, 20*time.Second)[0]
	if n := len(s.requests()); n != 1 {
		t.Errorf("sink got %d requests, want 1 (400 is not retried)", n)
	}
	want := map[string]string{
		"ce_knativeerrorcode":   "400",
		"ce_knativeerrordata":   base64.StdEncoding.EncodeToString([]byte(reason)[:1024]),
		"ce_knativeerrordest":   s.URL + "/",
		"ce_id":                 "partition:0/offset:" + strconv.FormatInt(sent[0].Offset, 10),
		"ce_type":               "dev.knative.kafka.event",
		"ce_key":                "k",
		"ce_knativekafkaoffset": strconv.FormatInt(sent[0].Offset, 10),
	}
	for key, v := range want {
		if got, _ := header(dl, key); got != v {
			t.Errorf("dead letter header %s = %q, want %q", key, got, v)
		}
	}
	if string(dl.Value) != `{"text":"no sentence"}` || string(dl.Key) != "k" {
		t.Errorf("dead letter key %q value %q, want the record's", dl.Key, dl.Value)
	}
	waitFor(t, 10*time.Second, "commit", func() bool { return k.committed(group, topic)[0] == 1 })
	if v := metricValue(t, reg, "sentistream_kafkasource_dead_letters_total", map[string]string{"source": "score"}); v != 1 {
		t.Errorf("dead_letters_total = %v, want 1", v)
	}
}

func TestRunnerSinkDownDeadLettersAll(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic, dlq := k.topic("runner-down", 3), k.topic("runner-down-dlq", 1)
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close() // connection refused from now on
	group := k.group("runner-down")
	r := startRunner(t, k, sourceYAML("score", topic, group, "unordered", dlqDelivery(2, "exponential", "PT0.01S")), url, dlq, nil)
	const n = 60
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(`{"sentence":"x"}`)})
	}
	k.produce(recs...)

	got := k.consume(dlq, n, 30*time.Second)
	ids := map[string]bool{}
	for _, dl := range got {
		id, _ := header(dl, "ce_id")
		ids[id] = true
		if _, ok := header(dl, "ce_knativeerrorcode"); ok {
			t.Errorf("dead letter %s has knativeerrorcode without a response", id)
		}
		if dest, _ := header(dl, "ce_knativeerrordest"); dest != url+"/" {
			t.Errorf("knativeerrordest = %q, want %q", dest, url+"/")
		}
	}
	if len(ids) != n {
		t.Errorf("dead letters cover %d distinct records, want %d", len(ids), n)
	}
	ends := k.endOffsets(topic)
	waitFor(t, 10*time.Second, "commits to reach the end", func() bool {
		c := k.committed(group, topic)
		for p, end := range ends {
			if c[p] != end {
				return false
			}
		}
		return true
	})
	_ = r
}

func TestRunnerOrderedKeepsPartitionOrder(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic := k.topic("runner-ordered", 3)
	var (
		mu      sync.Mutex
		active  = map[string]int{}
		overlap bool
	)
	s := newSink(t, func(n int, r *http.Request) (int, string) {
		p := r.Header.Get("Ce-Knativekafkapartition")
		mu.Lock()
		active[p]++
		if active[p] > 1 {
			overlap = true
		}
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		active[p]--
		mu.Unlock()
		if n%7 == 3 {
			return http.StatusServiceUnavailable, "" // a retry must not let later records overtake
		}
		return http.StatusNoContent, ""
	})
	startRunner(t, k, sourceYAML("score", topic, k.group("runner-ordered"), "ordered", dlqDelivery(3, "linear", "PT0.01S")), s.URL, "", nil)
	const n = 150
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 10)), Value: []byte(`{"sentence":"x"}`)})
	}
	k.produce(recs...)
	waitFor(t, 60*time.Second, "all deliveries", func() bool {
		delivered := map[string]bool{}
		for _, r := range s.requests() {
			delivered[r.header.Get("Ce-Id")] = true
		}
		return len(delivered) == n
	})
	last := map[string]int64{}
	for _, r := range s.requests() {
		p := r.header.Get("Ce-Knativekafkapartition")
		o, _ := strconv.ParseInt(r.header.Get("Ce-Knativekafkaoffset"), 10, 64)
		if prev, ok := last[p]; ok && o < prev {
			t.Errorf("partition %s: offset %d delivered after %d", p, o, prev)
		}
		last[p] = o
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two events of one partition were in flight at once")
	}
}

func TestRunnerUnorderedReachesInFlightBound(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic := k.topic("runner-unordered", 3)
	release := make(chan struct{})
	s := newSink(t, func(int, *http.Request) (int, string) {
		<-release
		return http.StatusNoContent, ""
	})
	startRunner(t, k, sourceYAML("score", topic, k.group("runner-unordered"), "unordered", ""), s.URL, "", nil)
	const n = 200
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	k.produce(recs...)
	waitFor(t, 30*time.Second, "50 requests in flight", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.inFlight >= 50
	})
	time.Sleep(200 * time.Millisecond) // give a 51st request the chance to show up
	s.mu.Lock()
	maxIn := s.maxIn
	s.mu.Unlock()
	close(release)
	if maxIn != 50 {
		t.Errorf("max in flight = %d, want 50", maxIn)
	}
	waitFor(t, 30*time.Second, "all deliveries", func() bool { return len(s.requests()) >= n })
}

func TestRunnerShutdownAbandonsInFlight(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic := k.topic("runner-stop", 1)
	group := k.group("runner-stop")
	block := make(chan struct{})
	defer close(block)
	s := newSink(t, func(n int, _ *http.Request) (int, string) {
		if n >= 3 {
			<-block
		}
		return http.StatusNoContent, ""
	})
	m, err := Parse(sourceYAML("score", topic, group, "ordered", ""))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Brokers: k.brokers, Sinks: map[string]string{"fn": s.URL}, CommitInterval: time.Hour}, m.Sources)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	k.produce(recs...)
	waitFor(t, 30*time.Second, "the 4th request to hang", func() bool { return len(s.requests()) >= 4 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel while a request hung")
	}
	if got := k.committed(group, topic)[0]; got != 3 {
		t.Errorf("committed offset after shutdown = %d, want 3 (the delivered prefix, not the abandoned event)", got)
	}
}

// TestRunnerDeadLetterReplayKeepsKey dead-letters a plain record, replays it with [Restore], and
// checks that the runner forwards the replayed event with the original's identity, so the
// functions give it the same idempotency key.
func TestRunnerDeadLetterReplayKeepsKey(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic, dlq := k.topic("runner-replay", 1), k.topic("runner-replay-dlq", 1)
	s := newSink(t, func(n int, _ *http.Request) (int, string) {
		if n == 0 {
			return http.StatusUnprocessableEntity, `{"error":"not yet"}`
		}
		return http.StatusNoContent, ""
	})
	startRunner(t, k, sourceYAML("score", topic, k.group("runner-replay"), "unordered", dlqDelivery(0, "linear", "PT0.01S")), s.URL, dlq, nil)
	k.produce(&kgo.Record{Topic: topic, Key: []byte("k1"), Value: []byte(`{"sentence":"replay me"}`)})

	dl := ReadDeadLetter(k.consume(dlq, 1, 20*time.Second)[0])
	if dl.Code != http.StatusUnprocessableEntity || string(dl.Reason) != `{"error":"not yet"}` {
		t.Fatalf("dead letter code %d reason %q", dl.Code, dl.Reason)
	}
	k.produce(Restore(dl, topic))
	waitFor(t, 20*time.Second, "the replayed delivery", func() bool { return len(s.requests()) >= 2 })
	got := s.requests()
	first, again := decode(t, got[0]), decode(t, got[1])
	if first.Key != again.Key || first.Key != "kafka:"+topic+"/0/0" {
		t.Errorf("replayed key %q, first key %q, want both kafka:%s/0/0", again.Key, first.Key, topic)
	}
	if o := got[1].header.Get("Ce-Knativekafkaoffset"); o != "1" {
		t.Errorf("replayed event knativekafkaoffset = %q, want its new offset 1", o)
	}
}

// TestRunnerDeadLetterTopicMissing checks that a dead letter that cannot be written is neither
// committed nor lost: once the topic exists, it is written and the offset committed.
func TestRunnerDeadLetterTopicMissing(t *testing.T) {
	t.Parallel()
	k := newKafka(t)
	topic := k.topic("runner-nodlq", 1)
	dlq := uniqueName("runner-nodlq-dlq") // not created yet (auto-create is off)
	t.Cleanup(func() { _, _ = k.adm.DeleteTopics(context.Background(), dlq) })
	s := newSink(t, func(int, *http.Request) (int, string) { return http.StatusBadRequest, "no" })
	group := k.group("runner-nodlq")
	startRunner(t, k, sourceYAML("score", topic, group, "unordered", dlqDelivery(0, "linear", "PT0.01S")), s.URL, dlq, nil)
	k.produce(&kgo.Record{Topic: topic, Value: []byte(`{}`)})
	waitFor(t, 20*time.Second, "the delivery", func() bool { return len(s.requests()) == 1 })
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c := k.committed(group, topic)[0]; c != 0 {
			t.Fatalf("offset committed (%d) while its dead letter could not be written", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := k.adm.CreateTopic(context.Background(), 1, 1, nil, dlq); err != nil {
		t.Fatal(err)
	}
	k.consume(dlq, 1, 60*time.Second)
	waitFor(t, 10*time.Second, "the commit", func() bool { return k.committed(group, topic)[0] == 1 })
}
