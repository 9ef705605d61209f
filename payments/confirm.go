package payments

// A payout's life after sent (issue 20): every run looks up each sent,
// unconfirmed payout and settles it confirmed once its transaction is
// Confirmations deep, or dropped once neither the wallet nor the daemon has
// it for DropGrace (its debits go back to the balances and this same run
// pays them again).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/daemon"
	"rxpool/storage"
	"rxpool/wallet"
)

// Chain is what the watcher asks the coin daemon: the chain height
// (daemon.Client and daemon.Failover have it).
type Chain interface {
	Info(ctx context.Context) (*daemon.Info, error)
}

// TxChecker is the optional daemon call the watcher uses when the wallet
// alone says it does not know a transaction: whether the daemon has it, in
// its pool or in a block. monero-wallet-rpc does not see its own
// transaction back in the pool after a reorg (it calls it unknown for
// minutes while the daemon holds it), so its word alone never drops a
// payout.
type TxChecker interface {
	HasTransaction(ctx context.Context, txHash string) (bool, error)
}

// DefaultConfirmations: ordinary outputs unlock after 10 blocks on both coins.
const DefaultConfirmations = 10

// DefaultDropGrace is the grace when none is configured (config derives
// 10 blocks' time per coin).
const DefaultDropGrace = 20 * time.Minute

// watch settles the sent payouts that wait for their confirmations. A
// wallet that does not answer stops the run (ErrWalletUnavailable) like any
// other wallet call before paying.
func (p *Processor) watch(ctx context.Context, tok uint64, res *Result) error {
	recs, err := p.store.UnconfirmedPayments(ctx)
	if err != nil || len(recs) == 0 {
		return err
	}
	height := p.chainHeight(ctx)
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rec.State != storage.PaymentSent {
			continue
		}
		info, err := p.lookup(ctx, rec)
		if err != nil {
			return err
		}
		if err := p.watchOne(ctx, tok, rec, info, height, res); err != nil {
			return err
		}
	}
	return nil
}

// chainHeight is the daemon's chain height, 0 when unknown (then nothing
// is confirmed this run; missing transactions are still watched).
func (p *Processor) chainHeight(ctx context.Context) uint64 {
	if p.cfg.Chain == nil {
		return 0
	}
	info, err := p.cfg.Chain.Info(ctx)
	if err != nil {
		p.log.Warnf("payments: daemon height unknown, no payout is confirmed this run: %v", err)
		return 0
	}
	return info.Height
}

// SinceLooker is a wallet that can search the main chain for a transaction
// from when it was sent (wallet.Pastella: Pastellad's own "in a block"
// counts blocks off the main chain too, so a payout a reorg took away would
// otherwise wait forever).
type SinceLooker interface {
	LookupSince(ctx context.Context, txHash string, since time.Time) (*wallet.TxInfo, error)
}

// lookup asks the wallet, and the daemon (TxChecker) when the wallet did
// not: a transaction the wallet calls failed or unknown may be alive.
func (p *Processor) lookup(ctx context.Context, rec *storage.PaymentRecord) (*wallet.TxInfo, error) {
	var info *wallet.TxInfo
	var err error
	if sl, ok := p.w.(SinceLooker); ok {
		since := rec.RelayedAt
		if since.IsZero() {
			since = rec.Created
		}
		info, err = sl.LookupSince(ctx, rec.TxHash, since)
	} else {
		info, err = p.w.Lookup(ctx, rec.TxHash)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: looking up payment %d (%s): %w", ErrWalletUnavailable, rec.ID, rec.TxHash, err)
	}
	c, ok := p.cfg.Chain.(TxChecker)
	if alive(info) || info.DaemonChecked || !ok {
		return info, nil
	}
	has, err := c.HasTransaction(ctx, rec.TxHash)
	if errors.Is(err, daemon.ErrNoTxLookup) {
		return info, nil // no daemon opinion: the wallet's stands
	}
	if err != nil {
		return nil, fmt.Errorf("asking the daemon for payment %d's transaction %s: %w", rec.ID, rec.TxHash, err)
	}
	if has {
		return &wallet.TxInfo{State: wallet.TxPending, DaemonChecked: true}, nil
	}
	info.DaemonChecked = true
	return info, nil
}

// alive: the wallet or daemon has the transaction, in the pool or a block.
func alive(info *wallet.TxInfo) bool {
	return info.State == wallet.TxPending || info.State == wallet.TxConfirmed
}

func (p *Processor) watchOne(ctx context.Context, tok uint64, rec *storage.PaymentRecord, info *wallet.TxInfo, height uint64, res *Result) error {
	log := p.log.WithFields(logrus.Fields{"payment": rec.ID, "tx": rec.TxHash})
	if alive(info) {
		if !rec.MissingSince.IsZero() {
			if _, err := p.store.PaymentMissing(ctx, tok, rec.ID, true, ""); err != nil {
				return err
			}
			log.Warnf("payments: the transaction is back (%s) after %v missing; waiting for its confirmations",
				info.State, time.Since(rec.MissingSince).Round(time.Second))
		}
		if info.State != wallet.TxConfirmed || info.Height == 0 || height < info.Height+p.cfg.Confirmations {
			return nil
		}
		if _, err := p.store.PaymentConfirmed(ctx, tok, rec.ID, info.Height); err != nil {
			return err
		}
		res.Confirmed++
		log.Infof("payments: confirmed: block %d, %d deep", info.Height, height-info.Height)
		return nil
	}
	why := missingWhy(info)
	since, err := p.store.PaymentMissing(ctx, tok, rec.ID, false, why)
	if err != nil {
		return err
	}
	if rec.MissingSince.IsZero() {
		log.Warnf("payments: sent payout's transaction is missing (%s), %v after it was sent; it counts as dropped and is paid again if it stays missing for %v",
			why, time.Since(rec.SettledAt).Round(time.Second), p.cfg.DropGrace)
	}
	rec.MissingSince = since
	if time.Since(since) < p.cfg.DropGrace {
		return nil
	}
	if !info.DaemonChecked {
		// The wallet alone cannot tell a transaction the chain lost from
		// one back in the daemon's pool: never pay again on its word.
		log.Errorf("payments: sent payout's transaction missing for %v (%s), but no daemon was asked whether it has it: "+
			"not paid again; check the chain, `pool payments show %d`", time.Since(since).Round(time.Second), why, rec.ID)
		return nil
	}
	// Make the wallet forget it where it can (a record settled sent keeps no
	// handle, so today this is a no-op: Pastella dropped its prepared copy
	// when it sent it, monero-wallet-rpc cannot forget a relayed
	// transaction), then make sure it is still gone.
	p.drop(ctx, &wallet.Prepared{TxHash: rec.TxHash, Fee: rec.Fee, Handle: rec.Handle})
	again, err := p.lookup(ctx, rec)
	if err != nil {
		return err
	}
	if alive(again) || !again.DaemonChecked {
		return p.watchOne(ctx, tok, rec, again, height, res)
	}
	reason := fmt.Sprintf("dropped: %s for %v (sent %v ago)", missingWhy(again), time.Since(since).Round(time.Second),
		time.Since(rec.SettledAt).Round(time.Second))
	if _, err := p.store.PaymentDropped(ctx, tok, rec.ID, reason); err != nil {
		return err
	}
	res.Dropped++
	log.Errorf("payments: payout DROPPED, its debits (%d to %d destinations) are back in the balances and are paid again: %s",
		rec.Debited, len(rec.Dests), reason)
	return nil
}

func missingWhy(info *wallet.TxInfo) string {
	switch {
	case info.State == wallet.TxFailed && info.DaemonChecked:
		return "the wallet reports the transaction failed and the daemon does not have it"
	case info.State == wallet.TxFailed:
		return "the wallet reports the transaction failed (the daemon was not asked)"
	case info.OffMainChain:
		return "the transaction is only in blocks a reorg took off the main chain, and in no pool (the daemon does not mine it again)"
	case info.DaemonChecked:
		return "neither the wallet nor the daemon has the transaction"
	}
	return "the wallet does not know the transaction (the daemon was not asked)"
}
