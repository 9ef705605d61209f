package storage

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Payment record states. A record moves preparing → prepared → relaying →
// sent, or from any of the first three to failed; sent and failed are final.
const (
	// PaymentPreparing: the debits are out of the balances, no transaction
	// exists yet.
	PaymentPreparing = "preparing"
	// PaymentPrepared: the wallet built the transaction (hash and fee
	// known); relaying has not been requested.
	PaymentPrepared = "prepared"
	// PaymentRelaying: relaying was (or is about to be) requested; the
	// transaction may be on the network.
	PaymentRelaying = "relaying"
	// PaymentSent: relayed; the debits are paid.
	PaymentSent = "sent"
	// PaymentFailed: nothing was sent; the debits went back to the balances.
	PaymentFailed = "failed"
)

// Who settled a record, as stored in its settledBy field.
const (
	SettledByRelay    = "relay"    // the relay request succeeded
	SettledByLookup   = "lookup"   // the wallet said what became of the transaction
	SettledByRefusal  = "refusal"  // the wallet refused before anything was sent
	SettledByUnsent   = "unsent"   // never relayed: the prepare failed, or this process gave up before relaying
	SettledByRecovery = "recovery" // found unrelayed after a crash
	SettledByOperator = "operator" // `pool payments resolve`
)

var (
	// ErrFenced: the payments lease is no longer this process's; nothing
	// was written.
	ErrFenced = errors.New("storage: payments lease lost")
	// ErrPaymentState: the record is not in a state that allows the change.
	ErrPaymentState = errors.New("storage: payment record is in another state")
	// ErrUnknownPayment: no record with that id.
	ErrUnknownPayment = errors.New("storage: unknown payment")
	// ErrPaymentRefused: the debits cannot be taken (balance too low, an
	// address blocked, a bad amount); nothing was written.
	ErrPaymentRefused = errors.New("storage: payment refused")
)

// PaymentDest is one destination of a payment. Debit = Fee + Amount.
type PaymentDest struct {
	Address string
	Debit   uint64 // taken from the balance
	Fee     uint64 // the part of Debit the miner paid towards the network fee
	Amount  uint64 // sent to the address
}

// PaymentRecord is one payout transaction in the journal.
type PaymentRecord struct {
	ID       uint64
	State    string
	Created  time.Time
	Updated  time.Time
	Token    uint64 // lease token of the process that created it
	TxHash   string // known from prepared on
	Fee      uint64 // the transaction's network fee
	MinerFee uint64 // Σ Dests.Fee; the pool paid Fee − MinerFee (may be negative with a fixed fee)
	Debited  uint64 // Σ Dests.Debit
	Sent     uint64 // Σ Dests.Amount
	Handle   string // what the wallet needs to relay it; dropped when settled
	Dests    []PaymentDest
	// Prepared is false while the destinations' fees and amounts are unknown
	// (state preparing).
	Prepared  bool
	RelayedAt time.Time
	SettledAt time.Time
	SettledBy string
	Error     string // why it failed
}

// Open reports whether the record is not settled yet.
func (p *PaymentRecord) Open() bool {
	return p.State == PaymentPreparing || p.State == PaymentPrepared || p.State == PaymentRelaying
}

// --- The lease ---
// Leases: one process of a kind acts at a time (payments, unlocker). A
// lease is a key holding the holder's fencing token with a TTL; tokens only
// grow, so a process that lost its lease can be told apart from the holder.
// The payment journal's scripts check the token on every write.
const (
	LeasePayments = "payments"
	LeaseUnlocker = "unlocker"
)

func (s *Store) leaseKeys(name string) (lease, fence string) {
	return s.k.tag + ":" + name + ":lease", s.k.tag + ":" + name + ":fence"
}

// AcquireLease takes the named lease for ttl and returns its fencing
// token, or 0 when another process holds it.
func (s *Store) AcquireLease(ctx context.Context, name string, ttl time.Duration) (uint64, error) {
	lease, fence := s.leaseKeys(name)
	t, err := scriptLeaseAcquire.Run(ctx, s.rdb, []string{lease, fence}, ttl.Milliseconds()).Uint64()
	if err != nil {
		return 0, fmt.Errorf("storage: %s lease: %w", name, err)
	}
	return t, nil
}

// RenewLease extends the named lease for ttl; false means it is lost.
func (s *Store) RenewLease(ctx context.Context, name string, token uint64, ttl time.Duration) (bool, error) {
	lease, _ := s.leaseKeys(name)
	n, err := scriptLeaseRenew.Run(ctx, s.rdb, []string{lease}, u64(token), ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("storage: renewing the %s lease: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives the named lease up if it is still ours.
func (s *Store) ReleaseLease(ctx context.Context, name string, token uint64) error {
	lease, _ := s.leaseKeys(name)
	return scriptLeaseRelease.Run(ctx, s.rdb, []string{lease}, u64(token)).Err()
}

// AcquirePaymentsLease is AcquireLease of the payments lease, whose token
// the journal scripts check.
func (s *Store) AcquirePaymentsLease(ctx context.Context, ttl time.Duration) (uint64, error) {
	return s.AcquireLease(ctx, LeasePayments, ttl)
}

// RenewPaymentsLease extends the payments lease for ttl; false means it is lost.
func (s *Store) RenewPaymentsLease(ctx context.Context, token uint64, ttl time.Duration) (bool, error) {
	return s.RenewLease(ctx, LeasePayments, token, ttl)
}

// ReleasePaymentsLease gives the payments lease up if it is still ours.
func (s *Store) ReleasePaymentsLease(ctx context.Context, token uint64) error {
	return s.ReleaseLease(ctx, LeasePayments, token)
}

// --- Journal transitions (each one script, each safe to repeat) ---

// CreatePayment opens a record in state preparing: in one script every
// destination's Debit moves from its balance to the pending payments. It
// fails with ErrPaymentRefused, writing nothing, when a balance is below
// its debit or an address is blocked, and with ErrFenced when token is not
// the current lease.
func (s *Store) CreatePayment(ctx context.Context, token uint64, dests []PaymentDest) (uint64, error) {
	if len(dests) == 0 {
		return 0, fmt.Errorf("%w: no destinations", ErrPaymentRefused)
	}
	seen := map[string]bool{}
	var total uint64
	args := []any{u64(token), "", s.now().UnixMilli(), ""}
	for _, d := range dests {
		var c uint64
		total, c = bits.Add64(total, d.Debit, 0)
		if d.Address == "" || d.Debit == 0 || d.Debit > maxAmount || seen[d.Address] || c != 0 || total > maxAmount {
			return 0, fmt.Errorf("%w: destination %q debit %d", ErrPaymentRefused, d.Address, d.Debit)
		}
		seen[d.Address] = true
		args = append(args, d.Address, u64(d.Debit))
	}
	// The id comes first, so a retried script finds the record it made.
	id, err := s.rdb.Incr(ctx, s.k.paySeq).Uint64()
	if err != nil {
		return 0, fmt.Errorf("storage: payment id: %w", err)
	}
	ids := u64(id)
	args[1], args[3] = ids, u64(total)
	keys := []string{s.k.payLease, s.k.balances, s.k.payPending, s.k.payRecords, s.k.payOpen, s.k.payBlocked,
		s.k.payment(ids), s.k.paymentDests(ids)}
	if _, err := s.payScript(ctx, scriptPayCreate, keys, args); err != nil {
		return 0, err
	}
	return id, nil
}

// maxAmount keeps every sum HINCRBY makes within int64.
const maxAmount = 1<<63 - 1

// PaymentPrepared stores the prepared transaction of a preparing record and
// each destination's fee and amount (Fee + Amount must equal the recorded
// Debit, for exactly the record's destinations).
func (s *Store) PaymentPrepared(ctx context.Context, token, id uint64, txHash string, fee uint64, handle string, dests []PaymentDest) error {
	if txHash == "" {
		return fmt.Errorf("%w: payment %d: no transaction hash", ErrPaymentRefused, id)
	}
	var minerFees, sent uint64
	ids := u64(id)
	args := []any{u64(token), ids, s.now().UnixMilli(), txHash, u64(fee), handle, "", ""}
	for _, d := range dests {
		if sum, c := bits.Add64(d.Fee, d.Amount, 0); c != 0 || sum != d.Debit || d.Amount == 0 {
			return fmt.Errorf("%w: payment %d: %s: fee %d + amount %d ≠ debit %d", ErrPaymentRefused, id, d.Address, d.Fee, d.Amount, d.Debit)
		}
		minerFees += d.Fee // bounded by the debits, which CreatePayment kept within int64
		sent += d.Amount
		args = append(args, d.Address, fmt.Sprintf("%d:%d:%d", d.Debit, d.Fee, d.Amount))
	}
	args[6], args[7] = u64(minerFees), u64(sent)
	_, err := s.payScript(ctx, scriptPayPrepared, []string{s.k.payLease, s.k.payment(ids), s.k.paymentDests(ids)}, args)
	return err
}

// PaymentRelaying marks a prepared record relaying. Call it, and see it
// succeed, before asking the wallet to relay.
func (s *Store) PaymentRelaying(ctx context.Context, token, id uint64) error {
	ids := u64(id)
	_, err := s.payScript(ctx, scriptPayRelaying, []string{s.k.payLease, s.k.payment(ids)}, []any{u64(token), ids, s.now().UnixMilli()})
	return err
}

// PaymentSent settles a relaying record as sent (by: SettledByRelay or
// SettledByLookup). It reports false when it was sent already.
func (s *Store) PaymentSent(ctx context.Context, token, id uint64, by string) (bool, error) {
	return s.paymentSent(ctx, u64(token), id, by)
}

// PaymentFailed settles an unsent record as failed and returns its debits
// to the balances. A relaying record is failed only with relayFailed: the
// caller knows its transaction was not sent. It reports false when the
// record had failed already.
func (s *Store) PaymentFailed(ctx context.Context, token, id uint64, by, reason string, relayFailed bool) (bool, error) {
	return s.paymentFailed(ctx, u64(token), id, by, reason, relayFailed)
}

// ResolvePayment settles an open record by hand (`pool payments resolve`),
// without the lease: outcome PaymentSent (only for a record with a
// transaction, prepared or relaying) or PaymentFailed. The scripts check
// the state atomically, so racing the payments process is safe: whichever
// settles first wins and the other is refused.
func (s *Store) ResolvePayment(ctx context.Context, id uint64, outcome, note string) error {
	rec, err := s.Payment(ctx, id)
	if err != nil {
		return err
	}
	if !rec.Open() {
		return fmt.Errorf("%w: payment %d is already %s", ErrPaymentState, id, rec.State)
	}
	switch outcome {
	case PaymentSent:
		if rec.State == PaymentPreparing {
			return fmt.Errorf("%w: payment %d has no transaction yet (preparing); it can only be failed", ErrPaymentState, id)
		}
		_, err = s.paymentSent(ctx, "", id, SettledByOperator)
	case PaymentFailed:
		reason := "resolved failed by the operator"
		if note != "" {
			reason += ": " + note
		}
		_, err = s.paymentFailed(ctx, "", id, SettledByOperator, reason, true)
	default:
		return fmt.Errorf("storage: resolve payment %d: outcome must be %s or %s, not %q", id, PaymentSent, PaymentFailed, outcome)
	}
	return err
}

func (s *Store) paymentSent(ctx context.Context, token string, id uint64, by string) (bool, error) {
	ids := u64(id)
	addrs, err := s.rdb.HKeys(ctx, s.k.paymentDests(ids)).Result()
	if err != nil {
		return false, err
	}
	keys := []string{s.k.payLease, s.k.payment(ids), s.k.paymentDests(ids), s.k.payPending, s.k.paid, s.k.payAll,
		s.k.ledger, s.k.payOpen, s.k.payHalted, s.k.payStats, s.k.paidFees}
	for _, a := range addrs {
		keys = append(keys, s.k.history(a))
	}
	st, err := s.payScript(ctx, scriptPaySent, keys, []any{token, ids, s.now().UnixMilli(), by, s.k.historyPrefix()})
	return st == "done", err
}

func (s *Store) paymentFailed(ctx context.Context, token string, id uint64, by, reason string, relayFailed bool) (bool, error) {
	ids := u64(id)
	flag := "0"
	if relayFailed {
		flag = "1"
	}
	keys := []string{s.k.payLease, s.k.payment(ids), s.k.paymentDests(ids), s.k.balances, s.k.payPending,
		s.k.payOpen, s.k.payHalted, s.k.payStats}
	st, err := s.payScript(ctx, scriptPayFailed, keys, []any{token, ids, s.now().UnixMilli(), by, reason, flag})
	return st == "done", err
}

// HaltPayment records that a relaying record cannot be settled yet, which
// HaltedPayments reports until it is settled.
func (s *Store) HaltPayment(ctx context.Context, token, id uint64, reason string) error {
	ids := u64(id)
	_, err := s.payScript(ctx, scriptPayHalt, []string{s.k.payLease, s.k.payment(ids), s.k.payHalted, s.k.payStats},
		[]any{u64(token), ids, s.now().UnixMilli(), reason})
	return err
}

// payScript runs a journal script and maps its error prefixes.
func (s *Store) payScript(ctx context.Context, sc *redis.Script, keys []string, args []any) (string, error) {
	st, err := sc.Run(ctx, s.rdb, keys, args...).Text()
	if err == nil {
		return st, nil
	}
	msg := err.Error()
	for _, m := range []struct {
		prefix string
		err    error
	}{
		{"FENCED", ErrFenced}, {"STATE", ErrPaymentState}, {"UNKNOWN", ErrUnknownPayment},
		{"BALANCE", ErrPaymentRefused}, {"BLOCKED", ErrPaymentRefused}, {"MISMATCH", ErrPaymentRefused},
	} {
		if strings.HasPrefix(msg, m.prefix) {
			return "", fmt.Errorf("%w: %s", m.err, msg)
		}
	}
	return "", fmt.Errorf("storage: payment journal: %w", err)
}

// --- Reading the journal ---

// Payment reads one record with its destinations.
func (s *Store) Payment(ctx context.Context, id uint64) (*PaymentRecord, error) {
	recs, err := s.paymentRecords(ctx, []string{u64(id)})
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// OpenPayments returns the unsettled records, oldest first.
func (s *Store) OpenPayments(ctx context.Context) ([]*PaymentRecord, error) {
	ids, err := s.index(ctx, s.k.payOpen, 0, -1)
	if err != nil {
		return nil, err
	}
	return s.paymentRecords(ctx, ids)
}

// Payments returns up to limit records, newest first, skipping offset.
func (s *Store) Payments(ctx context.Context, offset, limit int) ([]*PaymentRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	ids, err := s.index(ctx, s.k.payRecords, offset, limit)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return s.paymentRecords(ctx, ids)
}

func (s *Store) paymentRecords(ctx context.Context, ids []string) ([]*PaymentRecord, error) {
	recs, err := s.hashes(ctx, ids, s.k.payment)
	if err != nil {
		return nil, err
	}
	dests, err := s.hashes(ctx, ids, s.k.paymentDests)
	if err != nil {
		return nil, err
	}
	out := make([]*PaymentRecord, len(ids))
	for i, id := range ids {
		if len(recs[i]) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrUnknownPayment, id)
		}
		if out[i], err = parsePayment(recs[i], dests[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parsePayment(m, dests map[string]string) (*PaymentRecord, error) {
	r := &record{m: m}
	u, ms := r.u, r.ms
	p := &PaymentRecord{
		ID: u("id"), State: m["state"], Created: ms("created"), Updated: ms("updated"), Token: u("token"),
		TxHash: m["txHash"], Fee: u("fee"), MinerFee: u("minerFees"), Debited: u("debited"), Sent: u("sent"),
		Handle: m["handle"], RelayedAt: ms("relayedAt"), SettledAt: ms("settledAt"), SettledBy: m["settledBy"],
		Error: m["error"], Prepared: m["txHash"] != "",
	}
	for a, v := range dests {
		d, err := parseDest(a, v)
		if err != nil {
			r.bad = append(r.bad, err.Error())
			continue
		}
		p.Dests = append(p.Dests, d)
	}
	sort.Slice(p.Dests, func(i, j int) bool { return p.Dests[i].Address < p.Dests[j].Address })
	if len(r.bad) > 0 {
		return p, fmt.Errorf("storage: payment %s has malformed fields: %s", m["id"], strings.Join(r.bad, ", "))
	}
	return p, nil
}

// parseDest reads "debit" (preparing) or "debit:fee:sent".
func parseDest(addr, v string) (PaymentDest, error) {
	parts := strings.Split(v, ":")
	d := PaymentDest{Address: addr}
	var nums [3]uint64
	for i, s := range parts {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || i >= 3 {
			return d, fmt.Errorf("destination %s=%q", addr, v)
		}
		nums[i] = n
	}
	if len(parts) == 2 {
		return d, fmt.Errorf("destination %s=%q", addr, v)
	}
	d.Debit, d.Fee, d.Amount = nums[0], nums[1], nums[2]
	if len(parts) == 3 && d.Fee+d.Amount != d.Debit {
		return d, fmt.Errorf("destination %s=%q: fee + sent ≠ debit", addr, v)
	}
	return d, nil
}

// PaymentHalt is a record that stops payments until it is settled.
type PaymentHalt struct {
	ID     uint64
	Since  time.Time
	Reason string
}

// HaltedPayments lists the records that halt payments (empty: payments
// run), for the admin API and the log.
func (s *Store) HaltedPayments(ctx context.Context) ([]PaymentHalt, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.payHalted).Result()
	if err != nil {
		return nil, err
	}
	out := make([]PaymentHalt, 0, len(m))
	for id, v := range m {
		n, _ := strconv.ParseUint(id, 10, 64)
		since, reason, _ := strings.Cut(v, " ")
		ms, _ := strconv.ParseInt(since, 10, 64)
		out = append(out, PaymentHalt{ID: n, Since: time.UnixMilli(ms), Reason: reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PaymentStats are the journal's counters.
type PaymentStats struct {
	Sent   uint64 // records settled sent
	Failed uint64 // records settled failed
	Halts  uint64 // records that halted payments at least once
}

// PaymentStats reads the counters.
func (s *Store) PaymentStats(ctx context.Context) (PaymentStats, error) {
	m, err := s.uintHash(ctx, s.k.payStats)
	return PaymentStats{Sent: m["sent"], Failed: m["failed"], Halts: m["halts"]}, err
}

// PaymentHistory is one entry of a miner's payment history.
type PaymentHistory struct {
	Time   time.Time
	TxHash string
	Amount uint64 // sent
	Fee    uint64 // paid by the miner
	Debit  uint64 // taken from the balance
	ID     uint64
}

// MinerPayments returns up to limit of an address's payments, newest first.
func (s *Store) MinerPayments(ctx context.Context, addr string, offset, limit int) ([]PaymentHistory, error) {
	if limit <= 0 || offset < 0 {
		return nil, nil
	}
	zs, err := s.rdb.ZRevRangeWithScores(ctx, s.k.history(addr), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]PaymentHistory, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		f := strings.Split(m, ":")
		if len(f) != 5 {
			return nil, fmt.Errorf("storage: malformed payment history entry %q of %s", m, addr)
		}
		h := PaymentHistory{Time: time.UnixMilli(int64(z.Score)), TxHash: f[0]}
		for i, p := range []*uint64{&h.Amount, &h.Fee, &h.Debit, &h.ID} {
			if *p, err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("storage: malformed payment history entry %q of %s", m, addr)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// --- What payments reads and the operator (or API) sets ---

// PayableBalances returns every positive balance.
func (s *Store) PayableBalances(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	iter := s.rdb.HScan(ctx, s.k.balances, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		addr := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		// A negative or malformed balance is not payable; the audit reports it.
		if v, err := strconv.ParseUint(iter.Val(), 10, 64); err == nil && v > 0 {
			out[addr] = v
		}
	}
	return out, iter.Err()
}

// Thresholds returns each address's own minimum payout.
func (s *Store) Thresholds(ctx context.Context) (map[string]uint64, error) {
	return s.uintHash(ctx, s.k.thresholds)
}

// SetThreshold sets an address's minimum payout; 0 removes it.
func (s *Store) SetThreshold(ctx context.Context, addr string, v uint64) error {
	if v == 0 {
		return s.rdb.HDel(ctx, s.k.thresholds, addr).Err()
	}
	return s.rdb.HSet(ctx, s.k.thresholds, addr, u64(v)).Err()
}

// BlockedAddresses returns the addresses payments skip, with the reason.
func (s *Store) BlockedAddresses(ctx context.Context) (map[string]string, error) {
	return s.rdb.HGetAll(ctx, s.k.payBlocked).Result()
}

// BlockAddress stops payments to addr; its balance stays.
func (s *Store) BlockAddress(ctx context.Context, addr, reason string) error {
	return s.rdb.HSet(ctx, s.k.payBlocked, addr, reason).Err()
}

// UnblockAddress lets payments pay addr again; false if it was not blocked.
func (s *Store) UnblockAddress(ctx context.Context, addr string) (bool, error) {
	n, err := s.rdb.HDel(ctx, s.k.payBlocked, addr).Result()
	return n == 1, err
}
