package dashboard

import (
	"context"
	"sync"
	"time"
)

// cache keeps each answer for a short time and lets concurrent identical requests share one
// query: with 20 screens polling every 2 s the database sees about one query per answer per TTL.
//
// An answer past its TTL is still served for up to staleFor while one background refresh replaces
// it (stale-while-revalidate), so polling clients never wait for a slow query once an answer
// exists; a page polling every 2 s sees data at most TTL plus one query old. Errors are not kept:
// a failed refresh drops the answer, and the next request queries in the foreground and gets the
// error. Entries past staleFor are dropped, so the cache stays as small as the set of distinct
// requests of the last half minute.
type cache struct {
	ttl time.Duration // base TTL; negative disables the cache
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

// staleFor is how long past its TTL an answer may be served while it is refreshed.
const staleFor = 30 * time.Second

type cacheEntry struct {
	done       chan struct{} // closed when val and err are set
	val        any
	err        error
	expires    time.Time
	refreshing bool // a background refresh is running; guarded by cache.mu
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, entries: map[string]*cacheEntry{}}
}

func isDone(e *cacheEntry) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// get returns the answer for key: a fresh cached one, a stale one (starting its refresh), the one
// being computed by another request, or a new one from fill. The cached answer lives ttlScale × the
// base TTL. fill runs with a ctx detached from the caller's cancellation (it serves every waiter)
// but bounded by timeout; a waiter whose own ctx ends first gets its ctx's error.
func (c *cache) get(ctx context.Context, key string, ttlScale int, timeout time.Duration, fill func(context.Context) (any, error)) (any, error) {
	if c.ttl < 0 {
		fctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return fill(fctx)
	}
	ttl := c.ttl * time.Duration(max(ttlScale, 1))
	now := c.now()
	c.mu.Lock()
	for k, e := range c.entries { // drop dead entries; the map holds a handful of keys
		if isDone(e) && !e.refreshing && (e.err != nil || now.After(e.expires.Add(staleFor))) {
			delete(c.entries, k)
		}
	}
	e, ok := c.entries[key]
	if ok && isDone(e) && e.err == nil && now.Before(e.expires.Add(staleFor)) {
		if now.Before(e.expires) {
			c.mu.Unlock()
			return e.val, nil
		}
		if !e.refreshing {
			e.refreshing = true
			// Owned by the cache; it ends when fill returns, within timeout.
			go c.refresh(context.WithoutCancel(ctx), key, e, ttl, timeout, fill)
		}
		c.mu.Unlock()
		return e.val, nil
	}
	if !ok || isDone(e) {
		e = &cacheEntry{done: make(chan struct{})}
		c.entries[key] = e
		c.mu.Unlock()
		c.fill(ctx, key, e, ttl, timeout, fill)
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

// fill computes e, which key maps to, and drops it again if it failed.
func (c *cache) fill(ctx context.Context, key string, e *cacheEntry, ttl, timeout time.Duration, fill func(context.Context) (any, error)) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	e.val, e.err = fill(fctx)
	cancel()
	e.expires = c.now().Add(ttl)
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
}

// refresh replaces the stale entry old of key with a new answer, or drops it if the query fails.
func (c *cache) refresh(ctx context.Context, key string, old *cacheEntry, ttl, timeout time.Duration, fill func(context.Context) (any, error)) {
	e := &cacheEntry{done: make(chan struct{})}
	c.fill(ctx, key, e, ttl, timeout, fill)
	c.mu.Lock()
	defer c.mu.Unlock()
	old.refreshing = false
	if c.entries[key] != old {
		return // replaced meanwhile
	}
	if e.err != nil {
		delete(c.entries, key)
		return
	}
	c.entries[key] = e
}
