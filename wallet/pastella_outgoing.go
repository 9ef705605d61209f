package wallet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"rxpool/cryptonote"
)

// Listing what the Pastella wallet sent, for `pool audit`. The Wallet-API's
// transaction list cannot say it alone: it gives each transaction's effect
// on the wallet's own addresses, and the real API (v1.0.3) even changes
// that once a transaction it sent is mined: pending, a payout of 110,000,000
// reads -110,001,000 (sent + fee); mined, +289,999,000 (only the change it
// received), the same as an incoming transfer; after a rescan, -110,001,000
// again. So for a mined transaction the wallet gives the hash, and the
// chain, which is transparent, gives the rest: the daemon's raw transaction
// has every output's amount and owner key, and its first input names the
// output it spends, whose owner says whether the pool wallet paid. The
// daemon does not serve pooled transactions that way ("Transaction not
// found"), so an unmined one is taken from the wallet's word, which is
// right while it is unmined: its total, without destinations.

var _ OutgoingLister = (*Pastella)(nil)

// pastellaListedTx is a transaction in the wallet's lists.
type pastellaListedTx struct {
	Hash        string  `json:"hash"`
	Fee         uint64  `json:"fee"`
	BlockHeight *uint64 `json:"blockHeight"`
	Coinbase    bool    `json:"isCoinbaseTransaction"`
	Transfers   []struct {
		Address string `json:"address"`
		Amount  int64  `json:"amount"`
	} `json:"transfers"`
}

// Outgoing lists the transactions the pool wallet paid from minHeight on
// (unmined ones whatever minHeight), each with its destinations as the
// chain has them: every output not to one of the wallet's own addresses.
// It needs the daemon of SetDaemon.
func (p *Pastella) Outgoing(ctx context.Context, minHeight uint64) ([]OutgoingTx, error) {
	p.mu.Lock()
	dt := p.dt
	p.mu.Unlock()
	if dt == nil {
		return nil, p.t.fail("outgoing", fmt.Errorf("the daemon is not set: the transactions' destinations are read from the chain"))
	}
	primary, err := p.PrimaryAddress(ctx)
	if err != nil {
		return nil, err
	}
	pa, err := cryptonote.Pastella.ParseAddress(primary)
	if err != nil {
		return nil, p.t.fail("outgoing", fmt.Errorf("%w: primary address: %v", ErrBadReply, err))
	}
	own := map[[32]byte]bool{pa.SpendKey: true}
	listed, err := p.listTransactions(ctx)
	if err != nil {
		return nil, err
	}
	for _, tx := range listed {
		for _, tr := range tx.Transfers {
			if a, err := cryptonote.Pastella.ParseAddress(tr.Address); err == nil {
				own[a.SpendKey] = true // a subwallet's address
			}
		}
	}
	raws := map[string]*cryptonote.Tx{}
	var out []OutgoingTx
	for _, l := range listed {
		if l.Coinbase {
			continue
		}
		height := uint64(0)
		if l.BlockHeight != nil {
			height = *l.BlockHeight
		}
		if height == 0 {
			if o, ok := l.pending(); ok {
				out = append(out, o)
			}
			continue
		}
		if height < minHeight {
			continue
		}
		tx, err := p.rawTx(ctx, dt, raws, l.Hash)
		if err != nil {
			return nil, err
		}
		ours, err := p.spendsOwn(ctx, dt, raws, tx, own)
		if err != nil || !ours {
			if err != nil {
				return nil, err
			}
			continue // received, not sent
		}
		o := OutgoingTx{TxHash: l.Hash, State: TxConfirmed, Height: height}
		in, ok1 := tx.InputSum()
		sent, ok2 := tx.OutputSum()
		if !ok1 || !ok2 || in < sent {
			return nil, dt.fail("daemon POST /getrawtransaction", fmt.Errorf("%w: transaction %s spends %d for %d", ErrBadReply, l.Hash, in, sent))
		}
		o.Fee = in - sent
		o.Dests = []Destination{} // known, even when empty
		for _, op := range tx.Outputs {
			if own[op.Key] {
				continue // change
			}
			o.Amount += op.Amount
			o.Dests = append(o.Dests, Destination{Address: keyAddress(pa, op.Key), Amount: op.Amount})
		}
		out = append(out, o)
	}
	return out, nil
}

// pending is an unmined transaction as the wallet lists it: outgoing when
// it takes from the wallet's addresses more than its fee, the rest sent.
func (l *pastellaListedTx) pending() (OutgoingTx, bool) {
	var net int64
	for _, tr := range l.Transfers {
		net += tr.Amount
	}
	if net >= 0 || uint64(-net) < l.Fee {
		return OutgoingTx{}, false
	}
	return OutgoingTx{TxHash: l.Hash, State: TxPending, Amount: uint64(-net) - l.Fee, Fee: l.Fee}, true
}

// listTransactions reads the wallet's unmined, then its confirmed
// transactions, in that order so that one mined between the two reads is
// not missed; it is listed once, mined.
func (p *Pastella) listTransactions(ctx context.Context) ([]pastellaListedTx, error) {
	var list []pastellaListedTx
	at := map[string]int{}
	for _, path := range []string{"/transactions/unconfirmed", "/transactions"} {
		var r struct {
			Txs *[]pastellaListedTx `json:"transactions"`
		}
		if err := p.get(ctx, path, &r); err != nil {
			return nil, err
		}
		if r.Txs == nil {
			return nil, p.t.fail("GET "+path, fmt.Errorf("%w: no transactions list", ErrBadReply))
		}
		for _, tx := range *r.Txs {
			tx.Hash = strings.ToLower(tx.Hash)
			if !validHash(tx.Hash) {
				return nil, p.t.fail("GET "+path, fmt.Errorf("%w: transaction hash %q", ErrBadReply, tx.Hash))
			}
			if i, ok := at[tx.Hash]; ok {
				list[i] = tx
			} else {
				at[tx.Hash] = len(list)
				list = append(list, tx)
			}
		}
	}
	return list, nil
}

// spendsOwn says whether tx spends an output of the wallet: the first input
// is enough, since a transaction is built by one wallet from its own outputs.
func (p *Pastella) spendsOwn(ctx context.Context, dt *transport, raws map[string]*cryptonote.Tx, tx *cryptonote.Tx, own map[[32]byte]bool) (bool, error) {
	if len(tx.Inputs) == 0 || tx.Inputs[0].Coinbase {
		return false, nil
	}
	in := tx.Inputs[0]
	prev, err := p.rawTx(ctx, dt, raws, hex.EncodeToString(in.PrevTx[:]))
	if err != nil {
		return false, err
	}
	if in.PrevIndex >= uint64(len(prev.Outputs)) {
		return false, dt.fail("daemon POST /getrawtransaction", fmt.Errorf("%w: input spends output %d of %x, which has %d", ErrBadReply, in.PrevIndex, in.PrevTx, len(prev.Outputs)))
	}
	return own[prev.Outputs[in.PrevIndex].Key], nil
}

// rawTx fetches and parses a transaction from the daemon (POST
// /getrawtransaction, which answers for mined and pooled transactions).
func (p *Pastella) rawTx(ctx context.Context, dt *transport, cache map[string]*cryptonote.Tx, h string) (*cryptonote.Tx, error) {
	if tx := cache[h]; tx != nil {
		return tx, nil
	}
	const call, path = "daemon POST /getrawtransaction", "/getrawtransaction"
	body, _ := json.Marshal(map[string]any{"params": map[string]string{"hash": h}})
	status, raw, err := dt.roundTrip(ctx, http.MethodPost, path, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		return nil, dt.fail(call, err)
	}
	var r struct {
		Result struct {
			Status string `json:"status"`
			Blob   string `json:"tx_blob"`
		} `json:"result"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &r) != nil || r.Result.Status != "OK" {
		return nil, dt.fail(call, fmt.Errorf("%w: transaction %s: HTTP %d: %s", ErrBadReply, h, status, snippet(raw)))
	}
	blob, err := hex.DecodeString(r.Result.Blob)
	if err != nil {
		return nil, dt.fail(call, fmt.Errorf("%w: transaction %s: %v", ErrBadReply, h, err))
	}
	tx, err := cryptonote.ParsePastellaTx(blob)
	if err != nil {
		return nil, dt.fail(call, fmt.Errorf("%w: transaction %s: %v", ErrBadReply, h, err))
	}
	cache[h] = tx
	return tx, nil
}

// keyAddress is the address an output key pays: on Pastella the key is the
// address's own. A key that is no valid point is shown as hex.
func keyAddress(like *cryptonote.Address, key [32]byte) string {
	a, err := like.Coin.NewAddress(like.Network, like.Kind, key, [32]byte{}, [8]byte{})
	if err != nil {
		return "key:" + hex.EncodeToString(key[:])
	}
	return a.Text
}
