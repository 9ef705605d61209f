package payments

// One batch's way through the payment journal: prepare in the wallet,
// record, relay, settle by what the wallet and the daemon say, and
// recover what a crash left half done.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/storage"
	"rxpool/wallet"
)

// pay takes one batch through the journal. A destination the wallet names
// as bad is blocked and the batch retried without it.
func (p *Processor) pay(ctx context.Context, tok uint64, batch []payee, res *Result) error {
	for len(batch) > 0 {
		id, err := p.store.CreatePayment(ctx, tok, debits(batch))
		if err != nil {
			return err
		}
		res.Records++
		p.pause()
		log := p.log.WithField("payment", id)
		prep, dests, err := p.prepare(ctx, batch)
		if err != nil {
			// Prepare never relays: failing the record is safe whatever
			// the error was.
			by := storage.SettledByUnsent
			if wallet.IsRefused(err) {
				by = storage.SettledByRefusal
			}
			if ferr := p.fail(ctx, tok, id, by, "prepare: "+err.Error(), false, res); ferr != nil {
				return ferr
			}
			var r *wallet.RefusedError
			if errors.As(err, &r) && r.BadAddress != "" && len(without(batch, r.BadAddress)) < len(batch) {
				if err := p.block(ctx, r.BadAddress, r.Error(), res); err != nil {
					return err
				}
				batch = without(batch, r.BadAddress)
				continue
			}
			return fmt.Errorf("payment %d (%s): %w", id, describe(batch), err)
		}
		if err := p.store.PaymentPrepared(ctx, tok, id, prep.TxHash, prep.Fee, prep.Handle, dests); err != nil {
			p.discard(prep)
			return err
		}
		log = log.WithField("tx", prep.TxHash)
		p.pause()
		relayedAt := time.Now()
		if err := p.store.PaymentRelaying(ctx, tok, id); err != nil {
			// We did not relay and never will: drop the transaction and, if
			// the record did become relaying, fail it now rather than halt.
			// That includes storage.ErrNotDurable: relaying on the master
			// but on too few replicas (the run then pauses, notePause). If
			// this fail is lost too, recovery finds a relaying record the
			// wallet never relayed, as after a crash.
			p.discard(prep)
			if !errors.Is(err, storage.ErrFenced) {
				_ = p.fail(ctx, tok, id, storage.SettledByUnsent, "never relayed: marking it relaying failed: "+err.Error(), true, res)
			}
			return err
		}
		p.pause()
		rerr := p.w.Relay(ctx, prep)
		if rerr == nil {
			if _, err := p.store.PaymentSent(ctx, tok, id, storage.SettledByRelay); err != nil {
				return err // the record stays relaying: the next run looks it up
			}
			p.sent(dests, res)
			log.Infof("payments: sent %s, fee %d (miners %d)", describe(batch), prep.Fee, sumFees(dests))
			return nil
		}
		log.Warnf("payments: relay: %v", rerr)
		sent, err := p.settle(ctx, tok, id, prep, relayedAt, rerr, res)
		if err != nil {
			return err
		}
		if sent {
			p.sent(dests, res)
			return nil
		}
		// Failed and returned; the next run tries again.
		return fmt.Errorf("payment %d: relay: %w", id, rerr)
	}
	return nil
}

func (p *Processor) pause() {
	if p.cfg.StepPause > 0 {
		time.Sleep(rand.N(p.cfg.StepPause))
	}
}

func (p *Processor) sent(dests []storage.PaymentDest, res *Result) {
	res.Sent++
	for _, d := range dests {
		res.Paid += d.Amount
		res.Debited += d.Debit
	}
}

func sumFees(ds []storage.PaymentDest) uint64 {
	var s uint64
	for _, d := range ds {
		s += d.Fee
	}
	return s
}

// prepare builds the batch's transaction with the configured fee rule and
// returns it with each destination's fee and amount.
func (p *Processor) prepare(ctx context.Context, batch []payee) (*wallet.Prepared, []storage.PaymentDest, error) {
	var share uint64
	if p.cfg.fixedFee() {
		share = p.cfg.TransferFee
	}
	if !p.cfg.dynamicFee() {
		dests := withFee(batch, share)
		prep, err := p.w.Prepare(ctx, walletDests(dests))
		return prep, dests, err
	}
	// Dynamic: the real fee is known only from a prepared transaction, and
	// the amounts may change it, so prepare until the split matches,
	// starting from transferFee as the estimate.
	n := len(batch)
	minDebit := batch[0].Debit
	for _, b := range batch {
		minDebit = min(minDebit, b.Debit)
	}
	share = min(p.cfg.TransferFee/uint64(n), minDebit-1)
	for try := 0; ; try++ {
		dests := withFee(batch, share)
		prep, err := p.w.Prepare(ctx, walletDests(dests))
		if err != nil {
			return nil, nil, err
		}
		ok, next := dynamicShare(prep.Fee, share, n, minDebit, try)
		if ok {
			return prep, dests, nil
		}
		p.log.Debugf("payments: fee %d with a share of %d each; preparing again with %d", prep.Fee, share, next)
		p.discard(prep)
		share = next
	}
}

// discarder is the optional wallet call that drops a prepared transaction
// (Pastella holds prepared transactions and locks their inputs).
type discarder interface {
	Discard(ctx context.Context, p *wallet.Prepared) (bool, error)
}

// discard drops a prepared transaction we will never relay, best effort:
// one left behind is harmless, only untidy, since nobody relays it.
// (Pastella keeps its inputs locked either way; see docs/operations.md.)
func (p *Processor) discard(prep *wallet.Prepared) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.drop(ctx, prep)
}

// drop asks the wallet to drop a prepared transaction and reports whether
// it answered, found or not: from then on the wallet cannot relay it.
func (p *Processor) drop(ctx context.Context, prep *wallet.Prepared) bool {
	d, ok := p.w.(discarder)
	if !ok || prep == nil || prep.Handle == "" {
		return false
	}
	if _, err := d.Discard(ctx, prep); err != nil {
		p.log.Debugf("payments: discarding prepared transaction %s: %v", prep.TxHash, err)
		return false
	}
	return true
}

func (p *Processor) fail(ctx context.Context, tok, id uint64, by, reason string, relayFailed bool, res *Result) error {
	done, err := p.store.PaymentFailed(ctx, tok, id, by, reason, relayFailed)
	if err != nil {
		return err
	}
	if done {
		res.Failed++
		p.log.WithField("payment", id).Warnf("payments: failed, debits returned to the balances: %s", reason)
	}
	return nil
}

// settle decides a relaying record from what the wallet and the daemon
// know of its transaction. relayErr is the error of this process's relay
// (nil when recovering a record of an earlier run); relayedAt is when the
// relay was requested. A transaction the wallet or the daemon has, pending
// or mined, was sent; one the wallet reports failed was not; an unknown
// one was not sent if our relay was refused outright, or if the wallet can
// no longer relay it (it answered a discard: it dropped the transaction
// or, restarted, lost it), neither the wallet nor the daemon has it, and
// the relay is older than RelayGrace, so none can still be under way.
// Anything else is ambiguous: the record stays relaying, payments halt,
// and every run looks again.
func (p *Processor) settle(ctx context.Context, tok, id uint64, prep *wallet.Prepared, relayedAt time.Time, relayErr error, res *Result) (sent bool, err error) {
	refused := relayErr != nil && wallet.IsRefused(relayErr)
	// Dropped before the lookup, so that no relay can follow an answer
	// of "unknown".
	dropped := p.drop(ctx, prep)
	info, lerr := p.w.Lookup(ctx, prep.TxHash)
	log := p.log.WithFields(logrus.Fields{"payment": id, "tx": prep.TxHash})
	var why string
	switch {
	case lerr != nil:
		why = fmt.Sprintf("looking the transaction up failed: %v", lerr)
	case info.State == wallet.TxPending || info.State == wallet.TxConfirmed:
		if _, err := p.store.PaymentSent(ctx, tok, id, storage.SettledByLookup); err != nil {
			return false, err
		}
		by := "wallet"
		if info.DaemonChecked {
			by = "daemon"
		}
		log.Infof("payments: settled sent: the %s reports the transaction %s", by, info.State)
		return true, nil
	case info.State == wallet.TxFailed:
		return false, p.fail(ctx, tok, id, storage.SettledByLookup, "the wallet reports the transaction failed", true, res)
	case refused:
		return false, p.fail(ctx, tok, id, storage.SettledByRefusal, "relay refused: "+relayErr.Error(), true, res)
	case !info.DaemonChecked:
		why = "the wallet does not know the transaction"
	case !dropped:
		why = "neither the wallet nor the daemon has the transaction, but the wallet did not answer a request to drop it"
	case relayedAt.IsZero():
		why = "neither the wallet nor the daemon has the transaction, but when it was relayed is not recorded"
	case !info.DaemonStarted.Before(relayedAt):
		// A daemon that restarted since may have dropped its pool while
		// peers it relayed the transaction to still hold and mine it.
		why = fmt.Sprintf("neither the wallet nor the daemon has the transaction, but the daemon started (%s) after the relay (%s), so its pool may have lost it",
			info.DaemonStarted.UTC().Format(time.RFC3339), relayedAt.UTC().Format(time.RFC3339))
	case time.Since(relayedAt) < p.cfg.RelayGrace:
		why = fmt.Sprintf("neither the wallet nor the daemon has the transaction yet; it counts as never sent once the relay is %v old", p.cfg.RelayGrace)
	default:
		return false, p.fail(ctx, tok, id, storage.SettledByLookup, fmt.Sprintf(
			"never sent: relayed %v ago, the wallet can no longer relay it, and neither the wallet nor the daemon has it",
			time.Since(relayedAt).Round(time.Second)), true, res)
	}
	if relayErr != nil {
		why = fmt.Sprintf("relay: %v; %s", relayErr, why)
	}
	res.Halted = true
	if err := p.store.HaltPayment(ctx, tok, id, why); err != nil {
		return false, err
	}
	log.Errorf("PAYMENTS HALTED: payment %d (transaction %s) was handed to the wallet for relay "+
		"but its outcome is unknown (%s). Nothing more is paid until it is settled; it is looked up again every run. "+
		"If the transaction is on the chain run `pool payments resolve %d sent`; if it is not, `pool payments resolve %d failed` "+
		"(which first makes the wallet drop the transaction, then refuses if the wallet has it).", id, prep.TxHash, why, id, id)
	return false, ErrHalted
}

// recover settles the records an earlier run left open, oldest first:
// preparing and prepared ones were never relayed and fail; relaying ones
// are looked up. Any still unknown halts this run.
func (p *Processor) recover(ctx context.Context, tok uint64, res *Result) error {
	open, err := p.store.OpenPayments(ctx)
	if err != nil {
		return err
	}
	halted := false
	for _, rec := range open {
		switch rec.State {
		case storage.PaymentPreparing, storage.PaymentPrepared:
			if rec.Handle != "" {
				p.discard(&wallet.Prepared{TxHash: rec.TxHash, Fee: rec.Fee, Handle: rec.Handle})
			}
			if err := p.fail(ctx, tok, rec.ID, storage.SettledByRecovery, "interrupted before relay ("+rec.State+")", false, res); err != nil {
				return err
			}
			res.Recovered++
		case storage.PaymentRelaying:
			prep := &wallet.Prepared{TxHash: rec.TxHash, Fee: rec.Fee, Handle: rec.Handle}
			sent, err := p.settle(ctx, tok, rec.ID, prep, rec.RelayedAt, nil, res)
			switch {
			case errors.Is(err, ErrHalted):
				halted = true
				continue
			case err != nil:
				return err
			case sent:
				res.Sent++
			}
			res.Recovered++
		}
	}
	if halted {
		return ErrHalted
	}
	return nil
}
