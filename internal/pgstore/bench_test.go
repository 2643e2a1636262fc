package pgstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sentiment"
)

var seq atomic.Int64

func benchRows(n int) []pgstore.Row {
	run := time.Now().UnixNano()
	rows := make([]pgstore.Row, n)
	for i := range rows {
		rows[i] = pgstore.Row{
			Record: event.Record{Key: fmt.Sprintf("bench:%d/%d", run, seq.Add(1)), Sentence: "The headphones are great, but the battery is not.",
				CreatedAt: time.Now(), Provenance: event.Provenance{EventID: "x", EventSource: "urn:bench", Topic: "sentence", HasOffset: true, Offset: int64(i)}},
			Scores: sentiment.Scores{Compound: 0.5, Pos: 0.3, Neu: 0.6, Neg: 0.1},
		}
	}
	return rows
}

// BenchmarkInsert compares the two one-statement designs for a batch: Insert's multi-row INSERT
// from unnest'ed arrays (one round trip), and COPY into a temporary staging table followed by
// INSERT … SELECT … ON CONFLICT (three round trips in one transaction).
func BenchmarkInsert(b *testing.B) {
	pool := pgstoretest.Open(b)
	s := pgstore.New(pool)
	for _, n := range []int{1, 64, 500} {
		b.Run(fmt.Sprintf("unnest/rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Insert(b.Context(), benchRows(n)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("copy/rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := insertCopy(b.Context(), pool, benchRows(n)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// insertCopy is the COPY design, kept here only to measure against Insert.
func insertCopy(ctx context.Context, pool *pgxpool.Pool, rows []pgstore.Row) (int, error) {
	inserted := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS sentences_stage
			(LIKE sentences INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			p := r.Record.Provenance
			return []any{r.Record.Key, r.Record.Sentence, r.Scores.Compound, r.Record.CreatedAt, r.Scores.Pos, r.Scores.Neu,
				r.Scores.Neg, sentiment.Label(r.Scores.Compound), p.Topic, p.Partition, p.Offset, p.EventID, p.EventSource}, nil
		})
		cols := []string{"key", "sentence", "sentiment", "created_at", "pos", "neu", "neg", "label", "topic",
			"kafka_partition", "kafka_offset", "event_id", "event_source"}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"sentences_stage"}, cols, src); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO sentences (key, sentence, sentiment, created_at, pos, neu, neg, label, topic,
			kafka_partition, kafka_offset, event_id, event_source)
			SELECT key, sentence, sentiment, created_at, pos, neu, neg, label, topic, kafka_partition, kafka_offset, event_id, event_source
			FROM sentences_stage ON CONFLICT (key) DO NOTHING`)
		inserted = int(tag.RowsAffected())
		return err
	})
	return inserted, err
}
