// Command score runs the scoring function: events over HTTP → VADER → PostgreSQL.
//
//	score          serve (migrating first when MIGRATE_ON_START is true)
//	score migrate  apply the schema migrations and exit
//
// Environment (besides serve.LoadConfig's PORT, MAX_BODY_BYTES, DRAIN_DELAY, SHUTDOWN_TIMEOUT,
// LOG_LEVEL):
//
//	DATABASE_URL        postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable; also DATABASE_URL_FILE
//	                    libpq parameters apply: sslmode=verify-full&sslrootcert=/path/ca.crt
//	DATABASE_PASSWORD   (none)  replaces the URL's password; also DATABASE_PASSWORD_FILE
//	BATCH_MAX_SIZE      500     most rows per INSERT
//	BATCH_MAX_WAIT      2ms     how long a batch waits for company while another INSERT runs
//	BATCH_FLUSHERS      2       concurrent INSERTs
//	QUEUE_SIZE          10000   rows waiting for an INSERT before answering 429
//	STORE_TIMEOUT       2s      bound on waiting for a write and on each INSERT; past it, 503
//	MAX_SENTENCE_CHARS  10000   longest sentence in characters (the column holds 10000); longer: 413
//	MIGRATE_ON_START    true    apply migrations at start-up (one query when already applied)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sentistream/sentistream/functions/score"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

var _ score.Saver = (*pgstore.Store)(nil)

type config struct {
	db               pgstore.PoolConfig
	score            score.Config
	maxSentenceChars int
	migrateOnStart   bool
}

func loadConfig(getenv env.Getenv) (config, error) {
	var c config
	var errs []error
	check := func(err error) { errs = append(errs, err) }
	positive := func(name string, v int64, err error) {
		if check(err); err == nil && v <= 0 {
			check(fmt.Errorf("%s: must be > 0", name))
		}
	}
	var err error
	c.db, err = pgstore.LoadPoolConfig(getenv)
	check(err)
	b := &c.score.Batch
	b.MaxSize, err = env.Int(getenv, "BATCH_MAX_SIZE", 500)
	positive("BATCH_MAX_SIZE", int64(b.MaxSize), err)
	b.MaxWait, err = env.Duration(getenv, "BATCH_MAX_WAIT", 2*time.Millisecond)
	positive("BATCH_MAX_WAIT", int64(b.MaxWait), err)
	b.Flushers, err = env.Int(getenv, "BATCH_FLUSHERS", 2)
	positive("BATCH_FLUSHERS", int64(b.Flushers), err)
	b.QueueSize, err = env.Int(getenv, "QUEUE_SIZE", 10000)
	positive("QUEUE_SIZE", int64(b.QueueSize), err)
	c.score.StoreTimeout, err = env.Duration(getenv, "STORE_TIMEOUT", 2*time.Second)
	positive("STORE_TIMEOUT", int64(c.score.StoreTimeout), err)
	c.maxSentenceChars, err = env.Int(getenv, "MAX_SENTENCE_CHARS", 10000)
	if check(err); err == nil && (c.maxSentenceChars <= 0 || c.maxSentenceChars > 10000) {
		check(fmt.Errorf("MAX_SENTENCE_CHARS: want 1 to 10000 (the column's size), got %d", c.maxSentenceChars))
	}
	c.migrateOnStart, err = env.Bool(getenv, "MIGRATE_ON_START", true)
	check(err)
	return c, errors.Join(errs...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "score:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, or runs the subcommand in args.
func run(ctx context.Context, args []string, getenv env.Getenv, stdout io.Writer) error {
	scfg, level, err := serve.LoadConfig(getenv)
	cfg, cerr := loadConfig(getenv)
	if err := errors.Join(err, cerr); err != nil {
		return err
	}
	log := serve.NewLogger(stdout, level)
	slog.SetDefault(log)

	pool, err := pgstore.NewPool(ctx, cfg.db) // connects lazily: start-up never waits for PostgreSQL
	if err != nil {
		return err
	}
	defer pool.Close()
	switch {
	case len(args) == 1 && args[0] == "migrate":
		n, err := pgstore.Migrate(ctx, pool)
		log.Info("migrated", "applied", n, "error", err)
		return err
	case len(args) > 0:
		return fmt.Errorf("unknown arguments %q; usage: score [migrate]", args)
	}

	// Ready only once the schema is there. Migrating in the background keeps /healthz up while
	// PostgreSQL is down; a readiness probe waits for it rather than caching a failure.
	migrated := make(chan struct{})
	var migrateErr atomic.Pointer[error] // the last failed attempt's, for readiness
	go func() {
		if cfg.migrateOnStart {
			n, err := pgstore.MigrateRetrying(ctx, pool, time.Second, func(err error) {
				err = pgstore.Misconfigured(err)
				if old := migrateErr.Swap(&err); old == nil || (*old).Error() != err.Error() {
					log.Warn("migrate: retrying every second", "error", err)
				}
			})
			if err != nil {
				return
			}
			log.Info("migrated", "applied", n)
		}
		close(migrated)
	}()
	reg := serve.NewRegistry()
	store := pgstore.New(pool)
	h := score.NewHandler(cfg.score, event.NewDecoder(event.Config{MaxSentenceChars: cfg.maxSentenceChars}),
		sentiment.New(), store, score.NewMetrics(reg))
	defer h.Close() // after the server has drained: writes what is queued
	ready := func(ctx context.Context) error {
		select {
		case <-migrated:
			return store.Ping(ctx)
		case <-ctx.Done():
			if err := migrateErr.Load(); err != nil {
				return fmt.Errorf("schema migrations not applied yet: %w", *err)
			}
			return errors.New("schema migrations not applied yet")
		}
	}
	s := serve.New(scfg, log, reg, map[string]serve.ReadyCheck{"postgres": ready})
	s.Handle("POST /", serve.Adapt(log, h.ServeEvent))
	pc := pool.Config().ConnConfig
	log.Info("starting", "addr", scfg.Addr, "db_host", pc.Host, "db_name", pc.Database, "batch_max_size", cfg.score.Batch.MaxSize,
		"batch_max_wait", cfg.score.Batch.MaxWait, "batch_flushers", cfg.score.Batch.Flushers, "queue_size", cfg.score.Batch.QueueSize,
		"store_timeout", cfg.score.StoreTimeout, "max_sentence_chars", cfg.maxSentenceChars, "migrate_on_start", cfg.migrateOnStart)
	return s.Run(ctx)
}
