package tests

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/testenv"
)

// TestFaultKafkaRestart takes the only broker down with the load running and starts it again:
// once with SIGTERM (a controlled shutdown), once with SIGKILL (no shutdown: the broker recovers
// its logs on start). The test's producer keeps producing throughout, its records waiting in the
// client and retried until the broker is back, as a real producer's are; the runner keeps
// fetching and committing through the outage. Each ends with the usual proof, and logs a
// timeline: how long the broker took to go, when deliveries stopped and the runner first
// reported the broker gone, when it was serving again, when deliveries resumed and the backlog
// was drained, and the retries spent on the way.
func TestFaultKafkaRestart(t *testing.T) {
	testenv.Faults(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sigName(sig), func(t *testing.T) {
			s := newSystem(t)
			t.Cleanup(func() { stackCmd(t, "up.sh", "kafka") })
			mon := s.watchRunner(250 * time.Millisecond)
			l := startLoad(t, s, faultRate)
			sleepCtx(t, 5*time.Second) // both sinks are writing and committing

			tl := brokerTimeline{signal: time.Now()}
			pid := brokerPID(t)
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatalf("%s broker (pid %d): %v", sigName(sig), pid, err)
			}
			waitExit(t, pid, 60*time.Second)
			tl.gone = time.Now()
			stackCmd(t, "up.sh", "kafka") // returns once the broker answers
			tl.serving = time.Now()
			sleepCtx(t, 5*time.Second) // the load keeps running on the restarted broker
			ps := l.stop()
			t.Logf("produced %d well-formed and %d malformed records", len(ps.wellKeys), len(ps.malformed))
			s.verifyFault(ps, 5*time.Minute)
			tl.verified = time.Now()
			samples := mon.stop()
			t.Log(tl.report(samples, s.runnerTroubleSince(tl.signal)))
		})
	}
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// brokerPID returns the pid of the broker that `make up` started, from its pid file.
func brokerPID(t *testing.T) int {
	t.Helper()
	dir := os.Getenv("STACK_DIR") // as infra/local/lib.sh
	if dir == "" {
		dir = filepath.Join("..", ".stack")
	}
	b, err := os.ReadFile(filepath.Join(dir, "kafka", "kafka.pid"))
	if err != nil {
		t.Fatalf("broker pid file (is the stack up? make up): %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("broker pid file holds %q", b)
	}
	return pid
}

// waitExit waits until process pid is gone.
func waitExit(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("broker pid %d gone", pid), func() error {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return errors.New("still running")
	})
}

// runnerSample is the runner's counters at one moment, summed over its sources.
type runnerSample struct {
	at        time.Time
	delivered float64 // sentistream_kafkasource_events_total{outcome="delivered"}
	retries   float64 // sentistream_kafkasource_retries_total
	lag       float64 // sentistream_kafkasource_lag_records
	ok        bool    // the scrape worked
}

// runnerMonitor scrapes the runner's /metrics every interval until stop.
type runnerMonitor struct {
	stop func() []runnerSample
}

func (s *system) watchRunner(every time.Duration) *runnerMonitor {
	var (
		mu      sync.Mutex
		samples []runnerSample
	)
	done, finished := make(chan struct{}), make(chan struct{})
	client := &http.Client{Timeout: time.Second}
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			smp := scrapeRunner(client, s.runnerMetrics)
			mu.Lock()
			samples = append(samples, smp)
			mu.Unlock()
		}
	}()
	var once sync.Once
	m := &runnerMonitor{stop: func() []runnerSample {
		once.Do(func() { close(done) })
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return samples
	}}
	s.t.Cleanup(func() { m.stop() })
	return m
}

func scrapeRunner(client *http.Client, base string) runnerSample {
	smp := runnerSample{at: time.Now()}
	res, err := client.Get(base + "/metrics")
	if err != nil {
		return smp
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "sentistream_kafkasource_events_total{") && strings.Contains(line, `outcome="delivered"`):
			smp.delivered += v
		case strings.HasPrefix(line, "sentistream_kafkasource_retries_total{"):
			smp.retries += v
		case strings.HasPrefix(line, "sentistream_kafkasource_lag_records{"):
			smp.lag += v
		}
	}
	smp.ok = sc.Err() == nil && res.StatusCode == http.StatusOK
	_, _ = io.Copy(io.Discard, res.Body)
	return smp
}

// runnerTroubleSince returns the runner's warning and error lines logged since t0, but for dead
// letters (the malformed records' normal outcome).
func (s *system) runnerTroubleSince(t0 time.Time) []logLine {
	var out []logLine
	for _, l := range s.runnerLog() {
		if !l.Time.Before(t0) && (l.Level == "WARN" || l.Level == "ERROR") && l.Msg != "dead letter" {
			out = append(out, l)
		}
	}
	return out
}

// brokerTimeline is what happened to one broker outage, for the test log.
type brokerTimeline struct {
	signal   time.Time // the signal was sent
	gone     time.Time // the broker process had exited
	serving  time.Time // up.sh returned: the broker answers again
	verified time.Time // the proof held
}

// report returns the timeline as one block of text: each time is measured from the signal.
// Deliveries have stopped at the first sample after the signal whose delivered count did not
// grow; resumed at the first sample after that whose count grew; the backlog is drained at the
// first sample after resuming whose runner lag is under one second of load.
func (tl brokerTimeline) report(samples []runnerSample, warnings []logLine) string {
	since := func(at time.Time) string {
		if at.IsZero() {
			return "never seen"
		}
		return at.Sub(tl.signal).Round(10 * time.Millisecond).String()
	}
	var stalled, resumed, drained time.Time
	var before, after runnerSample
	var prev runnerSample
	for _, smp := range samples {
		switch {
		case !smp.ok:
			continue
		case smp.at.Before(tl.signal):
			before = smp
		case stalled.IsZero():
			if prev.ok && smp.delivered == prev.delivered {
				stalled = smp.at
			}
		case resumed.IsZero():
			if smp.delivered > prev.delivered {
				resumed = smp.at
			}
		case drained.IsZero():
			if smp.lag < faultRate {
				drained = smp.at
			}
		}
		prev, after = smp, smp
	}
	counts := map[string]int{}
	var first logLine
	for _, l := range warnings {
		counts[l.Msg]++
		if first.Time.IsZero() {
			first = l
		}
	}
	msgs := make([]string, 0, len(counts))
	for m, n := range counts {
		msgs = append(msgs, fmt.Sprintf("%q×%d", m, n))
	}
	sort.Strings(msgs)
	var b strings.Builder
	fmt.Fprintf(&b, "timeline from the signal: broker gone after %s; deliveries stopped %s; runner's first warning %s (%q); "+
		"broker serving again %s; deliveries resumed %s; backlog drained (runner lag < %d) %s; proof held %s\n",
		since(tl.gone), since(stalled), since(first.Time), first.Msg, since(tl.serving), since(resumed), faultRate,
		since(drained), since(tl.verified))
	fmt.Fprintf(&b, "time to detect (signal to the runner's first warning) %s; time to recover (broker serving to deliveries resumed) %s, to backlog drained %s\n",
		since(first.Time), durOrNever(tl.serving, resumed), durOrNever(tl.serving, drained))
	fmt.Fprintf(&b, "retries: %.0f delivery retries to the sinks (runner retries_total); runner warnings %s",
		after.retries-before.retries, strings.Join(msgs, ", "))
	return b.String()
}

func durOrNever(from, to time.Time) string {
	if to.IsZero() {
		return "never seen"
	}
	return to.Sub(from).Round(10 * time.Millisecond).String()
}
