package produce

import (
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

// BenchmarkGenerate measures making and encoding one binary-mode record, without Kafka.
func BenchmarkGenerate(b *testing.B) {
	g := NewGenerator(1)
	enc := Encoder{Topic: "sentence", IDPrefix: "bench"}
	now := time.Now()
	buf := make([]byte, 0, 256)
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		buf = g.Sentence(buf[:0], g.Pick(moods["mixed"]))
		_ = enc.Record(seq, buf, Positive, now, Binary, 0)
		seq++
	}
}

// BenchmarkProducer runs [Run] unthrottled against the real Kafka (a fresh 3-partition topic,
// the idempotent producer with acks=all, as cmd/producer sets it up) and reports acknowledged
// events/s. Run it with a fixed count, e.g. -benchtime=500000x.
func BenchmarkProducer(b *testing.B) {
	brokers := strings.Split(testenv.KafkaBrokers(b), ",")
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer adminCl.Close()
	adm := kadm.NewClient(adminCl)
	topic := fmt.Sprintf("bench-producer-%d-%06d", time.Now().UnixNano(), rand.IntN(1_000_000))
	if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	defer func() { _, _ = adm.DeleteTopics(context.Background(), topic) }()

	cl, err := kgo.NewClient(ClientOptions(brokers)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.ResetTimer()
	st, err := Run(context.Background(), cl, Config{Encoder: Encoder{Topic: topic}, Count: int64(b.N), Seed: 1})
	b.StopTimer()
	if err != nil || st.Errors > 0 || st.Acked != int64(b.N) {
		b.Fatalf("Run: %v; %s; first error %v", err, st.Summary(), st.FirstErr)
	}
	b.ReportMetric(st.Rate(), "events/s")
}
