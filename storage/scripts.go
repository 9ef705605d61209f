package storage

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The scripts only ever do arithmetic on share weights in Lua (exact while
// below 2^53, far above any PPLNS window); amounts of money are passed as
// decimal strings and added by HINCRBY. Every check happens before the
// first write, because Redis does not roll a failed script back.

// luaParse splits a PPLNS log entry "address:weight".
const luaParse = `
local function entry(e)
  local a, w = string.match(e, '^(.*):(%d+)$')
  return a, tonumber(w)
end
local function fmt(x) return string.format('%.0f', x) end
`

// scriptShares applies one share batch. KEYS: 1 pplns log, 2 pplns total,
// 3 prop round, 4 effort, 5 effort:solo, 6 this Store's batch sequence.
// ARGV: 1 seq, 2 keep (0 = do not trim), 3 #log entries, 4 #prop, 5 #solo,
// 6 Σ pplns weight, 7 Σ prop weight, then address/weight pairs: the log
// entries oldest first, the prop scores, the solo efforts.
var scriptShares = redis.NewScript(luaParse + `
if tonumber(ARGV[1]) <= tonumber(redis.call('GET', KEYS[6]) or '0') then
  return 0 -- already applied: the reply of an earlier attempt was lost
end
redis.call('SET', KEYS[6], ARGV[1], 'EX', 604800)
local nLog, nProp, nSolo = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local i = 8
if nLog > 0 then
  local ha, hw
  local head = redis.call('LINDEX', KEYS[1], 0)
  if head then ha, hw = entry(head) end
  local push = {}
  for j = 1, nLog do
    local a, w = ARGV[i], ARGV[i + 1]
    i = i + 2
    if j == 1 and a == ha then
      redis.call('LSET', KEYS[1], 0, a .. ':' .. fmt(hw + tonumber(w)))
    else
      push[#push + 1] = a .. ':' .. w
      if #push == 1000 then
        redis.call('LPUSH', KEYS[1], unpack(push))
        push = {}
      end
    end
  end
  if #push > 0 then redis.call('LPUSH', KEYS[1], unpack(push)) end
  redis.call('INCRBY', KEYS[2], ARGV[6])
  redis.call('HINCRBY', KEYS[4], 'pplns', ARGV[6])
end
local keep = tonumber(ARGV[2])
if keep > 0 then
  -- Drop what no window can reach any more, oldest first; the last entry
  -- dropped may be cut so exactly keep remains.
  local total = tonumber(redis.call('GET', KEYS[2]) or '0')
  while total > keep do
    local tail = redis.call('LINDEX', KEYS[1], -1)
    if not tail then break end
    local a, w = entry(tail)
    local excess = total - keep
    if w <= excess then
      redis.call('RPOP', KEYS[1])
      redis.call('DECRBY', KEYS[2], fmt(w))
      total = total - w
    else
      redis.call('LSET', KEYS[1], -1, a .. ':' .. fmt(w - excess))
      redis.call('DECRBY', KEYS[2], fmt(excess))
      total = keep
    end
  end
end
for j = 1, nProp do
  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
if nProp > 0 then redis.call('HINCRBY', KEYS[4], 'prop', ARGV[7]) end
for j = 1, nSolo do
  redis.call('HINCRBY', KEYS[5], ARGV[i], ARGV[i + 1])
  i = i + 2
end
return 1
`)

// scriptFreeze records a block candidate and freezes its weights.
// KEYS: 1 block, 2 weights, 3 blocks, 4 pending, 5 pplns log, 6 prop round,
// 7 effort, 8 effort:solo. ARGV: 1 hash, 2 height, 3 scheme, 4 finder,
// 5 PPLNS window weight (0 = the whole log), then record field/value pairs.
var scriptFreeze = redis.NewScript(luaParse + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local scheme, finder = ARGV[3], ARGV[4]
local total, entries, effort = 0, 0, false
if scheme == 'pplns' then
  -- Newest first until the window is covered; the oldest entry taken is
  -- cut so the weights add up to exactly N (or the whole log if shorter).
  local need = tonumber(ARGV[5])
  if need == 0 then need = math.huge end
  local acc, order, pos = {}, {}, 0
  while need > 0 do
    local chunk = redis.call('LRANGE', KEYS[5], pos, pos + 999)
    if #chunk == 0 then break end
    for _, e in ipairs(chunk) do
      local a, w = entry(e)
      if w > need then w = need end
      if not acc[a] then
        acc[a] = 0
        order[#order + 1] = a
      end
      acc[a] = acc[a] + w
      total = total + w
      need = need - w
      if need <= 0 then break end
    end
    pos = pos + #chunk
  end
  local args = {}
  for _, a in ipairs(order) do
    args[#args + 1] = a
    args[#args + 1] = fmt(acc[a])
    if #args >= 1000 then
      redis.call('HSET', KEYS[2], unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call('HSET', KEYS[2], unpack(args)) end
  entries = #order
  effort = redis.call('HGET', KEYS[7], 'pplns')
  redis.call('HDEL', KEYS[7], 'pplns')
elseif scheme == 'prop' then
  if redis.call('EXISTS', KEYS[6]) == 1 then
    local vals = redis.call('HVALS', KEYS[6])
    for _, v in ipairs(vals) do total = total + tonumber(v) end
    entries = #vals
    redis.call('RENAME', KEYS[6], KEYS[2]) -- the next PROP round starts empty
  end
  effort = redis.call('HGET', KEYS[7], 'prop')
  redis.call('HDEL', KEYS[7], 'prop')
else
  -- SOLO: the finder alone; the shared rounds are not touched.
  effort = redis.call('HGET', KEYS[8], finder)
  redis.call('HDEL', KEYS[8], finder)
end
if total == 0 then
  -- No recorded shares (SOLO, or an empty round): the finder takes it all.
  redis.call('HSET', KEYS[2], finder, 1)
  total, entries = 1, 1
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('HSET', KEYS[1], 'status', 'pending', 'totalWeight', fmt(total),
  'weightEntries', entries, 'effortHashes', effort or '0')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return 1
`)

// luaTypes guards against a script failing half-way on a key of the wrong
// type (a hand-edited database): it checks every key before any write.
const luaTypes = `
local function wrongtype(want)
  for i, t in pairs(want) do
    local got = redis.call('TYPE', KEYS[i])['ok']
    if got ~= 'none' and got ~= t then return 'WRONGTYPE ' .. KEYS[i] .. ' is a ' .. got end
  end
  return false
end
`

// scriptCredit credits a confirmed block once. KEYS: 1 block, 2 credits,
// 3 balances, 4 ledger, 5 totals, 6 pending. ARGV: 1 hash, 2 reward, 3 fee,
// 4 fee address, 5 finder, 6 finder reward, 7 Σ added to balances,
// 8 time (unix ms), then address/amount pairs (amounts > 0). The caller has
// checked that credits + fee + finder reward = reward exactly.
var scriptCredit = redis.NewScript(luaTypes + `
local b = redis.call('HMGET', KEYS[1], 'status', 'reward', 'address')
if not b[1] then return redis.error_reply('UNKNOWN block ' .. ARGV[1]) end
if b[1] ~= 'pending' then return b[1] end
if b[2] ~= ARGV[2] then
  return redis.error_reply('MISMATCH reward ' .. ARGV[2] .. ' but the candidate recorded ' .. tostring(b[2]))
end
if ARGV[6] ~= '0' and ARGV[5] ~= b[3] then
  return redis.error_reply('MISMATCH finder ' .. ARGV[5] .. ' but the candidate recorded ' .. tostring(b[3]))
end
local bad = wrongtype({[1] = 'hash', [2] = 'hash', [3] = 'hash', [4] = 'stream', [5] = 'hash', [6] = 'zset'})
if bad then return redis.error_reply(bad) end
local targets = {}
for i = 9, #ARGV, 2 do targets[#targets + 1] = ARGV[i] end
if ARGV[6] ~= '0' then targets[#targets + 1] = ARGV[5] end
if ARGV[3] ~= '0' and ARGV[4] ~= '' then targets[#targets + 1] = ARGV[4] end
for _, a in ipairs(targets) do
  local v = redis.call('HGET', KEYS[3], a)
  if v and not string.match(v, '^-?%d+$') then
    return redis.error_reply('CORRUPT balance of ' .. a .. ' is ' .. v)
  end
end
local hash = ARGV[1]
for i = 9, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('XADD', KEYS[4], '*', 'kind', 'credit', 'block', hash, 'address', ARGV[i], 'amount', ARGV[i + 1])
end
if ARGV[6] ~= '0' then
  redis.call('HINCRBY', KEYS[3], ARGV[5], ARGV[6])
  redis.call('XADD', KEYS[4], '*', 'kind', 'finder', 'block', hash, 'address', ARGV[5], 'amount', ARGV[6])
end
if ARGV[3] ~= '0' then
  if ARGV[4] ~= '' then
    redis.call('HINCRBY', KEYS[3], ARGV[4], ARGV[3])
    redis.call('HINCRBY', KEYS[5], 'feesCredited', ARGV[3])
  end
  -- The operator's ledger line; address "" = the fee stays in the pool wallet.
  redis.call('XADD', KEYS[4], '*', 'kind', 'fee', 'block', hash, 'address', ARGV[4], 'amount', ARGV[3])
end
redis.call('HSET', KEYS[1], 'status', 'confirmed', 'fee', ARGV[3], 'feeAddress', ARGV[4],
  'finderReward', ARGV[6], 'credited', ARGV[7], 'settledAt', ARGV[8])
redis.call('ZREM', KEYS[6], hash)
redis.call('HINCRBY', KEYS[5], 'rewards', ARGV[2])
redis.call('HINCRBY', KEYS[5], 'credited', ARGV[7])
redis.call('HINCRBY', KEYS[5], 'fees', ARGV[3])
redis.call('HINCRBY', KEYS[5], 'finder', ARGV[6])
redis.call('HINCRBY', KEYS[5], 'confirmed', 1)
return 'done'
`)

// scriptOrphan marks a pending block orphaned; a PROP block's weights go
// back into the current PROP round. KEYS: 1 block, 2 weights, 3 prop round,
// 4 pending, 5 totals. ARGV: 1 hash, 2 time (unix ms).
var scriptOrphan = redis.NewScript(luaTypes + `
local b = redis.call('HMGET', KEYS[1], 'status', 'scheme')
if not b[1] then return redis.error_reply('UNKNOWN block ' .. ARGV[1]) end
if b[1] ~= 'pending' then return b[1] end
local bad = wrongtype({[1] = 'hash', [2] = 'hash', [3] = 'hash', [4] = 'zset', [5] = 'hash'})
if bad then return redis.error_reply(bad) end
local returned = 0
if b[2] == 'prop' then
  local w = redis.call('HGETALL', KEYS[2])
  for i = 1, #w, 2 do redis.call('HINCRBY', KEYS[3], w[i], w[i + 1]) end
  returned = #w / 2
end
redis.call('HSET', KEYS[1], 'status', 'orphaned', 'settledAt', ARGV[2], 'returnedToRound', returned)
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[5], 'orphaned', 1)
return 'done'
`)

var allScripts = []*redis.Script{scriptShares, scriptFreeze, scriptCredit, scriptOrphan}

// loadScripts puts the scripts in Redis's cache (on every master of a
// cluster) so the first EVALSHA does not miss; a later miss (Redis
// restarted) falls back to EVAL.
func (s *Store) loadScripts(ctx context.Context) error {
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return err
		}
	}
	return nil
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
