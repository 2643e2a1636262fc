// Command producer writes sentences with real sentiment (reviews and chat about the fictional
// Zephyr Buds) to Kafka, as CloudEvents in Kafka binary mode by default.
//
//	producer [flags]
//	producer --rate 20                                   # 20 events/s until Ctrl-C
//	producer --count 100000 --rate 0                     # as fast as possible, then stop
//	producer --duration 5m --mood sine:2m                # mood drifting positive → negative → positive
//	producer --mood positive:30s,negative:30s --format seed
//	producer --mix binary=70,seed=20,structured=10 --malformed-pct 2
//
// Flags (defaults from the environment variable named, then the value shown):
//
//	--brokers list      KAFKA_BROKERS  127.0.0.1:9092
//	--topic name        TOPIC          sentence
//	--rate n            RATE           20 events/s; 0 means as fast as possible
//	--count n                          stop after n records (0: no limit)
//	--duration d                       stop after d (0: no limit); neither: run until Ctrl-C
//	--mood m            MOOD           mixed; positive|negative|neutral|mixed, a schedule
//	                                   positive:30s,negative:30s (repeats), or sine:<period>
//	--format f                         binary (default), seed ({"sentence","created_at"} with a
//	                                   zone-less time, like the seed), structured, malformed
//	--mix weights                      binary=70,seed=20,structured=10 (overrides --format)
//	--malformed-pct p                  percentage of records made malformed (they end in sentence-dlq)
//	--key field                        user (default), id, label or none
//	--source s, --type t               CloudEvent source and type (urn:sentistream:producer,
//	                                   dev.sentistream.sentence.v1)
//	--seed n                           sentence generator seed (0: random)
//
// A progress line goes to stderr every second (sent, rate, acked, errors) and a summary at the
// end. The producer is idempotent (franz-go's default, acks=all). SIGTERM or Ctrl-C stops it after
// flushing what was sent. It exits 1 if any record failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/produce"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv env.Getenv, stderr io.Writer) error {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defRate := 20.0
	if v := getenv("RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 {
			return fmt.Errorf("RATE: want a non-negative number of events per second, got %q", v)
		}
		defRate = r
	}
	brokers := fs.String("brokers", env.String(getenv, "KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated seed brokers")
	topic := fs.String("topic", env.String(getenv, "TOPIC", "sentence"), "topic to write to")
	rate := fs.Float64("rate", defRate, "events per second (0: as fast as possible)")
	count := fs.Int64("count", 0, "stop after this many records (0: no limit)")
	duration := fs.Duration("duration", 0, "stop after this long (0: no limit)")
	moodFlag := fs.String("mood", env.String(getenv, "MOOD", "mixed"), "positive|negative|neutral|mixed, a schedule such as positive:30s,negative:30s, or sine:5m")
	format := fs.String("format", "binary", "record format: binary, seed, structured or malformed")
	mix := fs.String("mix", "", "format weights such as binary=70,seed=20,structured=10 (overrides --format)")
	malformedPct := fs.Float64("malformed-pct", 0, "percentage of records made malformed")
	keyFlag := fs.String("key", "user", "record key: user, id, label or none")
	source := fs.String("source", "urn:sentistream:producer", "CloudEvent source")
	typ := fs.String("type", "dev.sentistream.sentence.v1", "CloudEvent type")
	seed := fs.Uint64("seed", 0, "sentence generator seed (0: random)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	mood, err := produce.ParseMood(*moodFlag)
	if err != nil {
		return err
	}
	spec := *format
	if *mix != "" {
		spec = *mix
	}
	formats, err := produce.ParseFormatMix(spec)
	if err != nil {
		return err
	}
	key, err := produce.ParseKey(*keyFlag)
	if err != nil {
		return err
	}
	if *rate < 0 || *malformedPct < 0 || *malformedPct > 100 || *count < 0 || *duration < 0 {
		return errors.New("--rate, --count and --duration must be >= 0, --malformed-pct from 0 to 100")
	}

	cl, err := kgo.NewClient(produce.ClientOptions(strings.Split(*brokers, ","))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	fmt.Fprintf(stderr, "producing to %s on %s: rate %g/s, mood %s, format %s\n", *topic, *brokers, *rate, *moodFlag, spec)
	st, err := produce.Run(ctx, cl, produce.Config{
		Encoder:      produce.Encoder{Topic: *topic, Source: *source, Type: *typ, Key: key},
		Rate:         *rate,
		Count:        *count,
		Duration:     *duration,
		Mood:         mood,
		Formats:      formats,
		MalformedPct: *malformedPct,
		Seed:         *seed,
		Progress:     stderr,
	})
	fmt.Fprintln(stderr, "done:", st.Summary())
	if err != nil {
		return err
	}
	if st.Errors > 0 {
		return fmt.Errorf("%d records failed, the first with: %w", st.Errors, st.FirstErr)
	}
	return nil
}
