package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sentistream/sentistream/internal/kafkasource"
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
	tl, err := kafkasource.ReadLag(ctx, d.deps.Kafka, d.cfg.Topic, names...)
	if err != nil {
		return nil, nil, err
	}
	var produced *float64
	if tl.End >= 0 {
		produced = d.rate.observe(now, tl.End)
	}
	out := make([]GroupStatus, 0, len(d.cfg.Groups))
	for i, g := range d.cfg.Groups {
		gs := GroupStatus{Group: g.Name, Sink: g.Sink, Status: "unknown", Partitions: []PartitionLag{}}
		l := tl.Groups[i]
		if l.Err != nil {
			out = append(out, gs) // unknown
			continue
		}
		gs.State, gs.Members, gs.Lag = l.State, l.Members, l.Lag
		for _, p := range l.Partitions {
			gs.Partitions = append(gs.Partitions, PartitionLag(p))
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

// indexedDocs counts the documents in the search index (0 when it does not exist yet).
func (d *Dashboard) indexedDocs(ctx context.Context) (*int64, error) {
	if d.es == nil {
		return nil, errNotConfigured
	}
	n, err := d.es.Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	return &n, nil
}

// scoredStats returns when the newest row was scored and how many rows were scored in the last
// minute.
func (d *Dashboard) scoredStats(ctx context.Context, now time.Time) (newest *time.Time, lastMinute int64, err error) {
	if d.pg == nil {
		return nil, 0, errNotConfigured
	}
	return d.pg.ScoredStats(ctx, now.Add(-time.Minute))
}
