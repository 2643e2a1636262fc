package score

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

// discard is the tests' logger.
var discard = slog.New(slog.DiscardHandler)

// analyzer is shared by the tests, as one is shared by a process.
var analyzer = sentiment.New()

// newServer returns a serve.Server running h's handler on a real listener, and h.
func newServer(t testing.TB, cfg Config, s Saver) (*httptest.Server, *Handler) {
	t.Helper()
	h := NewHandler(cfg, event.NewDecoder(event.Config{}), analyzer, s, nil)
	srv := serve.New(serve.Config{}, discard, nil, nil)
	srv.Handle("POST /", serve.Adapt(discard, h.ServeEvent))
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); h.Close() })
	return ts, h
}

// request is one HTTP request to send, and the key its event is stored under.
type request struct {
	name     string
	header   map[string]string
	body     string
	key      string // "" for a batch
	sentence string
}

func data(sentence string) string {
	b, _ := json.Marshal(map[string]string{"sentence": sentence, "created_at": "2025-04-14T08:00:00.123456"})
	return string(b)
}

// binaryCE is a producer's CloudEvent in binary mode, as KafkaSource forwards it.
func binaryCE(id, sentence string) request {
	return request{
		name: "forwarded producer binary CloudEvent",
		header: map[string]string{"Ce-Specversion": "1.0", "Ce-Id": id, "Ce-Source": "urn:sentistream:test",
			"Ce-Type": "dev.sentistream.sentence.v1", "Content-Type": "application/json",
			"Ce-Knativekafkapartition": "0", "Ce-Knativekafkaoffset": "42", "Prefer": "reply"},
		body: data(sentence), key: "ce:urn:sentistream:test#" + id, sentence: sentence,
	}
}

// wrapped is a plain Kafka record wrapped by KafkaSource.
func wrapped(partition, offset int, sentence string) request {
	return request{
		name: "KafkaSource-wrapped record",
		header: map[string]string{"Ce-Specversion": "1.0", "Ce-Id": fmt.Sprintf("partition:%d/offset:%d", partition, offset),
			"Ce-Source": "/apis/v1/namespaces/sentistream/kafkasources/sentistream-score#sentence",
			"Ce-Type":   "dev.knative.kafka.event", "Ce-Subject": fmt.Sprintf("partition:%d#%d", partition, offset),
			"Ce-Time": "2025-04-14T08:00:01Z", "Ce-Knativekafkapartition": fmt.Sprint(partition),
			"Ce-Knativekafkaoffset": fmt.Sprint(offset), "Prefer": "reply", "Kn-Namespace": "sentistream"},
		body: data(sentence), key: fmt.Sprintf("kafka:sentence/%d/%d", partition, offset), sentence: sentence,
	}
}

func structured(id, sentence string) request {
	body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"https://client.example/app","type":"t",`+
		`"datacontenttype":"application/json","data":%s}`, id, data(sentence))
	return request{name: "structured CloudEvent", header: map[string]string{"Content-Type": "application/cloudevents+json"},
		body: body, key: "ce:https://client.example/app#" + id, sentence: sentence}
}

func openfaas(offset int, sentence string) request {
	return request{name: "OpenFaaS kafka-connector",
		header: map[string]string{"Content-Type": "text/plain", "X-Topic": "sentence", "X-Kafka-Partition": "1",
			"X-Kafka-Offset": fmt.Sprint(offset), "X-Kafka-Key": "k"},
		body: data(sentence), key: fmt.Sprintf("kafka:sentence/1/%d", offset), sentence: sentence}
}

// bare is a curl POST; its key is a hash of created_at and the sentence.
func bare(sentence string) request {
	return request{name: "bare JSON", header: map[string]string{"Content-Type": "application/json"},
		body: data(sentence), sentence: sentence}
}

// batchOf is a CloudEvents batch of structured events (given as their JSON).
func batchOf(events ...string) request {
	return request{name: "batch", header: map[string]string{"Content-Type": "application/cloudevents-batch+json"},
		body: "[" + strings.Join(events, ",") + "]"}
}

func ceJSON(id, dataJSON string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"urn:batch","type":"t","datacontenttype":"application/json","data":%s}`, id, dataJSON)
}

func (r request) httpRequest(tb testing.TB, url string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(r.body))
	if err != nil {
		panic(err) // a bad URL in a test; NewRequest cannot fail otherwise
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	return req
}

// send posts r to url and returns the status and body; status 0 when the request failed (reported
// with Errorf, so send may run in any goroutine).
func send(tb testing.TB, c *http.Client, url string, r request) (int, string, http.Header) {
	tb.Helper()
	resp, err := c.Do(r.httpRequest(tb, url))
	if err != nil {
		tb.Errorf("POST %s: %v", r.name, err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(bytes.TrimSpace(b)), resp.Header
}
