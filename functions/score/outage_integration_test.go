package score

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/sink"
	"github.com/sentistream/sentistream/internal/sink/sinktest"
	"github.com/sentistream/sentistream/internal/testenv"
)

// TestScorePostgresOutage stops the local PostgreSQL mid-load and starts it again: while it is down
// every event is answered 503 (nothing else but 204), and once it is back, retrying the failed
// events stores each exactly once. It runs only with SENTISTREAM_TEST_FAULTS=1 ([testenv.Faults]),
// alone, as stopping PostgreSQL breaks every other test using it at the time:
//
//	SENTISTREAM_TEST_FAULTS=1 SENTISTREAM_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable \
//	  go test -run TestScorePostgresOutage ./functions/score/
func TestScorePostgresOutage(t *testing.T) {
	testenv.Faults(t) // it stops the shared PostgreSQL: only in the serial fault phase, or by hand
	root := repoRoot(t)
	stackDir := os.Getenv("STACK_DIR")
	if stackDir == "" {
		stackDir = filepath.Join(root, ".stack")
	}
	if _, err := os.Stat(filepath.Join(stackDir, "postgres", "postgres.pid")); err != nil {
		if testenv.InCI() {
			t.Fatalf("PostgreSQL was not started by infra/local/up.sh: %v", err)
		}
		t.Skipf("PostgreSQL was not started by infra/local/up.sh (%v): not stopping a server we do not own", err)
	}
	cfg := pgstoretest.Config(t)
	// Registered after Config's schema drop, so it runs first: PostgreSQL is always back.
	t.Cleanup(func() { stack(t, root, "up.sh") })

	// Short-lived connections: PostgreSQL's smart shutdown waits for open sessions to end.
	cfg.MaxConnLifetime, cfg.MaxConnLifetimeJitter, cfg.HealthCheckPeriod = 300*time.Millisecond, 0, 100*time.Millisecond
	cfg.ConnConfig.ConnectTimeout = time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "sentistream-test"
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pgstore.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	ts, _ := newServer(t, sink.Config{StoreTimeout: time.Second}, pgstore.New(pool))
	// PostgreSQL's smart shutdown (SIGTERM) waits for every session to end, other clients' too, and
	// down.sh sends SIGKILL after 60s: allow for that.
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()

	var (
		next    int64 // the next event id; under mu
		mu      sync.Mutex
		failed  []int64
		counts  = map[int]int{}
		sendOne = func(id int64) int {
			code, body, _ := sinktest.Send(t, ts.Client(), ts.URL, sinktest.BinaryCE(fmt.Sprint(id), fmt.Sprintf("Event %d is fine.", id)))
			mu.Lock()
			defer mu.Unlock()
			counts[code]++
			switch code {
			case http.StatusNoContent:
			case http.StatusServiceUnavailable:
				failed = append(failed, id)
			default:
				t.Errorf("event %d: status %d (%s), want 204 or 503", id, code, body)
			}
			return code
		}
	)
	// load sends n new events from 8 clients, each pausing pace between its events, until stop is
	// closed (nil: never).
	load := func(stop <-chan struct{}, n int64, pace time.Duration) {
		mu.Lock()
		limit := next + n
		mu.Unlock()
		take := func() (int64, bool) {
			mu.Lock()
			defer mu.Unlock()
			if next >= limit {
				return 0, false
			}
			next++
			return next - 1, true
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				tick := time.NewTicker(pace)
				defer tick.Stop()
				for ctx.Err() == nil {
					id, ok := take()
					if !ok {
						return
					}
					sendOne(id)
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			})
		}
		wg.Wait()
	}

	load(nil, 100, time.Microsecond)
	if len(failed) > 0 {
		t.Fatalf("%d of 100 events failed with PostgreSQL up", len(failed))
	}

	logSessions(t, pool)
	start := time.Now()
	stopped := make(chan struct{})
	go func() { defer close(stopped); stack(t, root, "down.sh") }()
	load(stopped, 400, 10*time.Millisecond) // mid-load: events race the shutdown
	<-stopped
	t.Logf("PostgreSQL stopped after %v; answers so far %v", time.Since(start).Round(time.Millisecond), counts)
	before := len(failed)
	load(nil, 50, time.Microsecond)
	if got := len(failed) - before; got != 50 {
		t.Errorf("events answered 503 with PostgreSQL down = %d of 50", got)
	}

	stack(t, root, "up.sh")
	t.Logf("PostgreSQL back after %v; retrying %d failed events", time.Since(start).Round(time.Millisecond), len(failed))
	retries := make(chan int64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for id := range retries {
				for sendOne(id) != http.StatusNoContent && ctx.Err() == nil {
					<-tick.C
				}
			}
		})
	}
	for _, id := range slices.Clone(failed) {
		retries <- id
	}
	close(retries)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("failed events still failing when the test's time ran out")
	}
	sent := int(next)
	if rows, keys := countRows(t, pool); rows != sent || keys != sent {
		t.Errorf("rows, distinct keys = %d, %d, want %d (every event sent, each once)", rows, keys, sent)
	}
	t.Logf("%d events, answers %v, total %v", sent, counts, time.Since(start).Round(time.Millisecond))
}

// logSessions logs the client sessions PostgreSQL has besides the test's, which hold up its
// smart shutdown.
func logSessions(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var others []string
	rows, err := pool.Query(t.Context(), `SELECT coalesce(application_name, '') || ' (' || state || ')' FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> 'sentistream-test'`)
	if err == nil {
		for rows.Next() {
			var s string
			if rows.Scan(&s) == nil {
				others = append(others, s)
			}
		}
		rows.Close()
	}
	t.Logf("other PostgreSQL sessions before the stop (its smart shutdown waits for them): %d %v", len(others), others)
}

// stack runs infra/local/<script> postgres, bounded.
func stack(t *testing.T, root, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(root, "infra", "local", script), "postgres").CombinedOutput()
	if err != nil {
		t.Errorf("%s postgres: %v\n%s", script, err, out)
	}
}

// repoRoot returns the directory holding go.mod, above the test's working directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
