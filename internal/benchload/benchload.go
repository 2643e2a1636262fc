// Package benchload fills a PostgreSQL table sentences and an Elasticsearch index with the same
// scored sentences, varied and spread over a past span of time, so that a benchmark measures
// stores the size of a live one rather than fresh, empty ones. The records are deterministic: the
// same n gives the same sentences, scores and keys (created_at is relative to the time of the load).
package benchload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// Batch is the number of records in one COPY and in one _bulk request; Workers is the number of
// concurrent _bulk requests.
const (
	Batch   = 5000
	Workers = 3
)

// Source is the CloudEvent source of every loaded record: keys are "ce:" + Source + "#p-<i>", as
// the pipeline keys a CloudEvent, so they never collide with a benchmark's own events.
const Source = "urn:sentistream:benchload"

// topic is the Kafka topic the loaded records claim to come from (the one infra/knative reads).
const topic = "sentence"

var words = struct{ subjects, pos, neg, neu []string }{
	subjects: []string{"coffee", "service", "delivery", "app", "support", "price", "staff", "update", "checkout", "website"},
	pos:      []string{"great", "excellent", "lovely", "fast", "friendly", "good", "amazing"},
	neg:      []string{"terrible", "slow", "awful", "broken", "rude", "bad", "disappointing"},
	neu:      []string{"okay", "usual", "new", "different", "there", "average", "fine"},
}

// Sentence returns a sentence drawn from r and its compound score, uniform in [-1, 1); the
// sentence's adjectives are of the score's label ("The coffee was great and the app fast today #123").
func Sentence(r *rand.Rand) (string, float64) {
	subj := words.subjects[r.IntN(len(words.subjects))]
	c := r.Float64()*2 - 1
	adj := adjectives(sentiment.Label(c))
	return fmt.Sprintf("The %s was %s and the %s %s today #%d", subj, adj[r.IntN(len(adj))],
		words.subjects[r.IntN(len(words.subjects))], adj[r.IntN(len(adj))], r.IntN(100000)), c
}

func adjectives(label string) []string {
	switch label {
	case sentiment.LabelPositive:
		return words.pos
	case sentiment.LabelNegative:
		return words.neg
	default:
		return words.neu
	}
}

// Config says where and how [Load] writes. The zero value of each field means its default.
type Config struct {
	// Schema is the schema of the table sentences (created by pgstore's migrations); "" means the
	// pool's search_path.
	Schema string
	// Span is how far back created_at goes: each record's is uniform in the Span before the load
	// starts, in random order. 0 means 7 days.
	Span time.Duration
	// Progress, when not nil, is called each time the number of records written to both stores
	// passes a multiple of ProgressEvery, with that number and the time since Load started. Calls
	// come from Load's goroutines, one at a time.
	Progress func(done int, elapsed time.Duration)
	// ProgressEvery is the interval of Progress calls in records; 0 means 100,000.
	ProgressEvery int
}

// batch is one slice of the records, as COPY rows and as documents.
type batch struct {
	rows [][]any
	docs []esindex.Doc
}

var columns = []string{"sentence", "sentiment", "created_at", "key", "pos", "neu", "neg", "label", "scored_at",
	"topic", "kafka_partition", "kafka_offset", "event_id", "event_source"}

// Load writes n records to the table sentences (COPY, one statement of [Batch] rows at a time)
// and the same documents to ix ([Workers] concurrent _bulk requests of [Batch]), then analyzes
// the table and refreshes the index. It installs ix's template first, so an index Load creates
// has the project's mapping. It does not force-merge: the index keeps the segments that indexing
// left, as a live one does. The table must exist, and the index must not hold the keys already.
func Load(ctx context.Context, pool *pgxpool.Pool, ix *esindex.Index, n int, cfg Config) error {
	if err := ix.EnsureTemplate(ctx); err != nil {
		return fmt.Errorf("benchload: install template: %w", err)
	}
	table := pgx.Identifier{"sentences"}
	if cfg.Schema != "" {
		table = pgx.Identifier{cfg.Schema, "sentences"}
	}
	if err := write(ctx, pool, table, ix, n, cfg); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+table.Sanitize()); err != nil {
		return fmt.Errorf("benchload: analyze: %w", err)
	}
	if err := ix.Refresh(ctx); err != nil {
		return fmt.Errorf("benchload: refresh: %w", err)
	}
	return nil
}

// write generates the batches and hands each to one PostgreSQL writer and to one of the
// Elasticsearch workers; the first error stops all of them and is returned.
func write(ctx context.Context, pool *pgxpool.Pool, table pgx.Identifier, ix *esindex.Index, n int, cfg Config) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	prog := newProgress(cfg)
	toPG, toES := make(chan batch, Workers), make(chan batch, Workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		for b := range toPG {
			if ctx.Err() != nil {
				continue // drain: the generator stops at the cancellation
			}
			if _, err := pool.CopyFrom(ctx, table, columns, pgx.CopyFromRows(b.rows)); err != nil {
				cancel(fmt.Errorf("benchload: copy: %w", err))
				continue
			}
			prog.add(len(b.rows), 0)
		}
	})
	for range Workers {
		wg.Go(func() {
			for b := range toES {
				if ctx.Err() != nil {
					continue
				}
				if err := bulk(ctx, ix, b.docs); err != nil {
					cancel(err)
					continue
				}
				prog.add(0, len(b.docs))
			}
		})
	}
	generate(ctx, n, cfg.Span, toPG, toES)
	wg.Wait()
	return context.Cause(ctx)
}

func bulk(ctx context.Context, ix *esindex.Index, docs []esindex.Doc) error {
	for i, err := range ix.Bulk(ctx, docs) {
		if err != nil {
			return fmt.Errorf("benchload: bulk %s: %w", docs[i].Key, err)
		}
	}
	return nil
}

// generate sends n records in batches of [Batch] to every out, in order, then closes them; it
// stops early when ctx ends.
func generate(ctx context.Context, n int, span time.Duration, outs ...chan<- batch) {
	defer func() {
		for _, out := range outs {
			close(out)
		}
	}()
	if span <= 0 {
		span = 7 * 24 * time.Hour
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	for i := 0; i < n; i += Batch {
		b := newBatch(r, now, span, i, min(Batch, n-i))
		for _, out := range outs {
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
		}
	}
}

// newBatch returns records first … first+size-1, created in the span before now, scored when
// created, with the provenance the pipeline records for a CloudEvent from Kafka.
func newBatch(r *rand.Rand, now time.Time, span time.Duration, first, size int) batch {
	b := batch{rows: make([][]any, size), docs: make([]esindex.Doc, size)}
	for j := range size {
		i := first + j
		s, c := Sentence(r)
		created := esindex.Micro(now.Add(-time.Duration(r.Int64N(int64(span)))))
		id := "p-" + strconv.Itoa(i)
		d := esindex.Doc{
			Key: "ce:" + Source + "#" + id, Sentence: s, CreatedAt: created, ScoredAt: created,
			Scores: sentiment.Scores{Compound: c, Neu: 1}, Label: sentiment.Label(c),
			Provenance: event.Provenance{EventID: id, EventSource: Source, Topic: topic,
				Partition: int32(i % 3), Offset: int64(i / 3), HasOffset: true},
		}
		b.docs[j] = d
		p := d.Provenance
		b.rows[j] = []any{d.Sentence, c, created, d.Key, d.Scores.Pos, d.Scores.Neu, d.Scores.Neg, d.Label, created,
			p.Topic, p.Partition, p.Offset, p.EventID, p.EventSource}
	}
	return b
}

// progress counts the records each store has and reports the smaller count at every interval.
type progress struct {
	report func(int, time.Duration)
	every  int
	start  time.Time

	mu       sync.Mutex
	pg, es   int
	reported int // the last multiple of every reported
}

func newProgress(cfg Config) *progress {
	every := cfg.ProgressEvery
	if every <= 0 {
		every = 100_000
	}
	return &progress{report: cfg.Progress, every: every, start: time.Now()}
}

func (p *progress) add(pg, es int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pg += pg
	p.es += es
	done := min(p.pg, p.es)
	if p.report == nil || done/p.every <= p.reported {
		return
	}
	p.reported = done / p.every
	p.report(done, time.Since(p.start))
}
