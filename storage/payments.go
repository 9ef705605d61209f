package storage

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Payment record states. A record moves preparing → prepared → relaying →
// sent, or from any of the first three to failed; sent then becomes
// confirmed or dropped (confirm.go); failed, confirmed and dropped are final.
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
	Error     string // why it failed or was dropped
	// After sent (confirm.go): the block height once confirmed, since when
	// the transaction has been missing and why, and the dropped records
	// this one pays again (ids).
	Height       uint64
	ConfirmedAt  time.Time
	MissingSince time.Time
	Missing      string
	DroppedAt    time.Time
	ResendOf     string
}

// Open reports whether the record is not settled yet.
func (p *PaymentRecord) Open() bool {
	return p.State == PaymentPreparing || p.State == PaymentPrepared || p.State == PaymentRelaying
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
		s.k.payment(ids), s.k.paymentDests(ids), s.k.payResend()}
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
// succeed, before asking the wallet to relay. It succeeds only once
// redis.minReplicaAcks replicas have it (a failover must not forget a
// relayed payout, or recovery would return its debits and pay it twice);
// otherwise it returns ErrNotDurable and the record may be relaying on the
// master: do not relay it.
func (s *Store) PaymentRelaying(ctx context.Context, token, id uint64) error {
	ids := u64(id)
	keys := []string{s.k.payLease, s.k.payment(ids)}
	cmd, err := s.runDurable(ctx, scriptPayRelaying, keys, u64(token), ids, s.now().UnixMilli())
	if errors.Is(err, ErrNotDurable) {
		return fmt.Errorf("payment %d: %w", id, err)
	}
	_, err = payResult(cmd.Text())
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
		s.k.ledger, s.k.payOpen, s.k.payHalted, s.k.payStats, s.k.paidFees, s.k.payUnconfirmed()}
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
	return payResult(sc.Run(ctx, s.rdb, keys, args...).Text())
}

func payResult(st string, err error) (string, error) {
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
