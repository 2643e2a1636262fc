package kafkasource

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/testenv"
)

// resetSink is a sink that reads each request whole and then, for the event ids it is told to,
// resets the connection (SO_LINGER 0, then close: a TCP RST, as a sink that crashes after
// reading gives) instead of answering. It records every attempt it saw.
type resetSink struct {
	*httptest.Server
	resets func(id string, attempt int) bool // reset this attempt (0-based) of event id

	mu       sync.Mutex
	attempts map[string][]sinkAttempt // by Ce-Id
}

type sinkAttempt struct {
	at     time.Time
	remote string // the connection it came on
	reset  bool
}

func newResetSink(t *testing.T, resets func(id string, attempt int) bool) *resetSink {
	t.Helper()
	s := &resetSink{resets: resets, attempts: map[string][]sinkAttempt{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the whole request, as a sink that processed it
		id := r.Header.Get("Ce-Id")
		s.mu.Lock()
		n := len(s.attempts[id])
		reset := s.resets(id, n)
		s.attempts[id] = append(s.attempts[id], sinkAttempt{at: time.Now(), remote: r.RemoteAddr, reset: reset})
		s.mu.Unlock()
		if !reset {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *resetSink) seen(id string) []sinkAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkAttempt(nil), s.attempts[id]...)
}

func (s *resetSink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.attempts {
		n += len(a)
	}
	return n
}

// TestFaultSinkResetAfterRead runs the runner against a sink that reads a whole request and then
// resets the connection, the first time on a reused keep-alive connection: the sink may have
// processed the event, so the runner must not resend it by itself. Each reset is one attempt
// the delivery policy counts (retries_total) and retries after its backoff, until the sink
// answers or the retries run out and the event is dead-lettered without a code. The sink sees
// exactly the attempts the runner counts.
func TestFaultSinkResetAfterRead(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond // backoffDelay PT0.1S, exponential: retry n waits delay×2^n
	for _, tt := range []struct {
		name          string
		retry, resets int // the delivery's retry budget; resets of the second event (-1: every attempt)
		wantDelivered bool
	}{
		{"retried until the sink answers", 4, 3, true},
		{"dead-lettered when every attempt is reset", 2, -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newKafka(t)
			topic, dlq := k.topic("runner-rst", 1), k.topic("runner-rst-dlq", 1)
			group := k.group("runner-rst")
			second := "partition:0/offset:1"
			sink := newResetSink(t, func(id string, attempt int) bool {
				return id == second && (tt.resets < 0 || attempt < tt.resets)
			})
			reg := prometheus.NewRegistry()
			var logs testenv.Buffer
			// Ordered: the second event waits for the first, and goes out on the connection
			// the first left idle.
			startRunner(t, k, sourceYAML("score", topic, group, "ordered", dlqDelivery(tt.retry, "exponential", "PT0.1S")), sink.URL, dlq,
				func(c *Config) {
					c.Metrics = NewMetrics(reg)
					c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				})
			k.produce(&kgo.Record{Topic: topic, Value: []byte(`{"sentence":"first"}`)},
				&kgo.Record{Topic: topic, Value: []byte(`{"sentence":"second"}`)})
			waitFor(t, 30*time.Second, "both offsets committed", func() bool { return k.committed(group, topic)[0] == 2 })

			first, got := sink.seen("partition:0/offset:0"), sink.seen(second)
			wantAttempts := tt.resets + 1
			if !tt.wantDelivered {
				wantAttempts = tt.retry + 1
			}
			if len(first) != 1 || len(got) != wantAttempts {
				t.Fatalf("sink saw %d attempts of the first event and %d of the second, want 1 and %d", len(first), len(got), wantAttempts)
			}
			if got[0].remote != first[0].remote {
				t.Errorf("the second event's first attempt came on %s, want the first event's keep-alive connection %s", got[0].remote, first[0].remote)
			}
			for i := 1; i < len(got); i++ {
				if gap, min := got[i].at.Sub(got[i-1].at), delay<<i; gap < min {
					t.Errorf("attempt %d came %v after the one before, want >= %v (the policy's backoff, not a silent resend)", i+1, gap, min)
				}
			}

			gaps := make([]string, len(got))
			for i, a := range got {
				gaps[i] = "+" + a.at.Sub(got[0].at).Round(time.Millisecond).String()
				if a.reset {
					gaps[i] += " reset"
				}
			}
			t.Logf("the second event's attempts as the sink saw them: %s", strings.Join(gaps, ", "))

			// The runner's accounting: one first attempt per event plus retries_total is every
			// attempt the sink saw.
			src := map[string]string{"source": "score"}
			retries := metricValue(t, reg, "sentistream_kafkasource_retries_total", src)
			delivered := metricValue(t, reg, "sentistream_kafkasource_events_total", map[string]string{"source": "score", "outcome": "delivered"})
			deadLettered := metricValue(t, reg, "sentistream_kafkasource_dead_letters_total", src)
			t.Logf("runner: retries_total %v, delivered %v, dead-lettered %v; the sink saw %d attempts in all", retries, delivered, deadLettered, sink.total())
			if counted := 2 + int(retries); counted != sink.total() {
				t.Errorf("the runner counted %d attempts (2 events + %v retries), the sink saw %d", counted, retries, sink.total())
			}
			if retries != float64(wantAttempts-1) {
				t.Errorf("retries_total = %v, want %d", retries, wantAttempts-1)
			}
			wantDelivered, wantDL := 2.0, 0.0
			if !tt.wantDelivered {
				wantDelivered, wantDL = 1, 1
			}
			if delivered != wantDelivered || deadLettered != wantDL {
				t.Errorf("events delivered %v, dead-lettered %v; want %v and %v", delivered, deadLettered, wantDelivered, wantDL)
			}

			// Every failed attempt was the reset (the transport error the policy retries).
			resetLines := 0
			for _, l := range logLines(t, logs.String(), "retrying", "dead letter") {
				if l.EventID != second || !strings.Contains(l.Error, "reset") {
					t.Errorf("log %q for %s with error %q, want the second event's connection reset", l.Msg, l.EventID, l.Error)
					continue
				}
				resetLines++
				if l.Msg == "dead letter" && l.Attempts != wantAttempts {
					t.Errorf("dead letter logged %d attempts, want %d", l.Attempts, wantAttempts)
				}
			}
			if want := wantAttempts - 1 + int(wantDL); resetLines != want {
				t.Errorf("%d log lines name the reset, want %d (one per retry, and the dead letter)", resetLines, want)
			}

			if tt.wantDelivered {
				if ends := k.endOffsets(dlq); ends[0] != 0 {
					t.Errorf("dead-letter topic holds %d records, want none", ends[0])
				}
				return
			}
			dl := ReadDeadLetter(k.consume(dlq, 1, 20*time.Second)[0])
			if dl.ID != second || dl.Code != 0 || dl.Dest != sink.URL+"/" {
				t.Errorf("dead letter id %q code %d dest %q, want %s with no code (no response) from %s/", dl.ID, dl.Code, dl.Dest, second, sink.URL)
			}
		})
	}
}

// logLine is the part of a runner log line these tests read.
type logLine struct {
	Msg      string `json:"msg"`
	EventID  string `json:"event_id"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
}

// logLines returns the JSON lines of logs whose msg is one of msgs.
func logLines(t *testing.T, logs string, msgs ...string) []logLine {
	t.Helper()
	var out []logLine
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var l logLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if slices.Contains(msgs, l.Msg) {
			out = append(out, l)
		}
	}
	return out
}
