package kafkasource

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadLetter is a record of the dead-letter topic read back: the event, in Kafka binary mode, and
// why it failed.
type DeadLetter struct {
	Record *kgo.Record
	ID     string    // the event's id
	Source string    // the event's source
	Dest   string    // knativeerrordest: the sink that failed
	Code   int       // knativeerrorcode, 0 when there was no response (a transport error)
	Reason []byte    // knativeerrordata decoded: the start of the response body
	At     time.Time // when it was dead-lettered (the record's timestamp)
}

// ReadDeadLetter reads the knativeerror* extensions and the event identity of a dead-letter
// record. Missing or unreadable extensions leave their fields zero.
func ReadDeadLetter(rec *kgo.Record) DeadLetter {
	dl := DeadLetter{Record: rec, At: rec.Timestamp}
	for _, h := range rec.Headers {
		switch h.Key {
		case "ce_id":
			dl.ID = string(h.Value)
		case "ce_source":
			dl.Source = string(h.Value)
		case "ce_knativeerrordest":
			dl.Dest = string(h.Value)
		case "ce_knativeerrorcode":
			dl.Code, _ = strconv.Atoi(string(h.Value))
		case "ce_knativeerrordata":
			dl.Reason, _ = base64.StdEncoding.DecodeString(string(h.Value))
		}
	}
	return dl
}

// Restore returns the event of a dead letter as a record for topic, as it was before delivery:
// the same value, key and headers, without the knativeerror* extensions the failure added and
// the knativekafka* ones the source added (the source adds them again, for the new position).
// An event KafkaSource wrapped keeps its wrapped form (type dev.knative.kafka.event, id
// partition:<p>/offset:<o> of the original record), so the functions give it the same key and a
// replay of something already stored is a no-op.
func Restore(dl DeadLetter, topic string) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Key: dl.Record.Key, Value: dl.Record.Value}
	for _, h := range dl.Record.Headers {
		if strings.HasPrefix(h.Key, "ce_knativeerror") || strings.HasPrefix(h.Key, "ce_knativekafka") {
			continue
		}
		rec.Headers = append(rec.Headers, h)
	}
	return rec
}
