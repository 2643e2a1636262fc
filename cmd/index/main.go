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
//	BATCH_MAX_SIZE, BATCH_MAX_WAIT, BATCH_FLUSHERS, QUEUE_SIZE, STORE_TIMEOUT, MAX_SENTENCE_CHARS:
//	                        as sink.LoadConfig lists them, the same for both functions
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"

	"github.com/sentistream/sentistream/functions/index"
	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/esindex"
	"github.com/sentistream/sentistream/internal/serve"
	"github.com/sentistream/sentistream/internal/sink"
)

type config struct {
	es    esindex.ClientConfig
	index string
	sink  sink.Config
}

func loadConfig(getenv env.Getenv) (config, error) {
	var c config
	var err1, err2 error
	c.es, err1 = esindex.LoadClientConfig(getenv)
	c.index = env.String(getenv, "ES_INDEX", esindex.DefaultName)
	c.sink, err2 = sink.LoadConfig(getenv)
	return c, errors.Join(err1, err2)
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

func main() { serve.Main("index", run) }

// run serves until ctx ends.
func run(ctx context.Context, getenv env.Getenv, stdout io.Writer) error {
	scfg, cfg, log, err := serve.Setup(getenv, stdout, loadConfig)
	if err != nil {
		return err
	}
	reg := serve.NewRegistry()

	es, err := esindex.NewClient(cfg.es)
	if err != nil {
		return err
	}
	ix := esindex.New(es, cfg.index)
	h := index.New(cfg.sink, ix, sink.NewMetrics(reg, "index"), nil)
	defer h.Close() // after the server has drained: writes what is queued
	s := serve.New(scfg, log, reg, map[string]serve.ReadyCheck{"elasticsearch": readyCheck(ix, log)})
	s.Handle("POST /", serve.Adapt(log, h.ServeEvent))

	log.Info("starting", append([]any{"addr", scfg.Addr, "index", cfg.index}, cfg.sink.LogAttrs()...)...)
	return s.Run(ctx)
}
