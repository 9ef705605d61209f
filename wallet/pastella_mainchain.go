package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Whether a transaction is on Pastella's main chain. Neither the Wallet-API
// nor Pastellad's own answers say so after a reorg (measured on v1.0.3, two
// daemons peered after mining apart, internal/e2epastella):
//   - the wallet keeps listing a transaction at the height of a block the
//     reorg replaced until it has synced past the reorg (tens of seconds),
//     then forgets it;
//   - POST /get_transactions_status lists it "in a block" as long as any
//     chain the daemon knows has it, alternative chains included, and the
//     daemon does not put it back in its pool: a payout reorged away reads
//     "in a block" forever and is never mined again.
// POST /getwalletsyncdata walks the main chain only and lists each block's
// transaction hashes, so it decides.

// pastellaSyncBlocks is how many blocks one /getwalletsyncdata call asks for.
const pastellaSyncBlocks = 100

// pastellaClockSlack is how far before a transaction was sent the main-chain
// search starts: block timestamps are the miners' clocks.
const pastellaClockSlack = 2 * time.Hour

// pastellaSyncBlock is the part of a /getwalletsyncdata item we read.
type pastellaSyncBlock struct {
	Height *uint64 `json:"blockHeight"`
	Txs    []struct {
		Hash string `json:"hash"`
	} `json:"transactions"`
}

// syncData is one POST /getwalletsyncdata call: the main chain's blocks from
// startHeight (or, when startHeight is 0, from the first block at or after
// startTimestamp), coinbase-only blocks included, and whether they reach
// the top ("synced"; only then does the reply name the top block).
func (p *Pastella) syncData(ctx context.Context, dt *transport, startHeight uint64, startTimestamp int64, count int) ([]pastellaSyncBlock, bool, error) {
	const call, path = "daemon POST /getwalletsyncdata", "/getwalletsyncdata"
	body, _ := json.Marshal(map[string]any{"startHeight": startHeight, "startTimestamp": startTimestamp,
		"blockCount": count, "skipCoinbaseTransactions": false})
	status, raw, err := dt.roundTrip(ctx, http.MethodPost, path, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		return nil, false, dt.fail(call, err)
	}
	var r struct {
		Status string              `json:"status"`
		Items  []pastellaSyncBlock `json:"items"`
		Synced *bool               `json:"synced"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &r) != nil || r.Status != "OK" || r.Synced == nil {
		return nil, false, dt.fail(call, fmt.Errorf("%w: HTTP %d: %s", ErrBadReply, status, snippet(raw)))
	}
	for _, b := range r.Items {
		if b.Height == nil {
			return nil, false, dt.fail(call, fmt.Errorf("%w: a block without its height: %s", ErrBadReply, snippet(raw)))
		}
	}
	return r.Items, *r.Synced, nil
}

// minedAt reports whether the main chain's block at height holds h.
func (p *Pastella) minedAt(ctx context.Context, dt *transport, h string, height uint64) (bool, error) {
	blocks, _, err := p.syncData(ctx, dt, height, 0, 1)
	if err != nil {
		return false, err
	}
	for _, b := range blocks {
		if *b.Height == height && holds(b, h) {
			return true, nil
		}
	}
	return false, nil
}

// mainChainHeight searches the main chain from the blocks of
// pastellaClockSlack before since to the top for h, and returns the height
// of the block holding it.
func (p *Pastella) mainChainHeight(ctx context.Context, dt *transport, h string, since time.Time) (uint64, bool, error) {
	from, ts := uint64(0), since.Add(-pastellaClockSlack).Unix()
	for {
		blocks, synced, err := p.syncData(ctx, dt, from, ts, pastellaSyncBlocks)
		if err != nil {
			return 0, false, err
		}
		for _, b := range blocks {
			if holds(b, h) {
				return *b.Height, true, nil
			}
		}
		if synced || len(blocks) == 0 {
			return 0, false, nil
		}
		next := *blocks[len(blocks)-1].Height + 1
		if next <= from {
			return 0, false, dt.fail("daemon POST /getwalletsyncdata", fmt.Errorf("%w: asked from height %d, got blocks up to %d", ErrBadReply, from, next-1))
		}
		from, ts = next, 0
	}
}

func holds(b pastellaSyncBlock, h string) bool {
	for _, tx := range b.Txs {
		if strings.EqualFold(tx.Hash, h) {
			return true
		}
	}
	return false
}
