// Command runner is the local KafkaSource: it reads KafkaSource manifests and delivers their
// topics to local HTTP sinks the way Knative's KafkaSource would (see internal/kafkasource).
//
//	runner [flags] manifest.yaml...
//	runner --sink score=http://127.0.0.1:8081 --sink index=http://127.0.0.1:8082 \
//	    infra/knative/kafkasource-score.yaml infra/knative/kafkasource-index.yaml
//
// Flags (each defaults to its environment variable, then to the value shown):
//
//	--sink name=url       SINKS, comma-separated   URL of the sink ref named name (repeatable)
//	--brokers list        KAFKA_BROKERS            127.0.0.1:9092; replaces spec.bootstrapServers
//	--dlq-topic topic     DLQ_TOPIC                sentence-dlq; used when no KafkaSink manifest names the topic
//	--namespace ns        NAMESPACE                default; for manifests without metadata.namespace
//	--metrics-addr addr   METRICS_ADDR             :9102; /metrics, /healthz, /readyz ("off" disables)
//	                      PPROF_ADDR               (none); /debug/pprof/ on this address, beside the metrics server
//	--commit-interval d   COMMIT_INTERVAL          5s
//	LOG_LEVEL (info) sets the log level; GOGC, when unset, is taken as 400 (fewer collections).
//
// A deadLetterSink that refers to a KafkaSink takes that sink's spec.topic from a KafkaSink
// manifest given on the command line or found as kafkasink.yaml beside the KafkaSource file.
// SIGTERM or Ctrl-C stops fetching, abandons in-flight deliveries without committing them,
// commits what is final and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/kafkasource"
	"github.com/sentistream/sentistream/internal/serve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

// sinkFlag collects name=url pairs.
type sinkFlag map[string]string

func (s sinkFlag) String() string { return "" }

func (s sinkFlag) Set(v string) error {
	for _, pair := range strings.Split(v, ",") {
		name, url, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" || url == "" {
			return fmt.Errorf("want name=url, got %q", pair)
		}
		s[name] = url
	}
	return nil
}

func run(ctx context.Context, args []string, getenv env.Getenv) error {
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	sinks := sinkFlag{}
	if v := getenv("SINKS"); v != "" {
		if err := sinks.Set(v); err != nil {
			return fmt.Errorf("SINKS: %w", err)
		}
	}
	fs.Var(sinks, "sink", "`name=url` of a sink ref (repeatable; env SINKS)")
	brokers := fs.String("brokers", env.String(getenv, "KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated seed brokers")
	dlqTopic := fs.String("dlq-topic", env.String(getenv, "DLQ_TOPIC", "sentence-dlq"), "dead-letter topic when no KafkaSink manifest names one")
	namespace := fs.String("namespace", env.String(getenv, "NAMESPACE", "default"), "namespace of manifests without one")
	metricsAddr := fs.String("metrics-addr", env.String(getenv, "METRICS_ADDR", ":9102"), `metrics listen address, or "off"`)
	defInterval, err := env.Duration(getenv, "COMMIT_INTERVAL", 5*time.Second)
	if err != nil {
		return err
	}
	interval := fs.Duration("commit-interval", defInterval, "how often final offsets are committed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: runner [--sink name=url]... [flags] kafkasource.yaml...")
	}
	level := slog.LevelInfo
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("LOG_LEVEL: want debug, info, warn or error, got %q", v)
		}
	}
	log := serve.NewLogger(os.Stdout, level)
	slog.SetDefault(log)
	if getenv("GOGC") == "" {
		// Per-event garbage is short-lived and the heap small: collect less often for throughput.
		debug.SetGCPercent(400)
	}

	sources, kafkaSinks, err := load(fs.Args())
	if err != nil {
		return err
	}
	reg := serve.NewRegistry()
	cfg := kafkasource.Config{
		Brokers:         strings.Split(*brokers, ","),
		Sinks:           sinks,
		DeadLetterTopic: *dlqTopic,
		KafkaSinks:      kafkaSinks,
		Namespace:       *namespace,
		CommitInterval:  *interval,
		Logger:          log,
		Metrics:         kafkasource.NewMetrics(reg),
	}
	r, err := kafkasource.New(cfg, sources)
	if err != nil {
		return err
	}
	log.Info("runner starting", slog.Any("brokers", cfg.Brokers), slog.Any("sinks", map[string]string(sinks)),
		slog.String("dlq_topic", cfg.DeadLetterTopic), slog.Duration("commit_interval", cfg.CommitInterval))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	metricsDone := make(chan error, 1)
	if *metricsAddr != "off" {
		srv := serve.New(serve.Config{Addr: *metricsAddr, ShutdownTimeout: 2 * time.Second, PprofAddr: getenv("PPROF_ADDR")}, log, reg, nil)
		go func() {
			err := srv.Run(ctx)
			if err != nil {
				cancel()
			}
			metricsDone <- err
		}()
	} else {
		metricsDone <- nil
	}
	err = r.Run(ctx)
	cancel()
	return errors.Join(err, <-metricsDone)
}

// load parses the manifest files, and for KafkaSink refs not among them, kafkasink.yaml beside
// the file that refers to them.
func load(paths []string) ([]kafkasource.Source, map[string]string, error) {
	var sources []kafkasource.Source
	sinks := map[string]string{}
	var refDirs []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		m, err := kafkasource.Parse(data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, k := range m.Sinks {
			sinks[k.Metadata.Name] = k.Spec.Topic
		}
		sources = append(sources, m.Sources...)
		for range m.Sources {
			refDirs = append(refDirs, filepath.Dir(p))
		}
	}
	for i, s := range sources {
		d := s.Spec.Delivery
		if d == nil || d.DeadLetterSink == nil || d.DeadLetterSink.Ref == nil || d.DeadLetterSink.Ref.Kind != "KafkaSink" {
			continue
		}
		if _, ok := sinks[d.DeadLetterSink.Ref.Name]; ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(refDirs[i], "kafkasink.yaml"))
		if err != nil {
			continue // the --dlq-topic default applies
		}
		m, err := kafkasource.Parse(data)
		if err != nil {
			return nil, nil, fmt.Errorf("kafkasink.yaml: %w", err)
		}
		for _, k := range m.Sinks {
			sinks[k.Metadata.Name] = k.Spec.Topic
		}
	}
	return sources, sinks, nil
}
