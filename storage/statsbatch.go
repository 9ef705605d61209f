package storage

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A batch's statistics are applied exactly once per slot, even when the
// batch is retried: on a cluster the share script and the statistics go to
// different nodes, so one may fail while the others were applied (and
// go-redis itself resends a pipeline's commands after a network error). So
// each slot's statistics of a batch are one scriptStats call that first
// records (instance, batch seq) in a marker key of that slot and does
// nothing when the seq was already applied there. Batches of one Store are
// written in order, so "seq greater than the last applied" is the test.

// appliedTTL is how long a marker lives after its last batch: as long as
// the share script's own batch marker ({p}:seq:<instance>), past any retry.
const appliedTTL = 7 * 24 * time.Hour

// statsRetryFor is how long statistics that failed (their node down, say)
// are retried with the following batches before they are given up.
const statsRetryFor = 10 * time.Minute

// scriptStats applies one slot's statistics of a batch once. KEYS: 1 the
// marker (last seq applied by this Store in this slot), then the keys the
// operations name by index. ARGV: 1 seq, 2 marker TTL (ms), then operations:
// h k field n (HINCRBY), s k field v (HSET), z k score member (ZADD),
// x k seconds (EXPIRE), w k_hash k_index cap ttl n, then 8 values per worker
// (name, rank, hashes, accepted, stale, invalid, rejected, lastShare): a
// worker's counters, keeping at most cap workers per address; the lowest
// ranked are dropped with their counters (see workerRank). Returns 1 when
// applied, 0 when the seq was applied before.
var scriptStats = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])

local fields = {'hashes', 'accepted', 'stale', 'invalid', 'rejected', 'lastShare'}
local function workers(hash, index, cap, ttl, n, a)
  if redis.call('EXISTS', index) == 0 and redis.call('EXISTS', hash) == 1 then
    -- A hash written before the index existed: index its workers once, so
    -- the cap applies to them too.
    local h, rank = redis.call('HGETALL', hash), {}
    for i = 1, #h, 2 do
      local w, f = string.match(h[i], '^(.*):([^:]*)$')
      if w and f == 'lastShare' then rank[w] = tonumber(h[i + 1]) or 0
      elseif w and not rank[w] then rank[w] = -` + strconv.Itoa(noShareBand) + `
      end
    end
    for w, r in pairs(rank) do redis.call('ZADD', index, r, w) end
  end
  for i = a, a + 8 * (n - 1), 8 do
    local w, r = ARGV[i], tonumber(ARGV[i + 1])
    local old = redis.call('ZSCORE', index, w)
    if not old or r > tonumber(old) then redis.call('ZADD', index, r, w) end
    for j = 1, 5 do
      if ARGV[i + 1 + j] ~= '0' then redis.call('HINCRBY', hash, w .. ':' .. fields[j], ARGV[i + 1 + j]) end
    end
    if ARGV[i + 7] ~= '0' then redis.call('HSET', hash, w .. ':lastShare', ARGV[i + 7]) end
  end
  local over = redis.call('ZCARD', index) - cap
  if over > 0 then
    for _, w in ipairs(redis.call('ZRANGE', index, 0, over - 1)) do
      local del = {}
      for j, f in ipairs(fields) do del[j] = w .. ':' .. f end
      redis.call('HDEL', hash, unpack(del))
    end
    redis.call('ZREMRANGEBYRANK', index, 0, over - 1)
  end
  redis.call('EXPIRE', hash, ttl)
  redis.call('EXPIRE', index, ttl)
  return a + 8 * n
end

local i = 3
while i <= #ARGV do
  local op, k = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if op == 'h' then redis.call('HINCRBY', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 's' then redis.call('HSET', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'z' then redis.call('ZADD', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'x' then redis.call('EXPIRE', k, ARGV[i + 2]); i = i + 3
  elseif op == 'w' then
    i = workers(k, KEYS[tonumber(ARGV[i + 2])], tonumber(ARGV[i + 3]), ARGV[i + 4], tonumber(ARGV[i + 5]), i + 6)
  else return redis.error_reply('stats: unknown operation ' .. tostring(op)) end
end
return 1
`)

// statsGroup is one slot's statistics of one batch: a scriptStats call.
type statsGroup struct {
	seq    uint64
	keys   []string // keys[0] is the marker
	idx    map[string]int
	args   []any
	cmd    *redis.Cmd
	failed time.Time // first failure; zero while it has not failed
}

func newStatsGroup(marker string, seq uint64) *statsGroup {
	return &statsGroup{seq: seq, keys: []string{marker}, idx: map[string]int{}, args: []any{seq, appliedTTL.Milliseconds()}}
}

// key is k's index in KEYS (1-based, as Lua sees it).
func (g *statsGroup) key(k string) int {
	if i, ok := g.idx[k]; ok {
		return i
	}
	g.keys = append(g.keys, k)
	g.idx[k] = len(g.keys)
	return len(g.keys)
}

func (g *statsGroup) hincr(k, field string, n uint64) {
	g.args = append(g.args, "h", g.key(k), field, n)
}
func (g *statsGroup) hset(k, field string, v any) { g.args = append(g.args, "s", g.key(k), field, v) }
func (g *statsGroup) zadd(k string, score int64, member string) {
	g.args = append(g.args, "z", g.key(k), score, member)
}
func (g *statsGroup) expire(k string, ttl time.Duration) {
	g.args = append(g.args, "x", g.key(k), int64(ttl.Seconds()))
}

// counters adds HINCRBY/HSET operations for c, field names prefixed.
func (g *statsGroup) counters(c *Counters, k, prefix string) {
	for _, f := range []struct {
		name string
		v    uint64
	}{{fHashes, c.Hashes}, {fAccepted, c.Accepted}, {fStale, c.Stale}, {fInvalid, c.Invalid}, {fRejected, c.Rejected}} {
		if f.v > 0 {
			g.hincr(k, prefix+f.name, f.v)
		}
	}
	if !c.LastShare.IsZero() {
		g.hset(k, prefix+fLast, c.LastShare.Unix())
	}
}

// workers adds an address's worker counters (the w operation).
func (g *statsGroup) workers(hash, index string, maxWorkers int, a *minerAgg) {
	g.args = append(g.args, "w", g.key(hash), g.key(index), maxWorkers, int64(statsTTL.Seconds()), len(a.workers))
	for name, w := range a.workers {
		var last int64
		if !w.LastShare.IsZero() {
			last = w.LastShare.Unix()
		}
		g.args = append(g.args, name, a.ranks[name], w.Hashes, w.Accepted, w.Stale, w.Invalid, w.Rejected, last)
	}
}

// statsGroups holds a batch's groups by slot owner: an address (its keys
// share the tag {addr}) or an untagged pool key (its own slot).
type statsGroups struct {
	s     *Store
	seq   uint64
	by    map[string]*statsGroup
	order []*statsGroup
}

// miner is the group of addr's keys; pool the group of one untagged key.
func (gs *statsGroups) miner(addr string) *statsGroup {
	return gs.get("m:"+addr, gs.s.k.applied(addr, gs.s.instance))
}
func (gs *statsGroups) pool(key string) *statsGroup {
	return gs.get("p:"+key, gs.s.k.applied(key, gs.s.instance))
}

func (gs *statsGroups) get(id, marker string) *statsGroup {
	g := gs.by[id]
	if g == nil {
		g = newStatsGroup(marker, gs.seq)
		gs.by[id] = g
		gs.order = append(gs.order, g)
	}
	return g
}

// sendStats queues groups in the pipeline, in order, so a slot sees an
// older batch's retried statistics before a newer batch's.
func sendStats(ctx context.Context, pipe redis.Pipeliner, groups []*statsGroup) {
	for _, g := range groups {
		g.cmd = scriptStats.EvalSha(ctx, pipe, g.keys, g.args...)
	}
}

// settleStats returns the groups not applied, in order, and the first
// error. A group Redis had no script for (a restarted or promoted node)
// runs again at once with EVAL; the others wait for the next pipeline.
func (s *Store) settleStats(ctx context.Context, groups []*statsGroup) ([]*statsGroup, error) {
	var left []*statsGroup
	var first error
	for _, g := range groups {
		err := g.cmd.Err()
		if isNoScript(err) {
			err = scriptStats.Run(ctx, s.rdb, g.keys, g.args...).Err()
		}
		g.cmd = nil
		if err == nil {
			continue
		}
		if g.failed.IsZero() {
			g.failed = time.Now()
		}
		left = append(left, g)
		if first == nil {
			first = err
		}
	}
	return left, first
}

// pruneStats gives up statistics pending longer than statsRetryFor, or
// beyond the share buffer's bound (the oldest first).
func (s *Store) pruneStats(groups []*statsGroup, err error) []*statsGroup {
	drop := 0
	for drop < len(groups) && (time.Since(groups[drop].failed) > statsRetryFor || len(groups)-drop > s.opt.maxBuffered) {
		drop++
	}
	if drop == 0 {
		return groups
	}
	s.log.Errorf("storage: gave up %d share statistics updates, failing for %v: %v",
		drop, time.Since(groups[0].failed).Round(time.Second), err)
	s.expired = nil // the TTLs they carried were not set
	return groups[drop:]
}
