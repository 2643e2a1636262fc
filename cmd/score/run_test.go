package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sentistream/sentistream/internal/pgstore/pgstoretest"
	"github.com/sentistream/sentistream/internal/testenv"
)

// start runs the server with env until the test ends, and returns its base URL once /healthz answers.
func start(t *testing.T, env map[string]string) string {
	t.Helper()
	env["LOG_LEVEL"] = "error"
	return startLogging(t, env, io.Discard)
}

// startLogging is start with the server's log, at env's LOG_LEVEL, written to logs.
func startLogging(t *testing.T, env map[string]string, logs io.Writer) string {
	t.Helper()
	env["PORT"] = testenv.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv(env), logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run after shutdown = %v, want nil", err)
		}
	})
	base := "http://127.0.0.1:" + env["PORT"]
	waitFor(t, base+"/healthz", http.StatusOK)
	return base
}

// waitFor polls url until it answers code, for at most 10s, and returns the last body.
func waitFor(t *testing.T, url string, code int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == code {
				return string(b)
			}
		}
		<-tick.C
	}
	t.Fatalf("GET %s: no %d within 10s (last: %s)", url, code, last)
	return ""
}

func TestRunWithPostgresDown(t *testing.T) {
	base := start(t, map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable"})
	body := waitFor(t, base+"/readyz", http.StatusServiceUnavailable)
	if !strings.Contains(body, "postgres") {
		t.Errorf("/readyz body %s does not name postgres", body)
	}
	waitFor(t, base+"/_/health", http.StatusOK)
}

func TestRunMigrateThenServe(t *testing.T) {
	cfg := pgstoretest.Config(t) // an empty schema
	u, err := url.Parse(cfg.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", cfg.ConnConfig.RuntimeParams["search_path"])
	u.RawQuery = q.Encode()
	env := map[string]string{"DATABASE_URL": u.String(), "MIGRATE_ON_START": "false"}

	if err := run(t.Context(), []string{"migrate"}, getenv(env), io.Discard); err != nil {
		t.Fatalf("score migrate = %v", err)
	}
	conn, err := pgx.ConnectConfig(t.Context(), cfg.ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions int
	files, _ := filepath.Glob("../../internal/pgstore/migrations/*.sql")
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&versions); err != nil || versions != len(files) || versions == 0 {
		t.Fatalf("schema_migrations after score migrate: %d rows, %v; want one per migration (%d)", versions, err, len(files))
	}

	base := start(t, env)
	waitFor(t, base+"/readyz", http.StatusOK)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/", strings.NewReader(`{"sentence":"It works!"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("POST status = %d, want 204", resp.StatusCode)
	}
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM sentences").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows = %d, %v, want 1", n, err)
	}
}

func TestRunUnknownSubcommand(t *testing.T) {
	if err := run(t.Context(), []string{"frobnicate"}, getenv(nil), io.Discard); err == nil {
		t.Error("run(frobnicate) = nil, want an error")
	}
}
