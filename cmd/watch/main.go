// Command watch runs the mood-shift function: at each check it compares the share of negative
// messages in the last window with the baseline before it (package watch has the rule) and, when
// a shift starts, sends one CloudEvent of type dev.sentistream.mood.shifted to K_SINK.
//
// In a cluster a PingSource (infra/knative/pingsource-watch.yaml) POSTs to it every minute, and a
// SinkBinding sets K_SINK; on OpenFaaS the cron-connector invokes it. Locally `make run` runs it
// with WATCH_EVERY=1m, its own ticker, and K_SINK pointing at the dashboard.
//
//	POST /   check now (the trigger's ce-time, when sent, is the minute checked), send the event if
//	         a shift starts; 200 with the verdict as JSON, 503 when the store or K_SINK fails
//
// Environment (besides serve.LoadConfig's PORT, MAX_BODY_BYTES, DRAIN_DELAY, SHUTDOWN_TIMEOUT,
// LOG_LEVEL, PPROF_ADDR):
//
//	DATABASE_URL      as score's (also _FILE, DATABASE_PASSWORD); read-only sessions
//	K_SINK            (none)  where shift events go; unset: logged only
//	WATCH_WINDOW      10m     the current window
//	WATCH_BASELINE    2h      the baseline before it
//	WATCH_MIN_COUNT   100     fewest messages on each side for a verdict
//	WATCH_Z           4       least |z| of the two-proportion test on the negative share
//	WATCH_MIN_DELTA   0.1     least change of the negative share
//	WATCH_EVERY       0       also check on this period by itself (local runs); 0: only when POSTed
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/watch"
)

type config struct {
	db    pgstore.PoolConfig
	rule  watch.Config
	sink  string
	every time.Duration
}

func loadConfig(getenv env.Getenv) (config, error) {
	var c config
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	float := func(name string, def float64) float64 {
		v := getenv(name)
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			check(fmt.Errorf("%s: want a positive number, got %q", name, v))
		}
		return f
	}
	var err error
	c.db, err = pgstore.LoadPoolConfig(getenv)
	check(err)
	c.rule.Window, err = env.Duration(getenv, "WATCH_WINDOW", 10*time.Minute)
	check(err)
	c.rule.Baseline, err = env.Duration(getenv, "WATCH_BASELINE", 2*time.Hour)
	check(err)
	n, err := env.Int(getenv, "WATCH_MIN_COUNT", 100)
	check(err)
	c.rule.MinCount = int64(n)
	c.rule.Z = float("WATCH_Z", 4)
	c.rule.MinDelta = float("WATCH_MIN_DELTA", 0.1)
	c.every, err = env.Duration(getenv, "WATCH_EVERY", 0)
	check(err)
	c.sink = getenv("K_SINK")
	if c.rule.Window < time.Minute || c.rule.Baseline < time.Minute || n <= 0 {
		check(errors.New("WATCH_WINDOW and WATCH_BASELINE must be ≥ 1m, WATCH_MIN_COUNT > 0"))
	}
	return c, errors.Join(errs...)
}

func main() { serve.Main("watch", run) }

func run(ctx context.Context, getenv env.Getenv, stdout io.Writer) error {
	scfg, cfg, log, err := serve.Setup(getenv, stdout, loadConfig)
	if err != nil {
		return err
	}

	cfg.db.MaxConns, cfg.db.ConnectTimeout = 2, time.Second
	cfg.db.RuntimeParams = map[string]string{
		"application_name":              "sentistream-watch",
		"default_transaction_read_only": "on",
		"statement_timeout":             "10000",
	}
	pool, err := pgstore.NewPool(ctx, cfg.db)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := pgstore.New(pool)
	f := &function{w: watch.New(cfg.rule, store), sink: cfg.sink, log: log}
	if cfg.sink != "" {
		if f.client, err = cloudevents.NewClientHTTP(); err != nil {
			return fmt.Errorf("cloudevents client: %w", err)
		}
	}

	reg := serve.NewRegistry()
	s := serve.New(scfg, log, reg, map[string]serve.ReadyCheck{"postgres": store.Ping})
	s.Handle("POST /", serve.Adapt(log, f.serveCheck))
	if cfg.every > 0 {
		go f.tick(ctx, cfg.every)
	}
	r := f.w.Config()
	log.Info("starting", "addr", scfg.Addr, "k_sink", cfg.sink, "window", r.Window, "baseline", r.Baseline,
		"min_count", r.MinCount, "z", r.Z, "min_delta", r.MinDelta, "every", cfg.every)
	return s.Run(ctx)
}

// function is the watch function: one check per trigger.
type function struct {
	w      *watch.Watcher
	sink   string
	client cloudevents.Client // nil without a sink
	log    *slog.Logger
}

// result is a check's answer.
type result struct {
	watch.Check
	Emitted bool `json:"emitted"`
}

// check checks the minute at and sends the event if a shift starts there.
func (f *function) check(ctx context.Context, at time.Time) (result, error) {
	c, err := f.w.Check(ctx, at)
	if err != nil {
		return result{}, serve.Errorf(http.StatusServiceUnavailable, "postgresql unavailable", err)
	}
	res := result{Check: c}
	if !c.Starts {
		return res, nil
	}
	attrs := []any{"id", c.ID, "direction", c.Direction, "z", c.Z,
		"baseline_negative_share", c.Baseline.NegativeShare, "current_negative_share", c.Current.NegativeShare,
		"current_count", c.Current.Count}
	if f.client == nil {
		f.log.Info("mood shifted (no K_SINK: not sent)", attrs...)
		return res, nil
	}
	e := cloudevents.NewEvent()
	e.SetID(c.ID)
	e.SetType(watch.EventType)
	e.SetSource("/sentistream/watch")
	e.SetSubject(c.Direction)
	e.SetTime(c.At)
	if err := e.SetData(cloudevents.ApplicationJSON, c.Verdict); err != nil {
		return result{}, err
	}
	sctx, cancel := context.WithTimeout(cloudevents.ContextWithTarget(ctx, f.sink), 10*time.Second)
	defer cancel()
	if r := f.client.Send(sctx, e); !cloudevents.IsACK(r) {
		return result{}, serve.Errorf(http.StatusServiceUnavailable, "K_SINK did not accept the event", r)
	}
	f.log.Info("mood shifted: event sent", attrs...)
	res.Emitted = true
	return res, nil
}

// serveCheck answers a trigger: a PingSource's CloudEvent (its ce-time is the minute checked) or
// any POST.
func (f *function) serveCheck(w http.ResponseWriter, r *http.Request) error {
	at := time.Now()
	if t, err := time.Parse(time.RFC3339Nano, r.Header.Get("Ce-Time")); err == nil {
		at = t
	}
	_, _ = io.Copy(io.Discard, r.Body)
	res, err := f.check(r.Context(), at)
	if err != nil {
		return err
	}
	serve.WriteJSON(w, http.StatusOK, res)
	return nil
}

// tick checks at every multiple of every until ctx ends.
func (f *function) tick(ctx context.Context, every time.Duration) {
	for {
		next := time.Now().Truncate(every).Add(every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		if _, err := f.check(ctx, next); err != nil && ctx.Err() == nil {
			f.log.Warn("mood check failed", "error", err)
		}
	}
}
