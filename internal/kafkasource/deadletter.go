package kafkasource

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

// ReadDeadLetters reads topic from its start up to its end offsets at the time of the call,
// outside any consumer group (it commits nothing), and returns the dead letters match accepts,
// in partition order, with how many it read in all. A partition that yields no record for 5s
// before its end offset (a compacted or transactional tail) ends the reading there.
func ReadDeadLetters(ctx context.Context, brokers []string, topic string, match func(DeadLetter) bool) ([]DeadLetter, int, error) {
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, 0, fmt.Errorf("kafka client: %w", err)
	}
	defer adminCl.Close()
	ends, err := kadm.NewClient(adminCl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	remaining := map[int32]int64{} // partition → end offset still to reach
	start := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
			start[topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(remaining) == 0 {
		return nil, 0, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(start))
	if err != nil {
		return nil, 0, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	var chosen []DeadLetter
	read := 0
	for len(remaining) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, read, ctx.Err()
		}
		if pctx.Err() != nil && fetches.NumRecords() == 0 {
			break
		}
		if err := fetches.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, read, fmt.Errorf("read %s: %w", topic, err)
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			end, ok := remaining[rec.Partition]
			if !ok || rec.Offset >= end {
				return
			}
			read++
			if rec.Offset == end-1 {
				delete(remaining, rec.Partition)
			}
			if dl := ReadDeadLetter(rec); match(dl) {
				chosen = append(chosen, dl)
			}
		})
	}
	return chosen, read, nil
}
