package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a flush function that records each batch and the fake time it started, and can hold
// flushes until released.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	starts  []time.Time
	gate    chan struct{} // when non-nil, each flush waits for a receive from it
	fail    func(int) error
}

func (r *recorder) flush(_ context.Context, items []int) []error {
	r.mu.Lock()
	r.batches = append(r.batches, append([]int(nil), items...))
	r.starts = append(r.starts, time.Now())
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	errs := make([]error, len(items))
	for i, it := range items {
		if r.fail != nil {
			errs[i] = r.fail(it)
		}
	}
	return errs
}

func (r *recorder) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []int
	for _, b := range r.batches {
		s = append(s, len(b))
	}
	return s
}

// metricValue gathers reg and returns the value of the series name (a gauge's value, a histogram's
// sample count). It avoids prometheus/testutil, which needs one more module in go.sum.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}

// submitAsync submits item in a goroutine and returns where its result arrives.
func submitAsync(ctx context.Context, b *Batcher[int], item int) <-chan error {
	c := make(chan error, 1)
	go func() { c <- b.Submit(ctx, item) }()
	return c
}

func TestLoneItemFlushesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := New(Config{MaxWait: time.Second}, rec.flush, nil)
		defer b.Close()
		start := time.Now()
		if err := b.Submit(t.Context(), 1); err != nil {
			t.Fatalf("Submit = %v, want nil", err)
		}
		if d := rec.starts[0].Sub(start); d != 0 {
			t.Errorf("lone item waited %v before its flush, want 0", d)
		}
	})
}

func TestBurstWaitsForCompany(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration // between arrivals
		want  []int
	}{
		// The first item arrives alone and goes at once; the next come 100µs apart (the queue is
		// filling), so their batch waits MaxWait (2ms) and takes the rest of the burst.
		{"burst", 100 * time.Microsecond, []int{1, 9}},
		// Items 3ms apart never fill the queue: each goes alone, at once.
		{"sparse", 3 * time.Millisecond, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				b := New(Config{MaxWait: 2 * time.Millisecond}, rec.flush, nil)
				defer b.Close()
				var results []<-chan error
				for i := range 10 {
					results = append(results, submitAsync(t.Context(), b, i))
					time.Sleep(tt.every)
				}
				for _, c := range results {
					if err := <-c; err != nil {
						t.Fatalf("Submit = %v", err)
					}
				}
				if diff := cmp.Diff(tt.want, rec.sizes()); diff != "" {
					t.Errorf("batch sizes (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestItemsQueuedDuringFlushFormNextBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{gate: make(chan struct{})}
		b := New(Config{}, rec.flush, nil)
		defer b.Close()
		var results []<-chan error
		results = append(results, submitAsync(t.Context(), b, 0))
		synctest.Wait() // first flush running, held by the gate
		for i := 1; i <= 10; i++ {
			results = append(results, submitAsync(t.Context(), b, i))
		}
		synctest.Wait()
		rec.gate <- struct{}{} // first flush done
		rec.gate <- struct{}{} // second flush done
		for i, c := range results {
			if err := <-c; err != nil {
				t.Errorf("Submit(%d) = %v, want nil", i, err)
			}
		}
		if diff := cmp.Diff([]int{1, 10}, rec.sizes()); diff != "" {
			t.Errorf("batch sizes (-want +got):\n%s", diff)
		}
	})
}

func TestMaxSizeSplitsBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{gate: make(chan struct{})}
		b := New(Config{MaxSize: 3}, rec.flush, nil)
		defer b.Close()
		var results []<-chan error
		results = append(results, submitAsync(t.Context(), b, 0))
		synctest.Wait()
		for i := 1; i <= 7; i++ {
			results = append(results, submitAsync(t.Context(), b, i))
		}
		synctest.Wait()
		go func() {
			for range 4 {
				rec.gate <- struct{}{}
			}
		}()
		for _, c := range results {
			if err := <-c; err != nil {
				t.Errorf("Submit = %v, want nil", err)
			}
		}
		if diff := cmp.Diff([]int{1, 3, 3, 1}, rec.sizes()); diff != "" {
			t.Errorf("batch sizes (-want +got):\n%s", diff)
		}
	})
}

func TestQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{gate: make(chan struct{})}
		reg := prometheus.NewRegistry()
		m := NewMetrics(reg, "test")
		b := New(Config{QueueSize: 2}, rec.flush, m)
		defer b.Close()
		first := submitAsync(t.Context(), b, 0)
		synctest.Wait() // item 0 is in the running flush, no longer queued
		queued := []<-chan error{submitAsync(t.Context(), b, 1), submitAsync(t.Context(), b, 2)}
		synctest.Wait()
		if got := metricValue(t, reg, "sentistream_batch_queue_depth"); got != 2 {
			t.Errorf("queue depth = %v, want 2", got)
		}
		if err := b.Submit(t.Context(), 3); !errors.Is(err, ErrQueueFull) {
			t.Errorf("Submit on a full queue = %v, want ErrQueueFull", err)
		}
		rec.gate <- struct{}{}
		rec.gate <- struct{}{}
		for _, c := range append(queued, first) {
			if err := <-c; err != nil {
				t.Errorf("Submit = %v, want nil", err)
			}
		}
		if got := metricValue(t, reg, "sentistream_batch_queue_depth"); got != 0 {
			t.Errorf("queue depth after flush = %v, want 0", got)
		}
		if got := metricValue(t, reg, "sentistream_batch_size"); got != 2 {
			t.Errorf("batches observed = %v, want 2", got)
		}
	})
}

func TestPerItemErrors(t *testing.T) {
	errOdd := errors.New("odd")
	rec := &recorder{fail: func(i int) error {
		if i%2 == 1 {
			return fmt.Errorf("item %d: %w", i, errOdd)
		}
		return nil
	}}
	b := New(Config{MaxSize: 7}, rec.flush, nil)
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			err := b.Submit(t.Context(), i)
			if want := i%2 == 1; errors.Is(err, errOdd) != want || (want && err.Error() != fmt.Sprintf("item %d: odd", i)) {
				t.Errorf("Submit(%d) = %v, want its own result", i, err)
			}
		})
	}
	wg.Wait()
}

func TestWrongResultCount(t *testing.T) {
	b := New(Config{}, func(context.Context, []int) []error { return nil }, nil)
	defer b.Close()
	if err := b.Submit(t.Context(), 1); err == nil {
		t.Error("Submit with a flush that returns no results = nil, want an error")
	}
}

func TestSubmitContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{gate: make(chan struct{})}
		b := New(Config{}, rec.flush, nil)
		defer b.Close()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := b.Submit(ctx, 1) // its flush is held past the deadline
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Submit past its deadline = %v, want context.DeadlineExceeded", err)
		}
		rec.gate <- struct{}{} // the flush still finishes; nobody waits for its answer

		done, cancelDone := context.WithCancel(t.Context())
		cancelDone()
		if err := b.Submit(done, 2); !errors.Is(err, context.Canceled) {
			t.Errorf("Submit with an ended ctx = %v, want context.Canceled", err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]int{1}, rec.sizes()); diff != "" {
			t.Errorf("an item with an ended ctx was queued: batch sizes (-want +got):\n%s", diff)
		}
	})
}

func TestCloseFlushesQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{gate: make(chan struct{})}
		b := New(Config{}, rec.flush, nil)
		results := []<-chan error{submitAsync(t.Context(), b, 0)}
		synctest.Wait()
		for i := 1; i <= 5; i++ {
			results = append(results, submitAsync(t.Context(), b, i))
		}
		synctest.Wait()
		closed := make(chan struct{})
		go func() { b.Close(); close(closed) }()
		synctest.Wait()
		if err := b.Submit(t.Context(), 9); !errors.Is(err, ErrClosed) {
			t.Errorf("Submit after Close = %v, want ErrClosed", err)
		}
		rec.gate <- struct{}{}
		rec.gate <- struct{}{}
		<-closed
		for _, c := range results {
			if err := <-c; err != nil {
				t.Errorf("Submit = %v, want nil", err)
			}
		}
		if diff := cmp.Diff([]int{1, 5}, rec.sizes()); diff != "" {
			t.Errorf("batch sizes (-want +got):\n%s", diff)
		}
		b.Close() // again: no-op
	})
}

func TestSecondFlusherWaitsMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{gate: make(chan struct{})}
		b := New(Config{Flushers: 2, MaxWait: 2 * time.Millisecond}, rec.flush, nil)
		defer b.Close()
		start := time.Now()
		r0 := submitAsync(t.Context(), b, 0)
		synctest.Wait() // flush 1 holds
		r1 := submitAsync(t.Context(), b, 1)
		time.Sleep(time.Millisecond)
		r2 := submitAsync(t.Context(), b, 2)
		synctest.Wait()
		if got := len(rec.sizes()); got != 1 {
			t.Fatalf("flushes started before MaxWait = %d, want 1", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if diff := cmp.Diff([]int{1, 2}, rec.sizes()); diff != "" {
			t.Errorf("batch sizes (-want +got):\n%s", diff)
		}
		if d := rec.starts[1].Sub(start); d != 2*time.Millisecond {
			t.Errorf("second batch started after %v, want MaxWait (2ms)", d)
		}
		rec.gate <- struct{}{}
		rec.gate <- struct{}{}
		for _, c := range []<-chan error{r0, r1, r2} {
			if err := <-c; err != nil {
				t.Errorf("Submit = %v, want nil", err)
			}
		}
	})
}

func TestSecondFlusherStartsWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{gate: make(chan struct{})}
		b := New(Config{Flushers: 2, MaxSize: 2, MaxWait: time.Hour}, rec.flush, nil)
		defer b.Close()
		results := []<-chan error{submitAsync(t.Context(), b, 0)}
		synctest.Wait()
		results = append(results, submitAsync(t.Context(), b, 1), submitAsync(t.Context(), b, 2))
		synctest.Wait()
		if diff := cmp.Diff([]int{1, 2}, rec.sizes()); diff != "" {
			t.Errorf("batch sizes (-want +got):\n%s", diff)
		}
		rec.gate <- struct{}{}
		rec.gate <- struct{}{}
		for _, c := range results {
			if err := <-c; err != nil {
				t.Errorf("Submit = %v, want nil", err)
			}
		}
	})
}

func BenchmarkSubmit(b *testing.B) {
	bt := New(Config{}, func(_ context.Context, items []int) []error { return make([]error, len(items)) }, nil)
	defer bt.Close()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bt.Submit(context.Background(), 1); err != nil {
				b.Error(err)
			}
		}
	})
}
