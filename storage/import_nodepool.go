package storage

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// NodePool reads the Redis of the Pastella Node pool (cryptonote-nodejs-pool
// layout, ../shared/docs/pastella.md §7.6) for `pool import nodepool`. It
// only reads, and lists keys with SCAN, never KEYS, so a live Node pool is
// not blocked.
type NodePool struct {
	rdb    *redis.Client
	prefix string // "Pastella": keys are "Pastella:workers:<address>", ...
}

// SourceEntry is one sorted-set member of the source and its score.
type SourceEntry struct {
	Member string
	Score  float64
}

// OpenNodePool connects to url (redis://[:password@]host:port/db,
// rediss://..., or unix:///path/redis.sock?db=N) and checks it answers.
func OpenNodePool(ctx context.Context, url, prefix string) (*NodePool, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("storage: source %q: %w", url, err)
	}
	if prefix == "" || strings.ContainsAny(prefix, "*?[]") {
		return nil, fmt.Errorf("storage: source prefix %q: want the Node pool's coin name, e.g. Pastella", prefix)
	}
	n := &NodePool{rdb: redis.NewClient(opt), prefix: prefix}
	if err := n.rdb.Ping(ctx).Err(); err != nil {
		n.rdb.Close()
		return nil, fmt.Errorf("storage: source %s: %w", url, err)
	}
	return n, nil
}

// Close closes the connection.
func (n *NodePool) Close() error { return n.rdb.Close() }

// Key is the source's name of a key ("workers:X" → "Pastella:workers:X").
func (n *NodePool) Key(name string) string { return n.prefix + ":" + name }

// Addresses returns every address with a workers:<address> hash or a
// payments:<address> history, sorted.
func (n *NodePool) Addresses(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, kind := range []string{"workers:", "payments:"} {
		p := n.Key(kind)
		iter := n.rdb.Scan(ctx, 0, escapeMatch(p)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			a := strings.TrimPrefix(iter.Val(), p)
			if kind == "payments:" && a == "all" {
				continue
			}
			seen[a] = true
		}
		if err := iter.Err(); err != nil {
			return nil, fmt.Errorf("storage: scanning %s*: %w", p, err)
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out, nil
}

// Miner reads workers:<address> (balance, paid, minPayoutLevel, ...) and
// payments:<address>, oldest first; either may be missing (expired).
func (n *NodePool) Miner(ctx context.Context, addr string) (map[string]string, []SourceEntry, error) {
	pipe := n.rdb.Pipeline()
	h := pipe.HGetAll(ctx, n.Key("workers:"+addr))
	typ := pipe.Type(ctx, n.Key("payments:"+addr))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("storage: reading %s: %w", n.Key("workers:"+addr), err)
	}
	if typ.Val() != "zset" {
		return h.Val(), nil, nil
	}
	hist, err := n.Sorted(ctx, "payments:"+addr)
	return h.Val(), hist, err
}

// Sorted reads a sorted set of the source, lowest score first, a thousand
// members at a time.
func (n *NodePool) Sorted(ctx context.Context, name string) ([]SourceEntry, error) {
	var out []SourceEntry
	for start := int64(0); ; start += 1000 {
		zs, err := n.rdb.ZRangeWithScores(ctx, n.Key(name), start, start+999).Result()
		if err != nil {
			return nil, fmt.Errorf("storage: reading %s: %w", n.Key(name), err)
		}
		for _, z := range zs {
			m, _ := z.Member.(string)
			out = append(out, SourceEntry{Member: m, Score: z.Score})
		}
		if len(zs) < 1000 {
			return out, nil
		}
	}
}
