package dashboard

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/kafkasource"
)

// DeadLetters describes the dead-letter topic.
type DeadLetters struct {
	Topic string `json:"topic"`
	// Count is the number of records retained in the topic.
	Count int64 `json:"count"`
	// Latest are the newest dead letters, newest first (at most 10).
	Latest []DeadLetter `json:"latest"`
}

// DeadLetter is one record of the dead-letter topic with its CloudEvent attributes decoded.
type DeadLetter struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	ID        string    `json:"id,omitempty"`
	Source    string    `json:"source,omitempty"`
	Type      string    `json:"type,omitempty"`
	// Code is knativeerrorcode: the status the sink answered ("422"), empty when it was unreachable.
	Code string `json:"code,omitempty"`
	// Dest is knativeerrordest: the sink's URL.
	Dest string `json:"dest,omitempty"`
	// Reason is knativeerrordata decoded: the "error" of a JSON answer, or the answer's text.
	Reason string `json:"reason,omitempty"`
	// Data is the start of the event's data (the message as sent).
	Data string `json:"data,omitempty"`
}

// latestDeadLetters is how many dead letters the panel lists.
const latestDeadLetters = 10

// DeadLetterReader reads records of a topic: for each partition in from, the records with offsets
// in [from[p], to[p]); a *kafkasource.DeadLetterReader satisfies it.
type DeadLetterReader interface {
	ReadRange(ctx context.Context, topic string, from, to map[int32]int64) ([]kafkasource.DeadLetter, error)
}

// NewDeadLetterReader returns a [DeadLetterReader] that opens a short-lived Kafka client per read
// (the dashboard reads only when the dead-letter topic has grown) with the given options, which must
// include the seed brokers: a [kafkasource.NewDeadLetterReader].
func NewDeadLetterReader(opts ...kgo.Opt) DeadLetterReader {
	return kafkasource.NewDeadLetterReader(opts...)
}

// deadLetterCache keeps the latest dead letters read, keyed by the topic's end offsets, so the
// topic is read again only when it has grown.
type deadLetterCache struct {
	mu     sync.Mutex
	ends   map[int32]int64
	latest []DeadLetter
}

func (c *deadLetterCache) lookup(ends map[int32]int64) ([]DeadLetter, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ends == nil || !maps.Equal(c.ends, ends) {
		return nil, false
	}
	return c.latest, true
}

func (c *deadLetterCache) store(ends map[int32]int64, latest []DeadLetter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends, c.latest = ends, latest
}

// deadLetters counts the dead-letter topic's records and reads the newest ones.
func (d *Dashboard) deadLetters(ctx context.Context) (*DeadLetters, error) {
	if d.deps.Kafka == nil {
		return nil, errNotConfigured
	}
	topic := d.cfg.DeadLetterTopic
	starts, ends, err := kafkasource.ListOffsets(ctx, d.deps.Kafka, topic)
	if err != nil {
		return nil, err
	}
	dl := &DeadLetters{Topic: topic, Latest: []DeadLetter{}}
	from := map[int32]int64{}
	for p, end := range ends {
		dl.Count += end - starts[p]
		from[p] = max(starts[p], end-latestDeadLetters)
	}
	if dl.Count == 0 || d.deps.DeadLetters == nil {
		return dl, nil
	}
	if latest, ok := d.dlq.lookup(ends); ok {
		dl.Latest = latest
		return dl, nil
	}
	recs, err := d.deps.DeadLetters.ReadRange(ctx, topic, from, ends)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		dl.Latest = append(dl.Latest, deadLetterOf(r))
	}
	slices.SortFunc(dl.Latest, func(a, b DeadLetter) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return int(b.Offset - a.Offset)
	})
	if len(dl.Latest) > latestDeadLetters {
		dl.Latest = dl.Latest[:latestDeadLetters]
	}
	d.dlq.store(ends, dl.Latest)
	return dl, nil
}

// deadLetterOf is the panel's view of a dead letter: valid UTF-8, the reason as
// [kafkasource.DeadLetter.Message] gives it, long texts shortened.
func deadLetterOf(dl kafkasource.DeadLetter) DeadLetter {
	out := DeadLetter{
		Partition: dl.Record.Partition, Offset: dl.Record.Offset, Time: dl.At.UTC(),
		ID: validText(dl.ID), Source: validText(dl.Source), Type: validText(dl.Type), Dest: validText(dl.Dest),
	}
	if dl.Code != 0 {
		out.Code = strconv.Itoa(dl.Code)
	}
	out.Reason, _ = shorten(dl.Message())
	out.Data, _ = shorten(validText(string(dl.Record.Value)))
	return out
}

// validText replaces invalid UTF-8 (Kafka headers and values are bytes) with U+FFFD.
func validText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
