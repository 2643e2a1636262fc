package tests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/testenv"
)

// blockFor is how long TestFaultStoreBlocked keeps a store refusing writes.
const blockFor = 30 * time.Second

// TestFaultStoreBlocked makes one store refuse writes while it stays up, as real deployments see
// it: Elasticsearch's flood-stage disk watermark puts index.blocks.read_only_allow_delete on the
// index (bulk items answer 429 cluster_block_exception), and a PostgreSQL reached during a
// failover is read-only (new sessions get 25006). For 30 s under load the blocked sink answers
// 503 and retries, nothing is dead-lettered, and the other sink keeps up; once the block clears,
// the usual proof holds: every well-formed record exactly once in both stores.
func TestFaultStoreBlocked(t *testing.T) {
	testenv.Faults(t)
	for _, tc := range []struct {
		name, otherGroup string
		block, clear     func(t *testing.T, s *system)
	}{
		{"elasticsearch read_only_allow_delete", "-score", esBlock(true), esBlock(false)},
		{"postgres read-only", "-index", pgReadOnly(true), pgReadOnly(false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSystem(t)
			l := startLoad(t, s, faultRate)
			sleepCtx(t, 3*time.Second) // the index exists and both sinks are writing
			tc.block(t, s)
			cleared := false
			t.Cleanup(func() {
				if !cleared {
					tc.clear(t, s)
				}
			})
			blocked := time.Now()
			maxOtherLag := s.otherSinkMaxLag(s.topic+tc.otherGroup, blockFor)
			tc.clear(t, s)
			cleared = true
			t.Logf("%s for %s; the other sink's lag peaked at %d records (%d records/s produced)",
				tc.name, time.Since(blocked).Round(time.Second), maxOtherLag, faultRate)
			// The other sink commits every 5 s (KafkaSource's interval): two intervals of records
			// is the most it may trail by while it keeps up.
			if limit := int64(10 * faultRate); maxOtherLag > limit {
				t.Errorf("the other sink trailed by %d records (limit %d) while %s: it should keep up", maxOtherLag, limit, tc.name)
			}
			sleepCtx(t, 3*time.Second)
			s.verifyFault(l.stop(), 5*time.Minute)
		})
	}
}

// esBlock sets (or clears) the block the flood-stage watermark leaves on the system's index.
func esBlock(on bool) func(t *testing.T, s *system) {
	return func(t *testing.T, s *system) {
		value := any(true)
		if !on {
			value = nil // removes the setting, as an operator clearing the block does
		}
		body := map[string]any{"index.blocks.read_only_allow_delete": value}
		if code := esindextest.Do(t, s.es, http.MethodPut, "/"+s.esIndex+"/_settings", body, nil); code != http.StatusOK {
			t.Fatalf("set index.blocks.read_only_allow_delete=%v on %s: status %d", value, s.esIndex, code)
		}
	}
}

// pgReadOnly makes new sessions of the database read-only (or writable again), as a standby
// answers during a failover, and ends the score function's sessions so that its pool reconnects
// under the new default.
func pgReadOnly(on bool) func(t *testing.T, s *system) {
	return func(t *testing.T, s *system) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cfg, err := pgx.ParseConfig(testenv.DatabaseURL(t))
		if err != nil {
			t.Fatal(err)
		}
		// This session must be able to write whatever the database's default says.
		cfg.RuntimeParams["default_transaction_read_only"] = "off"
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var db string
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
			t.Fatal(err)
		}
		stmt := "ALTER DATABASE " + pgx.Identifier{db}.Sanitize() + " RESET default_transaction_read_only"
		if on {
			stmt = "ALTER DATABASE " + pgx.Identifier{db}.Sanitize() + " SET default_transaction_read_only = on"
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		// The score function's sessions carry its schema in search_path (see scopedDBURL).
		var ended int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'sentistream'`).Scan(&ended); err != nil {
			t.Fatalf("end the score function's sessions: %v", err)
		}
		t.Logf("%s; ended %d sessions", stmt, ended)
	}
}
