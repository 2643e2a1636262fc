package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/testenv"
)

func TestProducerFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--mood", "happy"},
		{"--format", "xml"},
		{"--mix", "binary=x"},
		{"--key", "colour"},
		{"--malformed-pct", "101"},
		{"--rate", "-1"},
		{"extra"},
	} {
		var stderr bytes.Buffer
		if err := run(t.Context(), args, func(string) string { return "" }, &stderr); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestProducerWritesCount produces a mix of formats to a fresh topic and reads them back.
func TestProducerWritesCount(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := fmt.Sprintf("producer-cmd-%d-%06d", time.Now().UnixNano(), rand.IntN(1_000_000))
	if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })

	var stderr bytes.Buffer
	err = run(t.Context(), []string{"--brokers", brokers, "--topic", topic, "--count", "500", "--rate", "0",
		"--mix", "binary=2,seed=1,structured=1", "--malformed-pct", "5", "--mood", "positive:1s,negative:1s"},
		func(string) string { return "" }, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "done: sent 500, acked 500, errors 0") {
		t.Errorf("summary missing or wrong:\n%s", stderr.String())
	}
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 500 {
		t.Errorf("topic holds %d records, want 500", total)
	}
}
