// Package wallet pays miners through the coin's wallet service: Pastella's
// Pastella-Wallet-API (REST) or monero-wallet-rpc (JSON-RPC), behind one
// small API built for exactly-once payouts: a transaction is first prepared
// (built, not relayed), then relayed, and can be looked up by hash when the
// outcome of a relay is unknown.
package wallet

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Destination is one payout in a transaction.
type Destination struct {
	Address string
	Amount  uint64 // atomic units
}

// Prepared is a built transaction that has not been relayed.
type Prepared struct {
	TxHash string // hex, known before relay
	Fee    uint64 // the network fee of the whole transaction
	// Handle is what Relay needs to send exactly this transaction
	// (Pastella: the prepared transaction's hash; Monero: tx_metadata).
	Handle string
}

// TxState is what the wallet (and daemon) know of a transaction.
type TxState int

const (
	// TxUnknown: neither the wallet nor the daemon knows the hash.
	TxUnknown TxState = iota
	// TxPending: relayed, in the pool, not yet in a block.
	TxPending
	// TxConfirmed: in a block.
	TxConfirmed
	// TxFailed: the wallet marks it failed (dropped, double spend).
	TxFailed
)

func (s TxState) String() string {
	switch s {
	case TxPending:
		return "pending"
	case TxConfirmed:
		return "confirmed"
	case TxFailed:
		return "failed"
	default:
		return "unknown"
	}
}

// TxInfo is the result of a lookup.
type TxInfo struct {
	State  TxState
	Height uint64 // block height when confirmed, 0 when only the daemon knows it
	Fee    uint64 // when known
	// DaemonChecked: the coin daemon was asked too. With TxUnknown it
	// means the transaction is neither in the wallet, nor in the daemon's
	// pool, nor in a block.
	DaemonChecked bool
	// DaemonStarted: with DaemonChecked and TxUnknown, when the daemon
	// last started (its clock). A transaction in its pool before then may
	// be gone from it while peers it relayed to still hold it.
	DaemonStarted time.Time
	// OffMainChain: with DaemonChecked and TxUnknown, the daemon has the
	// transaction only in blocks off the main chain (a reorg took them
	// away) and not in its pool: Pastellad never mines it again.
	OffMainChain bool
}

// Wallet is one wallet service. Implementations are safe for concurrent
// use, but the payments module never sends two transactions at once from
// one wallet.
type Wallet interface {
	Name() string
	// PrimaryAddress is the wallet's own address; the pool refuses to pay
	// from a wallet whose address is not poolAddress.
	PrimaryAddress(ctx context.Context) (string, error)
	// Balance returns the total and the unlocked (spendable) balance.
	Balance(ctx context.Context) (total, unlocked uint64, err error)
	// Prepare builds a transaction paying dests without relaying it. No
	// Prepare error, ambiguous or not, can mean money moved: only Relay
	// sends, and it needs the Prepared a failed Prepare did not return.
	Prepare(ctx context.Context, dests []Destination) (*Prepared, error)
	// Relay sends a prepared transaction to the network. A RefusedError is
	// conclusive only for the first Relay of p: after an ambiguous Relay
	// the transaction may be out, so settle it with Lookup (and the
	// daemon), never by relaying again.
	Relay(ctx context.Context, p *Prepared) error
	// Lookup asks what became of a transaction.
	Lookup(ctx context.Context, txHash string) (*TxInfo, error)
}

// RefusedError is a definite refusal: the wallet did not and will not send
// anything for this request (not enough unlocked money, a bad address, a
// zero amount, too many outputs...). Payments returns the amounts to the
// balances; a BadAddress gets blocked so it cannot stall everyone else.
type RefusedError struct {
	Code       int    // the wallet's error code
	Reason     string // the wallet's message
	BadAddress string // the offending destination, when the wallet names it or it is unique
}

func (e *RefusedError) Error() string {
	if e.BadAddress != "" {
		return fmt.Sprintf("wallet refused (code %d): %s (address %s)", e.Code, e.Reason, e.BadAddress)
	}
	return fmt.Sprintf("wallet refused (code %d): %s", e.Code, e.Reason)
}

// IsRefused reports whether err is a definite refusal. Every other error
// (timeout, connection lost, HTTP 5xx, garbage) is ambiguous: the wallet
// may or may not have acted, and the caller must find out before retrying.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// ErrAuth is returned when the wallet rejects our credentials (401/403).
// The wallet did nothing for that request.
var ErrAuth = errors.New("wallet: authentication failed")

// ErrNotOpen: the wallet service has no wallet open (Pastella answers 403,
// monero-wallet-rpc -13). Pastella errors with it also match ErrAuth,
// since the API does not tell the two 403s apart. Nothing was done.
var ErrNotOpen = errors.New("wallet: no wallet open")

// ErrPreparedNotFound: the wallet no longer holds the prepared transaction
// Relay asked for (Pastella error 58). Either an earlier Relay of it went
// through, or the wallet service restarted and forgot it. Ambiguous: look
// the hash up; if the wallet and the daemon do not know it, it was never
// sent and can no longer be.
var ErrPreparedNotFound = errors.New("wallet: prepared transaction not found")

// ErrBadReply: the wallet's reply could not be read (garbage, cut short,
// fields missing). Ambiguous.
var ErrBadReply = errors.New("wallet: unreadable reply")

// ErrNotSynced: the wallet has not scanned the whole chain yet (it has just
// been opened), so its balance and its view of its own transactions are
// behind; nothing should be sent from it yet.
var ErrNotSynced = errors.New("wallet: not synced with its daemon")

// ErrWrongWallet: the wallet's primary address is not the pool's address.
var ErrWrongWallet = errors.New("wallet: primary address is not the pool address")

// APIError is an error the wallet reported in its own terms (Pastella:
// HTTP 400 {errorCode, errorMessage}; Monero: a JSON-RPC error object)
// that is not a definite refusal. For Relay it is ambiguous (the daemon may
// have the transaction); elsewhere it just says the call failed.
type APIError struct {
	Wallet  string
	Call    string
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wallet error %d: %s", e.Code, e.Message)
}

// CheckAddress is the pool's one rule for the payout wallet: it fails with
// ErrWrongWallet unless w's primary address is want (poolAddress), because
// paying from another wallet would debit miners for coins the pool never
// sent. Other errors are the wallet's (it did not answer). Payments runs it
// before every pass; `pool check` reports it.
func CheckAddress(ctx context.Context, w Wallet, want string) error {
	got, err := w.PrimaryAddress(ctx)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: wallet %s has %s, which is not poolAddress %s", ErrWrongWallet, w.Name(), got, want)
	}
	return nil
}
