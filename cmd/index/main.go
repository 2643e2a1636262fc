// Command index runs the indexing function: events over HTTP → VADER → Elasticsearch.
//
// Environment (besides serve.LoadConfig's PORT, MAX_BODY_BYTES, DRAIN_DELAY, SHUTDOWN_TIMEOUT,
// LOG_LEVEL):
//
//	ELASTICSEARCH_URL       http://127.0.0.1:9200  http or https
//	ELASTICSEARCH_CA_FILE   (none)  PEM of the CA to trust besides the system's; SSL_CERT_FILE when unset
//	ELASTICSEARCH_USERNAME  (none)  also ELASTICSEARCH_USERNAME_FILE
//	ELASTICSEARCH_PASSWORD  (none)  also ELASTICSEARCH_PASSWORD_FILE
//	ELASTICSEARCH_API_KEY   (none)  encoded API key instead of a user; also ELASTICSEARCH_API_KEY_FILE
//	ES_INDEX                sentence_idx  index or alias to write to
//	BATCH_MAX_SIZE          500     most documents per _bulk request
//	BATCH_MAX_WAIT          2ms     how long a batch waits for company while another bulk runs
//	BATCH_FLUSHERS          2       concurrent _bulk requests
//	QUEUE_SIZE              10000   documents waiting for a bulk before answering 429
//	STORE_TIMEOUT           5s      bound on one _bulk request; past it, its events answer 503
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sentistream/sentistream/functions/index"
	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
	"github.com/sentistream/sentistream/internal/serve"
)

type config struct {
	es           esindex.ClientConfig
	index        string
	batch        batch.Config
	storeTimeout time.Duration
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
	c.es, err = esindex.LoadClientConfig(getenv)
	check(err)
	c.index = env.String(getenv, "ES_INDEX", esindex.DefaultName)
	c.batch.MaxSize, err = env.Int(getenv, "BATCH_MAX_SIZE", 500)
	check(err)
	c.batch.MaxWait, err = env.Duration(getenv, "BATCH_MAX_WAIT", 2*time.Millisecond)
	check(err)
	c.batch.Flushers, err = env.Int(getenv, "BATCH_FLUSHERS", 2)
	check(err)
	c.batch.QueueSize, err = env.Int(getenv, "QUEUE_SIZE", 10000)
	check(err)
	c.storeTimeout, err = env.Duration(getenv, "STORE_TIMEOUT", 5*time.Second)
	check(err)
	if err == nil && c.storeTimeout <= 0 {
		check(errors.New("STORE_TIMEOUT: must be > 0"))
	}
	return c, errors.Join(errs...)
}

// readyCheck installs the index template first (it reports what no retry fixes: credentials,
// certificate, a template the cluster refuses) and logs once which English analyzer it chose;
// then it pings.
func readyCheck(ix *esindex.Index, log *slog.Logger) serve.ReadyCheck {
	var once sync.Once
	return func(ctx context.Context) error {
		if err := ix.EnsureTemplate(ctx); err != nil {
			return err
		}
		once.Do(func() { log.Info("index template installed", "index", ix.Name(), "english_analyzer", ix.Analyzer()) })
		return ix.Ping(ctx)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "index:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, getenv env.Getenv, stdout io.Writer) error {
	scfg, level, err := serve.LoadConfig(getenv)
	cfg, cerr := loadConfig(getenv)
	if err := errors.Join(err, cerr); err != nil {
		return err
	}
	log := serve.NewLogger(stdout, level)
	slog.SetDefault(log)
	reg := serve.NewRegistry()

	es, err := esindex.NewClient(cfg.es)
	if err != nil {
		return err
	}
	ix := esindex.New(es, cfg.index)
	b := batch.New(cfg.batch, index.Flush(ix, cfg.storeTimeout), batch.NewMetrics(reg, "index"))
	defer b.Close() // after the server has drained: flushes what is queued

	h := index.NewHandler(index.Config{
		Decoder:   event.NewDecoder(event.Config{}),
		Analyzer:  sentiment.New(),
		Submitter: b,
		Metrics:   index.NewMetrics(reg),
	})
	s := serve.New(scfg, log, reg, map[string]serve.ReadyCheck{"elasticsearch": readyCheck(ix, log)})
	s.Handle("POST /", serve.Adapt(log, h.ServeEvent))

	log.Info("starting", "addr", scfg.Addr, "index", cfg.index)
	return s.Run(ctx)
}
