package sink

import (
	"errors"
	"fmt"
	"time"

	"github.com/sentistream/sentistream/internal/batch"
	"github.com/sentistream/sentistream/internal/env"
)

// Defaults of [Config], also those of [LoadConfig].
const (
	DefaultStoreTimeout     = 5 * time.Second
	DefaultMaxSentenceChars = 10000
	// DefaultFlushers is one write at a time: the items that arrive during a write, and a burst
	// after it, make the next batch, so batches grow with the load. Draining 30,000 records
	// through both functions, one flusher against two made Elasticsearch's _bulk requests 72
	// documents instead of 46-50 and cut its CPU per event from 170-210 µs to 90-120 µs.
	DefaultFlushers = 1
)

// Config tunes a [Handler]. The zero value of each field means its default.
type Config struct {
	// Batch tunes the group commit; see [batch.Config]. Flushers defaults to DefaultFlushers here.
	Batch batch.Config
	// StoreTimeout bounds an event's wait for its write, queueing included, and each batch write;
	// past it the event is answered 503. Default DefaultStoreTimeout.
	StoreTimeout time.Duration
	// MaxSentenceChars is the longest sentence accepted, in characters; longer is 413. Default
	// and most: DefaultMaxSentenceChars (PostgreSQL's column holds that many).
	MaxSentenceChars int
	// Now gives the receipt time of an event without a time of its own; nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.MaxSentenceChars <= 0 {
		c.MaxSentenceChars = DefaultMaxSentenceChars
	}
	if c.Batch.Flushers <= 0 {
		c.Batch.Flushers = DefaultFlushers
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// LoadConfig reads the variables both functions share, reporting every bad one at once:
//
//	BATCH_MAX_SIZE      500     most items per write
//	BATCH_MAX_WAIT      2ms     how long a batch waits for company while another write runs
//	BATCH_FLUSHERS      1       concurrent writes
//	QUEUE_SIZE          10000   items waiting for a write before answering 429
//	STORE_TIMEOUT       5s      bound on an event's wait (queue + write) and on each write; past it, 503
//	MAX_SENTENCE_CHARS  10000   longest sentence in characters (at most 10000); longer: 413
func LoadConfig(getenv env.Getenv) (Config, error) {
	var c Config
	var errs []error
	positive := func(name string, v int64, err error) {
		switch {
		case err != nil:
			errs = append(errs, err)
		case v <= 0:
			errs = append(errs, fmt.Errorf("%s: must be > 0", name))
		}
	}
	var err error
	b := &c.Batch
	b.MaxSize, err = env.Int(getenv, "BATCH_MAX_SIZE", 500)
	positive("BATCH_MAX_SIZE", int64(b.MaxSize), err)
	b.MaxWait, err = env.Duration(getenv, "BATCH_MAX_WAIT", 2*time.Millisecond)
	positive("BATCH_MAX_WAIT", int64(b.MaxWait), err)
	b.Flushers, err = env.Int(getenv, "BATCH_FLUSHERS", DefaultFlushers)
	positive("BATCH_FLUSHERS", int64(b.Flushers), err)
	b.QueueSize, err = env.Int(getenv, "QUEUE_SIZE", 10000)
	positive("QUEUE_SIZE", int64(b.QueueSize), err)
	c.StoreTimeout, err = env.Duration(getenv, "STORE_TIMEOUT", DefaultStoreTimeout)
	positive("STORE_TIMEOUT", int64(c.StoreTimeout), err)
	c.MaxSentenceChars, err = env.Int(getenv, "MAX_SENTENCE_CHARS", DefaultMaxSentenceChars)
	switch {
	case err != nil:
		errs = append(errs, err)
	case c.MaxSentenceChars <= 0 || c.MaxSentenceChars > DefaultMaxSentenceChars:
		errs = append(errs, fmt.Errorf("MAX_SENTENCE_CHARS: want 1 to %d (PostgreSQL's column size), got %d",
			DefaultMaxSentenceChars, c.MaxSentenceChars))
	}
	return c, errors.Join(errs...)
}

// LogAttrs returns c as key-value pairs for the start-up log line.
func (c Config) LogAttrs() []any {
	c = c.withDefaults()
	return []any{"batch_max_size", c.Batch.MaxSize, "batch_max_wait", c.Batch.MaxWait,
		"batch_flushers", c.Batch.Flushers, "queue_size", c.Batch.QueueSize,
		"store_timeout", c.StoreTimeout, "max_sentence_chars", c.MaxSentenceChars}
}
