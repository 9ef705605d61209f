package unlocker

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"rxpool/daemon"
)

// checkLost looks again at the blocks credited within 2×Depth below the tip:
// settle credits a block once it is Depth deep and never looks back, so a
// reorg deeper than Depth would otherwise leave credits for a block that is
// no longer on the chain without anyone noticing. Such a block is marked
// lost (once, with one loud log line) and the audit fails until the operator
// acts; nothing is reversed, since its credits may already be paid out. It
// returns how many blocks it marked in this pass.
func (u *Unlocker) checkLost(ctx context.Context) (int, error) {
	top, err := u.d.LastBlockHeader(ctx)
	if err != nil {
		return 0, fmt.Errorf("lost-block check: the chain tip: %w", err)
	}
	tip := top.Height + top.Depth // Depth is the tip distance, whatever the daemon counts as the top
	minHeight := tip - min(tip, 2*u.cfg.Depth)
	blocks, err := u.store.RecentCreditedBlocks(ctx, minHeight)
	if err != nil {
		return 0, fmt.Errorf("lost-block check: %w", err)
	}
	var errs []error
	marked := 0
	for _, b := range blocks {
		if !b.LostAt.IsZero() {
			continue // reported before
		}
		hdr, err := u.d.BlockHeaderByHeight(ctx, b.Height)
		if err != nil {
			var rpcErr *daemon.RPCError
			if !errors.As(err, &rpcErr) { // an RPC error: the chain is not that high right now
				errs = append(errs, fmt.Errorf("lost-block check, block %d %s: %w", b.Height, b.Hash, err))
			}
			continue
		}
		reason := ""
		switch {
		case hex.EncodeToString(hdr.Hash[:]) != b.Hash:
			reason = fmt.Sprintf("the main chain has %x at height %d (tip %d)", hdr.Hash, b.Height, tip)
		case hdr.Orphan:
			reason = fmt.Sprintf("the daemon flags it orphaned (tip %d)", tip)
		default:
			continue
		}
		done, err := u.store.MarkBlockLost(ctx, b.Hash, reason)
		if err != nil {
			errs = append(errs, fmt.Errorf("lost-block check, block %d %s: %w", b.Height, b.Hash, err))
			continue
		}
		if done { // false: another unlocker marked it first and logged it
			marked++
			u.log.WithFields(logrus.Fields{"height": b.Height, "hash": b.Hash}).Errorf(
				"BLOCK LOST AFTER CREDIT: block %s (height %d) was credited and is no longer on the main chain: %s; "+
					"its credits stay in the balances (or were paid); `pool audit` fails until you act (docs/operations.md, Troubleshooting)",
				b.Hash, b.Height, reason)
		}
	}
	return marked, errors.Join(errs...)
}
