package produce

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Format is a record form on the topic.
type Format int

// The formats, as ARCHITECTURE.md lists what a producer may send.
const (
	Binary     Format = iota // a CloudEvent in Kafka binary mode: ce_* headers, JSON data
	Seed                     // the seed's plain JSON, created_at without a zone
	Structured               // a CloudEvent in structured mode (application/cloudevents+json)
	Malformed                // something a function must refuse (4xx): it ends in the dead-letter topic
	numFormats
)

var formatNames = [numFormats]string{"binary", "seed", "structured", "malformed"}

func (f Format) String() string {
	if f >= 0 && f < numFormats {
		return formatNames[f]
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if s == n {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("format %q: want binary, seed, structured or malformed", s)
}

// FormatMix weighs the formats.
type FormatMix [numFormats]float64

// ParseFormatMix reads "binary=70,seed=20,structured=10" (weights, any scale), or one format name.
func ParseFormatMix(s string) (FormatMix, error) {
	var m FormatMix
	if f, err := ParseFormat(s); err == nil {
		m[f] = 1
		return m, nil
	}
	total := 0.0
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		f, err := ParseFormat(name)
		v, perr := strconv.ParseFloat(w, 64)
		if !ok || err != nil || perr != nil || v < 0 {
			return m, fmt.Errorf("format mix %q: want a format or weights such as binary=70,seed=20,structured=10", s)
		}
		m[f] += v
		total += v
	}
	if total <= 0 {
		return m, fmt.Errorf("format mix %q: weights sum to zero", s)
	}
	return m, nil
}

// Key says which field keys a record.
type Key int

// The record keys.
const (
	KeyUser  Key = iota // a fictional user, user-<n>: one user's messages stay in order
	KeyID               // the event id: even spread
	KeyLabel            // the intended label: positive, negative, neutral
	KeyNone             // no key
)

// ParseKey reads user, id, label or none.
func ParseKey(s string) (Key, error) {
	switch s {
	case "user", "":
		return KeyUser, nil
	case "id":
		return KeyID, nil
	case "label", "sentiment":
		return KeyLabel, nil
	case "none":
		return KeyNone, nil
	}
	return 0, fmt.Errorf("key %q: want user, id, label or none", s)
}

// Encoder turns sentences into records. It is not safe for concurrent use.
type Encoder struct {
	// Topic of the records.
	Topic string
	// Source and Type are the CloudEvent source and type; defaults urn:sentistream:producer and
	// dev.sentistream.sentence.v1.
	Source, Type string
	// IDPrefix makes ids unique across runs: ids are <IDPrefix>-<seq>.
	IDPrefix string
	// Key says what keys a record.
	Key Key
	// Users is the number of fictional users for KeyUser; default 1000.
	Users int
}

// Time layouts.
const (
	seedTime = "2006-01-02T15:04:05.000000" // the seed producer's, zone-less
)

// Headers shared by every record (franz-go only reads them).
var (
	hSpec      = []byte("1.0")
	hJSON      = []byte("application/json")
	hStructCT  = []byte("application/cloudevents+json")
	defaultSrc = "urn:sentistream:producer"
	defaultTyp = "dev.sentistream.sentence.v1"
)

// Record returns the record for sentence number seq, written at now, carrying label, in format f.
// malformedKind picks the fault of a Malformed record.
func (e *Encoder) Record(seq uint64, sentence []byte, label Label, now time.Time, f Format, malformedKind int) *kgo.Record {
	src, typ := e.Source, e.Type
	if src == "" {
		src = defaultSrc
	}
	if typ == "" {
		typ = defaultTyp
	}
	id := e.IDPrefix + "-" + strconv.FormatUint(seq, 10)
	rec := &kgo.Record{Topic: e.Topic}
	switch e.Key {
	case KeyUser:
		users := e.Users
		if users <= 0 {
			users = 1000
		}
		rec.Key = strconv.AppendUint([]byte("user-"), seq*2654435761%uint64(users), 10)
	case KeyID:
		rec.Key = []byte(id)
	case KeyLabel:
		rec.Key = []byte(label.String())
	}
	now = now.UTC()
	data := make([]byte, 0, len(sentence)+64)
	switch f {
	case Seed:
		data = appendData(data, sentence, now.AppendFormat(make([]byte, 0, 32), seedTime))
		rec.Value = data
	case Structured:
		ts := now.AppendFormat(make([]byte, 0, 40), time.RFC3339Nano)
		v := make([]byte, 0, len(sentence)+256)
		v = append(v, `{"specversion":"1.0","id":`...)
		v = appendJSONString(v, []byte(id))
		v = append(v, `,"source":`...)
		v = appendJSONString(v, []byte(src))
		v = append(v, `,"type":`...)
		v = appendJSONString(v, []byte(typ))
		v = append(v, `,"time":"`...)
		v = append(v, ts...)
		v = append(v, `","datacontenttype":"application/json","data":`...)
		v = appendData(v, sentence, ts)
		v = append(v, '}')
		rec.Value = v
		rec.Headers = []kgo.RecordHeader{{Key: "content-type", Value: hStructCT}}
	case Malformed:
		rec.Value, rec.Headers = malformed(malformedKind, sentence, now)
	default:
		ts := now.AppendFormat(make([]byte, 0, 40), time.RFC3339Nano)
		rec.Value = appendData(data, sentence, ts)
		rec.Headers = []kgo.RecordHeader{
			{Key: "ce_specversion", Value: hSpec},
			{Key: "ce_id", Value: []byte(id)},
			{Key: "ce_source", Value: []byte(src)},
			{Key: "ce_type", Value: []byte(typ)},
			{Key: "ce_time", Value: ts},
			{Key: "content-type", Value: hJSON},
		}
	}
	return rec
}

// appendData appends {"sentence":…,"created_at":…}.
func appendData(dst, sentence, createdAt []byte) []byte {
	dst = append(dst, `{"sentence":`...)
	dst = appendJSONString(dst, sentence)
	dst = append(dst, `,"created_at":"`...)
	dst = append(dst, createdAt...)
	return append(dst, `"}`...)
}

// MalformedKinds is the number of kinds of malformed record.
const MalformedKinds = 6

// malformed returns a record value (and headers) a function refuses with a 4xx.
func malformed(kind int, sentence []byte, now time.Time) ([]byte, []kgo.RecordHeader) {
	switch kind % MalformedKinds {
	case 0: // not JSON
		return append([]byte("sentence="), sentence...), nil
	case 1: // no sentence
		return []byte(`{"text":` + string(appendJSONString(nil, sentence)) + `}`), nil
	case 2: // empty sentence
		return []byte(`{"sentence":"   ","created_at":"` + now.Format(seedTime) + `"}`), nil
	case 3: // sentence not a string
		return []byte(`{"sentence":42}`), nil
	case 4: // created_at not a time
		return []byte(`{"sentence":` + string(appendJSONString(nil, sentence)) + `,"created_at":"yesterday"}`), nil
	default: // a structured CloudEvent the SDK cannot read: KafkaSource wraps it, the function refuses it
		return []byte(`{"data_base64":1,"specversion":"1.0"}`), []kgo.RecordHeader{{Key: "content-type", Value: hStructCT}}
	}
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (the generator's text);
// invalid bytes would be replaced by U+FFFD.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}
