package storage

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// DefaultMaxWorkers is the default of redis.maxWorkersPerAddress: the most
// workers whose statistics are kept per address. Anyone may log in under
// any address with any worker name, so without a cap a victim's worker
// list (and its API reply) would grow with every name an attacker makes up.
const DefaultMaxWorkers = 256

// noShareBand lowers the rank of a worker without an accepted share below
// every worker with one (unix times are below 2^32 until 2106).
const noShareBand = 1 << 32

// workerRank is a worker's place in the address's worker index: its last
// accepted share (unix s); without one, its last rejection less
// noShareBand. The lowest rank is dropped first, so names that only sent
// junk go before the address's mining rigs, and among those the longest
// idle goes first.
func workerRank(unix int64, accepted bool) int64 {
	if accepted {
		return unix
	}
	return unix - noShareBand
}

// scriptWorkers records one address's worker counters from a batch and
// keeps at most cap workers: when there are more, the lowest ranked are
// dropped with their counters. Nothing else of the address (its own
// counters, round weights, money) is touched. KEYS: 1 workers hash,
// 2 worker index. ARGV: 1 cap, 2 TTL (s), then 8 values per worker: name,
// rank, hashes, accepted, stale, invalid, rejected, lastShare (0 = none).
var scriptWorkers = redis.NewScript(`
local fields = {'hashes', 'accepted', 'stale', 'invalid', 'rejected', 'lastShare'}
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  -- A hash written before the index existed: index its workers once, so
  -- the cap applies to them too.
  local h, rank = redis.call('HGETALL', KEYS[1]), {}
  for i = 1, #h, 2 do
    local w, f = string.match(h[i], '^(.*):([^:]*)$')
    if w and f == 'lastShare' then rank[w] = tonumber(h[i + 1]) or 0
    elseif w and not rank[w] then rank[w] = -` + strconv.Itoa(noShareBand) + `
    end
  end
  for w, r in pairs(rank) do redis.call('ZADD', KEYS[2], r, w) end
end
for i = 3, #ARGV, 8 do
  local w, r = ARGV[i], tonumber(ARGV[i + 1])
  local old = redis.call('ZSCORE', KEYS[2], w)
  if not old or r > tonumber(old) then redis.call('ZADD', KEYS[2], r, w) end
  for j = 1, 5 do
    if ARGV[i + 1 + j] ~= '0' then redis.call('HINCRBY', KEYS[1], w .. ':' .. fields[j], ARGV[i + 1 + j]) end
  end
  if ARGV[i + 7] ~= '0' then redis.call('HSET', KEYS[1], w .. ':lastShare', ARGV[i + 7]) end
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[1])
if over > 0 then
  for _, w in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    local del = {}
    for j, f in ipairs(fields) do del[j] = w .. ':' .. f end
    redis.call('HDEL', KEYS[1], unpack(del))
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
else
  over = 0
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return over
`)

// scriptCall is a script queued in a pipeline, kept to run it again with
// EVAL when Redis lost its script cache (NOSCRIPT).
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// queueWorkers adds one address's worker counters of a batch to the
// pipeline (scriptWorkers).
func (s *Store) queueWorkers(ctx context.Context, pipe redis.Pipeliner, addr string, a *minerAgg) scriptCall {
	c := scriptCall{script: scriptWorkers, keys: []string{s.k.workers(addr), s.k.workersSeen(addr)}}
	c.args = make([]any, 0, 2+8*len(a.workers))
	c.args = append(c.args, s.opt.maxWorkers, int64(statsTTL.Seconds()))
	for name, w := range a.workers {
		var last int64
		if !w.LastShare.IsZero() {
			last = w.LastShare.Unix()
		}
		c.args = append(c.args, name, a.ranks[name], w.Hashes, w.Accepted, w.Stale, w.Invalid, w.Rejected, last)
	}
	c.cmd = scriptWorkers.EvalSha(ctx, pipe, c.keys, c.args...)
	return c
}

// rerunNoScript runs again, with EVAL, the scripts of a pipeline that
// failed only because Redis had lost its script cache.
func (s *Store) rerunNoScript(ctx context.Context, calls []scriptCall) error {
	for _, c := range calls {
		if isNoScript(c.cmd.Err()) {
			if err := c.script.Run(ctx, s.rdb, c.keys, c.args...).Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// workerNames lists the workers of a workers hash, at most max of them,
// the most recent shares kept: a hash written before the cap existed may
// hold more until its address shares again.
func workerNames(m map[string]string, max int) []string {
	last := map[string]int64{}
	for f, v := range m {
		i := strings.LastIndexByte(f, ':')
		if i <= 0 {
			continue
		}
		t := int64(-1)
		if f[i+1:] == fLast {
			t, _ = strconv.ParseInt(v, 10, 64)
		}
		if old, ok := last[f[:i]]; !ok || t > old {
			last[f[:i]] = t
		}
	}
	names := make([]string, 0, len(last))
	for n := range last {
		names = append(names, n)
	}
	if len(names) > max {
		sort.Slice(names, func(i, j int) bool {
			a, b := names[i], names[j]
			return last[a] > last[b] || last[a] == last[b] && a < b
		})
		names = names[:max]
	}
	return names
}
