package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"deadline", fmt.Errorf("insert: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, false},
		{"conn refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"eof", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"serialization", &pgconn.PgError{Code: "40001"}, true},
		{"read-only after a failover", &pgconn.PgError{Code: "25006"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"value too long", &pgconn.PgError{Code: "22001"}, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, false},
		{"check violation", &pgconn.PgError{Code: "23514"}, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %d has version %d, want versions 1, 2, … without gaps", i, m.version)
		}
	}
}

// TestRollupThresholds checks that the rollup trigger labels rows with the thresholds of
// sentiment.Label, as the reads of sentences do, so a timeline reads the same from either table.
func TestRollupThresholds(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		if !strings.Contains(m.sql, "sentences_minute") {
			continue
		}
		found = true
		pos := strings.Count(m.sql, "FILTER (WHERE "+sqlPositive+")")
		neg := strings.Count(m.sql, "FILTER (WHERE "+sqlNegative+")")
		if all := strings.Count(m.sql, "FILTER (WHERE sentiment"); pos == 0 || neg == 0 || pos+neg != all {
			t.Errorf("migration %d_%s: %d of its %d label conditions are %q or %q", m.version, m.name, pos+neg, all, sqlPositive, sqlNegative)
		}
	}
	if !found {
		t.Error("no migration creates sentences_minute")
	}
}
