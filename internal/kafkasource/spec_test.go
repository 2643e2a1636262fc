package kafkasource

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestPolicy(t *testing.T) {
	tests := []struct {
		name     string
		delivery *Delivery
		want     policy
		backoffs []time.Duration // for retries 1, 2, 3
	}{
		{
			name:     "no delivery: KafkaSource's defaults",
			want:     policy{retry: 10, exponential: true, delay: 300 * time.Millisecond, timeout: 600 * time.Second},
			backoffs: []time.Duration{600 * time.Millisecond, 1200 * time.Millisecond, 2400 * time.Millisecond},
		},
		{
			name:     "delivery without retry: no retries",
			delivery: &Delivery{Timeout: ptr("PT30S")},
			want:     policy{timeout: 30 * time.Second},
		},
		{
			name:     "retry without delay: 200ms, exponential",
			delivery: &Delivery{Retry: ptr[int32](3)},
			want:     policy{retry: 3, exponential: true, delay: 200 * time.Millisecond, timeout: 600 * time.Second},
		},
		{
			name:     "linear",
			delivery: &Delivery{Retry: ptr[int32](5), BackoffPolicy: ptr("linear"), BackoffDelay: ptr("PT1.5S")},
			want:     policy{retry: 5, delay: 1500 * time.Millisecond, timeout: 600 * time.Second},
			backoffs: []time.Duration{1500 * time.Millisecond, 3 * time.Second, 4500 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Source{Spec: SourceSpec{Delivery: tt.delivery}}.policy()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(policy{})); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
			for i, want := range tt.backoffs {
				if b := got.backoff(i + 1); b != want {
					t.Errorf("backoff(%d) = %v, want %v", i+1, b, want)
				}
			}
		})
	}
}

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "PT0.3S", want: 300 * time.Millisecond},
		{in: "PT30S", want: 30 * time.Second},
		{in: "PT1M30S", want: 90 * time.Second},
		{in: "PT2H", want: 2 * time.Hour},
		{in: "P1D", want: 24 * time.Hour},
		{in: "P1DT1S", want: 24*time.Hour + time.Second},
		{in: "30s", bad: true},
		{in: "P", bad: true},
		{in: "PT", bad: true},
		{in: "P1DT", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		got, err := parseISODuration(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParseManifests(t *testing.T) {
	for _, f := range []string{"kafkasource-score.yaml", "kafkasource-index.yaml"} {
		data, err := os.ReadFile("../../infra/knative/" + f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(data)
		if err != nil {
			t.Fatalf("Parse(%s): %v", f, err)
		}
		if len(m.Sources) != 1 || m.Sources[0].Spec.Ordering != "unordered" || m.Sources[0].Spec.Delivery.DeadLetterSink.Ref.Kind != "KafkaSink" {
			t.Errorf("Parse(%s) = %+v", f, m)
		}
	}
	multi := "kind: Other\n---\n" + string(sourceYAML("a", "t", "g", "ordered", "")) + "---\n" +
		"apiVersion: eventing.knative.dev/v1alpha1\nkind: KafkaSink\nmetadata: {name: dlq}\nspec: {topic: my-dlq}\n"
	m, err := Parse([]byte(multi))
	if err != nil || len(m.Sources) != 1 || len(m.Sinks) != 1 || m.Sinks[0].Spec.Topic != "my-dlq" {
		t.Errorf("Parse(multi) = %+v, %v", m, err)
	}
	for _, bad := range []struct{ old, new, want string }{
		{"ordering: ordered", "ordering: sorted", "spec.ordering"},
		{"initialOffset: earliest", "initialOffset: first", "spec.initialOffset"},
		{"  topics: [t]\n", "", "spec.topics"},
		{"  sink:", "  sinkk:", "spec.sink"},
	} {
		doc := strings.Replace(string(sourceYAML("a", "t", "g", "ordered", "")), bad.old, bad.new, 1)
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Parse with %q = %v, want an error about %s", bad.new, err, bad.want)
		}
	}
}

func TestNewResolvesSinks(t *testing.T) {
	m, err := Parse(sourceYAML("a", "t", "g", "", dlqDelivery(1, "linear", "PT1S")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Brokers: []string{"x:1"}}, m.Sources); err == nil || !strings.Contains(err.Error(), `no URL for sink "fn"`) {
		t.Errorf("New without a sink mapping = %v, want an error naming fn", err)
	}
	r, err := New(Config{Brokers: []string{"x:1"}, Sinks: map[string]string{"fn": "http://127.0.0.1:8081"},
		KafkaSinks: map[string]string{"sentence-dlq": "custom-dlq"}}, m.Sources)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.sources[0]; s.dest != "http://127.0.0.1:8081/" || s.dlqTopic != "custom-dlq" || !s.ordered {
		t.Errorf("source dest %q dlq %q ordered %v", s.dest, s.dlqTopic, s.ordered)
	}
	if _, err := New(Config{Brokers: []string{"x:1"}, Sinks: map[string]string{"fn": "http://x"}}, append(m.Sources, m.Sources...)); err == nil {
		t.Error("New with one consumer group twice = nil error")
	}
}
