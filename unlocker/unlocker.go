package unlocker

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/daemon"
	"rxpool/storage"
	"rxpool/stratum"
)

// Store is the part of storage the unlocker uses.
type Store interface {
	PendingBlocks(ctx context.Context) ([]*storage.BlockRecord, error)
	BlockWeights(ctx context.Context, hash string) (map[string]uint64, error)
	CreditBlock(ctx context.Context, hash string, credits map[string]uint64, fee uint64, feeAddress, finder string, finderReward, reward uint64) (bool, error)
	OrphanBlock(ctx context.Context, hash string) (bool, error)
	RecentCreditedBlocks(ctx context.Context, minHeight uint64) ([]storage.CreditedBlock, error)
	MarkBlockLost(ctx context.Context, hash, reason string) (bool, error)
	Durable(ctx context.Context) error
	AcquireLease(ctx context.Context, name string, ttl time.Duration) (uint64, error)
	RenewLease(ctx context.Context, name string, token uint64, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name string, token uint64) error
}

// Daemon is the part of the daemon client the unlocker uses.
type Daemon interface {
	BlockHeaderByHeight(ctx context.Context, height uint64) (*daemon.BlockHeader, error)
	LastBlockHeader(ctx context.Context) (*daemon.BlockHeader, error)
}

// Config holds the unlocker's settings (from config.BlockUnlockerConfig).
type Config struct {
	Interval   time.Duration
	Depth      uint64 // confirmations needed before a block is settled
	FeeBP      uint32 // pool fee, basis points
	SoloFeeBP  uint32
	FinderBP   uint32
	FeeAddress string // "" keeps the fee in the pool wallet
	// ExactReward: the daemon's header reward must equal the reward we
	// recorded (Monero: every coinbase output is ours). Otherwise it may be
	// larger (Pastella adds staking outputs that are not ours) but never
	// smaller.
	ExactReward bool
}

// Unlocker settles pending block candidates.
type Unlocker struct {
	cfg   Config
	store Store
	d     Daemon
	log   logrus.FieldLogger
	// undurable: blocks credited on the master whose credit too few
	// replicas acknowledged (hash → height); each pass asks again.
	undurable map[string]uint64
}

// New returns an unlocker; Run starts it.
func New(cfg Config, store Store, d Daemon, log logrus.FieldLogger) *Unlocker {
	return &Unlocker{cfg: cfg, store: store, d: d, log: log, undurable: map[string]uint64{}}
}

// Result counts what one pass did.
type Result struct {
	Confirmed, Orphaned, Waiting, Refused int
	Lost                                  int // credited blocks found off the main chain in this pass
	// NotDurable: credited blocks whose credit too few replicas have
	// acknowledged yet (redis.minReplicaAcks).
	NotDurable int
}

// Run settles blocks every Interval until ctx ends, while it holds the
// unlocker lease: with several unlocker processes on one Redis, one works
// and the others wait to take over. (Crediting is idempotent anyway, guarded
// by the block's status in one script, so even a holder that lost its lease
// mid-pass cannot credit a block twice; the lease saves the double work.)
func (u *Unlocker) Run(ctx context.Context) {
	t := time.NewTicker(u.cfg.Interval)
	defer t.Stop()
	ttl := max(3*u.cfg.Interval, 30*time.Second)
	var token uint64
	waiting := false
	defer func() {
		if token != 0 {
			u.store.ReleaseLease(context.WithoutCancel(ctx), storage.LeaseUnlocker, token)
		}
	}()
	for {
		token = u.holdLease(ctx, token, ttl)
		switch {
		case token == 0 && !waiting && ctx.Err() == nil:
			u.log.Info("unlocker: another unlocker process holds the lease; waiting to take over")
			waiting = true
		case token != 0:
			if waiting {
				u.log.Infof("unlocker: took over the lease (token %d)", token)
				waiting = false
			}
			if _, err := u.RunOnce(ctx); err != nil && ctx.Err() == nil {
				u.log.Errorf("unlocker pass: %v", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// holdLease renews the lease held with token, or tries to take it; it
// returns the token held now (0: none).
func (u *Unlocker) holdLease(ctx context.Context, token uint64, ttl time.Duration) uint64 {
	if token != 0 {
		ok, err := u.store.RenewLease(ctx, storage.LeaseUnlocker, token, ttl)
		if err == nil && ok {
			return token
		}
		if err != nil {
			u.log.Warnf("unlocker: renewing the lease: %v", err)
			return 0
		}
		u.log.Warn("unlocker: lease lost (this process stalled longer than its TTL)")
	}
	tok, err := u.store.AcquireLease(ctx, storage.LeaseUnlocker, ttl)
	if err != nil {
		if ctx.Err() == nil {
			u.log.Warnf("unlocker: taking the lease: %v", err)
		}
		return 0
	}
	return tok
}

// RunOnce looks at every pending candidate once. A block is judged only
// when the main chain is Depth blocks past it: then a different hash at its
// height (or the daemon's orphan flag) orphans it, and otherwise it is
// credited. Then the blocks credited lately are looked at again (checkLost).
// Problems with one block never stop the others.
func (u *Unlocker) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	var errs []error
	if err := u.recheckDurable(ctx); err != nil {
		errs = append(errs, err)
	}
	pending, err := u.store.PendingBlocks(ctx)
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	for _, b := range pending {
		outcome, err := u.settle(ctx, b)
		if err != nil {
			errs = append(errs, fmt.Errorf("block %d %s: %w", b.Height, b.Hash, err))
		}
		switch outcome {
		case confirmed:
			res.Confirmed++
		case orphaned:
			res.Orphaned++
		case refused:
			res.Refused++
		default:
			res.Waiting++
		}
	}
	lost, err := u.checkLost(ctx)
	res.Lost = lost
	res.NotDurable = len(u.undurable)
	return res, errors.Join(append(errs, err)...)
}

// recheckDurable asks the replicas again for the credits they had not
// acknowledged: one acknowledged wait covers everything the master had.
func (u *Unlocker) recheckDurable(ctx context.Context) error {
	if len(u.undurable) == 0 {
		return nil
	}
	if err := u.store.Durable(ctx); err != nil {
		return fmt.Errorf("credits of %d blocks still not on enough replicas: %w", len(u.undurable), err)
	}
	for hash, height := range u.undurable {
		u.log.WithFields(logrus.Fields{"height": height, "hash": hash}).Info("block credit now acknowledged by the replicas")
	}
	clear(u.undurable)
	return nil
}

type outcome int

const (
	waiting outcome = iota
	confirmed
	orphaned
	refused
)

func (u *Unlocker) settle(ctx context.Context, b *storage.BlockRecord) (outcome, error) {
	log := u.log.WithFields(logrus.Fields{"height": b.Height, "hash": b.Hash, "scheme": b.Scheme})
	hdr, err := u.d.BlockHeaderByHeight(ctx, b.Height)
	if err != nil {
		var rpcErr *daemon.RPCError
		if errors.As(err, &rpcErr) {
			return waiting, nil // e.g. the chain is not that high (yet, or after a rewind)
		}
		return waiting, err
	}
	if hdr.Depth < u.cfg.Depth {
		return waiting, nil
	}
	if hex.EncodeToString(hdr.Hash[:]) != b.Hash || hdr.Orphan {
		if _, err := u.store.OrphanBlock(ctx, b.Hash); err != nil {
			return waiting, err
		}
		log.Warnf("block orphaned: the main chain has %x at height %d", hdr.Hash, b.Height)
		return orphaned, nil
	}
	if hdr.Reward < b.Reward || (u.cfg.ExactReward && hdr.Reward != b.Reward) {
		log.Errorf("refusing to credit: the daemon says the block pays %d, we recorded %d for the pool's output", hdr.Reward, b.Reward)
		return refused, nil
	}
	var split *Split
	if b.Scheme == stratum.SchemeSolo {
		split, err = SplitSolo(b.Reward, u.cfg.SoloFeeBP, b.Address)
	} else {
		var weights map[string]uint64
		if weights, err = u.store.BlockWeights(ctx, b.Hash); err != nil {
			return waiting, err
		}
		split, err = SplitShared(b.Reward, u.cfg.FeeBP, u.cfg.FinderBP, weights)
	}
	if err != nil {
		log.Errorf("refusing to credit: %v", err)
		return refused, nil
	}
	done, err := u.store.CreditBlock(ctx, b.Hash, split.Credits, split.Fee, u.cfg.FeeAddress, b.Address, split.Finder, b.Reward)
	if errors.Is(err, storage.ErrNotDurable) {
		// Credited on the master. A failover before a replica has it
		// would find the block pending again and credit it then, once;
		// payouts from it wait for replicas anyway (payments).
		log.Errorf("block credited on the master only (%v): a failover now would undo the credit; asking the replicas again every pass", err)
		u.undurable[b.Hash] = b.Height
		return confirmed, nil
	}
	if err != nil {
		return waiting, err
	}
	if done {
		log.Infof("block confirmed and credited: reward %d, fee %d, finder %d, %d participants", b.Reward, split.Fee, split.Finder, len(split.Credits))
	}
	return confirmed, nil
}
