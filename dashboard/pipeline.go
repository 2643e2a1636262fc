package dashboard

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Pipeline is the answer of /api/pipeline. Each part that could not be read is nil (or empty) and
// its dependency is listed in Unavailable.
type Pipeline struct {
	// Groups holds one entry per configured consumer group, in configuration order.
	Groups []GroupStatus `json:"groups"`
	// DeadLetters is the dead-letter topic's content; nil when Kafka is unavailable.
	DeadLetters *DeadLetters `json:"dead_letters"`
	// NewestScored is when the newest row was scored (PostgreSQL's scored_at), and NewestScoredAge
	// its age in seconds; nil when PostgreSQL is unavailable or empty.
	NewestScored    *time.Time `json:"newest_scored"`
	NewestScoredAge *float64   `json:"newest_scored_age_seconds"`
	// ScoredPerSecond is the rate of rows scored over the last minute.
	ScoredPerSecond *float64 `json:"scored_per_second"`
	// ProducedPerSecond is the rate at which the topic grew since the previous pipeline answer
	// (its end offsets); nil on the first answer of an instance or when that was too long ago.
	ProducedPerSecond *float64 `json:"produced_per_second"`
	// IndexedDocs is the number of documents in the search index.
	IndexedDocs *int64 `json:"indexed_docs"`
	// Warnings are plain sentences for people: a sink behind or down, a dependency unavailable.
	Warnings []string `json:"warnings"`
	// Unavailable lists the dependencies that could not be read: "kafka", "postgres",
	// "elasticsearch".
	Unavailable []string `json:"unavailable"`
	// At is when this answer was computed.
	At time.Time `json:"at"`
}

// GroupStatus is the state of one sink's consumer group.
type GroupStatus struct {
	Group string `json:"group"`
	Sink  string `json:"sink"`
	// State is Kafka's group state: Stable, Empty, Dead, PreparingRebalance, ….
	State   string `json:"state"`
	Members int    `json:"members"`
	// Lag is the sum of the partitions' lags.
	Lag int64 `json:"lag"`
	// Status is "ok", "idle" (no consumer, nothing waiting), "behind" (lag above the warning
	// threshold), "down" (events waiting and no consumer, or no group at all) or "unknown".
	Status     string         `json:"status"`
	Partitions []PartitionLag `json:"partitions"`
}

// PartitionLag is a group's position in one partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
}

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
// in [from[p], to[p]).
type DeadLetterReader interface {
	ReadRange(ctx context.Context, topic string, from, to map[int32]int64) ([]*kgo.Record, error)
}

// NewDeadLetterReader returns a [DeadLetterReader] that opens a short-lived Kafka client per read
// (the dashboard reads only when the dead-letter topic has grown) with the given options, which must
// include the seed brokers.
func NewDeadLetterReader(opts ...kgo.Opt) DeadLetterReader { return kafkaRangeReader(opts) }

type kafkaRangeReader []kgo.Opt

func (o kafkaRangeReader) ReadRange(ctx context.Context, topic string, from, to map[int32]int64) ([]*kgo.Record, error) {
	offsets := map[int32]kgo.Offset{}
	for p, f := range from {
		if to[p] > f {
			offsets[p] = kgo.NewOffset().At(f)
		}
	}
	if len(offsets) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append(slices.Clone([]kgo.Opt(o)),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))...)
	if err != nil {
		return nil, fmt.Errorf("dead letters: client: %w", err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(offsets) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			if len(recs) > 0 {
				break // what arrived in time is enough for a panel
			}
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		for _, fe := range fs.Errors() {
			return nil, fmt.Errorf("dead letters: fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < to[r.Partition] {
				recs = append(recs, r)
			}
			if r.Offset+1 >= to[r.Partition] {
				delete(offsets, r.Partition)
			}
		})
	}
	return recs, nil
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
	if c.ends == nil || !mapsEqual(c.ends, ends) {
		return nil, false
	}
	return c.latest, true
}

func (c *deadLetterCache) store(ends map[int32]int64, latest []DeadLetter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends, c.latest = ends, latest
}

func mapsEqual(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// rateMeter turns successive samples of a growing counter (the topic's summed end offsets) into a
// rate. It keeps one sample: a short-lived, per-instance cache.
type rateMeter struct {
	mu    sync.Mutex
	at    time.Time
	value int64
}

// observe records v at t and returns the rate since the previous sample, when that sample is
// between 1 s and 5 min old.
func (m *rateMeter) observe(t time.Time, v int64) *float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	dt := t.Sub(m.at)
	var rate *float64
	if !m.at.IsZero() && dt >= time.Second && dt <= 5*time.Minute && v >= m.value {
		rate = ptr(float64(v-m.value) / dt.Seconds())
	}
	if m.at.IsZero() || dt >= time.Second || dt < 0 {
		m.at, m.value = t, v
	}
	return rate
}

func (d *Dashboard) servePipeline(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	v, err := d.cache.get(r.Context(), "pipeline", 1, d.cfg.QueryTimeout, func(ctx context.Context) (any, error) {
		return d.pipeline(ctx), nil
	})
	if err != nil {
		return err // only the request's own cancellation
	}
	writeLive(w, v)
	return nil
}

// pipeline reads Kafka, PostgreSQL and Elasticsearch concurrently; a part that fails is reported
// unavailable, never as an error of the whole answer.
func (d *Dashboard) pipeline(ctx context.Context) *Pipeline {
	now := d.cfg.Now().UTC()
	p := &Pipeline{At: now, Warnings: []string{}, Unavailable: []string{}}
	var (
		wg                sync.WaitGroup
		kafkaErr, pgErr   error
		esErr             error
		newest            *time.Time
		lastMinute        int64
		groups            []GroupStatus
		dead              *DeadLetters
		produced          *float64
		indexed           *int64
		deadErr, groupErr error
	)
	wg.Go(func() {
		groups, produced, groupErr = d.groups(ctx, now)
	})
	wg.Go(func() {
		dead, deadErr = d.deadLetters(ctx)
	})
	wg.Go(func() {
		newest, lastMinute, pgErr = d.scoredStats(ctx, now)
	})
	wg.Go(func() {
		indexed, esErr = d.indexedDocs(ctx)
	})
	wg.Wait()
	kafkaErr = errors.Join(groupErr, deadErr)

	p.Groups, p.DeadLetters, p.ProducedPerSecond = groups, dead, produced
	if kafkaErr != nil {
		d.log.LogAttrs(ctx, slog.LevelWarn, "pipeline: kafka unavailable", slog.Any("error", kafkaErr))
		p.Unavailable = append(p.Unavailable, depKafka)
		p.Warnings = append(p.Warnings, "Kafka is unavailable: consumer lag and dead letters are unknown.")
	}
	if p.Groups == nil {
		p.Groups = []GroupStatus{}
		for _, g := range d.cfg.Groups {
			p.Groups = append(p.Groups, GroupStatus{Group: g.Name, Sink: g.Sink, Status: "unknown", Partitions: []PartitionLag{}})
		}
	}
	if pgErr != nil {
		d.log.LogAttrs(ctx, slog.LevelWarn, "pipeline: postgres unavailable", slog.Any("error", pgErr))
		p.Unavailable = append(p.Unavailable, depPostgres)
		p.Warnings = append(p.Warnings, "PostgreSQL is unavailable: the score sink cannot store and the mood panels cannot answer.")
	} else {
		p.ScoredPerSecond = ptr(float64(lastMinute) / 60)
		if newest != nil {
			p.NewestScored = newest
			p.NewestScoredAge = ptr(max(0, now.Sub(*newest).Seconds()))
		}
	}
	if esErr != nil {
		d.log.LogAttrs(ctx, slog.LevelWarn, "pipeline: elasticsearch unavailable", slog.Any("error", esErr))
		p.Unavailable = append(p.Unavailable, depElasticsearch)
		p.Warnings = append(p.Warnings, "Elasticsearch is unavailable: the index sink cannot store and search cannot answer.")
	} else {
		p.IndexedDocs = indexed
	}
	for _, g := range p.Groups {
		switch g.Status {
		case "down":
			if g.State == "Dead" || g.State == "" {
				p.Warnings = append(p.Warnings, fmt.Sprintf("The %s sink is down: its consumer group %s does not exist.", g.Sink, g.Group))
			} else {
				p.Warnings = append(p.Warnings, fmt.Sprintf("The %s sink is down: no consumer in group %s and %d events waiting.", g.Sink, g.Group, g.Lag))
			}
		case "behind":
			p.Warnings = append(p.Warnings, fmt.Sprintf("The %s sink is behind: %d events waiting in group %s.", g.Sink, g.Lag, g.Group))
		}
	}
	if dead != nil && len(dead.Latest) > 0 && now.Sub(dead.Latest[0].Time) < 15*time.Minute {
		p.Warnings = append(p.Warnings, fmt.Sprintf("New dead letters: the newest is %s old.", now.Sub(dead.Latest[0].Time).Round(time.Second)))
	}
	return p
}

// groups reads each configured group's lag and derives its status, and the topic's produce rate.
func (d *Dashboard) groups(ctx context.Context, now time.Time) ([]GroupStatus, *float64, error) {
	if d.deps.Kafka == nil {
		return nil, nil, errNotConfigured
	}
	names := make([]string, len(d.cfg.Groups))
	for i, g := range d.cfg.Groups {
		names[i] = g.Name
	}
	lags, err := d.deps.Kafka.Lag(ctx, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("lag: %w", err)
	}
	ends, err := d.deps.Kafka.ListEndOffsets(ctx, d.cfg.Topic)
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets: %w", err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			total += o.Offset
		}
	})
	var produced *float64
	if ends.Error() == nil {
		produced = d.rate.observe(now, total)
	}

	out := make([]GroupStatus, 0, len(d.cfg.Groups))
	for _, g := range d.cfg.Groups {
		gs := GroupStatus{Group: g.Name, Sink: g.Sink, Status: "unknown", Partitions: []PartitionLag{}}
		l, ok := lags[g.Name]
		if !ok || (l.Error() != nil && !isGroupMissing(l)) {
			out = append(out, gs) // unknown
			continue
		}
		gs.State, gs.Members = l.State, len(l.Members)
		for _, m := range l.Lag.Sorted() {
			lag := m.Lag
			if lag < 0 {
				lag = 0
			}
			gs.Partitions = append(gs.Partitions, PartitionLag{Topic: m.Topic, Partition: m.Partition, Committed: m.Commit.At, End: m.End.Offset, Lag: lag})
			gs.Lag += lag
		}
		if len(gs.Partitions) == 0 {
			// The group has committed nothing yet: everything on the topic is waiting for it,
			// unless it starts from the end, which a new KafkaSource does by default.
			ends.Each(func(o kadm.ListedOffset) {
				gs.Partitions = append(gs.Partitions, PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: -1, End: o.Offset})
			})
			slices.SortFunc(gs.Partitions, func(a, b PartitionLag) int { return int(a.Partition - b.Partition) })
		}
		switch {
		case l.State == "Dead" || l.State == "":
			gs.Status = "down"
		case gs.Members == 0 && gs.Lag > 0:
			gs.Status = "down"
		case gs.Members == 0:
			gs.Status = "idle"
		case gs.Lag > d.cfg.LagWarn:
			gs.Status = "behind"
		default:
			gs.Status = "ok"
		}
		out = append(out, gs)
	}
	return out, produced, nil
}

// isGroupMissing reports whether a group's lag failed only because the group does not exist.
func isGroupMissing(l kadm.DescribedGroupLag) bool {
	return l.State == "Dead" && (l.DescribeErr == nil || errors.Is(l.DescribeErr, kerr.GroupIDNotFound))
}

// deadLetters counts the dead-letter topic's records and reads the newest ones.
func (d *Dashboard) deadLetters(ctx context.Context) (*DeadLetters, error) {
	if d.deps.Kafka == nil {
		return nil, errNotConfigured
	}
	topic := d.cfg.DeadLetterTopic
	starts, err := d.deps.Kafka.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("dead letters: start offsets: %w", err)
	}
	ends, err := d.deps.Kafka.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("dead letters: end offsets: %w", err)
	}
	if err := errors.Join(starts.Error(), ends.Error()); err != nil {
		return nil, fmt.Errorf("dead letters: offsets: %w", err)
	}
	dl := &DeadLetters{Topic: topic, Latest: []DeadLetter{}}
	from, to := map[int32]int64{}, map[int32]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, e.Partition)
		dl.Count += e.Offset - s.Offset
		from[e.Partition] = max(s.Offset, e.Offset-latestDeadLetters)
		to[e.Partition] = e.Offset
	})
	if dl.Count == 0 || d.deps.DeadLetters == nil {
		return dl, nil
	}
	if latest, ok := d.dlq.lookup(to); ok {
		dl.Latest = latest
		return dl, nil
	}
	recs, err := d.deps.DeadLetters.ReadRange(ctx, topic, from, to)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		dl.Latest = append(dl.Latest, decodeDeadLetter(r))
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
	d.dlq.store(to, dl.Latest)
	return dl, nil
}

// decodeDeadLetter reads a dead-letter record: CloudEvent attributes in Kafka binary mode headers
// (ce_id, ce_knativeerrorcode, …) and the event's data as the value.
func decodeDeadLetter(r *kgo.Record) DeadLetter {
	dl := DeadLetter{Partition: r.Partition, Offset: r.Offset, Time: r.Timestamp.UTC()}
	for _, h := range r.Headers {
		name := strings.ReplaceAll(strings.ToLower(h.Key), "-", "_")
		v := strings.ToValidUTF8(string(h.Value), "\uFFFD")
		switch name {
		case "ce_id":
			dl.ID = v
		case "ce_source":
			dl.Source = v
		case "ce_type":
			dl.Type = v
		case "ce_knativeerrorcode":
			dl.Code = v
		case "ce_knativeerrordest":
			dl.Dest = v
		case "ce_knativeerrordata":
			dl.Reason = decodeReason(h.Value)
		}
	}
	dl.Data, _ = shorten(strings.ToValidUTF8(string(r.Value), "\uFFFD"))
	return dl
}

// decodeReason decodes knativeerrordata: base64 of the start of the sink's answer. A JSON answer
// gives its "error" (and "field" when there is one); anything else its text.
func decodeReason(b []byte) string {
	s := strings.TrimSpace(string(b))
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			raw = b // not base64: show it as it is
		}
	}
	var body struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		if body.Field != "" {
			return body.Error + " (" + body.Field + ")"
		}
		return body.Error
	}
	text, _ := shorten(strings.TrimSpace(strings.ToValidUTF8(string(raw), "\uFFFD")))
	return text
}

// indexedDocs counts the documents in the search index.
func (d *Dashboard) indexedDocs(ctx context.Context) (*int64, error) {
	if d.deps.Search == nil {
		return nil, errNotConfigured
	}
	res, err := esapi.CountRequest{Index: []string{d.cfg.Index}}.Do(ctx, d.deps.Search)
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("count: read: %w", err)
	}
	if res.StatusCode == http.StatusNotFound {
		return ptr(int64(0)), nil // no index yet: nothing indexed
	}
	if res.IsError() {
		return nil, fmt.Errorf("count: status %d: %s", res.StatusCode, snippet(raw))
	}
	var c struct {
		Count int64 `json:"count"`
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&c); err != nil {
		return nil, fmt.Errorf("count: decode: %w", err)
	}
	return &c.Count, nil
}
