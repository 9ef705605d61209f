package storage

import "github.com/redis/go-redis/v9"

// The payments lease: one payments process at a time. The token comes from
// a counter that only grows, so a process that lost the lease can never
// hold a current token again. KEYS: 1 lease, 2 fence counter; ARGV: 1 ttl
// (ms). Returns the new token, or 0 while another process holds it.
var scriptLeaseAcquire = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t, 'PX', ARGV[1])
return t
`)

// scriptLeaseRenew extends the lease if it is still ours (KEYS: 1 lease;
// ARGV: 1 token, 2 ttl ms; 1 = renewed). scriptLeaseRelease gives it up.
var scriptLeaseRenew = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

var scriptLeaseRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

var allScripts = []*redis.Script{
	scriptShares, scriptFreeze, scriptCredit, scriptOrphan, scriptStats,
	scriptPayCreate, scriptPayPrepared, scriptPayRelaying, scriptPaySent, scriptPayFailed, scriptPayHalt,
	scriptPayConfirmed, scriptPayMissing, scriptPayDropped,
	scriptLeaseAcquire, scriptLeaseRenew, scriptLeaseRelease,
}
