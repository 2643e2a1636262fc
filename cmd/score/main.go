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
//	BATCH_MAX_SIZE, BATCH_MAX_WAIT, BATCH_FLUSHERS, QUEUE_SIZE, STORE_TIMEOUT, MAX_SENTENCE_CHARS:
//	                    as sink.LoadConfig lists them, the same for both functions
//	MIGRATE_ON_START    true    apply migrations at start-up (one query when already applied)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/sentistream/sentistream/functions/score"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
)

var _ score.Inserter = (*pgstore.Store)(nil)

type config struct {
	db             pgstore.PoolConfig
	sink           sink.Config
	migrateOnStart bool
}

func loadConfig(getenv env.Getenv) (config, error) {
	var c config
	var err1, err2, err3 error
	c.db, err1 = pgstore.LoadPoolConfig(getenv)
	c.sink, err2 = sink.LoadConfig(getenv)
	c.migrateOnStart, err3 = env.Bool(getenv, "MIGRATE_ON_START", true)
	return c, errors.Join(err1, err2, err3)
}

func main() {
	serve.Main("score", func(ctx context.Context, getenv env.Getenv, stdout io.Writer) error {
		return run(ctx, os.Args[1:], getenv, stdout)
	})
}

// run serves until ctx ends, or runs the subcommand in args.
func run(ctx context.Context, args []string, getenv env.Getenv, stdout io.Writer) error {
	scfg, cfg, log, err := serve.Setup(getenv, stdout, loadConfig)
	if err != nil {
		return err
	}

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
	h := score.New(cfg.sink, store, sink.NewMetrics(reg, "score"))
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
	log.Info("starting", append([]any{"addr", scfg.Addr, "db_host", pc.Host, "db_name", pc.Database,
		"migrate_on_start", cfg.migrateOnStart}, cfg.sink.LogAttrs()...)...)
	return s.Run(ctx)
}
