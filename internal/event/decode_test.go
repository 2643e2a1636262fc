package event

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// receipt is the fixed receipt time of testDecoder.
var receipt = time.Date(2026, 1, 2, 3, 4, 5, 678000000, time.UTC)

func testDecoder() *Decoder {
	return NewDecoder(Config{MaxSentenceChars: 20, Now: func() time.Time { return receipt }})
}

// Header sets for the table and the fuzzer; a case picks one and may override headers.
const (
	bare        = iota // no delivery headers: curl
	scoreSource        // KafkaSource "sentistream-score" wrapping a plain record
	indexSource        // KafkaSource "sentistream-index" wrapping the same record
	forwarded          // KafkaSource forwarding a producer's binary CloudEvent
	openFaaS           // kafka-connector
	numHeaderSets
)

const (
	scoreSrc    = "/apis/v1/namespaces/sentistream/kafkasources/sentistream-score#sentence"
	indexSrc    = "/apis/v1/namespaces/sentistream/kafkasources/sentistream-index#sentence"
	producerSrc = "urn:sentistream:producer"
	producerID  = "0b9c4f3e-7a52-4a8e-9d8f-4f6c2b1d9e01"
	wrappedID   = "partition:2/offset:1234"
	seedBody    = `{"sentence": "This is great!", "created_at": "2025-04-14T08:00:00.123456"}`
)

func wrappedHeaders(source string) map[string]string {
	return map[string]string{
		"Ce-Specversion":           "1.0",
		"Ce-Id":                    wrappedID,
		"Ce-Source":                source,
		"Ce-Type":                  "dev.knative.kafka.event",
		"Ce-Subject":               "partition:2#1234",
		"Ce-Time":                  "2025-04-14T08:00:01.5Z",
		"Ce-Knativekafkapartition": "2",
		"Ce-Knativekafkaoffset":    "1234",
		"Prefer":                   "reply",
		"Kn-Namespace":             "sentistream",
	}
}

var headerSets = [numHeaderSets]map[string]string{
	bare:        {},
	scoreSource: wrappedHeaders(scoreSrc),
	indexSource: wrappedHeaders(indexSrc),
	forwarded: {
		"Ce-Specversion":           "1.0",
		"Ce-Id":                    producerID,
		"Ce-Source":                producerSrc,
		"Ce-Type":                  "dev.sentistream.sentence.v1",
		"Ce-Time":                  "2025-04-14T08:00:00.5Z",
		"Ce-Knativekafkapartition": "0",
		"Ce-Knativekafkaoffset":    "42",
	},
	openFaaS: {
		"X-Topic":           "sentence",
		"X-Kafka-Partition": "2",
		"X-Kafka-Offset":    "1234",
		"X-Kafka-Key":       "sentence-1",
	},
}

// newRequest builds a POST with header set sel, then hdr applied (an empty value deletes),
// then Content-Type ct if not empty.
func newRequest(sel int, ct string, hdr map[string]string, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	for k, v := range headerSets[sel] {
		r.Header.Set(k, v)
	}
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

// hashOf spells out the bare-POST key form.
func hashOf(createdAt, sentence string) string {
	sum := sha256.Sum256([]byte(createdAt + "\n" + sentence))
	return "sha256:" + hex.EncodeToString(sum[:])
}

var (
	seedTime    = time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC)
	wrappedProv = Provenance{EventID: wrappedID, EventSource: scoreSrc, Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true}
	openFaaSKey = "kafka:sentence/2/1234"
	producerKey = "ce:" + producerSrc + "#" + producerID
)

type decodeCase struct {
	name string
	sel  int
	ct   string
	hdr  map[string]string
	body string
	max  int // Config.MaxSentenceChars; 0 means testDecoder's 20

	want       Record
	wantStatus int // non-zero: Decode fails with this status
	wantField  string
}

var decodeCases = []decodeCase{
	// Bare JSON POSTs.
	{
		name: "bare seed format zoneless",
		ct:   "application/json",
		body: seedBody,
		want: Record{
			Key:       "sha256:eeed780c5dbcf90105e8b68795ec63b7067b4134c30cef73dc5dc1d31dd12aa1",
			Sentence:  "This is great!",
			CreatedAt: seedTime,
		},
	},
	{
		name: "bare no content type zone offset",
		body: `{"sentence": "Nice.", "created_at": "2025-04-14T10:00:00+02:00"}`,
		want: Record{
			Key:       hashOf("2025-04-14T08:00:00Z", "Nice."),
			Sentence:  "Nice.",
			CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC),
		},
	},
	{
		name: "bare text/plain space separated fraction",
		ct:   "text/plain; charset=utf-8",
		body: `{"sentence": "Nice.", "created_at": "2025-04-14 08:00:00.5", "user": {"id": 7}}`,
		want: Record{
			Key:       hashOf("2025-04-14T08:00:00.5Z", "Nice."),
			Sentence:  "Nice.",
			CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 500000000, time.UTC),
		},
	},
	{
		name: "bare space separated with zone",
		ct:   "application/json",
		body: `{"sentence": "Nice.", "created_at": "2025-04-14 08:00:00Z"}`,
		want: Record{
			Key:       hashOf("2025-04-14T08:00:00Z", "Nice."),
			Sentence:  "Nice.",
			CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC),
		},
	},
	{
		name: "bare created_at missing uses receipt time",
		ct:   "application/json",
		body: `{"sentence": "Nice."}`,
		want: Record{Key: hashOf("2026-01-02T03:04:05.678Z", "Nice."), Sentence: "Nice.", CreatedAt: receipt},
	},
	{
		name: "bare created_at null uses receipt time",
		ct:   "application/vnd.sentistream+json",
		body: `{"sentence": "Nice.", "created_at": null}`,
		want: Record{Key: hashOf("2026-01-02T03:04:05.678Z", "Nice."), Sentence: "Nice.", CreatedAt: receipt},
	},
	{
		name: "bare surrogate pair escape and multibyte at the limit",
		ct:   "application/json",
		body: `{"sentence": "h\u00e9llo \ud83d\ude00 w\u00f6rld ééé", "created_at": "2025-04-14T08:00:00Z"}`,
		want: Record{
			Key:       hashOf("2025-04-14T08:00:00Z", "héllo 😀 wörld ééé"),
			Sentence:  "héllo 😀 wörld ééé",
			CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC),
		},
	},
	{
		name: "bare structured CloudEvent with a plain content type",
		ct:   "application/json",
		body: `{"specversion":"1.0","id":"42","source":"urn:sentistream:producer","type":"t","data":{"sentence":"Nice."}}`,
		want: Record{
			Key:        "ce:urn:sentistream:producer#42",
			Sentence:   "Nice.",
			CreatedAt:  receipt,
			Provenance: Provenance{EventID: "42", EventSource: producerSrc},
		},
	},

	// KafkaSource wrapping a plain record (binary mode).
	{
		name: "wrapped no content type",
		sel:  scoreSource,
		body: seedBody,
		want: Record{Key: openFaaSKey, Sentence: "This is great!", CreatedAt: seedTime, Provenance: wrappedProv},
	},
	{
		name: "wrapped text/plain",
		sel:  scoreSource,
		ct:   "text/plain",
		body: seedBody,
		want: Record{Key: openFaaSKey, Sentence: "This is great!", CreatedAt: seedTime, Provenance: wrappedProv},
	},
	{
		name: "wrapped created_at missing uses event time",
		sel:  scoreSource,
		ct:   "application/json",
		body: `{"sentence": "This is great!"}`,
		want: Record{
			Key:        openFaaSKey,
			Sentence:   "This is great!",
			CreatedAt:  time.Date(2025, 4, 14, 8, 0, 1, 500000000, time.UTC),
			Provenance: wrappedProv,
		},
	},
	{
		name: "wrapped without kafka extensions takes offset from id",
		sel:  scoreSource,
		hdr:  map[string]string{"Ce-Knativekafkapartition": "", "Ce-Knativekafkaoffset": ""},
		body: seedBody,
		want: Record{Key: openFaaSKey, Sentence: "This is great!", CreatedAt: seedTime, Provenance: wrappedProv},
	},
	{
		name: "wrapped offsets with leading zeros are canonical in the key",
		sel:  scoreSource,
		hdr:  map[string]string{"Ce-Id": "partition:02/offset:001234"},
		body: seedBody,
		want: Record{
			Key: openFaaSKey, Sentence: "This is great!", CreatedAt: seedTime,
			Provenance: Provenance{EventID: "partition:02/offset:001234", EventSource: scoreSrc, Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true},
		},
	},

	// KafkaSource forwarding a producer CloudEvent.
	{
		name: "forwarded producer event",
		sel:  forwarded,
		ct:   "application/json",
		body: `{"sentence": "This is great!", "created_at": "2025-04-14T08:00:00.123456Z"}`,
		want: Record{
			Key: producerKey, Sentence: "This is great!", CreatedAt: seedTime,
			Provenance: Provenance{EventID: producerID, EventSource: producerSrc, Partition: 0, Offset: 42, HasOffset: true},
		},
	},
	{
		name: "forwarded event without kafka extensions",
		sel:  forwarded,
		hdr:  map[string]string{"Ce-Knativekafkapartition": "", "Ce-Knativekafkaoffset": ""},
		body: `{"sentence": "This is great!"}`,
		want: Record{
			Key: producerKey, Sentence: "This is great!", CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 500000000, time.UTC),
			Provenance: Provenance{EventID: producerID, EventSource: producerSrc},
		},
	},
	{
		name: "forwarded source with # and % is escaped",
		sel:  forwarded,
		hdr:  map[string]string{"Ce-Source": "https://p.example/a%20b#frag", "Ce-Id": "x#1"},
		body: `{"sentence": "Nice."}`,
		want: Record{
			Key: "ce:https://p.example/a%2520b%23frag#x#1", Sentence: "Nice.", CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 500000000, time.UTC),
			Provenance: Provenance{EventID: "x#1", EventSource: "https://p.example/a%20b#frag", Partition: 0, Offset: 42, HasOffset: true},
		},
	},
	{
		name: "binary spec version 0.3",
		sel:  forwarded,
		hdr:  map[string]string{"Ce-Specversion": "0.3"},
		body: `{"sentence": "Nice."}`,
		want: Record{
			Key: producerKey, Sentence: "Nice.", CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 500000000, time.UTC),
			Provenance: Provenance{EventID: producerID, EventSource: producerSrc, Partition: 0, Offset: 42, HasOffset: true},
		},
	},

	// Structured mode.
	{
		name: "structured",
		ct:   "application/cloudevents+json",
		body: `{"specversion":"1.0","id":"s-1","source":"https://client.example/app","type":"t","time":"2025-04-14T08:00:00Z",
			"datacontenttype":"application/json","data":{"sentence":"Nice.","created_at":"2025-04-14T09:00:00"}}`,
		want: Record{
			Key: "ce:https://client.example/app#s-1", Sentence: "Nice.", CreatedAt: time.Date(2025, 4, 14, 9, 0, 0, 0, time.UTC),
			Provenance: Provenance{EventID: "s-1", EventSource: "https://client.example/app"},
		},
	},
	{
		name: "structured text/plain data holding JSON",
		ct:   "application/cloudevents+json; charset=utf-8",
		body: `{"specversion":"1.0","id":"s-2","source":"/app","type":"t","datacontenttype":"text/plain",
			"data":"{\"sentence\":\"Nice.\"}"}`,
		want: Record{
			Key: "ce:/app#s-2", Sentence: "Nice.", CreatedAt: receipt,
			Provenance: Provenance{EventID: "s-2", EventSource: "/app"},
		},
	},
	{
		name: "structured data_base64",
		ct:   "application/cloudevents+json",
		body: `{"specversion":"1.0","id":"s-3","source":"/app","type":"t","time":"2025-04-14T08:00:00Z",
			"data_base64":"eyJzZW50ZW5jZSI6Ik5pY2UuIn0="}`,
		want: Record{
			Key: "ce:/app#s-3", Sentence: "Nice.", CreatedAt: time.Date(2025, 4, 14, 8, 0, 0, 0, time.UTC),
			Provenance: Provenance{EventID: "s-3", EventSource: "/app"},
		},
	},
	{
		name: "structured wrapped record from KafkaSource",
		ct:   "application/cloudevents+json",
		body: `{"specversion":"1.0","id":"partition:2/offset:1234","source":"` + indexSrc + `","type":"dev.knative.kafka.event",
			"knativekafkapartition":"2","knativekafkaoffset":"1234","data":` + seedBody + `}`,
		want: Record{
			Key: openFaaSKey, Sentence: "This is great!", CreatedAt: seedTime,
			Provenance: Provenance{EventID: wrappedID, EventSource: indexSrc, Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true},
		},
	},

	// OpenFaaS kafka-connector.
	{
		name: "openfaas text/plain",
		sel:  openFaaS,
		ct:   "text/plain",
		body: seedBody,
		want: Record{
			Key: openFaaSKey, Sentence: "This is great!", CreatedAt: seedTime,
			Provenance: Provenance{Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true},
		},
	},
	{
		name: "openfaas structured CloudEvent record",
		sel:  openFaaS,
		ct:   "text/plain",
		body: `{"specversion":"1.0","id":"42","source":"urn:sentistream:producer","type":"t","data":` + seedBody + `}`,
		want: Record{
			Key: openFaaSKey, Sentence: "This is great!", CreatedAt: seedTime,
			Provenance: Provenance{EventID: "42", EventSource: producerSrc, Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true},
		},
	},

	// Rejections of the data.
	{name: "not JSON", ct: "application/json", body: `This is great!`, wantStatus: 400},
	{name: "empty body", wantStatus: 400},
	{name: "truncated JSON", sel: scoreSource, body: `{"sentence": "Nice.`, wantStatus: 400},
	{name: "JSON array", ct: "application/json", body: `["Nice."]`, wantStatus: 422},
	{name: "JSON string", sel: forwarded, body: `"Nice."`, wantStatus: 422},
	{name: "sentence missing", body: `{"text": "Nice."}`, wantStatus: 422, wantField: "sentence"},
	{name: "sentence null", body: `{"sentence": null}`, wantStatus: 422, wantField: "sentence"},
	{name: "sentence empty", body: `{"sentence": ""}`, wantStatus: 422, wantField: "sentence"},
	{name: "sentence whitespace", sel: openFaaS, body: `{"sentence": " \t\n\u00a0"}`, wantStatus: 422, wantField: "sentence"},
	{name: "sentence number", body: `{"sentence": 42}`, wantStatus: 422, wantField: "sentence"},
	{name: "sentence object", sel: scoreSource, body: `{"sentence": {"text": "x"}}`, wantStatus: 422, wantField: "sentence"},
	{name: "sentence invalid UTF-8", body: "{\"sentence\": \"bad \xff byte\"}", wantStatus: 400, wantField: "sentence"},
	{name: "sentence truncated UTF-8", sel: scoreSource, body: "{\"sentence\": \"caf\xc3\"}", wantStatus: 400, wantField: "sentence"},
	{name: "sentence lone high surrogate", body: `{"sentence": "a\ud800b"}`, wantStatus: 400, wantField: "sentence"},
	{name: "sentence lone low surrogate", body: `{"sentence": "a\udc00b"}`, wantStatus: 400, wantField: "sentence"},
	{name: "sentence high surrogate then letter", body: `{"sentence": "\ud800\u0041"}`, wantStatus: 400, wantField: "sentence"},
	{name: "sentence high surrogate at end", body: `{"sentence": "a\ud83d"}`, wantStatus: 400, wantField: "sentence"},
	{name: "sentence NUL", body: `{"sentence": "a\u0000b"}`, wantStatus: 400, wantField: "sentence"},
	{name: "sentence too long", body: `{"sentence": "123456789012345678901"}`, wantStatus: 413, wantField: "sentence"},
	{name: "sentence too long in runes", max: 5, body: `{"sentence": "héllo!"}`, wantStatus: 413, wantField: "sentence"},
	{name: "created_at number", body: `{"sentence": "Nice.", "created_at": 1744617600}`, wantStatus: 422, wantField: "created_at"},
	{name: "created_at bool", sel: forwarded, body: `{"sentence": "Nice.", "created_at": true}`, wantStatus: 422, wantField: "created_at"},
	{name: "created_at unparseable", body: `{"sentence": "Nice.", "created_at": "yesterday"}`, wantStatus: 422, wantField: "created_at"},
	{name: "created_at empty", body: `{"sentence": "Nice.", "created_at": ""}`, wantStatus: 422, wantField: "created_at"},
	{name: "created_at impossible date", body: `{"sentence": "Nice.", "created_at": "2025-02-30T08:00:00"}`, wantStatus: 422, wantField: "created_at"},
	{name: "created_at zero time", body: `{"sentence": "Nice.", "created_at": "0001-01-01T00:00:00Z"}`, wantStatus: 422, wantField: "created_at"},

	// Rejections of the content type.
	{name: "bare xml", ct: "application/xml", body: `<sentence>Nice.</sentence>`, wantStatus: 415, wantField: "Content-Type"},
	{name: "openfaas octet-stream", sel: openFaaS, ct: "application/octet-stream", body: seedBody, wantStatus: 415, wantField: "Content-Type"},
	{name: "unknown event format", ct: "application/cloudevents+xml", body: `<event/>`, wantStatus: 415, wantField: "Content-Type"},
	{name: "wrapped octet-stream", sel: scoreSource, ct: "application/octet-stream", body: seedBody, wantStatus: 415, wantField: "datacontenttype"},
	{name: "forwarded xml", sel: forwarded, ct: "application/xml", body: `<s/>`, wantStatus: 415, wantField: "datacontenttype"},
	{
		name:       "structured xml data",
		ct:         "application/cloudevents+json",
		body:       `{"specversion":"1.0","id":"1","source":"/app","type":"t","datacontenttype":"application/xml","data":"<s/>"}`,
		wantStatus: 415, wantField: "datacontenttype",
	},

	// Rejections of the CloudEvent.
	{name: "binary missing id", sel: forwarded, hdr: map[string]string{"Ce-Id": ""}, body: seedBody, wantStatus: 400, wantField: "id"},
	{name: "binary missing type", sel: scoreSource, hdr: map[string]string{"Ce-Type": ""}, body: seedBody, wantStatus: 400, wantField: "type"},
	{name: "binary bad time", sel: forwarded, hdr: map[string]string{"Ce-Time": "tomorrow"}, body: seedBody, wantStatus: 400},
	{name: "binary unknown spec version", sel: forwarded, hdr: map[string]string{"Ce-Specversion": "9.9"}, body: seedBody, wantStatus: 400, wantField: "specversion"},
	{name: "binary id with control character", sel: forwarded, hdr: map[string]string{"Ce-Id": "a\x01b"}, body: seedBody, wantStatus: 400, wantField: "id"},
	{name: "binary key too long", sel: forwarded, hdr: map[string]string{"Ce-Id": strings.Repeat("x", 500)}, body: seedBody, wantStatus: 400, wantField: "id"},
	{name: "binary header Ce- naming nothing", sel: forwarded, hdr: map[string]string{"Ce-": "x"}, body: seedBody, wantStatus: 400, wantField: "Ce-"},
	{name: "structured not JSON", ct: "application/cloudevents+json", body: `{"specversion":`, wantStatus: 400},
	{name: "structured missing source", ct: "application/cloudevents+json", body: `{"specversion":"1.0","id":"1","type":"t","data":{"sentence":"x"}}`, wantStatus: 400, wantField: "source"},
	{name: "structured missing sentence", ct: "application/cloudevents+json", body: `{"specversion":"1.0","id":"1","source":"/a","type":"t","data":{}}`, wantStatus: 422, wantField: "sentence"},
	{name: "structured data_base64 not a string", ct: "application/cloudevents+json", body: `{"data_base64":1,"specversion":"1.0"}`, wantStatus: 400, wantField: "data_base64"},
	{name: "structured 0.3 base64 data not a string", ct: "application/cloudevents+json", body: `{"data":1,"datacontentencoding":"base64","specversion":"0.3"}`, wantStatus: 400, wantField: "data"},
	{name: "bare CloudEvent data_base64 not a string", body: `{"data_base64":2,"specversion":"1.0"}`, wantStatus: 400, wantField: "data_base64"},
	{name: "wrapped id not KafkaSource form", sel: scoreSource, hdr: map[string]string{"Ce-Id": "offset:5"}, body: seedBody, wantStatus: 400, wantField: "id"},
	{name: "wrapped negative offset", sel: scoreSource, hdr: map[string]string{"Ce-Id": "partition:2/offset:-5"}, body: seedBody, wantStatus: 400, wantField: "id"},
	{name: "wrapped source without topic", sel: scoreSource, hdr: map[string]string{"Ce-Source": "/apis/v1/namespaces/ns/kafkasources/score"}, body: seedBody, wantStatus: 400, wantField: "source"},
	{name: "wrapped source with illegal topic", sel: scoreSource, hdr: map[string]string{"Ce-Source": "/kafkasources/score#a/b"}, body: seedBody, wantStatus: 400, wantField: "source"},

	// Rejections of kafka-connector headers.
	{name: "openfaas missing topic", sel: openFaaS, hdr: map[string]string{"X-Topic": ""}, body: seedBody, wantStatus: 400, wantField: "X-Topic"},
	{name: "openfaas bad partition", sel: openFaaS, hdr: map[string]string{"X-Kafka-Partition": "two"}, body: seedBody, wantStatus: 400, wantField: "X-Kafka-Partition"},
	{name: "openfaas partition overflow", sel: openFaaS, hdr: map[string]string{"X-Kafka-Partition": "2147483648"}, body: seedBody, wantStatus: 400, wantField: "X-Kafka-Partition"},
	{name: "openfaas negative offset", sel: openFaaS, hdr: map[string]string{"X-Kafka-Offset": "-1"}, body: seedBody, wantStatus: 400, wantField: "X-Kafka-Offset"},
	{name: "openfaas missing offset", sel: openFaaS, hdr: map[string]string{"X-Kafka-Offset": ""}, body: seedBody, wantStatus: 400, wantField: "X-Kafka-Offset"},

	// Rejections of a batch as a whole.
	{name: "batch not an array", ct: "application/cloudevents-batch+json", body: `{"specversion":"1.0"}`, wantStatus: 400},
	{name: "batch empty", ct: "application/cloudevents-batch+json", body: `[]`, wantStatus: 400},
	{name: "batch trailing garbage", ct: "application/cloudevents-batch+json", body: `[] x`, wantStatus: 400},
}

func TestDecode(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			d := testDecoder()
			if tt.max != 0 {
				d = NewDecoder(Config{MaxSentenceChars: tt.max, Now: func() time.Time { return receipt }})
			}
			items, err := d.Decode(newRequest(tt.sel, tt.ct, tt.hdr, tt.body))
			if tt.wantStatus != 0 {
				checkError(t, err, tt.wantStatus, tt.wantField)
				if items != nil {
					t.Errorf("Decode(%q) items = %v, want none", tt.body, items)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q) = %v, want success", tt.body, err)
			}
			if diff := cmp.Diff([]Item{{Record: tt.want}}, items); diff != "" {
				t.Errorf("Decode(%q) mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

// checkError fails t unless err is an *Error with status and field that matches ErrMalformed.
func checkError(t *testing.T, err error, status int, field string) {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error = %v (%T), want *Error with status %d", err, err, status)
	}
	if e.Status != status || e.Field != field {
		t.Errorf("error = %+v, want status %d field %q", e, status, field)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("errors.Is(%v, ErrMalformed) = false, want true", err)
	}
	if e.Reason == "" {
		t.Errorf("error %+v has no reason", e)
	}
}

func TestDecodeSameRecordSameKey(t *testing.T) {
	d := testDecoder()
	keyOf := func(r *http.Request) string {
		t.Helper()
		items, err := d.Decode(r)
		if err != nil {
			t.Fatalf("Decode = %v, want success", err)
		}
		return items[0].Record.Key
	}
	score := keyOf(newRequest(scoreSource, "", nil, seedBody))
	index := keyOf(newRequest(indexSource, "", nil, seedBody))
	faas := keyOf(newRequest(openFaaS, "text/plain", nil, seedBody))
	if score != index || score != faas {
		t.Errorf("keys differ: score source %q, index source %q, OpenFaaS %q", score, index, faas)
	}
	if want := "kafka:sentence/2/1234"; score != want {
		t.Errorf("key = %q, want %q", score, want)
	}
	if strings.Contains(score, "sentistream-score") {
		t.Errorf("key %q names the KafkaSource", score)
	}
	// The next record of the partition is another key.
	next := keyOf(newRequest(scoreSource, "", map[string]string{"Ce-Id": "partition:2/offset:1235"}, seedBody))
	if next == score {
		t.Errorf("offsets 1234 and 1235 both have key %q", next)
	}
}

func TestDecodeBatch(t *testing.T) {
	r := requestFromFile(t, "batch.http")
	items, err := testDecoder().Decode(r)
	if err != nil {
		t.Fatalf("Decode(batch) = %v, want success", err)
	}
	want := []Item{
		{Record: Record{
			Key: "ce:https://client.example/app#b-1", Sentence: "I love it.", CreatedAt: time.Date(2025, 4, 14, 6, 0, 0, 0, time.UTC),
			Provenance: Provenance{EventID: "b-1", EventSource: "https://client.example/app"},
		}},
		{Err: &Error{Status: 422, Reason: "sentence is missing", Field: "sentence"}},
		{Err: &Error{Status: 400, Reason: "invalid CloudEvent", Field: "id"}},
		{Record: Record{
			Key: "ce:https://client.example/app#b-4", Sentence: "It is fine, I guess.", CreatedAt: time.Date(2025, 4, 14, 10, 0, 0, 0, time.UTC),
			Provenance: Provenance{EventID: "b-4", EventSource: "https://client.example/app"},
		}},
	}
	if diff := cmp.Diff(want, items); diff != "" {
		t.Errorf("Decode(batch) mismatch (-want +got):\n%s", diff)
	}
	for i, it := range items {
		if it.Err != nil && !errors.Is(it.Err, ErrMalformed) {
			t.Errorf("item %d: errors.Is(%v, ErrMalformed) = false", i, it.Err)
		}
	}
}

func TestDecodeTestdata(t *testing.T) {
	tests := []struct {
		file string
		want Record
	}{
		{"kafkasource_wrapped.http", Record{Key: "kafka:sentence/2/1234", Sentence: "This is great!", CreatedAt: seedTime, Provenance: Provenance{
			EventID: wrappedID, EventSource: scoreSrc, Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true,
		}}},
		{"kafkasource_forwarded.http", Record{Key: producerKey, Sentence: "This is great!", CreatedAt: seedTime, Provenance: Provenance{
			EventID: producerID, EventSource: producerSrc, Partition: 0, Offset: 42, HasOffset: true,
		}}},
		{"structured.http", Record{
			Key: "ce:https://client.example/app#5d1c1b8e-1c1f-4d3b-a0d2-9a7c40b5f3aa", Sentence: "What a terrible day.",
			CreatedAt:  time.Date(2025, 4, 14, 9, 30, 0, 500000000, time.UTC),
			Provenance: Provenance{EventID: "5d1c1b8e-1c1f-4d3b-a0d2-9a7c40b5f3aa", EventSource: "https://client.example/app"},
		}},
		{"openfaas.http", Record{Key: "kafka:sentence/2/1234", Sentence: "This is great!", CreatedAt: seedTime, Provenance: Provenance{
			Topic: "sentence", Partition: 2, Offset: 1234, HasOffset: true,
		}}},
		{"curl.http", Record{Key: hashOf("2025-04-14T08:00:00.123456Z", "This is great!"), Sentence: "This is great!", CreatedAt: seedTime}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			items, err := testDecoder().Decode(requestFromFile(t, tt.file))
			if err != nil {
				t.Fatalf("Decode(%s) = %v, want success", tt.file, err)
			}
			if diff := cmp.Diff([]Item{{Record: tt.want}}, items); diff != "" {
				t.Errorf("Decode(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestDecodeBodyTooLarge(t *testing.T) {
	for _, sel := range []int{bare, scoreSource, openFaaS} {
		r := newRequest(sel, "", nil, seedBody)
		w := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(w, r.Body, 16)
		items, err := testDecoder().Decode(r)
		checkError(t, err, http.StatusRequestEntityTooLarge, "")
		if items != nil {
			t.Errorf("Decode(too large) items = %v, want none", items)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestDecodeUnreadableBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", failingReader{})
	_, err := testDecoder().Decode(r)
	checkError(t, err, http.StatusBadRequest, "")
}

func TestNewDecoderDefaults(t *testing.T) {
	d := NewDecoder(Config{})
	long := strings.Repeat("é", 10000)
	items, err := d.Decode(newRequest(bare, "", nil, `{"sentence":"`+long+`","created_at":"2025-04-14T08:00:00Z"}`))
	if err != nil {
		t.Fatalf("Decode(10000 runes) = %v, want success", err)
	}
	if got := items[0].Record.Sentence; got != long {
		t.Errorf("Sentence has %d bytes, want %d", len(got), len(long))
	}
	_, err = d.Decode(newRequest(bare, "", nil, `{"sentence":"`+long+`x"}`))
	checkError(t, err, http.StatusRequestEntityTooLarge, "sentence")

	before := time.Now()
	items, err = d.Decode(newRequest(bare, "", nil, `{"sentence":"Nice."}`))
	if err != nil {
		t.Fatalf("Decode = %v, want success", err)
	}
	if got := items[0].Record.CreatedAt; got.Before(before.Add(-time.Second)) || got.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want about %v in UTC", got, before)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Status: 422, Reason: "sentence is missing", Field: "sentence"}, "event: sentence is missing (sentence)"},
		{&Error{Status: 400, Reason: "data is not JSON"}, "event: data is not JSON"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// requestFromFile reads testdata/name: a request line, headers, a blank line and the body
// (its final newline dropped).
func requestFromFile(tb testing.TB, name string) *http.Request {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	line, err := tp.ReadLine()
	if err != nil {
		tb.Fatal(err)
	}
	method, rest, _ := strings.Cut(line, " ")
	target, _, _ := strings.Cut(rest, " ")
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(tp.R)
	if err != nil {
		tb.Fatal(err)
	}
	body = bytes.TrimSuffix(body, []byte("\n"))
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}

func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "kafkasource_wrapped.http"))
	if err != nil {
		b.Fatal(err)
	}
	tmpl := requestFromFile(b, "kafkasource_wrapped.http")
	body, err := io.ReadAll(tmpl.Body)
	if err != nil {
		b.Fatal(err)
	}
	d := NewDecoder(Config{})
	r := tmpl.Clone(b.Context())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		items, err := d.Decode(r)
		if err != nil || len(items) != 1 {
			b.Fatalf("Decode = %v, %v", items, err)
		}
	}
}
