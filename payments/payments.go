// Package payments pays miners' balances through the coin's wallet, exactly
// once, across crashes.
//
// Every run builds transactions of eligible balances and takes each
// through a journal in Redis (storage's payment records): the debits leave
// the balances atomically first (preparing), the wallet builds the
// transaction without relaying it (prepared, hash and fee stored), the
// record is marked relaying, and only then is the relay requested; the
// outcome settles the record sent (paid) or failed (debits returned). A
// crash before relaying leaves a record that provably was never relayed,
// which the next run fails; a record left relaying is settled from what the
// wallet and the coin daemon know of its transaction. It counts as never
// sent only once the wallet can no longer relay it and neither the wallet
// nor the daemon has it; until then payments halt rather than guess. One
// process at a time holds the payments lease, and every journal write
// checks its fencing token.
//
// Sent is not the end (confirm.go): every run first looks up each sent
// payout's transaction and settles it confirmed once it is Confirmations
// blocks deep, or dropped once neither the wallet nor the daemon has it
// (the wallet reports it failed or unknown, the daemon does not have it)
// for DropGrace; the wallet's word alone never drops it. A dropped payout's debits go back to the balances in
// the same step that reverses its paid and ledger lines, so the run pays
// them again in a new record that names it (resendOf): one live
// transaction per debit.
package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/storage"
	"rxpool/wallet"
)

// Config holds the payout rules and what the processor needs besides;
// cmd/pool fills it from the file's payments section.
type Config struct {
	Interval             time.Duration
	MinPayment           uint64
	MaxPayment           uint64 // 0 = no cap
	Denomination         uint64
	TransferFee          uint64
	DynamicTransferFee   bool
	MinerPayFee          bool
	MaxAddresses         int
	MaxTransactionAmount uint64 // 0 = no cap
	// PoolAddress: the wallet's primary address must be this one.
	PoolAddress string
	// Coin, when set, checks destination addresses before the wallet sees
	// them; an invalid one is blocked.
	Coin *cryptonote.Coin
	// LeaseTTL is how long the lease outlives a silent holder (default 30 s).
	LeaseTTL time.Duration
	// RelayGrace is how long after a relay was requested a transaction
	// that neither the wallet nor the daemon knows is taken as never sent:
	// long enough for the request to reach the wallet (the wallet client's
	// timeout) and for a relay the wallet began to end. cmd/pool makes it
	// walletApi.timeout + DefaultRelayGrace; 0 means DefaultRelayGrace.
	RelayGrace time.Duration
	// Confirmations: a sent payout is confirmed this many blocks deep (0 =
	// DefaultConfirmations); DropGrace: how long its transaction may be
	// missing before it counts as dropped and is paid again (0 =
	// DefaultDropGrace). Chain gives the chain height; without it nothing
	// is confirmed.
	Confirmations uint64
	DropGrace     time.Duration
	Chain         Chain
	// StepPause, for crash tests only: a random pause of up to this after
	// each journal write, so that kills land in every state.
	StepPause time.Duration
}

var (
	// ErrLeaseHeld: another payments process holds the lease (RunOnce).
	ErrLeaseHeld = errors.New("payments: another payments process holds the lease")
	// ErrHalted: a relayed payment's outcome is unknown; nothing is paid
	// until it is settled.
	ErrHalted = errors.New("payments: halted on a payment whose outcome is unknown")
	// ErrWalletUnavailable: the wallet did not answer a call made before
	// paying (its address, its balance): nothing was paid or recorded for
	// the payees left, their balances stay, and the next run tries again.
	ErrWalletUnavailable = errors.New("payments: wallet unavailable")
)

// pauseReminder is how often a pause that goes on is logged again.
const pauseReminder = 10 * time.Minute

// DefaultRelayGrace is how long a relay the wallet has begun may still
// take: Pastella-Wallet-API gives up on its daemon after 10 s; a minute
// leaves room for a request that waited in its queue.
const DefaultRelayGrace = time.Minute

// syncWait is how long a run waits for a wallet that is a little behind
// its daemon (a block has just come) before it pauses.
const syncWait = 30 * time.Second

// Processor pays balances; Run it in one process (the lease makes a second
// one wait).
type Processor struct {
	cfg    Config
	store  *storage.Store
	w      wallet.Wallet
	log    logrus.FieldLogger
	paused durablePause // while the journal's writes reach too few replicas (durable.go)
}

// New returns a processor. The configuration is assumed validated
// (config.Validate): denomination > 0, maxAddresses ≥ 1.
func New(cfg Config, store *storage.Store, w wallet.Wallet, log logrus.FieldLogger) *Processor {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.RelayGrace <= 0 {
		cfg.RelayGrace = DefaultRelayGrace
	}
	if cfg.Confirmations == 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	if cfg.DropGrace <= 0 {
		cfg.DropGrace = DefaultDropGrace
	}
	if cfg.MaxAddresses < 1 {
		cfg.MaxAddresses = 1
	}
	if cfg.Denomination == 0 {
		cfg.Denomination = 1
	}
	return &Processor{cfg: cfg, store: store, w: w, log: log}
}

// Result is what one run did.
type Result struct {
	Recovered int      // open records from earlier runs settled at the start
	Records   int      // records opened by this run
	Sent      int      // records settled sent (recovered ones included)
	Failed    int      // records settled failed (recovered ones included)
	Confirmed int      // sent records settled confirmed
	Dropped   int      // sent records settled dropped (their debits paid again)
	Paid      uint64   // Σ amounts sent by this run's records
	Debited   uint64   // Σ debits of this run's sent records
	Blocked   []string // addresses blocked by this run
	Halted    bool     // a record's outcome is unknown: nothing was paid
	Waiting   string   // why the run stopped before paying everyone, if it did
	durable   bool     // enough replicas acknowledged the journal before paying
}

func (r Result) String() string {
	s := fmt.Sprintf("%d records: %d sent, %d failed; paid %d (debited %d)", r.Records, r.Sent, r.Failed, r.Paid, r.Debited)
	if r.Recovered > 0 {
		s += fmt.Sprintf("; %d recovered", r.Recovered)
	}
	if r.Confirmed > 0 || r.Dropped > 0 {
		s += fmt.Sprintf("; earlier payouts: %d confirmed, %d dropped", r.Confirmed, r.Dropped)
	}
	if len(r.Blocked) > 0 {
		s += fmt.Sprintf("; blocked %s", strings.Join(r.Blocked, ", "))
	}
	if r.Waiting != "" {
		s += "; stopped: " + r.Waiting
	}
	return s
}

// Run pays every Interval, the first time at once, until ctx ends. It
// waits for the lease first and keeps renewing it; when the lease is lost
// (this process stalled longer than LeaseTTL) the current run stops and the
// processor waits for the lease again. It returns nil when ctx ends.
func (p *Processor) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		tok, err := p.acquire(ctx)
		if err != nil {
			break
		}
		p.log.Infof("payments: lease acquired (token %d); paying every %v", tok, p.cfg.Interval)
		err = p.serve(ctx, tok)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := p.store.ReleasePaymentsLease(rctx, tok); rerr != nil {
			p.log.Warnf("payments: releasing the lease: %v", rerr)
		}
		cancel()
		if ctx.Err() == nil {
			p.log.Errorf("payments: %v; waiting for the lease again", err)
		}
	}
	return nil
}

// RunOnce makes one run now if no other process holds the lease
// (ErrLeaseHeld otherwise), for tests and tools.
func (p *Processor) RunOnce(ctx context.Context) (Result, error) {
	tok, err := p.store.AcquirePaymentsLease(ctx, p.cfg.LeaseTTL)
	if err != nil {
		return Result{}, err
	}
	if tok == 0 {
		return Result{}, ErrLeaseHeld
	}
	defer p.store.ReleasePaymentsLease(context.WithoutCancel(ctx), tok)
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go p.keepLease(lctx, cancel, tok)
	return p.pass(lctx, tok)
}

// acquire waits for the lease.
func (p *Processor) acquire(ctx context.Context) (uint64, error) {
	poll := min(p.cfg.LeaseTTL/5, time.Second)
	logged := false
	for {
		tok, err := p.store.AcquirePaymentsLease(ctx, p.cfg.LeaseTTL)
		switch {
		case err != nil && ctx.Err() == nil:
			p.log.Warnf("payments: %v", err)
		case tok != 0:
			return tok, nil
		case !logged:
			p.log.Info("payments: another payments process holds the lease; waiting for it")
			logged = true
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(poll):
		}
	}
}

var errLeaseLost = errors.New("payments lease lost")

// serve runs passes while the lease is ours.
func (p *Processor) serve(ctx context.Context, tok uint64) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go p.keepLease(lctx, cancel, tok)
	next := time.NewTimer(0)
	defer next.Stop()
	var pausedAt, pauseLogged time.Time // while the wallet is unavailable
	for {
		select {
		case <-lctx.Done():
			return context.Cause(lctx)
		case <-next.C:
		}
		res, err := p.pass(lctx, tok)
		walletDown := errors.Is(err, ErrWalletUnavailable) && lctx.Err() == nil
		// A pass that completed heard from the wallet, even if ctx ended
		// just after (shutdown right after the payment went out).
		if !pausedAt.IsZero() && (err == nil || !walletDown && lctx.Err() == nil) {
			p.log.Infof("payments: resumed: wallet %s answers again (paused %v)", p.w.Name(), time.Since(pausedAt).Round(time.Second))
			pausedAt = time.Time{}
		}
		switch {
		case errors.Is(err, storage.ErrFenced):
			cancel(err)
			return err
		case p.notePause(lctx, res, err):
			// Logged by notePause.
		case walletDown:
			if res.Records > 0 || res.Recovered > 0 {
				p.log.Infof("payments: run: %s", res)
			}
			why := strings.TrimPrefix(err.Error(), ErrWalletUnavailable.Error()+": ")
			switch now := time.Now(); {
			case pausedAt.IsZero():
				pausedAt, pauseLogged = now, now
				p.log.Errorf("payments: PAUSED, wallet unavailable: %s; nothing is paid and balances stay as they are until the wallet answers; trying again every %v", why, p.cfg.Interval)
			case now.Sub(pauseLogged) >= pauseReminder:
				pauseLogged = now
				p.log.Errorf("payments: still PAUSED after %v, wallet unavailable: %s", now.Sub(pausedAt).Round(time.Second), why)
			default:
				p.log.Debugf("payments: still paused, wallet unavailable: %s", why)
			}
		case err != nil && lctx.Err() == nil:
			p.log.Errorf("payments: run: %v (%s)", err, res)
		case res.Records > 0 || res.Recovered > 0 || res.Confirmed > 0 || res.Dropped > 0:
			p.log.Infof("payments: run: %s", res)
		}
		next.Reset(p.cfg.Interval)
	}
}

// keepLease renews the lease every third of its TTL and cancels ctx when
// it is lost, so wallet calls stop as soon as possible.
func (p *Processor) keepLease(ctx context.Context, cancel context.CancelCauseFunc, tok uint64) {
	every := p.cfg.LeaseTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, c := context.WithTimeout(ctx, every)
		ok, err := p.store.RenewPaymentsLease(rctx, tok, p.cfg.LeaseTTL)
		c()
		switch {
		case err == nil && ok:
			renewed = time.Now()
		case err == nil:
			cancel(errLeaseLost)
			return
		case time.Since(renewed) >= p.cfg.LeaseTTL:
			cancel(fmt.Errorf("%w: not renewed for %v: %w", errLeaseLost, p.cfg.LeaseTTL, err))
			return
		}
	}
}

// pass is one payments run under lease token tok.
func (p *Processor) pass(ctx context.Context, tok uint64) (Result, error) {
	var res Result
	if err := p.recover(ctx, tok, &res); err != nil {
		return res, err
	}
	if err := wallet.CheckAddress(ctx, p.w, p.cfg.PoolAddress); errors.Is(err, wallet.ErrWrongWallet) {
		return res, fmt.Errorf("%w; refusing to pay", err)
	} else if err != nil {
		return res, fmt.Errorf("%w: %w", ErrWalletUnavailable, err)
	}
	if err := p.synced(ctx); err != nil {
		return res, fmt.Errorf("%w: %w", ErrWalletUnavailable, err)
	}
	// Before the balances are read, so a dropped payout is paid again now.
	if err := p.watch(ctx, tok, &res); err != nil {
		return res, err
	}
	balances, err := p.store.PayableBalances(ctx)
	if err != nil {
		return res, err
	}
	thresholds, err := p.store.Thresholds(ctx)
	if err != nil {
		return res, err
	}
	blocked, err := p.store.BlockedAddresses(ctx)
	if err != nil {
		return res, err
	}
	payees := p.cfg.plan(balances, thresholds, blocked)
	if p.cfg.Coin != nil {
		valid := payees[:0]
		for _, py := range payees {
			if _, err := p.cfg.Coin.ParseAddress(py.Address); err != nil {
				if err := p.block(ctx, py.Address, err.Error(), &res); err != nil {
					return res, err
				}
				continue
			}
			valid = append(valid, py)
		}
		payees = valid
	}
	batches := p.cfg.batches(payees)
	if len(batches) > 0 || p.paused.active() {
		// Before any record: while replicas do not acknowledge, no
		// payout is relayed (PaymentRelaying would refuse it anyway).
		if err := p.store.Durable(ctx); err != nil {
			return res, err
		}
		res.durable = true
	}
	for _, batch := range batches {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if ok, err := p.funded(ctx, batch, &res); err != nil || !ok {
			return res, err
		}
		if err := p.pay(ctx, tok, batch, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// syncer is the optional wallet call that says whether the wallet has
// scanned the whole chain (Pastella: a wallet the Wallet-API has just
// opened again rescans from its last save).
type syncer interface {
	Synced(ctx context.Context) error
}

// synced waits up to syncWait for the wallet to catch up with its daemon.
// A wallet that is behind reads a low balance and may build transactions
// on inputs a transaction it lost already spent: nothing is paid until it
// has caught up.
func (p *Processor) synced(ctx context.Context) error {
	s, ok := p.w.(syncer)
	if !ok {
		return nil
	}
	deadline := time.Now().Add(syncWait)
	for {
		err := s.Synced(ctx)
		if err == nil || !errors.Is(err, wallet.ErrNotSynced) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// funded checks the wallet's unlocked balance covers the batch (the fee
// estimated as transferFee when the pool pays it).
func (p *Processor) funded(ctx context.Context, batch []payee, res *Result) (bool, error) {
	_, unlocked, err := p.w.Balance(ctx)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrWalletUnavailable, err)
	}
	need := total(batch)
	if !p.cfg.MinerPayFee {
		need += p.cfg.TransferFee
	}
	if unlocked < need {
		res.Waiting = fmt.Sprintf("the wallet's unlocked balance %d is below the %d the next transaction needs (%s)", unlocked, need, describe(batch))
		p.log.Warnf("payments: %s; the rest waits for the next run", res.Waiting)
		return false, nil
	}
	return true, nil
}

func (p *Processor) block(ctx context.Context, addr, reason string, res *Result) error {
	if err := p.store.BlockAddress(ctx, addr, time.Now().UTC().Format(time.RFC3339)+" "+reason); err != nil {
		return err
	}
	res.Blocked = append(res.Blocked, addr)
	p.log.Errorf("payments: address %s blocked, its balance stays until an operator unblocks it (`pool payments unblock`): %s", addr, reason)
	return nil
}
