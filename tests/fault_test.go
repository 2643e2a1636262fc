package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentistream/sentistream/internal/testenv"
)

// Fault tests: each runs the system under a steady load, injects one kind of fault, and ends with
// the end-to-end proof (nothing lost, nothing written twice, both sinks agree, every malformed
// record dead-lettered). They stop shared processes, so they run in make test's serial phase.

const (
	faultRate     = 400 // records per second produced during a fault test
	faultDuration = 20 * time.Second
)

// load produces at rate records/s in the background until stop is called, which waits for
// every record to be acknowledged and returns them. Each tenth of a second's records are
// produced on their own, so the rate holds while the broker is away: they wait in the client,
// retried until it is back, as a real producer's do.
type load struct {
	stop func() *producedSet
}

func startLoad(t *testing.T, s *system, rate int) *load {
	t.Helper()
	all := &producedSet{wellKeys: map[string]bool{}, malformed: map[string]bool{}}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var batches sync.WaitGroup
		defer batches.Wait()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		next := 0
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			n, from := rate/10, next
			next += n
			batches.Go(func() { all.merge(produceMix(t, s, n, from)) })
		}
	}()
	var once sync.Once
	return &load{stop: func() *producedSet {
		once.Do(func() { close(done) })
		<-finished
		return all
	}}
}

func (ps *producedSet) merge(o *producedSet) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for k := range o.wellKeys {
		ps.wellKeys[k] = true
	}
	for k := range o.malformed {
		ps.malformed[k] = true
	}
}

// sleepCtx waits d or until the test ends.
func sleepCtx(t *testing.T, d time.Duration) {
	select {
	case <-t.Context().Done():
	case <-time.After(d):
	}
}

func TestFaultKillProcesses(t *testing.T) {
	testenv.Faults(t)
	for _, victim := range []string{"score", "index", "runner"} {
		t.Run(victim, func(t *testing.T) {
			s := newSystem(t)
			p := map[string]*proc{"score": s.score, "index": s.index, "runner": s.runner}[victim]
			l := startLoad(t, s, faultRate)
			var crashes []time.Time // of the runner: see verifyFault
			for i := range 5 {
				sleepCtx(t, faultDuration/6)
				if p == s.runner {
					crashes = append(crashes, time.Now())
				}
				p.kill()
				t.Logf("SIGKILL %s (%d of 5)", victim, i+1)
				sleepCtx(t, 500*time.Millisecond)
				p.start()
			}
			sleepCtx(t, faultDuration/6)
			ps := l.stop()
			t.Logf("produced %d well-formed and %d malformed records", len(ps.wellKeys), len(ps.malformed))
			s.verifyFault(ps, 5*time.Minute, crashes...)
		})
	}
}

// stackCmd runs infra/local/{up,down}.sh for one service.
func stackCmd(t *testing.T, script, service string) {
	t.Helper()
	out, err := exec.Command("../infra/local/"+script, service).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", script, service, err, out)
	}
}

// TestFaultSinkOutage stops PostgreSQL, then Elasticsearch, for 30 s each under load: the
// stopped sink's events are retried until it is back, and the other sink keeps up meanwhile.
func TestFaultSinkOutage(t *testing.T) {
	testenv.Faults(t)
	for _, tc := range []struct{ service, otherGroup string }{
		{"postgres", "-index"},
		{"elasticsearch", "-score"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			s := newSystem(t)
			t.Cleanup(func() { stackCmd(t, "up.sh", tc.service) })
			l := startLoad(t, s, faultRate)
			sleepCtx(t, 3*time.Second)
			stackCmd(t, "down.sh", tc.service)
			down := time.Now()
			maxOtherLag := s.otherSinkMaxLag(s.topic+tc.otherGroup, 30*time.Second)
			stackCmd(t, "up.sh", tc.service)
			t.Logf("%s was down %s; the other sink's lag peaked at %d records (%d records/s produced)",
				tc.service, time.Since(down).Round(time.Second), maxOtherLag, faultRate)
			// The other sink commits every 5 s (KafkaSource's interval), so lag sampled just before a
			// commit is one interval of records plus those in flight: two intervals is the bound.
			if maxOtherLag > 10*faultRate {
				t.Errorf("the other sink fell behind by %d records while %s was down: it should keep up", maxOtherLag, tc.service)
			}
			sleepCtx(t, 3*time.Second)
			ps := l.stop()
			s.verifyFault(ps, 5*time.Minute)
		})
	}
}

// TestFaultPoisonRecord puts a record with a 1 MB sentence among good ones: it is dead-lettered
// by both sources and nothing else is held up or lost.
func TestFaultPoisonRecord(t *testing.T) {
	testenv.Faults(t)
	s := newSystem(t)
	ps := produceMix(t, s, 500, 0)
	big, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ProducerBatchMaxBytes(2<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	value, _ := json.Marshal(map[string]string{"sentence": strings.Repeat("a", 1_000_000-40), "created_at": "2025-04-14T08:00:00Z"})
	res := big.ProduceSync(t.Context(), &kgo.Record{Topic: s.topic, Value: value})
	r, err := res.First()
	if err != nil {
		t.Fatalf("produce poison record: %v", err)
	}
	ps.malformed[fmt.Sprintf("partition:%d/offset:%d", r.Partition, r.Offset)] = true
	ps.merge(produceMix(t, s, 500, 500))
	s.verifyFault(ps, 3*time.Minute)
}

// groupLag returns one consumer group's total lag on the system's topic.
func (s *system) groupLag(ctx context.Context, group string) (int64, error) {
	lags, err := s.adm.Lag(ctx, group)
	if err != nil {
		return 0, err
	}
	gl := lags[group]
	if err := gl.Error(); err != nil {
		return 0, err
	}
	var total int64
	for _, pl := range gl.Lag[s.topic] {
		total += pl.Lag
	}
	return total, nil
}
