package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/testenv"
)

func TestReplayFlags(t *testing.T) {
	for _, args := range [][]string{
		{},                       // no filter
		{"--code", "abc"},        // bad code
		{"--code", "42"},         // not a status
		{"--since", "yesterday"}, // bad time
		{"--all", "extra"},       // stray argument
	} {
		var out, errOut bytes.Buffer
		if err := run(t.Context(), args, func(string) string { return "" }, &out, &errOut); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// deadLetter builds a dead-letter record as the runner writes it.
func deadLetter(topic, id string, code int, at time.Time) *kgo.Record {
	h := []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte(id)},
		{Key: "ce_source", Value: []byte("urn:sentistream:producer")},
		{Key: "ce_type", Value: []byte("dev.sentistream.sentence.v1")},
		{Key: "ce_mood", Value: []byte("happy")},
		{Key: "content-type", Value: []byte("application/json")},
		{Key: "ce_knativekafkapartition", Value: []byte("1")},
		{Key: "ce_knativekafkaoffset", Value: []byte("42")},
		{Key: "ce_knativeerrordest", Value: []byte("http://127.0.0.1:8081/")},
	}
	if code != 0 {
		h = append(h,
			kgo.RecordHeader{Key: "ce_knativeerrorcode", Value: fmt.Appendf(nil, "%d", code)},
			kgo.RecordHeader{Key: "ce_knativeerrordata", Value: []byte(base64.StdEncoding.EncodeToString([]byte(`{"error":"x"}`)))})
	}
	return &kgo.Record{Topic: topic, Key: []byte("user-" + id), Value: []byte(`{"sentence":"` + id + `"}`), Headers: h, Timestamp: at}
}

func TestReplaySendsExactlyTheChosen(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	suffix := fmt.Sprintf("%d-%06d", time.Now().UnixNano(), rand.IntN(1_000_000))
	dlq, target := "replay-dlq-"+suffix, "replay-target-"+suffix
	for _, topic := range []string{dlq, target} {
		if _, err := adm.CreateTopic(context.Background(), 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), dlq, target) })

	old := time.Now().Add(-3 * time.Hour)
	recent := time.Now().Add(-10 * time.Minute)
	recs := []*kgo.Record{
		deadLetter(dlq, "a", 503, recent),
		deadLetter(dlq, "b", 400, recent),
		deadLetter(dlq, "c", 503, old),
		deadLetter(dlq, "d", 0, recent),
		deadLetter(dlq, "e", 503, recent),
		deadLetter(dlq, "f", 422, old),
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return "" }
	base := []string{"--brokers", brokers, "--dlq-topic", dlq, "--topic", target}

	// Dry run: lists, sends nothing.
	var out, errOut bytes.Buffer
	if err := run(t.Context(), append(base, "--code", "503", "--dry-run"), env, &out, &errOut); err != nil {
		t.Fatalf("dry run: %v\n%s", err, errOut.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("dry run listed %d dead letters, want 3:\n%s", n, out.String())
	}

	// Code 503 or none, dead-lettered in the last hour: a, d, e.
	out.Reset()
	errOut.Reset()
	if err := run(t.Context(), append(base, "--code", "503,none", "--since", "1h"), env, &out, &errOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	got := readAll(t, brokers, target, 3)
	var ids []string
	for _, r := range got {
		ids = append(ids, string(r.Value))
		for _, h := range r.Headers {
			if strings.HasPrefix(h.Key, "ce_knativeerror") || strings.HasPrefix(h.Key, "ce_knativekafka") {
				t.Errorf("replayed record keeps header %s", h.Key)
			}
		}
		want := map[string]string{"ce_specversion": "1.0", "ce_source": "urn:sentistream:producer",
			"ce_type": "dev.sentistream.sentence.v1", "ce_mood": "happy", "content-type": "application/json"}
		for _, h := range r.Headers {
			delete(want, h.Key)
		}
		if len(want) > 0 {
			t.Errorf("replayed record %s lost attributes %v", r.Value, want)
		}
	}
	sort.Strings(ids)
	if diff := cmp.Diff([]string{`{"sentence":"a"}`, `{"sentence":"d"}`, `{"sentence":"e"}`}, ids); diff != "" {
		t.Errorf("replayed (-want +got):\n%s", diff)
	}
	if len(got) > 0 && !strings.HasPrefix(string(got[0].Key), "user-") {
		t.Errorf("replayed key = %q, want the original", got[0].Key)
	}
	ends, err := adm.ListEndOffsets(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 3 {
		t.Errorf("target holds %d records, want exactly 3 (the dry run sends nothing)", total)
	}
}

func readAll(t *testing.T, brokers, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: got %d records, want %d", topic, len(out), n)
		}
		out = append(out, f.Records()...)
	}
	return out
}
