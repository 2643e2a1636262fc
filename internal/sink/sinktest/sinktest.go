// Package sinktest builds the requests that reach a function, in each form the platforms send, for
// the tests of the sink runtime, of both functions and of the system.
package sinktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/sink"
)

// CreatedAt is the created_at of every record [Data] makes, zone-less as the seed's producer
// writes it.
const CreatedAt = "2025-04-14T08:00:00.123456"

// Request is one HTTP request to send, and the key its event is stored under.
type Request struct {
	Name     string
	Header   map[string]string
	Body     string
	Key      string // "" for a batch and for bare JSON (a hash)
	Sentence string
}

// Data is the JSON of a seed record holding sentence.
func Data(sentence string) string {
	b, _ := json.Marshal(map[string]string{"sentence": sentence, "created_at": CreatedAt})
	return string(b)
}

// BinaryCE is a producer's CloudEvent in binary mode, as KafkaSource forwards it.
func BinaryCE(id, sentence string) Request {
	return Request{
		Name: "forwarded producer binary CloudEvent",
		Header: map[string]string{"Ce-Specversion": "1.0", "Ce-Id": id, "Ce-Source": "urn:sentistream:test",
			"Ce-Type": "dev.sentistream.sentence.v1", "Content-Type": "application/json",
			"Ce-Knativekafkapartition": "0", "Ce-Knativekafkaoffset": "42", "Prefer": "reply"},
		Body: Data(sentence), Key: "ce:urn:sentistream:test#" + id, Sentence: sentence,
	}
}

// Wrapped is a plain Kafka record of topic sentence wrapped by KafkaSource, with body as its value.
func Wrapped(partition, offset int, body string) Request {
	return Request{
		Name: "KafkaSource-wrapped record",
		Header: map[string]string{"Ce-Specversion": "1.0", "Ce-Id": fmt.Sprintf("partition:%d/offset:%d", partition, offset),
			"Ce-Source": "/apis/v1/namespaces/sentistream/kafkasources/sentistream-score#sentence",
			"Ce-Type":   "dev.knative.kafka.event", "Ce-Subject": fmt.Sprintf("partition:%d#%d", partition, offset),
			"Ce-Time": "2025-04-14T08:00:01Z", "Ce-Knativekafkapartition": fmt.Sprint(partition),
			"Ce-Knativekafkaoffset": fmt.Sprint(offset), "Prefer": "reply", "Kn-Namespace": "sentistream"},
		Body: body, Key: fmt.Sprintf("kafka:sentence/%d/%d", partition, offset),
	}
}

// WrappedSentence is [Wrapped] with a seed record holding sentence.
func WrappedSentence(partition, offset int, sentence string) Request {
	r := Wrapped(partition, offset, Data(sentence))
	r.Sentence = sentence
	return r
}

// Structured is a structured-mode CloudEvent from a direct client.
func Structured(id, sentence string) Request {
	body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"https://client.example/app","type":"t",`+
		`"datacontenttype":"application/json","data":%s}`, id, Data(sentence))
	return Request{Name: "structured CloudEvent", Header: map[string]string{"Content-Type": "application/cloudevents+json"},
		Body: body, Key: "ce:https://client.example/app#" + id, Sentence: sentence}
}

// OpenFaaS is a record as OpenFaaS's kafka-connector posts it.
func OpenFaaS(offset int, sentence string) Request {
	return Request{Name: "OpenFaaS kafka-connector",
		Header: map[string]string{"Content-Type": "text/plain", "X-Topic": "sentence", "X-Kafka-Partition": "1",
			"X-Kafka-Offset": fmt.Sprint(offset), "X-Kafka-Key": "k"},
		Body: Data(sentence), Key: fmt.Sprintf("kafka:sentence/1/%d", offset), Sentence: sentence}
}

// Bare is a curl POST; its key is a hash of created_at and the sentence.
func Bare(sentence string) Request {
	return Request{Name: "bare JSON", Header: map[string]string{"Content-Type": "application/json"},
		Body: Data(sentence), Sentence: sentence}
}

// JSON is a bare POST of body as application/json.
func JSON(body string) Request {
	return Request{Name: "JSON", Header: map[string]string{"Content-Type": "application/json"}, Body: body}
}

// BatchOf is a CloudEvents batch of structured events (given as their JSON).
func BatchOf(events ...string) Request {
	return Request{Name: "batch", Header: map[string]string{"Content-Type": "application/cloudevents-batch+json"},
		Body: "[" + strings.Join(events, ",") + "]"}
}

// CEJSON is a structured CloudEvent of source urn:batch with id and dataJSON, for [BatchOf]; its
// key is "ce:urn:batch#" + id.
func CEJSON(id, dataJSON string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"urn:batch","type":"t","datacontenttype":"application/json","data":%s}`, id, dataJSON)
}

// HTTPRequest returns r as a request to url.
func (r Request) HTTPRequest(url string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(r.Body))
	if err != nil {
		panic(err) // a bad URL in a test; NewRequest cannot fail otherwise
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	return req
}

// Send posts r to url and returns the status, the trimmed body and the headers; status 0 when the
// request failed (reported with Errorf, so Send may run in any goroutine).
func Send(tb testing.TB, c *http.Client, url string, r Request) (int, string, http.Header) {
	tb.Helper()
	resp, err := c.Do(r.HTTPRequest(url))
	if err != nil {
		tb.Errorf("POST %s: %v", r.Name, err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Errorf("read the answer to %s: %v", r.Name, err)
	}
	return resp.StatusCode, string(bytes.TrimSpace(b)), resp.Header
}

// Outcomes returns sentistream_events_total on reg by outcome, leaving out zeros.
func Outcomes(tb testing.TB, reg prometheus.Gatherer) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
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

// Kind names how the sink reads a writer's result: stored, duplicate, misconfigured, refused,
// unavailable or other (a 500).
func Kind(err error) string {
	switch {
	case err == nil:
		return "stored"
	case errors.Is(err, sink.ErrDuplicate):
		return "duplicate"
	}
	if _, ok := errors.AsType[*env.MisconfigError](err); ok {
		return "misconfigured"
	}
	if _, ok := errors.AsType[*sink.RefusedError](err); ok {
		return "refused"
	}
	if _, ok := errors.AsType[*sink.UnavailableError](err); ok {
		return "unavailable"
	}
	return "other"
}
