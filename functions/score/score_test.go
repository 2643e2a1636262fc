package score

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/sink/sinktest"
)

// inserterFunc is an Inserter.
type inserterFunc func(ctx context.Context, rows []pgstore.Row) ([]bool, error)

func (f inserterFunc) Insert(ctx context.Context, rows []pgstore.Row) ([]bool, error) {
	return f(ctx, rows)
}

func TestWriteClassifies(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, "unavailable"},
		{"read-only", &pgconn.PgError{Code: "25006"}, "unavailable"},
		{"NUL in text", &pgconn.PgError{Code: "22021"}, "refused"},
		{"value too long", &pgconn.PgError{Code: "22001", ColumnName: "sentence"}, "refused"},
		{"check violation", &pgconn.PgError{Code: "23514"}, "refused"},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, "other"},
		{"wrong password", pgstore.Misconfigured(&pgconn.PgError{Code: "28P01"}), "misconfigured"},
		{"deadline", context.DeadlineExceeded, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Writer{inserterFunc(func(context.Context, []pgstore.Row) ([]bool, error) { return nil, tt.err })}
			errs := w.Write(t.Context(), []pgstore.Row{{Record: event.Record{Key: "a"}}})
			if len(errs) != 1 || sinktest.Kind(errs[0]) != tt.want || !errors.Is(errs[0], tt.err) {
				t.Errorf("Write = %v, want one %s error wrapping %v", errs, tt.want, tt.err)
			}
		})
	}
}

func TestWriteIsolatesRefusedRow(t *testing.T) {
	refused := &pgconn.PgError{Code: "22001"}
	calls := 0
	w := Writer{inserterFunc(func(_ context.Context, rows []pgstore.Row) ([]bool, error) {
		calls++
		for _, r := range rows {
			if r.Record.Key == "bad" {
				return nil, refused
			}
		}
		return []bool{rows[0].Record.Key != "dup"}[:len(rows)], nil
	})}
	rows := []pgstore.Row{{Record: event.Record{Key: "a"}}, {Record: event.Record{Key: "bad"}}, {Record: event.Record{Key: "dup"}}}
	errs := w.Write(t.Context(), rows)
	got := []string{sinktest.Kind(errs[0]), sinktest.Kind(errs[1]), sinktest.Kind(errs[2])}
	if len(errs) != 3 || got[0] != "stored" || got[1] != "refused" || got[2] != "duplicate" || !errors.Is(errs[1], refused) {
		t.Errorf("Write = %v (%v), want [stored, refused, duplicate]", errs, got)
	}
	if calls != 4 {
		t.Errorf("inserts = %d, want 4 (the batch, then each row)", calls)
	}
}

func TestWriteDoesNotSplitOnOutage(t *testing.T) {
	calls := 0
	w := Writer{inserterFunc(func(context.Context, []pgstore.Row) ([]bool, error) {
		calls++
		return nil, &pgconn.PgError{Code: "57P03"}
	})}
	errs := w.Write(t.Context(), make([]pgstore.Row, 3))
	for i, err := range errs {
		if sinktest.Kind(err) != "unavailable" {
			t.Errorf("row %d: %v, want unavailable", i, err)
		}
	}
	if calls != 1 {
		t.Errorf("inserts = %d, want 1: an outage is not looked for row by row", calls)
	}
}
