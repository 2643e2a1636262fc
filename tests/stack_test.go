// Package tests holds the system-level tests: the local stack's smoke tests, end-to-end, fault,
// manifest and browser tests. Each talks to real services; see internal/testenv for the gating.
package tests

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/testenv"
)

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%06d", prefix, time.Now().UnixNano(), rand.IntN(1_000_000))
}

// TestKafkaSmoke produces a record to a fresh topic, consumes it in a consumer group and commits.
func TestKafkaSmoke(t *testing.T) {
	brokers := strings.Split(testenv.KafkaBrokers(t), ",")
	ctx := t.Context()
	topic, group := uniqueName("smoke"), uniqueName("smoke-group")

	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		_, _ = adm.DeleteTopics(t.Context(), topic)
		_, _ = adm.DeleteGroups(t.Context(), group)
	})

	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	want := []byte(`{"sentence":"smoke test","created_at":"2025-04-14T08:00:00Z"}`)
	if err := producer.ProduceSync(ctx, &kgo.Record{Value: want}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(group), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got *kgo.Record
	deadline := time.Now().Add(30 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		fetches := consumer.PollRecords(ctx, 1)
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("poll: %v", errs[0].Err)
		}
		if recs := fetches.Records(); len(recs) > 0 {
			got = recs[0]
		}
	}
	if got == nil {
		t.Fatal("no record consumed within 30s")
	}
	if !bytes.Equal(got.Value, want) {
		t.Fatalf("consumed %q, want %q", got.Value, want)
	}
	if err := consumer.CommitRecords(ctx, got); err != nil {
		t.Fatalf("commit: %v", err)
	}
	offsets, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	if o, ok := offsets.Lookup(topic, 0); !ok || o.At != 1 {
		t.Fatalf("committed offset = %+v (found %v), want 1", o, ok)
	}
}

// TestPostgresSmoke runs a round trip through pgx.
func TestPostgresSmoke(t *testing.T) {
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var got string
	want := "héllo ❤ " + uniqueName("pg")
	if err := conn.QueryRow(ctx, "SELECT $1::text || ''", want).Scan(&got); err != nil {
		t.Fatalf("query: %v", err)
	}
	if got != want {
		t.Fatalf("round trip = %q, want %q", got, want)
	}
}

// TestElasticsearchSmoke indexes a document and finds it by full-text search.
func TestElasticsearchSmoke(t *testing.T) {
	es := esindextest.Client(t)
	index := uniqueName("smoke")
	t.Cleanup(func() { esindextest.Remove(t, es, index) })

	doc := map[string]any{"sentence": "The delivery was wonderfully quick"}
	if code := esindextest.Do(t, es, http.MethodPut, "/"+index+"/_doc/k1?refresh=true", doc, nil); code != http.StatusCreated {
		t.Fatalf("index: status %d, want 201", code)
	}
	var out struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if code := esindextest.Do(t, es, http.MethodGet, "/"+index+"/_search?q=wonderfully", nil, &out); code != http.StatusOK {
		t.Fatalf("search: status %d, want 200", code)
	}
	if len(out.Hits.Hits) != 1 || out.Hits.Hits[0].ID != "k1" {
		t.Fatalf("search hits = %+v, want exactly k1", out.Hits.Hits)
	}
}
