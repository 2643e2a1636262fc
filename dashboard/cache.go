package dashboard

import (
	"context"
	"sync"
	"time"
)

// cache keeps each answer for a short time and lets concurrent identical requests share one
// query: with 20 screens polling every 2 s the database sees about one query per answer per TTL.
// Errors are not kept. Entries are dropped when they expire, so the cache stays as small as the set
// of distinct requests of the last TTL.
type cache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	done    chan struct{} // closed when val and err are set
	val     any
	err     error
	expires time.Time
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, entries: map[string]*cacheEntry{}}
}

// get returns the answer for key: a fresh cached one, the one being computed by another request, or
// a new one from fill. fill runs with a ctx detached from the caller's cancellation (it serves every
// waiter) but bounded by timeout; a waiter whose own ctx ends first gets its ctx's error.
func (c *cache) get(ctx context.Context, key string, timeout time.Duration, fill func(context.Context) (any, error)) (any, error) {
	if c.ttl < 0 {
		fctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return fill(fctx)
	}
	now := c.now()
	c.mu.Lock()
	for k, e := range c.entries { // drop expired entries; the map holds a handful of keys
		select {
		case <-e.done:
			if e.err != nil || !now.Before(e.expires) {
				delete(c.entries, k)
			}
		default:
		}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &cacheEntry{done: make(chan struct{})}
		c.entries[key] = e
		c.mu.Unlock()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		e.val, e.err = fill(fctx)
		cancel()
		e.expires = c.now().Add(c.ttl)
		close(e.done)
		if e.err != nil {
			c.mu.Lock()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			c.mu.Unlock()
		}
		return e.val, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
