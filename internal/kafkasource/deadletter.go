package kafkasource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	Type   string    // the event's type
	Dest   string    // knativeerrordest: the sink that failed
	Code   int       // knativeerrorcode, 0 when there was no response (a transport error)
	Reason []byte    // knativeerrordata decoded: the start of the response body
	At     time.Time // when it was dead-lettered (the record's timestamp)
}

// ReadDeadLetter reads the knativeerror* extensions and the event identity of a dead-letter
// record. Header names are matched as Kafka binary mode writes them (ce_id) and also in other
// case or with a dash (ce-id). knativeerrordata is base64, padded or not; a value that is not
// base64 is kept as it is. Missing or unreadable extensions leave their fields zero.
func ReadDeadLetter(rec *kgo.Record) DeadLetter {
	dl := DeadLetter{Record: rec, At: rec.Timestamp}
	for _, h := range rec.Headers {
		switch strings.ReplaceAll(strings.ToLower(h.Key), "-", "_") {
		case "ce_id":
			dl.ID = string(h.Value)
		case "ce_source":
			dl.Source = string(h.Value)
		case "ce_type":
			dl.Type = string(h.Value)
		case "ce_knativeerrordest":
			dl.Dest = string(h.Value)
		case "ce_knativeerrorcode":
			dl.Code, _ = strconv.Atoi(strings.TrimSpace(string(h.Value)))
		case "ce_knativeerrordata":
			dl.Reason = decodeErrorData(h.Value)
		}
	}
	return dl
}

// decodeErrorData decodes knativeerrordata: base64 of the start of the sink's answer.
func decodeErrorData(b []byte) []byte {
	s := strings.TrimSpace(string(b))
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
		return raw
	}
	if raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err == nil {
		return raw
	}
	return b
}

// Message returns why the sink refused dl, for people: the "error" of a JSON answer, followed by
// its "field" in parentheses when it names one (what the functions answer), or else the answer as
// text, trimmed, with invalid UTF-8 replaced by U+FFFD.
func (dl DeadLetter) Message() string {
	var body struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	if json.Unmarshal(dl.Reason, &body) == nil && body.Error != "" {
		if body.Field != "" {
			return body.Error + " (" + body.Field + ")"
		}
		return body.Error
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(dl.Reason), "\uFFFD"))
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
	from, to, err := ListOffsets(ctx, kadm.NewClient(adminCl), topic)
	if err != nil {
		return nil, 0, err
	}
	var chosen []DeadLetter
	read := 0
	err = readRange(ctx, []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic, from, to, 5*time.Second, func(rec *kgo.Record) {
		read++
		if dl := ReadDeadLetter(rec); match(dl) {
			chosen = append(chosen, dl)
		}
	})
	if err != nil {
		return nil, read, err
	}
	slices.SortStableFunc(chosen, func(a, b DeadLetter) int { return int(a.Record.Partition - b.Record.Partition) })
	return chosen, read, nil
}

// DeadLetterReader reads ranges of a dead-letter topic outside any consumer group (it commits
// nothing), opening a short-lived Kafka client per read: for a reader that reads now and then,
// such as a dashboard that reads only when the topic has grown. It is safe for concurrent use.
type DeadLetterReader struct {
	opts []kgo.Opt
}

// NewDeadLetterReader returns a reader whose clients use opts, which must include the seed
// brokers.
func NewDeadLetterReader(opts ...kgo.Opt) *DeadLetterReader {
	return &DeadLetterReader{opts: slices.Clone(opts)}
}

// ReadRange returns the dead letters of topic with offsets in [from[p], to[p]) for each partition
// p of from, in the order they arrive. When ctx ends first it returns those read so far if there
// are any (enough for a panel), and ctx's error otherwise.
func (r *DeadLetterReader) ReadRange(ctx context.Context, topic string, from, to map[int32]int64) ([]DeadLetter, error) {
	var out []DeadLetter
	err := readRange(ctx, r.opts, topic, from, to, 0, func(rec *kgo.Record) {
		out = append(out, ReadDeadLetter(rec))
	})
	if err != nil && (ctx.Err() == nil || len(out) == 0) {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// readRange consumes, with a client of its own built from opts, the records of topic with
// offsets in [from[p], to[p]) for each partition p of from, and calls fn with each in the order
// they arrive. A partition ends at its first record at or past to[p]; with idle > 0, a poll that
// yields nothing for idle (a compacted or transactional tail) ends every partition. It returns
// ctx's error when ctx ends first.
func readRange(ctx context.Context, opts []kgo.Opt, topic string, from, to map[int32]int64, idle time.Duration, fn func(*kgo.Record)) error {
	offsets := map[int32]kgo.Offset{}
	for p, f := range from {
		if to[p] > f {
			offsets[p] = kgo.NewOffset().At(f)
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	for len(offsets) > 0 {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			pctx, cancel = context.WithTimeout(ctx, idle)
		}
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if pctx.Err() != nil && fetches.NumRecords() == 0 {
			return nil
		}
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				return fmt.Errorf("read %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			end, ok := to[rec.Partition]
			if _, reading := offsets[rec.Partition]; !ok || !reading {
				return
			}
			if rec.Offset < end {
				fn(rec)
			}
			if rec.Offset+1 >= end {
				delete(offsets, rec.Partition)
			}
		})
	}
	return nil
}
