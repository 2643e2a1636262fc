// Command replay sends chosen dead letters from sentence-dlq back to sentence, once their cause
// is fixed, with their original attributes (the knativeerror* extensions removed).
//
//	replay --code 503 --dry-run                 # list what would be sent
//	replay --code 503,429 --since 2h            # send those dead-lettered in the last two hours
//	replay --code none                          # transport failures (no response)
//	replay --since 2025-04-14T08:00:00Z --until 2025-04-14T09:00:00Z
//	replay --all
//
// Flags (defaults from the environment variable named, then the value shown):
//
//	--brokers list   KAFKA_BROKERS  127.0.0.1:9092
//	--dlq-topic t    DLQ_TOPIC      sentence-dlq   where to read
//	--topic t        TOPIC          sentence       where to send
//	--code list      status codes to pick, comma-separated; "none" picks failures without a response
//	--since, --until dead-lettered at or after / before: RFC 3339, or a duration ago such as 2h
//	--all            pick every dead letter (needed when no other filter is given)
//	--dry-run        print what would be sent, send nothing
//
// It reads the dead-letter topic from its start up to its end when replay started (not in a
// consumer group: it commits nothing, and replaying twice sends twice; the functions' keys make
// the second a no-op). One line per chosen dead letter goes to stdout (partition/offset, time,
// code, id, source, the start of the reason as the dashboard shows it: the "error" of a JSON
// answer, or its text) and a summary to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/kafkasource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

// filter picks dead letters.
type filter struct {
	codes        []int // 0 stands for "none"
	since, until time.Time
	all          bool
}

func (f filter) match(dl kafkasource.DeadLetter) bool {
	if len(f.codes) > 0 && !slices.Contains(f.codes, dl.Code) {
		return false
	}
	if !f.since.IsZero() && dl.At.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !dl.At.Before(f.until) {
		return false
	}
	return true
}

func parseCodes(s string) ([]int, error) {
	var codes []int
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		if c == "none" {
			codes = append(codes, 0)
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil || n < 100 || n > 599 {
			return nil, fmt.Errorf("--code: want status codes such as 503,429 or none, got %q", s)
		}
		codes = append(codes, n)
	}
	return codes, nil
}

// parseWhen reads RFC 3339 or a duration before now.
func parseWhen(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s: want RFC 3339 such as 2025-04-14T08:00:00Z or a duration ago such as 2h, got %q", name, s)
}

func run(ctx context.Context, args []string, getenv env.Getenv, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", env.String(getenv, "KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated seed brokers")
	dlqTopic := fs.String("dlq-topic", env.String(getenv, "DLQ_TOPIC", "sentence-dlq"), "dead-letter topic to read")
	topic := fs.String("topic", env.String(getenv, "TOPIC", "sentence"), "topic to send to")
	codeFlag := fs.String("code", "", `status codes to pick, comma-separated; "none" for failures without a response`)
	sinceFlag := fs.String("since", "", "dead-lettered at or after: RFC 3339 or a duration ago (2h)")
	untilFlag := fs.String("until", "", "dead-lettered before: RFC 3339 or a duration ago")
	all := fs.Bool("all", false, "pick every dead letter")
	dryRun := fs.Bool("dry-run", false, "print what would be sent, send nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var (
		f   = filter{all: *all}
		err error
	)
	now := time.Now()
	if *codeFlag != "" {
		if f.codes, err = parseCodes(*codeFlag); err != nil {
			return err
		}
	}
	if f.since, err = parseWhen("since", *sinceFlag, now); err != nil {
		return err
	}
	if f.until, err = parseWhen("until", *untilFlag, now); err != nil {
		return err
	}
	if !f.all && f.codes == nil && f.since.IsZero() && f.until.IsZero() {
		return errors.New("choose dead letters with --code, --since/--until, or --all")
	}

	seeds := strings.Split(*brokers, ",")
	chosen, read, err := kafkasource.ReadDeadLetters(ctx, seeds, *dlqTopic, f.match)
	if err != nil {
		return err
	}

	for _, dl := range chosen {
		reason := []rune(dl.Message())
		if len(reason) > 120 {
			reason = reason[:120]
		}
		code := "none"
		if dl.Code != 0 {
			code = strconv.Itoa(dl.Code)
		}
		fmt.Fprintf(stdout, "%d/%d\t%s\t%s\t%s\t%s\t%q\n", dl.Record.Partition, dl.Record.Offset,
			dl.At.UTC().Format(time.RFC3339), code, dl.ID, dl.Source, string(reason))
	}
	if *dryRun || len(chosen) == 0 {
		fmt.Fprintf(stderr, "read %d dead letters from %s, chose %d; dry run or nothing to send: sent nothing\n", read, *dlqTopic, len(chosen))
		return nil
	}

	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer prod.Close()
	recs := make([]*kgo.Record, len(chosen))
	for i, dl := range chosen {
		recs[i] = kafkasource.Restore(dl, *topic)
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("send to %s: %w", *topic, err)
	}
	fmt.Fprintf(stderr, "read %d dead letters from %s, sent %d to %s\n", read, *dlqTopic, len(chosen), *topic)
	return nil
}
