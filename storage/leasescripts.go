package storage

import "github.com/redis/go-redis/v9"

// The payments lease: one payments process at a time. The token comes from
// a counter that only grows, so a process that lost the lease can never
// hold a current token again. KEYS: 1 lease, 2 fence counter, 3 the last
// token released; ARGV: 1 ttl (ms). Returns {new token, the previous
// token when its holder let it expire instead of releasing it, else 0},
// or {0, 0} while another process holds it.
var scriptLeaseAcquire = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local prev = redis.call('GET', KEYS[2]) or '0'
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t, 'PX', ARGV[1])
if prev ~= '0' and prev ~= (redis.call('GET', KEYS[3]) or '0') then return {t, tonumber(prev)} end
return {t, 0}
`)

// scriptLeaseRenew extends the lease if it is still ours (KEYS: 1 lease;
// ARGV: 1 token, 2 ttl ms; 1 = renewed). scriptLeaseRelease gives it up
// and records its token as released (KEYS: 1 lease, 2 released).
var scriptLeaseRenew = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

var scriptLeaseRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
`)

var allScripts = []*redis.Script{
	scriptShares, scriptFreeze, scriptCredit, scriptOrphan, scriptStats,
	scriptPayCreate, scriptPayPrepared, scriptPayRelaying, scriptPaySent, scriptPayFailed, scriptPayHalt,
	scriptPayConfirmed, scriptPayMissing, scriptPayDropped,
	scriptLeaseAcquire, scriptLeaseRenew, scriptLeaseRelease,
}
