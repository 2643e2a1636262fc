package produce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// TestSentencesCarryTheirLabel checks that VADER, which the score function runs, mostly agrees
// with the label a sentence was written for.
func TestSentencesCarryTheirLabel(t *testing.T) {
	a := sentiment.New()
	g := NewGenerator(1)
	const n = 3000
	for _, l := range []Label{Positive, Negative, Neutral} {
		agree := 0
		seen := map[string]bool{}
		for range n {
			s := string(g.Sentence(nil, l))
			seen[s] = true
			if sentiment.Label(a.Score(s).Compound) == l.String() {
				agree++
			}
		}
		if share := float64(agree) / n; share < 0.8 {
			t.Errorf("%v: VADER agrees on %.0f%% of sentences, want >= 80%%", l, 100*share)
		}
		if len(seen) < n/5 {
			t.Errorf("%v: %d distinct sentences in %d, want variety", l, len(seen), n)
		}
	}
}

func TestParseMood(t *testing.T) {
	tests := []struct {
		in      string
		at      time.Duration
		want    Mix
		wantErr bool
	}{
		{in: "", want: moods["mixed"]},
		{in: "negative", at: time.Hour, want: moods["negative"]},
		{in: "positive:30s,negative:30s", at: 10 * time.Second, want: moods["positive"]},
		{in: "positive:30s,negative:30s", at: 45 * time.Second, want: moods["negative"]},
		{in: "positive:30s,negative:30s", at: 75 * time.Second, want: moods["positive"]},
		{in: "sine:4m", at: time.Minute, want: Mix{0.85, 0.05, 0.2}},
		{in: "sine:4m", at: 3 * time.Minute, want: Mix{0.05, 0.85, 0.2}},
		{in: "happy", wantErr: true},
		{in: "positive:-1s", wantErr: true},
		{in: "sine:x", wantErr: true},
	}
	for _, tt := range tests {
		m, err := ParseMood(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseMood(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		got := m.At(tt.at)
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
			t.Errorf("ParseMood(%q).At(%v) (-want +got):\n%s", tt.in, tt.at, diff)
		}
	}
}

func TestParseFormatMix(t *testing.T) {
	got, err := ParseFormatMix("binary=70,seed=20,structured=10")
	if err != nil || got != (FormatMix{70, 20, 10, 0}) {
		t.Errorf("ParseFormatMix = %v, %v", got, err)
	}
	if got, err := ParseFormatMix("seed"); err != nil || got != (FormatMix{0, 1, 0, 0}) {
		t.Errorf("ParseFormatMix(seed) = %v, %v", got, err)
	}
	for _, bad := range []string{"xml", "binary=x", "binary=0", "binary=-1,seed=2"} {
		if _, err := ParseFormatMix(bad); err == nil {
			t.Errorf("ParseFormatMix(%q) = nil error, want one", bad)
		}
	}
}

// kafkaSourceRequest turns a record into the request KafkaSource would send, the minimal way
// (the runner's own tests cover KafkaSource exactly): binary records keep their ce_ headers,
// structured ones are posted as structured, anything else is wrapped.
func kafkaSourceRequest(rec *kgo.Record) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(rec.Value))
	ce := false
	for _, h := range rec.Headers {
		switch {
		case h.Key == "content-type":
			r.Header.Set("Content-Type", string(h.Value))
		case strings.HasPrefix(h.Key, "ce_"):
			ce = true
			r.Header.Set("Ce-"+h.Key[3:], string(h.Value))
		}
	}
	if !ce && r.Header.Get("Content-Type") != "application/cloudevents+json" {
		r.Header.Set("Ce-Specversion", "1.0")
		r.Header.Set("Ce-Id", "partition:0/offset:7")
		r.Header.Set("Ce-Source", "/apis/v1/namespaces/ns/kafkasources/score#sentence")
		r.Header.Set("Ce-Type", "dev.knative.kafka.event")
	}
	return r
}

func TestEncoderRecordsDecode(t *testing.T) {
	now := time.Date(2025, 4, 14, 8, 0, 0, 123456000, time.UTC)
	sentence := []byte(`The "fit" is so good 😍 \o/`)
	enc := Encoder{Topic: "sentence", IDPrefix: "run1", Key: KeyID}
	dec := event.NewDecoder(event.Config{})
	tests := []struct {
		f       Format
		wantKey string
	}{
		{Binary, "ce:urn:sentistream:producer#run1-7"},
		{Structured, "ce:urn:sentistream:producer#run1-7"},
		{Seed, "kafka:sentence/0/7"},
	}
	for _, tt := range tests {
		t.Run(tt.f.String(), func(t *testing.T) {
			rec := enc.Record(7, sentence, Positive, now, tt.f, 0)
			if string(rec.Key) != "run1-7" {
				t.Errorf("key = %q, want run1-7", rec.Key)
			}
			items, err := dec.Decode(kafkaSourceRequest(rec))
			if err != nil {
				t.Fatalf("Decode: %v (value %s)", err, rec.Value)
			}
			got := items[0].Record
			if got.Key != tt.wantKey || got.Sentence != string(sentence) || !got.CreatedAt.Equal(now) {
				t.Errorf("decoded key %q sentence %q created_at %v; want %q, %q, %v", got.Key, got.Sentence, got.CreatedAt, tt.wantKey, sentence, now)
			}
		})
	}
	if v := enc.Record(1, sentence, Positive, now, Seed, 0).Value; !bytes.Contains(v, []byte(`"created_at":"2025-04-14T08:00:00.123456"`)) {
		t.Errorf("seed value %s lacks the zone-less created_at", v)
	}
	for kind := range MalformedKinds {
		rec := enc.Record(1, sentence, Positive, now, Malformed, kind)
		items, err := dec.Decode(kafkaSourceRequest(rec))
		if err == nil {
			t.Errorf("malformed kind %d (%s) decoded to %+v, want a 4xx", kind, rec.Value, items)
			continue
		}
		var de *event.Error
		if !errors.As(err, &de) || de.Status < 400 || de.Status >= 500 {
			t.Errorf("malformed kind %d: error %v, want a 4xx *event.Error", kind, err)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", `q"uote\back`, "tab\tnl\n", "emoji 😍 é", "\x01"} {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, []byte(s)), &got); err != nil || got != s {
			t.Errorf("appendJSONString(%q) round-trips to %q, %v", s, got, err)
		}
	}
}

// fakeProducer acknowledges every record at once.
type fakeProducer struct {
	mu   sync.Mutex
	recs []*kgo.Record
}

func (p *fakeProducer) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	p.mu.Lock()
	p.recs = append(p.recs, r)
	p.mu.Unlock()
	promise(r, nil)
}

func (p *fakeProducer) Flush(context.Context) error { return nil }

func TestRunCountRateAndProgress(t *testing.T) {
	var p fakeProducer
	var progress bytes.Buffer
	var mu sync.Mutex
	st, err := Run(t.Context(), &p, Config{
		Encoder: Encoder{Topic: "t"}, Rate: 200, Count: 100, Seed: 3,
		Formats: FormatMix{Binary: 1, Seed: 1}, MalformedPct: 10,
		Progress:      writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return progress.Write(b) }),
		ProgressEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 100 || st.Acked != 100 || len(p.recs) != 100 {
		t.Errorf("sent %d acked %d produced %d, want 100 each", st.Sent, st.Acked, len(p.recs))
	}
	if st.Elapsed < 450*time.Millisecond {
		t.Errorf("100 records at 200/s took %v, want >= ~0.5s", st.Elapsed)
	}
	if st.ByFormat[Binary] == 0 || st.ByFormat[Seed] == 0 || st.ByFormat[Malformed] == 0 {
		t.Errorf("formats %v, want binary, seed and malformed records", st.ByFormat)
	}
	ids := map[string]bool{}
	for _, r := range p.recs {
		for _, h := range r.Headers {
			if h.Key == "ce_id" {
				if ids[string(h.Value)] {
					t.Errorf("duplicate id %s", h.Value)
				}
				ids[string(h.Value)] = true
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(progress.String(), "sent ") {
		t.Errorf("no progress lines in %q", progress.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
