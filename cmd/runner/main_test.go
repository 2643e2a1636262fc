package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/testenv"
)

// TestMain lets the test binary run as the runner itself, so tests can kill a real process.
func TestMain(m *testing.M) {
	if os.Getenv("RUNNER_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"no manifest", []string{"--sink", "score=http://x"}, nil, "usage"},
		{"bad sink", []string{"--sink", "score", "m.yaml"}, nil, "want name=url"},
		{"bad env sink", []string{"m.yaml"}, map[string]string{"SINKS": "x"}, "SINKS"},
		{"missing file", []string{"nope.yaml"}, nil, "no such file"},
		{"unmapped sink", []string{"--metrics-addr", "off", "../../infra/knative/kafkasource-score.yaml"}, nil, `no URL for sink "score"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestLoadFindsKafkaSinkBesideSource(t *testing.T) {
	sources, sinks, err := load([]string{"../../infra/knative/kafkasource-score.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sinks["sentence-dlq"] != "sentence-dlq" {
		t.Errorf("load = %d sources, sinks %v; want 1 source and KafkaSink sentence-dlq → topic sentence-dlq", len(sources), sinks)
	}
}

// TestRunnerKilledAndRestarted SIGKILLs the runner mid-stream, restarts it, and checks that
// every record is delivered at least once and the group's offsets reach the end.
func TestRunnerKilledAndRestarted(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	suffix := fmt.Sprintf("%d-%06d", time.Now().UnixNano(), rand.IntN(1_000_000))
	topic, group := "runner-kill-"+suffix, "runner-kill-group-"+suffix
	if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = adm.DeleteTopics(context.Background(), topic)
		_, _ = adm.DeleteGroups(context.Background(), group)
	})

	const n = 3000
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(`{"sentence":"record ` + strconv.Itoa(i) + `"}`)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		total     int
	)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(2 * time.Millisecond) // slow enough that the kill lands mid-stream
		mu.Lock()
		delivered[r.Header.Get("Ce-Id")]++
		total++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	count := func() (distinct, all int) {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered), total
	}

	manifest := filepath.Join(t.TempDir(), "source.yaml")
	err = os.WriteFile(manifest, fmt.Appendf(nil, `apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: {name: kill, namespace: sentistream}
spec:
  bootstrapServers: [my-cluster-kafka-bootstrap.kafka:9092]
  topics: [%s]
  consumerGroup: %s
  initialOffset: earliest
  ordering: unordered
  sink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: fn}}
`, topic, group), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "--brokers", brokers, "--sink", "fn="+sink.URL,
			"--metrics-addr", "off", "--commit-interval", "100ms", manifest)
		cmd.Env = append(os.Environ(), "RUNNER_TEST_AS_MAIN=1", "LOG_LEVEL=warn")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	first := start()
	wait(t, 60*time.Second, "a third of the records", func() bool { d, _ := count(); return d >= n/3 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	atKill, _ := count()
	if atKill >= n {
		t.Fatalf("all %d records were delivered before the kill; slow the sink down", n)
	}

	second := start()
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
	}()
	wait(t, 90*time.Second, "every record", func() bool { d, _ := count(); return d == n })
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, 10*time.Second, "the committed offsets to reach the end", func() bool {
		offs, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			return false
		}
		done := true
		ends.Each(func(e kadm.ListedOffset) {
			o, ok := offs.Lookup(topic, e.Partition)
			if e.Offset > 0 && (!ok || o.At != e.Offset) {
				done = false
			}
		})
		return done
	})

	// SIGTERM: exits promptly and cleanly.
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- second.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("runner exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("runner still running 20s after SIGTERM")
	}
	distinct, all := count()
	t.Logf("killed after %d distinct deliveries; %d records delivered %d times in all (%d redelivered)", atKill, distinct, all, all-distinct)
}

func wait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
