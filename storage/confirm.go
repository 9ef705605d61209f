package storage

// A payout's life after sent (issue 20): the chain decides. A sent record
// waits in the unconfirmed index until its transaction is deep enough
// (confirmed) or the chain has lost it for longer than a grace time
// (dropped: its debits go back to the balances, paid goes down, and a
// ledger line reverses the payment, all in one script, so the next run pays
// them again in a new record that names the dropped one).

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// PaymentConfirmed: the transaction is payments.confirmations deep; final.
	PaymentConfirmed = "confirmed"
	// PaymentDropped: the sent transaction left the chain and the pool's
	// view of it; its debits went back to the balances to be paid again; final.
	PaymentDropped = "dropped"
	// DroppedLedgerKind is the ledger line that reverses a dropped
	// payment's line for one destination (same amount, subtracted).
	DroppedLedgerKind = "dropped"
)

// Paid reports whether the record's debits count as paid (sent or confirmed).
func (p *PaymentRecord) Paid() bool { return p.State == PaymentSent || p.State == PaymentConfirmed }

// {p}:payments:unconfirmed shares the history prefix like the other fixed
// payment keys; {p}:payments:resend likewise.
func (k keys) payUnconfirmed() string { return k.tag + ":payments:unconfirmed" }
func (k keys) payResend() string      { return k.tag + ":payments:resend" }

// UnconfirmedPayments returns the sent records waiting for their
// confirmations, oldest first.
func (s *Store) UnconfirmedPayments(ctx context.Context) ([]*PaymentRecord, error) {
	ids, err := s.index(ctx, s.k.payUnconfirmed(), 0, -1)
	if err != nil {
		return nil, err
	}
	return s.paymentRecords(ctx, ids)
}

// PaymentConfirmed settles a sent record confirmed: its transaction is in
// block height and deep enough. It reports false when it was confirmed
// already.
func (s *Store) PaymentConfirmed(ctx context.Context, token, id, height uint64) (bool, error) {
	ids := u64(id)
	st, err := s.payScript(ctx, scriptPayConfirmed, []string{s.k.payLease, s.k.payment(ids), s.k.payUnconfirmed(), s.k.payStats},
		[]any{u64(token), ids, s.now().UnixMilli(), u64(height)})
	return st == "done", err
}

// PaymentMissing records that a sent record's transaction is not seen (the
// wallet reports it failed or nobody has it) and returns since when it has
// been missing; with seen it clears that instead (the transaction is
// back) and returns the zero time.
func (s *Store) PaymentMissing(ctx context.Context, token, id uint64, seen bool, why string) (time.Time, error) {
	ids := u64(id)
	flag := "0"
	if seen {
		flag = "1"
	}
	st, err := s.payScript(ctx, scriptPayMissing, []string{s.k.payLease, s.k.payment(ids)},
		[]any{u64(token), ids, s.now().UnixMilli(), flag, why})
	if err != nil || seen {
		return time.Time{}, err
	}
	ms, err := strconv.ParseInt(st, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: payment %d: missingSince %q", id, st)
	}
	return time.UnixMilli(ms), nil
}

// PaymentDropped settles a sent record whose transaction the chain lost:
// each debit goes from paid back to its balance, a ledger line of kind
// dropped reverses the payment line, the history entries go, and the
// addresses are remembered so the record that pays them again names this
// one (resendOf). It reports false when it was dropped already.
func (s *Store) PaymentDropped(ctx context.Context, token, id uint64, reason string) (bool, error) {
	ids := u64(id)
	addrs, err := s.rdb.HKeys(ctx, s.k.paymentDests(ids)).Result()
	if err != nil {
		return false, err
	}
	keys := []string{s.k.payLease, s.k.payment(ids), s.k.paymentDests(ids), s.k.balances, s.k.paid, s.k.paidFees,
		s.k.ledger, s.k.payUnconfirmed(), s.k.payStats, s.k.payAll, s.k.payResend()}
	for _, a := range addrs {
		keys = append(keys, s.k.history(a))
	}
	st, err := s.payScript(ctx, scriptPayDropped, keys, []any{u64(token), ids, s.now().UnixMilli(), reason, s.k.historyPrefix()})
	return st == "done", err
}

// scriptPayConfirmed: sent → confirmed. KEYS: 1 lease, 2 record,
// 3 unconfirmed, 4 stats. ARGV: 1 token, 2 id, 3 time, 4 block height.
var scriptPayConfirmed = redis.NewScript(luaPay + `
if fenced(KEYS[1], ARGV[1], false) then return fence() end
local st = redis.call('HGET', KEYS[2], 'state')
if not st then return redis.error_reply('UNKNOWN payment ' .. ARGV[2]) end
if st == 'confirmed' then return st end
if st ~= 'sent' then return redis.error_reply('STATE payment ' .. ARGV[2] .. ' is ' .. st) end
redis.call('HSET', KEYS[2], 'state', 'confirmed', 'updated', ARGV[3], 'confirmedAt', ARGV[3], 'height', ARGV[4])
redis.call('HDEL', KEYS[2], 'missingSince', 'missing')
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('HINCRBY', KEYS[4], 'confirmed', 1)
return 'done'
`)

// scriptPayMissing sets (ARGV 4 "0") or clears ("1") a sent record's
// missingSince, keeping the first time it went missing. KEYS: 1 lease,
// 2 record. ARGV: 1 token, 2 id, 3 time, 4 seen flag, 5 why. Returns
// missingSince (unix ms) when setting.
var scriptPayMissing = redis.NewScript(luaPay + `
if fenced(KEYS[1], ARGV[1], false) then return fence() end
local r = redis.call('HMGET', KEYS[2], 'state', 'missingSince')
if not r[1] then return redis.error_reply('UNKNOWN payment ' .. ARGV[2]) end
if r[1] ~= 'sent' then return redis.error_reply('STATE payment ' .. ARGV[2] .. ' is ' .. r[1]) end
if ARGV[4] == '1' then
  redis.call('HDEL', KEYS[2], 'missingSince', 'missing')
  return ''
end
if r[2] then return r[2] end
redis.call('HSET', KEYS[2], 'missingSince', ARGV[3], 'missing', ARGV[5])
return ARGV[3]
`)

// scriptPayDropped: sent → dropped. KEYS: 1 lease, 2 record, 3 dests,
// 4 balances, 5 paid, 6 paid:fees, 7 ledger, 8 unconfirmed, 9 stats,
// 10 payments:all, 11 resend, then every destination's history key.
// ARGV: 1 token, 2 id, 3 time, 4 reason, 5 history key prefix.
var scriptPayDropped = redis.NewScript(luaTypes + luaPay + `
if fenced(KEYS[1], ARGV[1], false) then return fence() end
local r = redis.call('HMGET', KEYS[2], 'state', 'txHash', 'fee', 'minerFees', 'sent', 'destinations')
if not r[1] then return redis.error_reply('UNKNOWN payment ' .. ARGV[2]) end
if r[1] == 'dropped' then return r[1] end
if r[1] ~= 'sent' then return redis.error_reply('STATE payment ' .. ARGV[2] .. ' is ' .. r[1]) end
local bad = wrongtype({[3] = 'hash', [4] = 'hash', [5] = 'hash', [6] = 'hash', [7] = 'stream', [8] = 'zset', [9] = 'hash', [10] = 'zset', [11] = 'hash'})
if bad then return redis.error_reply(bad) end
local hist = {}
for i = 12, #KEYS do hist[KEYS[i]] = true end
local d = redis.call('HGETALL', KEYS[3])
for i = 1, #d, 2 do
  local debit, fee = amounts(d[i + 1])
  if not fee then return redis.error_reply('CORRUPT destination ' .. d[i] .. ' of payment ' .. ARGV[2] .. ': ' .. d[i + 1]) end
  if not hist[ARGV[5] .. d[i]] then return redis.error_reply('MISMATCH no history key for ' .. d[i]) end
  if not ge(redis.call('HGET', KEYS[5], d[i]) or '0', debit) then
    return redis.error_reply('CORRUPT paid of ' .. d[i] .. ' is below the debit ' .. debit .. ' of payment ' .. ARGV[2])
  end
end
local id, tx, t = ARGV[2], r[2], ARGV[3]
for i = 1, #d, 2 do
  local a = d[i]
  local debit, fee, sent = amounts(d[i + 1])
  if redis.call('HINCRBY', KEYS[5], a, '-' .. debit) == 0 then redis.call('HDEL', KEYS[5], a) end
  if fee ~= '0' and redis.call('HINCRBY', KEYS[6], a, '-' .. fee) == 0 then redis.call('HDEL', KEYS[6], a) end
  redis.call('HINCRBY', KEYS[4], a, debit)
  redis.call('ZREM', ARGV[5] .. a, tx .. ':' .. sent .. ':' .. fee .. ':' .. debit .. ':' .. id)
  redis.call('XADD', KEYS[7], '*', 'kind', 'dropped', 'payment', id, 'address', a, 'amount', debit,
    'fee', fee, 'sent', sent, 'tx', tx)
  local prev = redis.call('HGET', KEYS[11], a)
  if prev then redis.call('HSET', KEYS[11], a, prev .. ',' .. id) else redis.call('HSET', KEYS[11], a, id) end
end
redis.call('ZREM', KEYS[10], tx .. ':' .. r[5] .. ':' .. r[3] .. ':' .. r[4] .. ':' .. r[6] .. ':' .. id)
redis.call('HSET', KEYS[2], 'state', 'dropped', 'updated', t, 'droppedAt', t, 'error', ARGV[4])
redis.call('ZREM', KEYS[8], id)
redis.call('HINCRBY', KEYS[9], 'dropped', 1)
return 'done'
`)

// auditUnconfirmed checks the unconfirmed index lists only sent records
// (states: every record id with its state).
func (s *Store) auditUnconfirmed(ctx context.Context, states map[string]string) ([]string, error) {
	idx, err := s.rdb.ZRange(ctx, s.k.payUnconfirmed(), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	var v []string
	in := map[string]bool{}
	for _, id := range idx {
		in[id] = true
		if states[id] != PaymentSent {
			v = append(v, fmt.Sprintf("unconfirmed index lists payment %s, which is %q", id, states[id]))
		}
	}
	// A sent record missing from the index is not a violation: records
	// sent before the index existed are not in it (and not watched).
	return v, nil
}

// paymentStates reads the state of each record (one pipeline); id 0, an
// imported payment without a record, and a missing record read "".
func (s *Store) paymentStates(ctx context.Context, ids []uint64) ([]string, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		if id != 0 {
			cmds[i] = pipe.HGet(ctx, s.k.payment(u64(id)), "state")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, c := range cmds {
		if c != nil {
			out[i] = c.Val()
		}
	}
	return out, nil
}

// withStates fills n payment list entries' states; at(i) gives entry i's
// record id and where its state goes.
func (s *Store) withStates(ctx context.Context, n int, at func(i int) (uint64, *string)) error {
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i], _ = at(i)
	}
	st, err := s.paymentStates(ctx, ids)
	if err != nil {
		return err
	}
	for i, v := range st {
		_, dst := at(i)
		*dst = v
	}
	return nil
}
