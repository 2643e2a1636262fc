package serve

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ReadyCheck reports nil when a dependency is reachable. It is called with a ctx that expires after
// a short timeout (1s) and must return by then. A pgx pool's Ping fits.
type ReadyCheck func(ctx context.Context) error

const (
	readyTimeout  = time.Second
	readyCacheTTL = 500 * time.Millisecond
)

// readiness answers /readyz: not ready while shutting down or while a check fails.
type readiness struct {
	log      *slog.Logger
	names    []string // sorted
	checks   map[string]ReadyCheck
	draining atomic.Bool

	mu          sync.Mutex // held while checks run, so concurrent probes share one run
	checkedAt   time.Time
	unavailable []string // names of the checks that failed at checkedAt; sorted
}

func newReadiness(log *slog.Logger, checks map[string]ReadyCheck) *readiness {
	rd := &readiness{log: log, checks: make(map[string]ReadyCheck, len(checks))}
	for name, c := range checks {
		if c == nil {
			continue
		}
		rd.names = append(rd.names, name)
		rd.checks[name] = c
	}
	slices.Sort(rd.names)
	return rd
}

// check returns the names of the unavailable dependencies, running the checks at most once per
// readyCacheTTL.
func (rd *readiness) check(ctx context.Context) []string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.checkedAt.IsZero() && time.Since(rd.checkedAt) < readyCacheTTL {
		return rd.unavailable
	}
	// The checks get their own bound: a probe that hangs up must not cache a failure.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	errs := make([]error, len(rd.names))
	var wg sync.WaitGroup
	for i, name := range rd.names {
		wg.Go(func() { errs[i] = rd.checks[name](ctx) })
	}
	wg.Wait()

	var unavailable []string
	for i, name := range rd.names {
		if errs[i] == nil {
			continue
		}
		unavailable = append(unavailable, name)
		if !slices.Contains(rd.unavailable, name) {
			rd.log.Warn("dependency unavailable", slog.String("dependency", name), slog.String("error", errs[i].Error()))
		}
	}
	for _, name := range rd.unavailable {
		if !slices.Contains(unavailable, name) {
			rd.log.Info("dependency available again", slog.String("dependency", name))
		}
	}
	rd.checkedAt, rd.unavailable = time.Now(), unavailable
	return unavailable
}

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if rd.draining.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "shutting down"})
		return
	}
	if unavailable := rd.check(r.Context()); len(unavailable) > 0 {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{
			"error":       "not ready: " + strings.Join(unavailable, ", ") + " unavailable",
			"unavailable": unavailable,
		})
		return
	}
	writeOK(w)
}

// writeOK answers 200 "ok".
func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}
