// Command dashboard runs the dashboard function: the page and JSON API of package dashboard over
// PostgreSQL, Elasticsearch and Kafka.
//
// Environment (besides serve.LoadConfig's PORT (8080), MAX_BODY_BYTES, DRAIN_DELAY,
// SHUTDOWN_TIMEOUT, LOG_LEVEL):
//
//	DATABASE_URL            postgres://postgres@127.0.0.1:5432/sentistream?sslmode=disable  also DATABASE_URL_FILE
//	DATABASE_PASSWORD       (none)  replaces the URL's password; also DATABASE_PASSWORD_FILE
//	ELASTICSEARCH_URL       http://127.0.0.1:9200
//	ELASTICSEARCH_USERNAME  (none)  also ELASTICSEARCH_USERNAME_FILE
//	ELASTICSEARCH_PASSWORD  (none)  also ELASTICSEARCH_PASSWORD_FILE
//	ES_INDEX                sentence_idx       index or alias searched
//	KAFKA_BROKERS           127.0.0.1:9092     comma-separated seed brokers
//	KAFKA_TOPIC             sentence           topic the sinks consume
//	DLQ_TOPIC               sentence-dlq       dead-letter topic
//	SCORE_GROUP             sentistream-score  consumer group of the score sink
//	INDEX_GROUP             sentistream-index  consumer group of the index sink
//	REFRESH_INTERVAL        2s      how often the page polls
//	QUERY_TIMEOUT           1.5s    bound on each dependency call of a request
//	CACHE_TTL               1s      how long an answer is shared by identical requests; 0 disables
//	LAG_WARN                1000    total lag above which a sink is reported behind
//	PRODUCT_NAMES           Zephyr Buds,ZephyrSync  comma-separated names never listed as drivers
//	FUTURE_SKEW             5m      how far ahead a created_at may be before it counts as future-dated
//
// Readiness: the dashboard is ready as soon as it listens, with no dependency checks, because each
// panel degrades on its own (a panel whose dependency is down says so). Failing readiness on, say,
// Kafka would take the mood and search panels away too. No connection is opened at start-up.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/dashboard"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/pgstore"
	"github.com/sentistream/sentistream/internal/serve"
)

type config struct {
	db      pgstore.PoolConfig
	es      esindex.ClientConfig
	brokers []string
	dash    dashboard.Config
}

func loadConfig(getenv env.Getenv) (config, error) {
	var c config
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	c.db, err = pgstore.LoadPoolConfig(getenv)
	check(err)
	c.es, err = esindex.LoadClientConfig(getenv)
	check(err)
	c.brokers = strings.Split(env.String(getenv, "KAFKA_BROKERS", "127.0.0.1:9092"), ",")
	c.dash.Index = env.String(getenv, "ES_INDEX", esindex.DefaultName)
	c.dash.Topic = env.String(getenv, "KAFKA_TOPIC", "sentence")
	c.dash.DeadLetterTopic = env.String(getenv, "DLQ_TOPIC", "sentence-dlq")
	c.dash.Groups = []dashboard.Group{
		{Name: env.String(getenv, "SCORE_GROUP", "sentistream-score"), Sink: "score (PostgreSQL)"},
		{Name: env.String(getenv, "INDEX_GROUP", "sentistream-index"), Sink: "index (Elasticsearch)"},
	}
	c.dash.Refresh, err = env.Duration(getenv, "REFRESH_INTERVAL", 2*time.Second)
	check(err)
	c.dash.QueryTimeout, err = env.Duration(getenv, "QUERY_TIMEOUT", 1500*time.Millisecond)
	check(err)
	c.dash.CacheTTL, err = env.Duration(getenv, "CACHE_TTL", time.Second)
	check(err)
	if err == nil && c.dash.CacheTTL == 0 {
		c.dash.CacheTTL = -1 // 0 disables the cache; dashboard.Config reads 0 as its default
	}
	lagWarn, err := env.Int(getenv, "LAG_WARN", 1000)
	check(err)
	c.dash.LagWarn = int64(lagWarn)
	if c.dash.Refresh < 100*time.Millisecond || c.dash.QueryTimeout <= 0 || lagWarn <= 0 {
		check(errors.New("REFRESH_INTERVAL must be ≥ 100ms, QUERY_TIMEOUT > 0 and LAG_WARN > 0"))
	}
	// Unset leaves the dashboard's defaults (see dashboard.Config).
	for n := range strings.SplitSeq(env.String(getenv, "PRODUCT_NAMES", ""), ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.dash.ProductNames = append(c.dash.ProductNames, n)
		}
	}
	c.dash.FutureSkew, err = env.Duration(getenv, "FUTURE_SKEW", 0)
	check(err)
	return c, errors.Join(errs...)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

func run() error {
	scfg, level, err := serve.LoadConfig(os.Getenv)
	cfg, cerr := loadConfig(os.Getenv)
	if err := errors.Join(err, cerr); err != nil {
		return err
	}
	log := serve.NewLogger(os.Stdout, level)
	slog.SetDefault(log)
	reg := serve.NewRegistry()

	// Read-only sessions with a statement bound: the dashboard never writes, and PostgreSQL
	// refuses it if a bug tried. The dashboard reads through a pgstore.Store on this pool.
	cfg.db.MaxConns, cfg.db.ConnectTimeout = 8, time.Second
	cfg.db.RuntimeParams = map[string]string{
		"application_name":              "sentistream-dashboard",
		"default_transaction_read_only": "on",
		"statement_timeout":             "5000",
	}
	pool, err := pgstore.NewPool(context.Background(), cfg.db) // connects on first use
	if err != nil {
		return err
	}
	defer pool.Close()

	es, err := esindex.NewClient(cfg.es) // makes no request
	if err != nil {
		return err
	}
	kopts := []kgo.Opt{kgo.SeedBrokers(cfg.brokers...), kgo.DialTimeout(time.Second), kgo.RequestRetries(1)}
	kcl, err := kgo.NewClient(kopts...) // connects on first use
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer kcl.Close()

	d, err := dashboard.New(cfg.dash, dashboard.Deps{
		DB:          pool,
		Search:      es,
		Kafka:       kadm.NewClient(kcl),
		DeadLetters: dashboard.NewDeadLetterReader(kopts...),
	}, log)
	if err != nil {
		return err
	}
	s := serve.New(scfg, log, reg, nil)
	d.Register(s)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	port := strings.TrimPrefix(scfg.Addr, ":")
	log.Info("starting", "addr", scfg.Addr, "url", "http://127.0.0.1:"+port+"/", "index", cfg.dash.Index,
		"kafka_brokers", cfg.brokers, "refresh", cfg.dash.Refresh.String())
	fmt.Fprintf(os.Stderr, "dashboard: http://127.0.0.1:%s/\n", port)
	return s.Run(ctx)
}
