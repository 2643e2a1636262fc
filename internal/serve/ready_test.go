package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentistream/sentistream/internal/env"
)

// discard is a logger that writes nothing.
var discard = slog.New(slog.DiscardHandler)

// get serves a GET of path on s without a listener.
func get(t *testing.T, s http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
	return rec
}

func TestReadiness(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial postgres://app:hunter2@db:5432: refused") }
	tests := []struct {
		name       string
		checks     map[string]ReadyCheck
		wantStatus int
		wantBody   map[string]any // nil: want "ok\n"
	}{
		{name: "no checks", wantStatus: 200},
		{name: "all pass", checks: map[string]ReadyCheck{"postgres": ok, "elasticsearch": ok}, wantStatus: 200},
		{name: "nil check is ignored", checks: map[string]ReadyCheck{"postgres": nil}, wantStatus: 200},
		{
			name:       "one fails",
			checks:     map[string]ReadyCheck{"postgres": down, "elasticsearch": ok},
			wantStatus: 503,
			wantBody:   map[string]any{"error": "not ready: postgres unavailable", "unavailable": []any{"postgres"}},
		},
		{
			name:       "two fail, sorted",
			checks:     map[string]ReadyCheck{"postgres": down, "elasticsearch": down, "kafka": ok},
			wantStatus: 503,
			wantBody:   map[string]any{"error": "not ready: elasticsearch, postgres unavailable", "unavailable": []any{"elasticsearch", "postgres"}},
		},
	}
	for _, tt := range tests {
		for _, path := range []string{"/readyz", "/_/ready"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				s := New(Config{}, discard, NewRegistry(), tt.checks)
				rec := get(t, s, path)
				if rec.Code != tt.wantStatus {
					t.Errorf("GET %s = %d, want %d", path, rec.Code, tt.wantStatus)
				}
				if strings.Contains(rec.Body.String(), "hunter2") {
					t.Errorf("GET %s body %q leaks the check's error", path, rec.Body)
				}
				if tt.wantBody == nil {
					if rec.Body.String() != "ok\n" {
						t.Errorf("GET %s body = %q, want %q", path, rec.Body, "ok\n")
					}
					return
				}
				var got map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("GET %s body %q: %v", path, rec.Body, err)
				}
				if diff := cmp.Diff(tt.wantBody, got); diff != "" {
					t.Errorf("GET %s body (-want +got):\n%s", path, diff)
				}
			})
		}
	}
}

func TestReadinessLogsChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs strings.Builder
		var healthy atomic.Bool
		s := New(Config{}, NewLogger(&logs, slog.LevelInfo), NewRegistry(), map[string]ReadyCheck{
			"postgres": func(context.Context) error {
				if healthy.Load() {
					return nil
				}
				return errors.New("refused")
			},
		})
		for range 3 { // one warning for three failing probes
			get(t, s, "/readyz")
			time.Sleep(readyCacheTTL)
		}
		healthy.Store(true)
		if rec := get(t, s, "/readyz"); rec.Code != 200 {
			t.Fatalf("GET /readyz after recovery = %d, want 200", rec.Code)
		}
		got := logs.String()
		if n := strings.Count(got, `"msg":"dependency unavailable","dependency":"postgres","error":"refused"`); n != 1 {
			t.Errorf("logged %d unavailable warnings, want 1:\n%s", n, got)
		}
		if n := strings.Count(got, `"msg":"dependency available again","dependency":"postgres"`); n != 1 {
			t.Errorf("logged %d recoveries, want 1:\n%s", n, got)
		}
	})
}

func TestReadinessCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		s := New(Config{}, discard, NewRegistry(), map[string]ReadyCheck{
			"postgres": func(context.Context) error { calls.Add(1); return nil },
		})
		get(t, s, "/readyz")
		get(t, s, "/_/ready")
		if got := calls.Load(); got != 1 {
			t.Errorf("two probes within the cache TTL ran the check %d times, want 1", got)
		}
		time.Sleep(readyCacheTTL)
		get(t, s, "/readyz")
		if got := calls.Load(); got != 2 {
			t.Errorf("a probe after the cache TTL ran the check %d times in total, want 2", got)
		}
	})
}

func TestReadinessTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var gotErr error
		s := New(Config{}, discard, NewRegistry(), map[string]ReadyCheck{
			"elasticsearch": func(ctx context.Context) error { <-ctx.Done(); gotErr = ctx.Err(); return gotErr },
		})
		start := time.Now()
		rec := get(t, s, "/readyz")
		if rec.Code != 503 {
			t.Errorf("GET /readyz with a hanging check = %d, want 503", rec.Code)
		}
		if d := time.Since(start); d != readyTimeout {
			t.Errorf("GET /readyz with a hanging check took %v, want %v", d, readyTimeout)
		}
		if !errors.Is(gotErr, context.DeadlineExceeded) {
			t.Errorf("check ctx error = %v, want %v", gotErr, context.DeadlineExceeded)
		}
	})
}

func TestReadinessChecksRunConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		aStarted, bStarted := make(chan struct{}), make(chan struct{})
		// Each check waits for the other to start: run one after the other they would both time out.
		wait := func(mine, other chan struct{}) ReadyCheck {
			return func(ctx context.Context) error {
				close(mine)
				select {
				case <-other:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		s := New(Config{}, discard, NewRegistry(), map[string]ReadyCheck{"a": wait(aStarted, bStarted), "b": wait(bStarted, aStarted)})
		if rec := get(t, s, "/readyz"); rec.Code != 200 {
			t.Errorf("GET /readyz = %d %q, want 200", rec.Code, rec.Body)
		}
	})
}

func TestReadinessIgnoresProbeCancel(t *testing.T) {
	s := New(Config{}, discard, NewRegistry(), map[string]ReadyCheck{
		"postgres": func(ctx context.Context) error { return ctx.Err() },
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/readyz", nil))
	if rec.Code != 200 {
		t.Errorf("GET /readyz from a client that hung up = %d, want 200 (checks get their own ctx)", rec.Code)
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"GET", "/_/health", 200, "ok\n"},
		{"HEAD", "/healthz", 200, ""},
		{"POST", "/healthz", 405, ""},
	}
	s := New(Config{}, discard, NewRegistry(), map[string]ReadyCheck{
		"postgres": func(context.Context) error { return errors.New("down") }, // liveness ignores it
	})
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tt.wantStatus || (tt.wantBody != "" && string(body) != tt.wantBody) {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, rec.Code, body, tt.wantStatus, tt.wantBody)
		}
	}
}

func TestReadinessMisconfigured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs strings.Builder
		reason := "elasticsearch's certificate is not trusted: set ELASTICSEARCH_CA_FILE"
		s := New(Config{}, NewLogger(&logs, slog.LevelInfo), NewRegistry(), map[string]ReadyCheck{
			"elasticsearch": func(context.Context) error {
				return fmt.Errorf("ensure template: %w", &env.MisconfigError{Reason: reason, Err: errors.New("x509: unknown authority")})
			},
		})
		var body struct {
			Error   string            `json:"error"`
			Reasons map[string]string `json:"reasons"`
		}
		for range 5 { // 5 probes over 2.5 minutes: logged at the first, and once a minute after
			rec := get(t, s, "/readyz")
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("GET /readyz = %d, want 503", rec.Code)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			time.Sleep(30 * time.Second)
		}
		if body.Reasons["elasticsearch"] != reason || !strings.Contains(body.Error, "ELASTICSEARCH_CA_FILE") {
			t.Errorf("body = %+v, want the reason naming ELASTICSEARCH_CA_FILE", body)
		}
		if n := strings.Count(logs.String(), `"msg":"not ready: dependency misconfigured"`); n != 3 {
			t.Errorf("logged %d times over 2 minutes, want 3 (at once, then once a minute):\n%s", n, logs.String())
		}
	})
}

func TestReadyMetric(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("refused") }
	s := New(Config{}, discard, NewRegistry(), map[string]ReadyCheck{"postgres": down, "elasticsearch": ok})
	body := get(t, s, "/metrics").Body.String()
	for _, want := range []string{`sentistream_ready{dependency="elasticsearch"} 1`, `sentistream_ready{dependency="postgres"} 0`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
