package produce

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer is what [Run] writes to; *kgo.Client implements it.
type Producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	Flush(ctx context.Context) error
}

var _ Producer = (*kgo.Client)(nil)

// Config tunes [Run]. The zero value of each field means its default, written in its comment.
type Config struct {
	// Encoder makes the records; its Topic is required.
	Encoder Encoder
	// Rate is the target events per second; 0 means as fast as the producer takes them.
	Rate float64
	// Count stops after this many records; 0 means no limit.
	Count int64
	// Duration stops after this long; 0 means no limit. With neither Count nor Duration, Run
	// goes on until ctx ends.
	Duration time.Duration
	// Mood picks the labels over time; default mixed.
	Mood Mood
	// Formats weighs the record formats; default all binary.
	Formats FormatMix
	// MalformedPct is the percentage of records made malformed whatever Formats says; default 0.
	MalformedPct float64
	// Seed seeds the sentence generator; 0 means a random seed.
	Seed uint64
	// Progress receives a line every ProgressEvery (sent, rate, acked, errors); nil means none.
	Progress io.Writer
	// ProgressEvery is the progress interval; default 1s.
	ProgressEvery time.Duration
}

// Stats is what [Run] did.
type Stats struct {
	Sent     int64             // records handed to the producer
	Acked    int64             // records the brokers acknowledged
	Errors   int64             // records that failed
	FirstErr error             // the first failure, if any
	Elapsed  time.Duration     // from the first record to the last acknowledgement
	ByFormat [numFormats]int64 // records sent per format
	ByLabel  [3]int64          // records sent per intended label
}

// Rate returns the acknowledged records per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Acked) / s.Elapsed.Seconds()
}

// Summary is a one-line account of s.
func (s Stats) Summary() string {
	return fmt.Sprintf("sent %d, acked %d, errors %d in %v (%.0f/s); binary %d, seed %d, structured %d, malformed %d; positive %d, negative %d, neutral %d",
		s.Sent, s.Acked, s.Errors, s.Elapsed.Round(time.Millisecond), s.Rate(),
		s.ByFormat[Binary], s.ByFormat[Seed], s.ByFormat[Structured], s.ByFormat[Malformed],
		s.ByLabel[Positive], s.ByLabel[Negative], s.ByLabel[Neutral])
}

// Run produces sentences to p as cfg says until its count or duration is reached or ctx ends,
// then waits for every record to be acknowledged (for at most 30s after ctx ended).
func Run(ctx context.Context, p Producer, cfg Config) (Stats, error) {
	if cfg.Encoder.Topic == "" {
		return Stats{}, fmt.Errorf("produce: no topic")
	}
	if cfg.Formats == (FormatMix{}) {
		cfg.Formats[Binary] = 1
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	gen := NewGenerator(seed)
	enc := cfg.Encoder
	if enc.IDPrefix == "" {
		enc.IDPrefix = fmt.Sprintf("%x", seed)
	}
	totalFormats := 0.0
	for _, w := range cfg.Formats {
		totalFormats += w
	}

	var (
		st       Stats
		acked    atomic.Int64
		errs     atomic.Int64
		errOnce  sync.Once
		firstErr error
		sent     atomic.Int64
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			errs.Add(1)
			errOnce.Do(func() { firstErr = err })
			return
		}
		acked.Add(1)
	}

	start := time.Now()
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress == nil {
			return
		}
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-stopProgress:
				return
			case now := <-t.C:
				n := sent.Load()
				fmt.Fprintf(cfg.Progress, "sent %d (%.0f/s), acked %d, errors %d\n",
					n, float64(n-last)/now.Sub(lastAt).Seconds(), acked.Load(), errs.Load())
				last, lastAt = n, now
			}
		}
	}()

	sentence := make([]byte, 0, 256)
	var seq uint64
	for ctx.Err() == nil {
		if cfg.Count > 0 && int64(seq) >= cfg.Count {
			break
		}
		now := time.Now()
		elapsed := now.Sub(start)
		if cfg.Duration > 0 && elapsed >= cfg.Duration {
			break
		}
		if cfg.Rate > 0 {
			due := time.Duration(float64(seq) / cfg.Rate * float64(time.Second))
			if wait := due - elapsed; wait > 0 {
				if wait < time.Millisecond && cfg.Rate > 1000 {
					wait = time.Millisecond // sleep in batches at high rates
				}
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
				case <-t.C:
				}
				continue
			}
		}
		label := gen.Pick(cfg.Mood.At(elapsed))
		f := pickFormat(gen, cfg.Formats, totalFormats)
		if cfg.MalformedPct > 0 && gen.rnd.Float64()*100 < cfg.MalformedPct {
			f = Malformed
		}
		sentence = gen.Sentence(sentence[:0], label)
		rec := enc.Record(seq, sentence, label, now, f, gen.rnd.IntN(MalformedKinds))
		p.Produce(ctx, rec, promise)
		seq++
		sent.Add(1)
		st.ByFormat[f]++
		st.ByLabel[label]++
	}

	fctx := context.Background()
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(fctx, 30*time.Second)
		defer cancel()
	}
	ferr := p.Flush(fctx)
	close(stopProgress)
	<-progressDone
	st.Elapsed = time.Since(start)
	st.Sent, st.Acked, st.Errors = sent.Load(), acked.Load(), errs.Load()
	errOnce.Do(func() {})
	st.FirstErr = firstErr
	if ferr != nil {
		return st, fmt.Errorf("produce: flush: %w", ferr)
	}
	return st, nil
}

func pickFormat(g *Generator, m FormatMix, total float64) Format {
	x := g.rnd.Float64() * total
	for f, w := range m {
		if x < w {
			return Format(f)
		}
		x -= w
	}
	return Binary
}

// ClientOptions are the franz-go options for producing sentences: the idempotent producer with
// acks from all in-sync replicas (franz-go's defaults, stated here so they stay), a short linger
// and large batches for throughput.
func ClientOptions(brokers []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(100_000),
		kgo.RecordPartitioner(kgo.UniformBytesPartitioner(64<<10, true, true, nil)),
	}
}
