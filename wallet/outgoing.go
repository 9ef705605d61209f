package wallet

import (
	"context"
	"fmt"
	"strings"
)

// OutgoingTx is one transaction the wallet sent, as the wallet records it.
type OutgoingTx struct {
	TxHash string
	State  TxState // TxPending, TxConfirmed or TxFailed
	Height uint64  // when confirmed
	Amount uint64  // Σ destinations, change excluded
	Fee    uint64
	// Dests: what each address received. Empty when the wallet does not
	// know them (a wallet restored from its seed keeps only the amount).
	Dests []Destination
}

// OutgoingLister is a wallet that can list what it sent, for `pool audit`
// to reconcile the payment journal with. Monero lists it itself; Pastella
// with the daemon's help (pastella_outgoing.go).
type OutgoingLister interface {
	Outgoing(ctx context.Context, minHeight uint64) ([]OutgoingTx, error)
}

var _ OutgoingLister = (*Monero)(nil)

// Outgoing refreshes, then lists account 0's outgoing transfers
// (get_transfers out, pending, failed) from minHeight on; pending and
// failed ones are listed whatever their height. Each entry carries the
// destinations the wallet recorded when it built the transaction.
func (m *Monero) Outgoing(ctx context.Context, minHeight uint64) ([]OutgoingTx, error) {
	const method = "get_transfers"
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	type entry struct {
		moneroTransfer
		Amount       uint64       `json:"amount"`
		Destinations []moneroDest `json:"destinations"`
	}
	var r struct {
		Out     []entry `json:"out"`
		Pending []entry `json:"pending"`
		Failed  []entry `json:"failed"`
	}
	params := map[string]any{"out": true, "pending": true, "failed": true, "account_index": 0}
	if minHeight > 0 {
		// min_height is exclusive in wallet2.
		params["filter_by_height"], params["min_height"] = true, minHeight-1
	}
	if err := m.call(ctx, method, params, &r); err != nil {
		return nil, err
	}
	var out []OutgoingTx
	for _, l := range []struct {
		entries []entry
		state   TxState
	}{{r.Out, TxConfirmed}, {r.Pending, TxPending}, {r.Failed, TxFailed}} {
		for _, e := range l.entries {
			if !validHash(e.TxID) {
				return nil, m.t.fail(method, fmt.Errorf("%w: transfer with txid %q", ErrBadReply, e.TxID))
			}
			tx := OutgoingTx{TxHash: strings.ToLower(e.TxID), State: l.state, Amount: e.Amount, Fee: e.Fee}
			if l.state == TxConfirmed {
				tx.Height = e.Height
			}
			for _, d := range e.Destinations {
				tx.Dests = append(tx.Dests, Destination{Address: d.Address, Amount: d.Amount})
			}
			out = append(out, tx)
		}
	}
	return out, nil
}
