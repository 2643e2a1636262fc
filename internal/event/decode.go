package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	ce "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Record is one message to score and index.
type Record struct {
	// Key is the idempotency key; its forms are listed in the package doc.
	Key string
	// Sentence is the text, as sent: valid UTF-8, not blank, at most Config.MaxSentenceChars runes.
	Sentence string
	// CreatedAt is when the sentence was written, in UTC: created_at, else the CloudEvent
	// time, else the receipt time.
	CreatedAt time.Time
	// Provenance says where the record came from.
	Provenance Provenance
}

// Provenance says where a [Record] came from, for storage and logs. It is not part of the key
// except as the package doc describes.
type Provenance struct {
	EventID     string // CloudEvent id, when there was a CloudEvent
	EventSource string // CloudEvent source, when there was a CloudEvent
	Topic       string // Kafka topic, "" when unknown (a forwarded producer event does not name it)
	Partition   int32  // Kafka partition; valid only when HasOffset
	Offset      int64  // Kafka offset; valid only when HasOffset
	HasOffset   bool   // whether Partition and Offset are known
}

// Item is the outcome for one event of a request.
type Item struct {
	Record Record
	// Err is an [*Error] when this event of a batch is bad; Record is then the zero value.
	// Other events of the batch are unaffected. Err is always nil for a single-event request,
	// whose failure is the error Decode returns.
	Err error
}

// Config tunes a [Decoder]. The zero value is ready to use.
type Config struct {
	// MaxSentenceChars is the longest sentence accepted, in characters (runes, not bytes).
	// Zero or negative means 10000.
	MaxSentenceChars int
	// Now returns the receipt time, used when an event has neither created_at nor a
	// CloudEvent time. Nil means time.Now.
	Now func() time.Time
}

// Decoder turns HTTP requests into records. It holds no state besides its configuration and
// is safe for concurrent use.
type Decoder struct {
	maxChars int
	now      func() time.Time
}

// NewDecoder returns a Decoder with cfg's settings, defaults filled in.
func NewDecoder(cfg Config) *Decoder {
	d := &Decoder{maxChars: cfg.MaxSentenceChars, now: cfg.Now}
	if d.maxChars <= 0 {
		d.maxChars = 10000
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// kafkaEventType is the CloudEvent type KafkaSource gives a record it wraps.
const kafkaEventType = "dev.knative.kafka.event"

// Decode reads r's body (which the caller has already limited with [http.MaxBytesReader])
// and returns one Item per event: one for a binary, structured, OpenFaaS or bare JSON request,
// one per event for a batch. On success there is at least one Item.
//
// A failure of the whole request, which for anything but a batch includes a bad event, is
// returned as an [*Error] (errors.Is(err, [ErrMalformed]) holds) and no items. Within a batch,
// a bad event sets that Item's Err and leaves the others alone.
func (d *Decoder) Decode(r *http.Request) ([]Item, error) {
	body, rerr := readBody(r)
	if rerr != nil {
		return nil, rerr
	}
	if a, ok := binaryAttributes(r.Header, body); ok {
		rec, derr := d.fromAttributes(a)
		if derr != nil {
			return nil, derr
		}
		return []Item{{Record: rec}}, nil
	}
	return d.decodeWithSDK(r, body)
}

// decodeWithSDK decodes what [binaryAttributes] does not take: through the SDK for any
// CloudEvent, else as a raw body.
func (d *Decoder) decodeWithSDK(r *http.Request, body []byte) ([]Item, error) {
	// The SDK reads the buffered body, so a body over the limit is told apart above and
	// the raw paths below see the same bytes.
	msg := cehttp.NewMessageFromHttpRequest(r)
	msg.BodyReader = io.NopCloser(bytes.NewReader(body))

	var (
		rec  Record
		derr *Error
	)
	switch enc := msg.ReadEncoding(); enc {
	case binding.EncodingBatch:
		return d.batch(body)
	case binding.EncodingBinary, binding.EncodingStructured:
		guard := guardBinary(r.Header)
		if enc == binding.EncodingStructured {
			guard = guardStructured(body)
		}
		if guard != nil {
			return nil, guard
		}
		e, err := binding.ToEvent(r.Context(), msg)
		if err != nil {
			return nil, invalidEvent(err)
		}
		rec, derr = d.fromEvent(e)
	default:
		if r.Header.Get("Ce-Specversion") != "" {
			// The SDK recognises no other headers as binary mode.
			return nil, badRequest("specversion", "CloudEvents spec version is not supported")
		}
		rec, derr = d.fromRaw(r.Header, body)
	}
	if derr != nil {
		return nil, derr
	}
	return []Item{{Record: rec}}, nil
}

func readBody(r *http.Request) ([]byte, *Error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge("", "body is too large")
		}
		return nil, badRequest("", "body is unreadable")
	}
	return b, nil
}

// batch decodes application/cloudevents-batch+json. It decodes each element with the SDK's
// JSON event format (what binding.ToEvents does for the whole array) so that one bad event
// fails only its own Item.
func (d *Decoder) batch(body []byte) ([]Item, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, badRequest("", "batch is not a JSON array")
	}
	if len(raws) == 0 {
		return nil, badRequest("", "batch is empty")
	}
	items := make([]Item, len(raws))
	for i, raw := range raws {
		e, err := unmarshalEvent(raw)
		if err != nil {
			items[i].Err = err
			continue
		}
		rec, derr := d.fromEvent(e)
		if derr != nil {
			items[i].Err = derr
			continue
		}
		items[i].Record = rec
	}
	return items, nil
}

// unmarshalEvent decodes one structured-mode event with the SDK's JSON format.
func unmarshalEvent(raw []byte) (*ce.Event, *Error) {
	if derr := guardStructured(raw); derr != nil {
		return nil, derr
	}
	var e ce.Event
	if err := format.JSON.Unmarshal(raw, &e); err != nil {
		return nil, invalidEvent(err)
	}
	return &e, nil
}

// guardStructured refuses the structured events that make the SDK's JSON decoder panic
// (sdk-go v2.16.2, event.consumeDataAsBytes: slice bounds out of range) instead of failing:
// base64 data that is not a JSON string, such as {"data_base64":1,"specversion":"1.0"} or,
// in spec 0.3, {"data":1,"datacontentencoding":"base64","specversion":"0.3"}. Bodies that are
// not a JSON object are left for the SDK to refuse.
func guardStructured(raw []byte) *Error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	if b, ok := m["data_base64"]; ok && !isString(b) {
		return badRequest("data_base64", "invalid CloudEvent")
	}
	if _, ok := m["datacontentencoding"]; ok {
		if b, ok := m["data"]; ok && !isString(b) {
			return badRequest("data", "invalid CloudEvent")
		}
	}
	return nil
}

// guardBinary refuses the binary events that make the SDK's HTTP binding panic (sdk-go v2.16.2,
// Message.ReadBinary: index out of range) instead of failing: a header named just "Ce-".
func guardBinary(h http.Header) *Error {
	if _, ok := h["Ce-"]; ok {
		return badRequest("Ce-", "invalid CloudEvent")
	}
	return nil
}

// isString reports whether raw, a valid JSON value, is a string.
func isString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

// invalidEvent turns an SDK decoding or validation error into a 400 naming the first
// offending attribute, if the SDK says which.
func invalidEvent(err error) *Error {
	var field string
	if verr, ok := errors.AsType[ce.ValidationError](err); ok && len(verr) > 0 {
		keys := make([]string, 0, len(verr))
		for k := range verr {
			keys = append(keys, k)
		}
		field = slices.Min(keys)
	}
	return badRequest(field, "invalid CloudEvent")
}

// attributes are what a record is made from of a valid CloudEvent.
type attributes struct {
	id, source, typ string
	contentType     string // datacontenttype, "" when absent
	time            time.Time
	data            []byte
	// The knativekafkapartition and knativekafkaoffset extensions, nil when absent.
	partition, offset any
}

// fromEvent makes a record from a decoded CloudEvent.
func (d *Decoder) fromEvent(e *ce.Event) (Record, *Error) {
	if err := e.Validate(); err != nil {
		return Record{}, invalidEvent(err)
	}
	ext := e.Extensions()
	return d.fromAttributes(attributes{
		id: e.ID(), source: e.Source(), typ: e.Type(), // Source formats a URL on each call
		contentType: e.DataContentType(), time: e.Time(), data: e.Data(),
		partition: ext["knativekafkapartition"], offset: ext["knativekafkaoffset"],
	})
}

// fromAttributes makes a record from a valid CloudEvent's attributes.
func (d *Decoder) fromAttributes(a attributes) (Record, *Error) {
	if !jsonMediaType(a.contentType) {
		return Record{}, unsupported("datacontenttype", "data content type is not supported")
	}
	m, derr := parseObject(a.data)
	if derr != nil {
		return Record{}, derr
	}
	p, derr := d.payload(m)
	if derr != nil {
		return Record{}, derr
	}
	rec := Record{
		Sentence:   p.sentence,
		CreatedAt:  d.createdAt(p, a.time),
		Provenance: Provenance{EventID: a.id, EventSource: a.source},
	}
	partition, offset, hasOffset := kafkaExtensions(a.partition, a.offset)
	if a.typ == kafkaEventType {
		topic, idPartition, idOffset, derr := parseWrapped(a.source, a.id)
		if derr != nil {
			return Record{}, derr
		}
		rec.Key = kafkaKey(topic, idPartition, idOffset)
		rec.Provenance.Topic = topic
		if !hasOffset {
			partition, offset, hasOffset = idPartition, idOffset, true
		}
	} else {
		rec.Key, derr = cloudEventKey(a.source, a.id)
		if derr != nil {
			return Record{}, derr
		}
	}
	if hasOffset {
		rec.Provenance.Partition, rec.Provenance.Offset, rec.Provenance.HasOffset = partition, offset, true
	}
	return rec, nil
}

// parseWrapped reads the topic from a KafkaSource-wrapped event's source
// (/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>) and partition and offset from its
// id (partition:<p>/offset:<o>).
func parseWrapped(source, id string) (topic string, partition int32, offset int64, _ *Error) {
	i := strings.LastIndexByte(source, '#')
	if i < 0 || !legalTopic(source[i+1:]) {
		return "", 0, 0, badRequest("source", "KafkaSource event source does not end in #<topic>")
	}
	topic = source[i+1:]
	rest, ok := strings.CutPrefix(id, "partition:")
	ps, os, ok2 := strings.Cut(rest, "/offset:")
	partition, ok3 := parsePartition(ps)
	offset, ok4 := parseOffset(os)
	if !ok || !ok2 || !ok3 || !ok4 {
		return "", 0, 0, badRequest("id", "KafkaSource event id is not partition:<p>/offset:<o>")
	}
	return topic, partition, offset, nil
}

// kafkaExtensions reads KafkaSource's knativekafkapartition and knativekafkaoffset
// extensions. They are provenance only: when absent or unreadable, ok is false.
func kafkaExtensions(partitionExt, offsetExt any) (partition int32, offset int64, ok bool) {
	p, ok1 := extensionInt(partitionExt)
	o, ok2 := extensionInt(offsetExt)
	if !ok1 || !ok2 || p > 1<<31-1 {
		return 0, 0, false
	}
	return int32(p), o, true
}

func extensionInt(v any) (int64, bool) {
	switch v := v.(type) {
	case string:
		return parseOffset(v)
	case int32:
		return int64(v), v >= 0
	}
	return 0, false
}

// fromRaw makes a record from a body without CloudEvents headers: an OpenFaaS
// kafka-connector call or a bare JSON POST.
func (d *Decoder) fromRaw(h http.Header, body []byte) (Record, *Error) {
	if !jsonMediaType(h.Get("Content-Type")) {
		return Record{}, unsupported("Content-Type", "content type is not supported")
	}
	k, isKafka, derr := kafkaHeaders(h)
	if derr != nil {
		return Record{}, derr
	}
	m, derr := parseObject(body)
	if derr != nil {
		return Record{}, derr
	}
	var rec Record
	if _, isEvent := m["specversion"]; isEvent && m["sentence"] == nil {
		// A structured CloudEvent with a plain Content-Type, as kafka-connector posts one
		// that a producer stored in Kafka.
		e, derr := unmarshalEvent(body)
		if derr != nil {
			return Record{}, derr
		}
		if rec, derr = d.fromEvent(e); derr != nil {
			return Record{}, derr
		}
	} else {
		p, derr := d.payload(m)
		if derr != nil {
			return Record{}, derr
		}
		rec = Record{Sentence: p.sentence, CreatedAt: d.createdAt(p, time.Time{})}
		rec.Key = hashKey(rec.Sentence, rec.CreatedAt)
	}
	if isKafka {
		rec.Key = kafkaKey(k.Topic, k.Partition, k.Offset)
		rec.Provenance.Topic = k.Topic
		rec.Provenance.Partition, rec.Provenance.Offset, rec.Provenance.HasOffset = k.Partition, k.Offset, true
	}
	return rec, nil
}

// kafkaHeaders reads kafka-connector's X-Topic, X-Kafka-Partition and X-Kafka-Offset. ok is
// false when none is present; when any is, all three must be valid.
func kafkaHeaders(h http.Header) (k Provenance, ok bool, _ *Error) {
	topic, hasTopic := h["X-Topic"]
	part, hasPart := h["X-Kafka-Partition"]
	off, hasOff := h["X-Kafka-Offset"]
	if !hasTopic && !hasPart && !hasOff {
		return k, false, nil
	}
	var good bool
	if k.Topic = first(topic); !legalTopic(k.Topic) {
		return k, false, badRequest("X-Topic", "X-Topic is not a Kafka topic name")
	}
	if k.Partition, good = parsePartition(first(part)); !good {
		return k, false, badRequest("X-Kafka-Partition", "X-Kafka-Partition is not a partition number")
	}
	if k.Offset, good = parseOffset(first(off)); !good {
		return k, false, badRequest("X-Kafka-Offset", "X-Kafka-Offset is not an offset")
	}
	return k, true, nil
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// createdAt picks created_at, else the CloudEvent time, else the receipt time, in UTC.
func (d *Decoder) createdAt(p payload, eventTime time.Time) time.Time {
	switch {
	case p.hasCreatedAt:
		return p.createdAt
	case !eventTime.IsZero():
		return eventTime.UTC()
	default:
		return d.now().UTC()
	}
}
