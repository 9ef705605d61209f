package storage

import "github.com/redis/go-redis/v9"

// scriptImportMiner imports one miner once. KEYS: 1 imports, 2 balances,
// 3 paid, 4 thresholds, 5 ledger, 6 the miner's payment history. ARGV:
// 1 marker field, 2 marker value, 3 address, 4 balance, 5 paid, 6 balance +
// paid, 7 threshold (0 = none), 8 ledger source ("import:nodepool"),
// 9 source, then score/member pairs of the history. Amounts are decimal
// strings below 2^61; the pool's own values are checked to be integers
// below 10^18 first, so no HINCRBY can fail half-way.
var scriptImportMiner = redis.NewScript(luaTypes + `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'repeat' end
local bad = wrongtype({[1] = 'hash', [2] = 'hash', [3] = 'hash', [4] = 'hash', [5] = 'stream', [6] = 'zset'})
if bad then return redis.error_reply(bad) end
local a = ARGV[3]
for i = 2, 3 do
  local v = redis.call('HGET', KEYS[i], a)
  if v and not (string.match(v, '^-?%d+$') and #v < 19) then
    return redis.error_reply('CORRUPT ' .. KEYS[i] .. ' of ' .. a .. ' is ' .. v)
  end
end
if ARGV[4] ~= '0' then redis.call('HINCRBY', KEYS[2], a, ARGV[4]) end
if ARGV[5] ~= '0' then redis.call('HINCRBY', KEYS[3], a, ARGV[5]) end
if ARGV[7] ~= '0' then redis.call('HSETNX', KEYS[4], a, ARGV[7]) end
if ARGV[6] ~= '0' then
  redis.call('XADD', KEYS[5], '*', 'kind', 'import', 'source', ARGV[8], 'address', a,
    'amount', ARGV[6], 'balance', ARGV[4], 'paid', ARGV[5])
end
for i = 10, #ARGV, 2 do redis.call('ZADD', KEYS[6], 'NX', ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'done'
`)

// scriptImportBlock records a settled block of another pool unless the
// hash is known. KEYS: 1 block, 2 blocks index. ARGV: 1 hash, 2 height,
// 3 source tag, then the record's field/value pairs.
var scriptImportBlock = redis.NewScript(luaTypes + `
local tag = redis.call('HGET', KEYS[1], 'imported')
if tag == ARGV[3] then return 'repeat' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'conflict' end
local bad = wrongtype({[1] = 'hash', [2] = 'zset'})
if bad then return redis.error_reply(bad) end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 'done'
`)
