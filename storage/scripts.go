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

// luaPay holds what the payment journal scripts share. fenced: every write
// needs the current payments lease token; the settling scripts also take ""
// for an operator settling a record by hand (`pool payments resolve`).
// ge compares non-negative decimal strings exactly (Lua numbers are doubles,
// and a balance in piconero passes 2^53). amounts splits a destination
// value "debit" or "debit:fee:sent".
const luaPay = `
local function fenced(lease, token, operatorOK)
  if token == '' then return not operatorOK end
  return redis.call('GET', lease) ~= token
end
local function ge(a, b)
  if not string.match(a, '^%d+$') then return false end
  a = string.match(a, '^0*(%d-)$')
  b = string.match(b, '^0*(%d-)$')
  if #a ~= #b then return #a > #b end
  return a >= b
end
local function amounts(v)
  local d, f, s = string.match(v, '^(%d+):(%d+):(%d+)$')
  if d then return d, f, s end
  return string.match(v, '^(%d+)$')
end
local function fence() return redis.error_reply('FENCED the payments lease is not ours') end
`

// scriptPayCreate opens a payment record in state preparing: it moves each
// destination's debit from its balance into the record and the pending
// payments, all or nothing. KEYS: 1 lease, 2 balances, 3 payments:pending,
// 4 records, 5 open, 6 blocked, 7 record, 8 dests, 9 (optional) resend.
// ARGV: 1 token, 2 id, 3 time (unix ms), 4 Σ debits, then address/debit
// pairs. A repeat (the reply of the first call was lost) finds the record
// and returns its state. A destination listed in resend (its debit came
// back from a dropped payment) is taken off it, and the record names those
// dropped payments in resendOf.
var scriptPayCreate = redis.NewScript(luaTypes + luaPay + `
if fenced(KEYS[1], ARGV[1], false) then return fence() end
local st = redis.call('HGET', KEYS[7], 'state')
if st then return st end
local bad = wrongtype({[2] = 'hash', [3] = 'hash', [4] = 'zset', [5] = 'zset', [6] = 'hash', [7] = 'hash', [8] = 'hash'})
if bad then return redis.error_reply(bad) end
if #ARGV < 6 then return redis.error_reply('MISMATCH a payment needs a destination') end
for i = 5, #ARGV, 2 do
  local a, d = ARGV[i], ARGV[i + 1]
  if not string.match(d, '^[1-9]%d*$') then return redis.error_reply('MISMATCH debit ' .. d .. ' of ' .. a) end
  if redis.call('HEXISTS', KEYS[6], a) == 1 then return redis.error_reply('BLOCKED ' .. a) end
  local b = redis.call('HGET', KEYS[2], a) or '0'
  if not string.match(b, '^-?%d+$') then return redis.error_reply('CORRUPT balance of ' .. a .. ' is ' .. b) end
  if not ge(b, d) then return redis.error_reply('BALANCE of ' .. a .. ' is ' .. b .. ', less than ' .. d) end
  local p = redis.call('HGET', KEYS[3], a) or '0'
  if not string.match(p, '^%d+$') then return redis.error_reply('CORRUPT pending payment of ' .. a .. ' is ' .. p) end
end
for i = 5, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], '-' .. ARGV[i + 1])
  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[8], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[7], 'id', ARGV[2], 'state', 'preparing', 'created', ARGV[3], 'updated', ARGV[3],
  'token', ARGV[1], 'destinations', (#ARGV - 4) / 2, 'debited', ARGV[4])
if KEYS[9] then
  local of, seen = {}, {}
  for i = 5, #ARGV, 2 do
    local v = redis.call('HGET', KEYS[9], ARGV[i])
    if v then
      for old in string.gmatch(v, '[^,]+') do
        if not seen[old] then seen[old] = true; of[#of + 1] = old end
      end
      redis.call('HDEL', KEYS[9], ARGV[i])
    end
  end
  if #of > 0 then redis.call('HSET', KEYS[7], 'resendOf', table.concat(of, ',')) end
end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2])
return 'created'
`)

// scriptPayPrepared stores the prepared (not relayed) transaction: hash,
// network fee, the handle to relay it, and per destination
// "debit:fee:sent". KEYS: 1 lease, 2 record, 3 dests. ARGV: 1 token, 2 id,
// 3 time, 4 tx hash, 5 fee, 6 handle, 7 Σ miner fees, 8 Σ sent, then
// address/"debit:fee:sent" pairs covering exactly the record's
// destinations with their recorded debits (the caller checked
// fee + sent = debit).
var scriptPayPrepared = redis.NewScript(luaPay + `
if fenced(KEYS[1], ARGV[1], false) then return fence() end
local r = redis.call('HMGET', KEYS[2], 'state', 'txHash')
if not r[1] then return redis.error_reply('UNKNOWN payment ' .. ARGV[2]) end
if r[1] == 'prepared' and r[2] == ARGV[4] then return 'prepared' end
if r[1] ~= 'preparing' then return redis.error_reply('STATE payment ' .. ARGV[2] .. ' is ' .. r[1]) end
if redis.call('HLEN', KEYS[3]) ~= (#ARGV - 8) / 2 then
  return redis.error_reply('MISMATCH payment ' .. ARGV[2] .. ' has other destinations')
end
for i = 9, #ARGV, 2 do
  local d = redis.call('HGET', KEYS[3], ARGV[i])
  local want = amounts(ARGV[i + 1])
  if not d or d ~= want or not string.find(ARGV[i + 1], ':') then
    return redis.error_reply('MISMATCH destination ' .. ARGV[i] .. ' of payment ' .. ARGV[2])
  end
end
for i = 9, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'state', 'prepared', 'updated', ARGV[3], 'txHash', ARGV[4], 'fee', ARGV[5],
  'handle', ARGV[6], 'minerFees', ARGV[7], 'sent', ARGV[8])
return 'prepared'
`)

// scriptPayRelaying marks a prepared record relaying; only after this
// succeeded may the relay request be sent, so a record found prepared was
// never relayed. KEYS: 1 lease, 2 record. ARGV: 1 token, 2 id, 3 time.
var scriptPayRelaying = redis.NewScript(luaPay + `
if fenced(KEYS[1], ARGV[1], false) then return fence() end
local st = redis.call('HGET', KEYS[2], 'state')
if not st then return redis.error_reply('UNKNOWN payment ' .. ARGV[2]) end
if st == 'relaying' then return st end
if st ~= 'prepared' then return redis.error_reply('STATE payment ' .. ARGV[2] .. ' is ' .. st) end
redis.call('HSET', KEYS[2], 'state', 'relaying', 'updated', ARGV[3], 'relayedAt', ARGV[3])
return 'relaying'
`)

// scriptPaySent settles a relayed record as sent: its debits move from the
// pending payments to paid, each destination gets a history entry and a
// ledger line, the pool a history entry. KEYS: 1 lease, 2 record, 3 dests,
// 4 payments:pending, 5 paid, 6 payments:all, 7 ledger, 8 open, 9 halted,
// 10 stats, 11 paid:fees, 12 unconfirmed (confirm.go), then every destination's
// history key. ARGV: 1 token ("" = operator), 2 id, 3 time, 4 settled by,
// 5 history key prefix. Only a relaying record may become sent (or, by an
// operator, a prepared one); it waits in unconfirmed for its confirmations.
var scriptPaySent = redis.NewScript(luaTypes + luaPay + `
if fenced(KEYS[1], ARGV[1], true) then return fence() end
local r = redis.call('HMGET', KEYS[2], 'state', 'txHash', 'fee', 'minerFees', 'sent', 'destinations')
if not r[1] then return redis.error_reply('UNKNOWN payment ' .. ARGV[2]) end
if r[1] == 'sent' then return 'sent' end
if r[1] ~= 'relaying' and not (ARGV[1] == '' and r[1] == 'prepared') then
  return redis.error_reply('STATE payment ' .. ARGV[2] .. ' is ' .. r[1])
end
for i = 2, 6 do
  if not r[i] then return redis.error_reply('CORRUPT payment ' .. ARGV[2] .. ' lacks its transaction fields') end
end
local bad = wrongtype({[3] = 'hash', [4] = 'hash', [5] = 'hash', [6] = 'zset', [7] = 'stream', [8] = 'zset', [9] = 'hash', [10] = 'hash', [11] = 'hash', [12] = 'zset'})
if bad then return redis.error_reply(bad) end
local hist = {}
for i = 13, #KEYS do hist[KEYS[i]] = true end
local d = redis.call('HGETALL', KEYS[3])
for i = 1, #d, 2 do
  local debit, fee = amounts(d[i + 1])
  if not fee then return redis.error_reply('CORRUPT destination ' .. d[i] .. ' of payment ' .. ARGV[2] .. ': ' .. d[i + 1]) end
  if not hist[ARGV[5] .. d[i]] then return redis.error_reply('MISMATCH no history key for ' .. d[i]) end
end
local id, tx, t = ARGV[2], r[2], ARGV[3]
for i = 1, #d, 2 do
  local a = d[i]
  local debit, fee, sent = amounts(d[i + 1])
  if redis.call('HINCRBY', KEYS[4], a, '-' .. debit) == 0 then redis.call('HDEL', KEYS[4], a) end
  redis.call('HINCRBY', KEYS[5], a, debit)
  if fee ~= '0' then redis.call('HINCRBY', KEYS[11], a, fee) end
  redis.call('ZADD', ARGV[5] .. a, t, tx .. ':' .. sent .. ':' .. fee .. ':' .. debit .. ':' .. id)
  redis.call('XADD', KEYS[7], '*', 'kind', 'payment', 'payment', id, 'address', a, 'amount', debit,
    'fee', fee, 'sent', sent, 'tx', tx)
end
redis.call('ZADD', KEYS[6], t, tx .. ':' .. r[5] .. ':' .. r[3] .. ':' .. r[4] .. ':' .. r[6] .. ':' .. id)
redis.call('HSET', KEYS[2], 'state', 'sent', 'updated', t, 'settledAt', t, 'settledBy', ARGV[4])
redis.call('HDEL', KEYS[2], 'handle')
redis.call('ZREM', KEYS[8], id)
redis.call('ZADD', KEYS[12], t, id)
redis.call('HDEL', KEYS[9], id)
redis.call('HINCRBY', KEYS[10], 'sent', 1)
return 'done'
`)

// scriptPayFailed settles a record as failed: every debit goes back from
// the pending payments to its balance. KEYS: 1 lease, 2 record, 3 dests,
// 4 balances, 5 payments:pending, 6 open, 7 halted, 8 stats. ARGV: 1 token
// ("" = operator), 2 id, 3 time, 4 settled by, 5 reason, 6 "1" when the
// caller knows a relaying record's transaction was not sent (the wallet
// refused it or reports it failed); without it a relaying record is kept.
var scriptPayFailed = redis.NewScript(luaTypes + luaPay + `
if fenced(KEYS[1], ARGV[1], true) then return fence() end
local st = redis.call('HGET', KEYS[2], 'state')
if not st then return redis.error_reply('UNKNOWN payment ' .. ARGV[2]) end
if st == 'failed' then return st end
if st == 'sent' or (st == 'relaying' and ARGV[6] ~= '1') then
  return redis.error_reply('STATE payment ' .. ARGV[2] .. ' is ' .. st)
end
local bad = wrongtype({[3] = 'hash', [4] = 'hash', [5] = 'hash', [6] = 'zset', [7] = 'hash', [8] = 'hash'})
if bad then return redis.error_reply(bad) end
local d = redis.call('HGETALL', KEYS[3])
for i = 1, #d, 2 do
  if not amounts(d[i + 1]) then
    return redis.error_reply('CORRUPT destination ' .. d[i] .. ' of payment ' .. ARGV[2] .. ': ' .. d[i + 1])
  end
end
for i = 1, #d, 2 do
  local debit = amounts(d[i + 1])
  if redis.call('HINCRBY', KEYS[5], d[i], '-' .. debit) == 0 then redis.call('HDEL', KEYS[5], d[i]) end
  redis.call('HINCRBY', KEYS[4], d[i], debit)
end
redis.call('HSET', KEYS[2], 'state', 'failed', 'updated', ARGV[3], 'settledAt', ARGV[3], 'settledBy', ARGV[4], 'error', ARGV[5])
redis.call('HDEL', KEYS[2], 'handle')
redis.call('ZREM', KEYS[6], ARGV[2])
redis.call('HDEL', KEYS[7], ARGV[2])
redis.call('HINCRBY', KEYS[8], 'failed', 1)
return 'done'
`)

// scriptPayHalt records that a relaying record cannot be settled, which
// halts payments until it is; the first halt of a record is counted.
// KEYS: 1 lease, 2 record, 3 halted, 4 stats. ARGV: 1 token, 2 id, 3 time,
// 4 reason. The halted entry is "since(unix ms) reason".
var scriptPayHalt = redis.NewScript(luaPay + `
if fenced(KEYS[1], ARGV[1], false) then return fence() end
local st = redis.call('HGET', KEYS[2], 'state')
if st ~= 'relaying' then return st or 'unknown' end
local old = redis.call('HGET', KEYS[3], ARGV[2])
local since = ARGV[3]
if old then since = string.match(old, '^(%d+)') or ARGV[3] else redis.call('HINCRBY', KEYS[4], 'halts', 1) end
redis.call('HSET', KEYS[3], ARGV[2], since .. ' ' .. ARGV[4])
return 'halted'
`)

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
