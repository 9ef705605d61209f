package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Looking a payout's transaction up: in the wallet (confirmed, unconfirmed)
// and, when the wallet does not have it, in the daemon, which alone can
// say that nobody has it.

// pastellaTx is the part of the API's transaction JSON we read.
type pastellaTx struct {
	Hash        string  `json:"hash"`
	Fee         uint64  `json:"fee"`
	BlockHeight *uint64 `json:"blockHeight"`
}

// Lookup asks the wallet, then the daemon, what became of a transaction.
// The API's /transactions/hash/<hash> searches only confirmed
// transactions; sent but unmined ones are in /transactions/unconfirmed.
// The confirmed list is read again last, so that a transaction moving
// from one list to the other between the two reads cannot look unknown.
// A wallet killed after relaying but before saving forgets the
// transaction until it is mined, so when the wallet does not know it (or
// does not answer) the daemon of SetDaemon is asked whether it is in its
// pool or in a block (POST /get_transactions_status, which the wallet
// itself uses to track what it sent). TxUnknown with DaemonChecked means
// neither knows it; without a daemon set, only the wallet was asked.
// With a daemon, a height the wallet gives is checked against the main
// chain (pastella_mainchain.go); "in a block" from the daemon alone is
// alive with no height, since Pastellad counts blocks off the main chain
// too: LookupSince decides that case.
func (p *Pastella) Lookup(ctx context.Context, txHash string) (*TxInfo, error) {
	return p.LookupSince(ctx, txHash, time.Time{})
}

// LookupSince is Lookup for a transaction sent at since (not zero): when
// the daemon says it is in a block, the main chain from then on is
// searched, and a transaction only in blocks off it is OffMainChain and
// unknown. The payments watcher uses it: such a payout is never mined
// again and must be paid again.
func (p *Pastella) LookupSince(ctx context.Context, txHash string, since time.Time) (*TxInfo, error) {
	if !validHash(txHash) {
		return nil, p.t.fail("lookup", fmt.Errorf("invalid transaction hash %q", txHash))
	}
	h := strings.ToLower(txHash)
	p.mu.Lock()
	dt := p.dt
	p.mu.Unlock()
	info, werr := p.lookupWallet(ctx, h)
	switch {
	case werr == nil && info.State == TxConfirmed && dt != nil:
		on, err := p.minedAt(ctx, dt, h, info.Height)
		if err != nil {
			return nil, err
		}
		if on {
			return info, nil
		}
		// The wallet has not synced past a reorg that replaced its block.
		info = &TxInfo{State: TxUnknown}
	case werr == nil && info.State != TxUnknown:
		return info, nil
	}
	if dt == nil {
		return info, werr
	}
	state, started, derr := p.daemonTxState(ctx, dt, h)
	offChain := false
	if derr == nil && state == TxConfirmed && !since.IsZero() {
		height, on, err := p.mainChainHeight(ctx, dt, h, since)
		if err != nil {
			return nil, err
		}
		if on {
			return &TxInfo{State: TxConfirmed, Height: height, DaemonChecked: true}, nil
		}
		if started, err = p.daemonCaughtUp(ctx, dt); err != nil {
			return nil, err
		}
		state, offChain = TxUnknown, true
	}
	switch {
	case derr == nil && state != TxUnknown:
		// The daemon's word is enough, even if the wallet did not answer.
		return &TxInfo{State: state, DaemonChecked: true}, nil
	case werr != nil:
		return nil, werr
	case derr != nil:
		return nil, derr
	}
	return &TxInfo{State: TxUnknown, DaemonChecked: true, DaemonStarted: started, OffMainChain: offChain}, nil
}

func (p *Pastella) lookupWallet(ctx context.Context, h string) (*TxInfo, error) {
	for i := 0; i < 2; i++ {
		if info, err := p.lookupConfirmed(ctx, h); err != nil || info != nil {
			return info, err
		}
		if i == 0 {
			if info, err := p.lookupUnconfirmed(ctx, h); err != nil || info != nil {
				return info, err
			}
		}
	}
	return &TxInfo{State: TxUnknown}, nil
}

// daemonTxState asks the daemon whether h is in its pool, in a block, or
// unknown to it. Every hash asked lands in exactly one of the three lists.
// "Unknown" counts only from a daemon that is not behind the network (GET
// /info): one that is may not have the block holding it yet. With
// "unknown" comes the daemon's start time: a pool it had before is gone.
func (p *Pastella) daemonTxState(ctx context.Context, dt *transport, h string) (TxState, time.Time, error) {
	const call, path = "daemon lookup", "/get_transactions_status"
	body, _ := json.Marshal(map[string][]string{"transactionHashes": {h}})
	status, raw, err := dt.roundTrip(ctx, http.MethodPost, path, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		return TxUnknown, time.Time{}, dt.fail(call, err)
	}
	var r struct {
		Status  string   `json:"status"`
		InPool  []string `json:"transactionsInPool"`
		InBlock []string `json:"transactionsInBlock"`
		Unknown []string `json:"transactionsUnknown"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &r) != nil || r.Status != "OK" {
		return TxUnknown, time.Time{}, dt.fail(call, fmt.Errorf("%w: HTTP %d: %s", ErrBadReply, status, snippet(raw)))
	}
	var found []TxState
	for _, l := range []struct {
		hashes []string
		state  TxState
	}{{r.InPool, TxPending}, {r.InBlock, TxConfirmed}, {r.Unknown, TxUnknown}} {
		for _, x := range l.hashes {
			if strings.EqualFold(x, h) {
				found = append(found, l.state)
			}
		}
	}
	if len(found) != 1 {
		return TxUnknown, time.Time{}, dt.fail(call, fmt.Errorf("%w: transaction listed %d times: %s", ErrBadReply, len(found), snippet(raw)))
	}
	if found[0] != TxUnknown {
		return found[0], time.Time{}, nil
	}
	started, err := p.daemonCaughtUp(ctx, dt)
	return TxUnknown, started, err
}

// daemonCaughtUp fails unless the daemon says it is synced and has every
// block its peers told it of; it returns when the daemon started.
func (p *Pastella) daemonCaughtUp(ctx context.Context, dt *transport) (time.Time, error) {
	const call = "daemon GET /info"
	status, raw, err := dt.roundTrip(ctx, http.MethodGet, "/info", nil, nil)
	if err != nil {
		return time.Time{}, dt.fail(call, err)
	}
	var r struct {
		Status        string  `json:"status"`
		Synced        *bool   `json:"synced"`
		Height        *uint64 `json:"height"`
		NetworkHeight *uint64 `json:"network_height"`
		StartTime     *int64  `json:"start_time"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &r) != nil || r.Status != "OK" || r.Synced == nil || r.Height == nil || r.NetworkHeight == nil || r.StartTime == nil {
		return time.Time{}, dt.fail(call, fmt.Errorf("%w: HTTP %d: %s", ErrBadReply, status, snippet(raw)))
	}
	if !*r.Synced || *r.Height < *r.NetworkHeight {
		return time.Time{}, dt.fail(call, fmt.Errorf("the daemon is behind the network (height %d of %d, synced %v): that it does not know the transaction proves nothing", *r.Height, *r.NetworkHeight, *r.Synced))
	}
	return time.Unix(*r.StartTime, 0), nil
}

func (p *Pastella) lookupConfirmed(ctx context.Context, h string) (*TxInfo, error) {
	path := "/transactions/hash/" + h
	call := "GET " + path
	found, raw, err := p.optional(ctx, call, http.MethodGet, path)
	if err != nil || !found {
		return nil, err
	}
	var r struct {
		Tx *pastellaTx `json:"transaction"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Tx == nil || r.Tx.BlockHeight == nil || !strings.EqualFold(r.Tx.Hash, h) {
		return nil, p.t.fail(call, fmt.Errorf("%w: %s", ErrBadReply, snippet(raw)))
	}
	info := &TxInfo{State: TxConfirmed, Height: *r.Tx.BlockHeight, Fee: r.Tx.Fee}
	if info.Height == 0 {
		// The wallet writes height 0 only for unmined transactions.
		info.State = TxPending
	}
	return info, nil
}

func (p *Pastella) lookupUnconfirmed(ctx context.Context, h string) (*TxInfo, error) {
	var r struct {
		Txs *[]pastellaTx `json:"transactions"`
	}
	const path = "/transactions/unconfirmed"
	if err := p.get(ctx, path, &r); err != nil {
		return nil, err
	}
	if r.Txs == nil {
		return nil, p.t.fail("GET "+path, fmt.Errorf("%w: no transactions list", ErrBadReply))
	}
	for _, tx := range *r.Txs {
		if strings.EqualFold(tx.Hash, h) {
			return &TxInfo{State: TxPending, Fee: tx.Fee}, nil
		}
	}
	return nil, nil
}
