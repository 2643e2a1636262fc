package serve

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentistream/sentistream/internal/env"
)

// ReadyCheck reports nil when a dependency is reachable. It is called with a ctx that expires after
// a short timeout (1s) and must return by then. A pgx pool's Ping fits. An error wrapping an
// [env.MisconfigError] (a failure no retry fixes) is answered with its reason, which names the
// variable to change; other errors only name the dependency.
type ReadyCheck func(ctx context.Context) error

const (
	readyTimeout  = time.Second
	readyCacheTTL = 500 * time.Millisecond
	// relogEvery is how often a dependency that stays unavailable is logged again.
	relogEvery = time.Minute
)

// readiness answers /readyz: not ready while shutting down or while a check fails.
type readiness struct {
	log      *slog.Logger
	names    []string // sorted
	checks   map[string]ReadyCheck
	draining atomic.Bool

	mu          sync.Mutex // held while checks run, so concurrent probes share one run
	checkedAt   time.Time
	unavailable []string          // names of the checks that failed at checkedAt; sorted
	reasons     map[string]string // the MisconfigError reasons among them, by name
	loggedAt    map[string]time.Time
}

func newReadiness(log *slog.Logger, checks map[string]ReadyCheck) *readiness {
	rd := &readiness{log: log, checks: make(map[string]ReadyCheck, len(checks)), loggedAt: map[string]time.Time{}}
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

// check returns the names of the unavailable dependencies and the reasons of those that are
// misconfigured, running the checks at most once per readyCacheTTL. A dependency that becomes
// unavailable is logged at once and again every relogEvery while it stays so.
func (rd *readiness) check(ctx context.Context) ([]string, map[string]string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.checkedAt.IsZero() && time.Since(rd.checkedAt) < readyCacheTTL {
		return rd.unavailable, rd.reasons
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

	now := time.Now()
	var unavailable []string
	reasons := map[string]string{}
	for i, name := range rd.names {
		err := errs[i]
		if err == nil {
			continue
		}
		unavailable = append(unavailable, name)
		me, misconfigured := errors.AsType[*env.MisconfigError](err)
		if misconfigured {
			reasons[name] = me.Reason
		}
		if last, ok := rd.loggedAt[name]; ok && now.Sub(last) < relogEvery {
			continue
		}
		rd.loggedAt[name] = now
		if misconfigured {
			rd.log.Error("not ready: dependency misconfigured", slog.String("dependency", name), slog.String("reason", me.Reason))
		} else {
			rd.log.Warn("dependency unavailable", slog.String("dependency", name), slog.String("error", err.Error()))
		}
	}
	for _, name := range rd.unavailable {
		if !slices.Contains(unavailable, name) {
			delete(rd.loggedAt, name)
			rd.log.Info("dependency available again", slog.String("dependency", name))
		}
	}
	rd.checkedAt, rd.unavailable, rd.reasons = now, unavailable, reasons
	return unavailable, reasons
}

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if rd.draining.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "shutting down"})
		return
	}
	if unavailable, reasons := rd.check(r.Context()); len(unavailable) > 0 {
		body := map[string]any{
			"error":       "not ready: " + strings.Join(unavailable, ", ") + " unavailable",
			"unavailable": unavailable,
		}
		if len(reasons) > 0 {
			body["reasons"] = reasons
			var rs []string
			for _, name := range unavailable {
				if r, ok := reasons[name]; ok {
					rs = append(rs, name+": "+r)
				}
			}
			body["error"] = "not ready: " + strings.Join(rs, "; ")
		}
		WriteJSON(w, http.StatusServiceUnavailable, body)
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

// readyCollector exports sentistream_ready{dependency}: 1 when the dependency's check passes, 0
// when it fails, evaluated at scrape time through the same cached run as /readyz, so an alert
// sees what a readiness probe sees.
type readyCollector struct {
	rd   *readiness
	desc *prometheus.Desc
}

func newReadyCollector(rd *readiness) *readyCollector {
	return &readyCollector{rd: rd, desc: prometheus.NewDesc("sentistream_ready",
		"1 when the dependency's readiness check passes, 0 when it fails.", []string{"dependency"}, nil)}
}

func (c *readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *readyCollector) Collect(ch chan<- prometheus.Metric) {
	unavailable, _ := c.rd.check(context.Background())
	for _, name := range c.rd.names {
		v := 1.0
		if slices.Contains(unavailable, name) {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, name)
	}
}
