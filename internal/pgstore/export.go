package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// ExportRow is one stored sentence as the read side (reindex, reconcile) sees it.
type ExportRow struct {
	// ID is the row's id.
	ID int64
	// Record holds key, sentence, created_at and provenance, as decoded when stored.
	Record event.Record
	Scores sentiment.Scores
	Label  string
	// ScoredAt is when the row was scored.
	ScoredAt time.Time
}

const exportColumns = `id, key, sentence, created_at, sentiment, pos, neu, neg, label, scored_at,
	topic, kafka_partition, kafka_offset, event_id, event_source`

func scanExport(rows pgx.CollectableRow) (ExportRow, error) {
	var (
		r                     ExportRow
		topic, eventID, evSrc pgtype.Text
		partition             pgtype.Int4
		offset                pgtype.Int8
	)
	err := rows.Scan(&r.ID, &r.Record.Key, &r.Record.Sentence, &r.Record.CreatedAt,
		&r.Scores.Compound, &r.Scores.Pos, &r.Scores.Neu, &r.Scores.Neg, &r.Label, &r.ScoredAt,
		&topic, &partition, &offset, &eventID, &evSrc)
	r.Record.CreatedAt = r.Record.CreatedAt.UTC()
	r.ScoredAt = r.ScoredAt.UTC()
	r.Record.Provenance = event.Provenance{
		EventID:     eventID.String,
		EventSource: evSrc.String,
		Topic:       topic.String,
		Partition:   partition.Int32,
		Offset:      offset.Int64,
		HasOffset:   partition.Valid && offset.Valid,
	}
	return r, err
}

// Export returns up to limit rows with an id greater than afterID, in id order: a page of a scan
// of the whole table by primary key ranges, which stays fast however far it goes. Pass the last
// row's ID to get the next page; an empty result is the end.
func (s *Store) Export(ctx context.Context, afterID int64, limit int) ([]ExportRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+exportColumns+` FROM sentences WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("export after id %d: %w", afterID, err)
	}
	out, err := pgx.CollectRows(rows, scanExport)
	if err != nil {
		return nil, fmt.Errorf("export after id %d: %w", afterID, err)
	}
	return out, nil
}

// ScanByKey calls fn with every row, up to batch (default 5000) at a time, in ascending byte order
// of key (COLLATE "C": the order Go and Elasticsearch's keyword sort use), streaming one query's
// result so that memory stays bounded. The sort does not use the key index unless the database's
// collation is C; PostgreSQL sorts on disk past work_mem. It holds one connection until it
// returns, and stops at the first error fn returns.
func (s *Store) ScanByKey(ctx context.Context, batch int, fn func([]ExportRow) error) error {
	if batch <= 0 {
		batch = 5000
	}
	rows, err := s.pool.Query(ctx, `SELECT `+exportColumns+` FROM sentences ORDER BY key COLLATE "C"`)
	if err != nil {
		return fmt.Errorf("scan sentences by key: %w", err)
	}
	defer rows.Close()
	page := make([]ExportRow, 0, batch)
	for rows.Next() {
		r, err := scanExport(rows)
		if err != nil {
			return fmt.Errorf("scan sentences by key: %w", err)
		}
		page = append(page, r)
		if len(page) == batch {
			if err := fn(page); err != nil {
				return err
			}
			page = make([]ExportRow, 0, batch)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan sentences by key: %w", err)
	}
	if len(page) > 0 {
		return fn(page)
	}
	return nil
}
