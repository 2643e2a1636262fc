package kafkasource

import (
	"encoding/json"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"
)

// wrappedType is the CloudEvent type KafkaSource gives a record that is not a CloudEvent.
const wrappedType = "dev.knative.kafka.event"

// outEvent is one CloudEvent ready to POST in HTTP binary mode: its Ce-* and Content-Type
// headers, and its data.
type outEvent struct {
	vals   headerArena // backs the header values
	header http.Header
	body   []byte
	id     string
	source string
}

// headerArena hands out one-element value slices from a shared backing array, so an event's
// header values cost one allocation instead of one each.
type headerArena []string

func newHeaderArena(n int) headerArena { return make(headerArena, 0, n) }

// one returns a []string holding v, with no room to grow into its neighbours.
func (a *headerArena) one(v string) []string {
	if len(*a) == cap(*a) {
		*a = make(headerArena, 0, 8)
	}
	*a = append(*a, v)
	n := len(*a)
	return (*a)[n-1 : n : n]
}

// wrapper builds the events of one KafkaSource.
type wrapper struct {
	namespace string
	// sourcePrefix is /apis/v1/namespaces/<ns>/kafkasources/<name>#
	sourcePrefix string
	overrides    map[string]string // canonical header name → value
}

func newWrapper(namespace, name string, ov *CEOverrides) *wrapper {
	w := &wrapper{
		namespace:    namespace,
		sourcePrefix: "/apis/v1/namespaces/" + namespace + "/kafkasources/" + name + "#",
	}
	if ov != nil && len(ov.Extensions) > 0 {
		w.overrides = make(map[string]string, len(ov.Extensions))
		for k, v := range ov.Extensions {
			w.overrides[ceHeader(k)] = v
		}
	}
	return w
}

// Canonical header names, written once.
const (
	hSpecversion = "Ce-Specversion"
	hID          = "Ce-Id"
	hSource      = "Ce-Source"
	hType        = "Ce-Type"
	hSubject     = "Ce-Subject"
	hTime        = "Ce-Time"
	hKey         = "Ce-Key"
	hPartKey     = "Ce-Partitionkey"
	hPartition   = "Ce-Knativekafkapartition"
	hOffset      = "Ce-Knativekafkaoffset"
	hContentType = "Content-Type"
)

// build returns the event KafkaSource would send for rec: the record's own CloudEvent when it is
// one in Kafka binary or structured mode, else the record wrapped as dev.knative.kafka.event.
func (w *wrapper) build(rec *kgo.Record) *outEvent {
	var contentType string
	binary := false
	for _, h := range rec.Headers {
		switch {
		case h.Key == "content-type":
			contentType = string(h.Value)
		case h.Key == "ce_specversion":
			binary = true
		}
	}
	var ev *outEvent
	if isStructured(contentType) {
		ev = structured(rec.Value)
	} else if binary {
		ev = forwardBinary(rec)
	}
	if ev == nil {
		ev = w.wrap(rec)
	}
	h := ev.header
	h[hPartition] = ev.vals.one(strconv.FormatInt(int64(rec.Partition), 10))
	h[hOffset] = ev.vals.one(strconv.FormatInt(rec.Offset, 10))
	for k, v := range w.overrides {
		h[k] = ev.vals.one(v)
	}
	return ev
}

func isStructured(contentType string) bool {
	if contentType == "" {
		return false
	}
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.EqualFold(strings.TrimSpace(contentType), "application/cloudevents+json")
}

// forwardBinary returns the CloudEvent in rec's ce_* headers (Kafka binary mode), or nil when
// they do not make a valid event (KafkaSource then wraps the record).
func forwardBinary(rec *kgo.Record) *outEvent {
	h := make(http.Header, len(rec.Headers)+4)
	ev := &outEvent{vals: newHeaderArena(len(rec.Headers) + 4), header: h, body: rec.Value}
	var spec string
	for _, kh := range rec.Headers {
		switch {
		case kh.Key == "content-type":
			h[hContentType] = ev.vals.one(string(kh.Value))
		case strings.HasPrefix(kh.Key, "ce_") && len(kh.Key) > 3:
			name := kh.Key[3:]
			if !validExtensionName(name) {
				return nil
			}
			v := string(kh.Value)
			switch name {
			case "specversion":
				spec = v
			case "id":
				ev.id = v
			case "source":
				ev.source = v
			case "time":
				if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
					return nil
				}
			}
			h[ceHeader(name)] = ev.vals.one(v)
		}
	}
	if (spec != "1.0" && spec != "0.3") || ev.id == "" || ev.source == "" || h.Get(hType) == "" {
		return nil
	}
	return ev
}

// structured returns the structured-mode CloudEvent in value as a binary-mode event, or nil
// when value is not a valid one.
func structured(value []byte) *outEvent {
	if !safeStructured(value) {
		return nil
	}
	var e ce.Event
	if err := format.JSON.Unmarshal(value, &e); err != nil || e.Validate() != nil {
		return nil
	}
	h := make(http.Header, 8+len(e.Extensions()))
	ev := &outEvent{vals: newHeaderArena(10 + len(e.Extensions())), header: h, body: e.Data(), id: e.ID(), source: e.Source()}
	h[hSpecversion] = ev.vals.one(e.SpecVersion())
	h[hID] = ev.vals.one(e.ID())
	h[hSource] = ev.vals.one(e.Source())
	h[hType] = ev.vals.one(e.Type())
	if v := e.Subject(); v != "" {
		h[hSubject] = ev.vals.one(v)
	}
	if t := e.Time(); !t.IsZero() {
		h[hTime] = ev.vals.one(types.FormatTime(t))
	}
	if v := e.DataSchema(); v != "" {
		h[ceHeader("dataschema")] = ev.vals.one(v)
	}
	if v := e.DataContentType(); v != "" {
		h[hContentType] = ev.vals.one(v)
	}
	for name, v := range e.Extensions() {
		s, err := types.Format(v)
		if err != nil {
			return nil
		}
		h[ceHeader(name)] = ev.vals.one(s)
	}
	return ev
}

// safeStructured reports whether the SDK can decode the structured-mode event in raw without
// panicking. sdk-go v2.16.2 panics (slice bounds out of range) on base64 data that is not a JSON
// string, such as {"data_base64":1,"specversion":"1.0"}; internal/event guards its decoder the
// same way. Values that are not a JSON object are left for the SDK to refuse.
func safeStructured(raw []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return true
	}
	if b, ok := m["data_base64"]; ok && !isJSONString(b) {
		return false
	}
	if _, ok := m["datacontentencoding"]; ok {
		if b, ok := m["data"]; ok && !isJSONString(b) {
			return false
		}
	}
	return true
}

func isJSONString(b json.RawMessage) bool { return len(b) > 0 && b[0] == '"' }

// wrap builds KafkaSource's event for a record that is not a CloudEvent (eventing-kafka-broker's
// InvalidCloudEventInterceptor).
func (w *wrapper) wrap(rec *kgo.Record) *outEvent {
	h := make(http.Header, 10+len(rec.Headers))
	p := strconv.FormatInt(int64(rec.Partition), 10)
	o := strconv.FormatInt(rec.Offset, 10)
	ev := &outEvent{
		vals:   newHeaderArena(12 + len(rec.Headers)),
		header: h,
		body:   rec.Value,
		id:     "partition:" + p + "/offset:" + o,
		source: w.sourcePrefix + rec.Topic,
	}
	h[hSpecversion] = ev.vals.one("1.0")
	h[hID] = ev.vals.one(ev.id)
	h[hSource] = ev.vals.one(ev.source)
	h[hType] = ev.vals.one(wrappedType)
	h[hSubject] = ev.vals.one("partition:" + p + "#" + o)
	h[hTime] = ev.vals.one(rec.Timestamp.UTC().Format(time.RFC3339Nano))
	if len(rec.Key) > 0 {
		k := strings.ToValidUTF8(string(rec.Key), "\uFFFD")
		h[hKey] = ev.vals.one(k)
		h[hPartKey] = ev.vals.one(k)
	}
	for _, kh := range rec.Headers {
		if strings.EqualFold(kh.Key, "content-type") {
			h[hContentType] = ev.vals.one(strings.ToLower(string(kh.Value)))
			continue
		}
		h[ceHeader("kafkaheader"+extensionChars(kh.Key))] = ev.vals.one(string(kh.Value))
	}
	return ev
}

// extensionChars lower-cases s and keeps only [a-z0-9], as KafkaSource does for header names.
func extensionChars(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b = append(b, byte(r))
		}
	}
	return string(b)
}

func validExtensionName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ceHeader returns the canonical HTTP header name of CloudEvent attribute name.
func ceHeader(name string) string {
	switch name {
	case "specversion":
		return hSpecversion
	case "id":
		return hID
	case "source":
		return hSource
	case "type":
		return hType
	case "subject":
		return hSubject
	case "time":
		return hTime
	}
	return textproto.CanonicalMIMEHeaderKey("Ce-" + name)
}

// validHeaderValues reports whether every value in h can be sent in an HTTP header: no control
// characters but tab.
func validHeaderValues(h http.Header) bool {
	for _, vs := range h {
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
					return false
				}
			}
		}
	}
	return true
}
