package api

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// cache keeps values for ttl and builds each key once however many
// requests ask for it at the same time (singleflight), so a burst of
// requests for one miner costs Redis one read.
type cache[V any] struct {
	ttl   time.Duration
	limit int // entries kept; past it, expired ones are dropped, then all
	mu    sync.Mutex
	m     map[string]cacheEntry[V]
	group singleflight.Group
}

type cacheEntry[V any] struct {
	at time.Time
	v  V
}

func newCache[V any](ttl time.Duration, limit int) *cache[V] {
	return &cache[V]{ttl: ttl, limit: limit, m: map[string]cacheEntry[V]{}}
}

// get returns the cached value of key or builds it with build.
func (c *cache[V]) get(ctx context.Context, key string, build func(context.Context) (V, error)) (V, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.v, nil
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		// Built on a context of its own: one client hanging up must not
		// fail the others waiting on the same key.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		v, err := build(bctx)
		if err != nil {
			return v, err
		}
		c.mu.Lock()
		if len(c.m) >= c.limit {
			c.prune(now)
		}
		c.m[key] = cacheEntry[V]{at: time.Now(), v: v}
		c.mu.Unlock()
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return v.(V), nil
}

func (c *cache[V]) prune(now time.Time) {
	for k, e := range c.m {
		if now.Sub(e.at) >= c.ttl {
			delete(c.m, k)
		}
	}
	if len(c.m) >= c.limit {
		clear(c.m)
	}
}

// drop forgets key (after a write that changes it).
func (c *cache[V]) drop(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}
