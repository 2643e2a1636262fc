// Package score is the scoring function: the [sink] runtime with PostgreSQL as its store. An item
// is a [pgstore.Row] (the record and its VADER scores), written by [Writer] through
// [pgstore.Store.Insert] with group commit. Answers and metrics are the sink package's, with
// function="score".
package score

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/sink"
)

// Inserter stores rows in one transaction and reports, per row, whether it was new (false: a
// duplicate). [pgstore.Store] is one.
type Inserter interface {
	Insert(ctx context.Context, rows []pgstore.Row) ([]bool, error)
}

// New returns the score function's handler writing through ins. m may be nil.
func New(cfg sink.Config, ins Inserter, m *sink.Metrics) *sink.Handler[pgstore.Row] {
	return sink.New(cfg, sink.Sink[pgstore.Row]{Store: "postgresql", Build: Row, Writer: Writer{ins}}, m)
}

// Row is the item of a record and its scores.
func Row(rec event.Record, s sentiment.Scores) pgstore.Row {
	return pgstore.Row{Record: rec, Scores: s}
}

// Writer is the [sink.Writer] of rows.
type Writer struct{ Inserter Inserter }

// Write inserts rows in one statement. When PostgreSQL refuses the statement for good, it writes
// the rows one at a time, so that one refused row does not fail the rows batched with it.
func (w Writer) Write(ctx context.Context, rows []pgstore.Row) []error {
	errs := make([]error, len(rows))
	inserted, err := w.insert(ctx, rows)
	if err != nil && len(rows) > 1 && isRefusal(err) {
		for i := range rows {
			errs[i] = w.Write(ctx, rows[i:i+1])[0]
		}
		return errs
	}
	for i := range rows {
		switch {
		case err != nil:
			errs[i] = classify(err)
		case !inserted[i]:
			errs[i] = sink.ErrDuplicate
		}
	}
	return errs
}

func (w Writer) insert(ctx context.Context, rows []pgstore.Row) ([]bool, error) {
	inserted, err := w.Inserter.Insert(ctx, rows)
	if err == nil && len(inserted) != len(rows) {
		err = fmt.Errorf("insert returned %d results for %d rows", len(inserted), len(rows))
	}
	return inserted, err
}

// isRefusal reports whether err is PostgreSQL refusing the statement's data rather than being
// unable to run it: worth finding the row that caused it.
func isRefusal(err error) bool {
	if _, ok := errors.AsType[*env.MisconfigError](err); ok {
		return false
	}
	return !pgstore.Transient(err) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// classify marks err for the sink: a transient failure is [sink.Unavailable], a data exception
// or integrity violation (SQLSTATE classes 22 and 23: a value PostgreSQL cannot hold) is
// [sink.Refused], anything else (a missing table, a bug) stays as it is and answers 500.
func classify(err error) error {
	if pgstore.Transient(err) {
		return sink.Unavailable(err)
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")) {
		detail := map[string]any{"cause": pe.Code}
		if pe.ColumnName != "" {
			detail["field"] = pe.ColumnName
		}
		return sink.Refused(err, "refused by postgresql", detail)
	}
	return err
}
