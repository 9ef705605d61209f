package storage

// Share batches until replicas have them (issue 19). A share is answered OK
// once it is buffered, and its batch is written to the master, which
// replicates asynchronously: a failover right after the write would lose a
// batch the miner was told about. So, with redis.minReplicaAcks > 0, every
// batch whose share script succeeded is kept until the prefix's master says
// its replicas have it ({p}:durable + a short WAIT after a flush). When
// storage recovers from an outage, or a flush finds the master's last
// applied batch of this Store older than the kept ones (a switch no write
// showed), the kept batches are written again first, oldest first: the
// share script and the statistics scripts skip a seq they have applied
// (≤ the last applied), so on the same master this is a no-op, and on a
// promoted replica that lacked them they apply once. Re-sent batches stay
// kept until the new master's replicas have them.
//
// Not acknowledged is not an outage: a replica down for maintenance must not
// stop mining. The wait is short, so flushes do not stall, and the memory is
// bounded by the share buffer's size.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/stratum"
)

// unackedWait is how long a flush waits for its replicas: a healthy replica
// answers in about a round trip, and the flush must not stall when none does.
const unackedWait = 50 * time.Millisecond

// unackedRecheck spaces the checks while replicas do not answer: each
// costs unackedWait of the flush loop.
const unackedRecheck = time.Second

// unackedMaxAge: a kept batch older is dropped. The markers that make a
// re-sent batch a no-op ({p}:seq:<instance>, the applied markers) expire
// appliedTTL after the last batch that set them, so they are certain to
// be there only for a batch younger than that.
const unackedMaxAge = appliedTTL - 24*time.Hour

// keptBatch is enough of a written batch to write it again.
type keptBatch struct {
	seq     uint64
	shares  []stratum.Share
	rejects []stratum.Rejection
	at      time.Time // first written
}

// unackedBatches are the batches written but not known to be on
// redis.minReplicaAcks replicas, oldest first; guarded by flushMu.
type unackedBatches struct {
	batches []keptBatch
	size    int       // Σ shares and rejections kept
	checked time.Time // last acknowledgement check
	failing bool      // the last check failed (logged once per outage)
	dropped bool      // kept batches were dropped for memory (warned once)
	// firstAt is when re-sent batches were first written, until kept again.
	firstAt map[uint64]time.Time
}

// keepUnacked keeps a batch whose share script just succeeded (shares and
// rejects as they were before writeBatch released them). Beyond the share
// buffer's bound the oldest are dropped: they are on the master, only a
// failover before its replicas catch up could lose them.
func (s *Store) keepUnacked(seq uint64, shares []stratum.Share, rejects []stratum.Rejection) {
	if s.opt.dur.acks == 0 {
		return
	}
	u := &s.unacked
	at, ok := u.firstAt[seq]
	if !ok {
		at = time.Now()
	}
	delete(u.firstAt, seq)
	u.batches = append(u.batches, keptBatch{seq: seq, shares: shares, rejects: rejects, at: at})
	u.size += len(shares) + len(rejects)
	drop, n := u.dropWhile(func(k *keptBatch, left int) bool { return u.size > s.opt.maxBuffered && left > 1 })
	if drop == 0 {
		return
	}
	if !u.dropped {
		u.dropped = true
		s.log.Warnf("storage: more share batches unacknowledged by replicas than the share buffer holds: no longer keeping "+
			"the oldest (%d batches, %d shares; more may follow) to re-send; they are on the master, a failover now could lose them",
			drop, n)
	}
}

// dropOldUnacked drops kept batches older than unackedMaxAge: written
// again, they could count twice.
func (s *Store) dropOldUnacked() {
	u := &s.unacked
	drop, n := u.dropWhile(func(k *keptBatch, _ int) bool { return time.Since(k.at) > unackedMaxAge })
	if drop == 0 {
		return
	}
	s.log.Warnf("storage: no longer keeping %d share batches (%d shares) the replicas have not acknowledged for %v: "+
		"they are on the master, a failover now could lose them", drop, n, unackedMaxAge)
}

// dropWhile drops kept batches from the oldest on while more(oldest, how
// many are kept) holds; it returns how many batches and shares it dropped.
func (u *unackedBatches) dropWhile(more func(k *keptBatch, left int) bool) (drop, shares int) {
	for drop < len(u.batches) && more(&u.batches[drop], len(u.batches)-drop) {
		k := &u.batches[drop]
		u.size -= len(k.shares) + len(k.rejects)
		shares += len(k.shares)
		drop++
	}
	clear(u.batches[:drop])
	u.batches = u.batches[drop:]
	return drop, shares
}

// resendUnacked puts the kept batches back at the head of the retry queue,
// oldest first, as new batches with their own seqs (all lower than the
// queued ones'), so they are written before anything newer. Called by the
// flush that ends an outage: the master may be a promoted replica that
// lacks them.
func (s *Store) resendUnacked() {
	s.dropOldUnacked()
	u := &s.unacked
	if len(u.batches) == 0 {
		return
	}
	re := make([]*batch, 0, len(u.batches)+len(s.retry))
	n := 0
	// A slot skips statistics with a seq ≤ its marker, so they must reach
	// it in seq order: the first re-sent batch carries every statistics
	// group, the kept batches' and those pending in the queue (of written
	// batches, seqs ≤ the kept ones'), sorted by seq.
	var groups []*statsGroup
	for _, b := range s.retry {
		groups = append(groups, b.prior...)
		b.prior = nil
	}
	for _, k := range u.batches {
		b := &batch{seq: k.seq, shares: k.shares, rejects: k.rejects}
		if u.firstAt == nil {
			u.firstAt = map[uint64]time.Time{}
		}
		u.firstAt[k.seq] = k.at
		groups = append(groups, s.statsGroups(b)...)
		b.grouped = true
		re = append(re, b)
		n += len(k.shares)
	}
	slices.SortStableFunc(groups, func(a, b *statsGroup) int { return cmp.Compare(a.seq, b.seq) })
	re[0].prior = groups
	s.log.Warnf("storage: writing again %d share batches (%d shares, seq %d to %d) that replicas had not acknowledged: "+
		"the master may be a promoted replica that lacks them; a master that has them skips them",
		len(u.batches), n, u.batches[0].seq, u.batches[len(u.batches)-1].seq)
	s.retry = append(re, s.retry...)
	u.batches, u.size = nil, 0
}

// masterLacksUnacked tells whether the master's last applied batch of this
// Store (its {p}:seq:<instance>) is older than the newest kept one: the
// master is a promoted replica that had not received them, and the Store
// follows it without having seen an outage (a Sentinel switch between two
// writes, or an old master cut off from the sentinels but not from the
// pool). Asked before writing while batches are kept: a newer batch
// written first would make the kept ones no-ops.
func (s *Store) masterLacksUnacked(ctx context.Context) bool {
	s.dropOldUnacked()
	u := &s.unacked
	if len(u.batches) == 0 || len(s.retry) == 0 {
		return false
	}
	newest := u.batches[len(u.batches)-1].seq
	last, err := s.rdb.Get(ctx, s.k.seq(s.instance)).Uint64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false // the writes fail too: an outage, after which they are re-sent
	}
	if last >= newest {
		return false
	}
	s.log.Warnf("storage: the Redis master has this process's share batches up to seq %d only, not the kept ones up to %d: "+
		"a failover to a replica that lacked them, which no failed write showed", last, newest)
	return true
}

// checkUnacked asks, at most once per flush interval (once per
// unackedRecheck while replicas do not answer, or when the interval is
// longer), whether the replicas have
// everything the master has, and drops the kept batches when they do.
func (s *Store) checkUnacked(ctx context.Context, wait time.Duration) {
	u := &s.unacked
	every := min(s.opt.flushInterval, unackedRecheck)
	if u.failing {
		every = unackedRecheck
	}
	if len(u.batches) == 0 || time.Since(u.checked) < every {
		return
	}
	n := len(u.batches)
	acked, err := s.replicasAcked(ctx, wait)
	u.checked = time.Now()
	if err == nil && acked >= s.opt.dur.acks {
		u.batches, u.size = nil, 0
		if u.failing {
			s.log.Infof("storage: share batches on %d replicas again (%d kept batches released)", acked, n)
		}
		u.failing, u.dropped = false, false
		return
	}
	if !u.failing {
		u.failing = true
		if err != nil {
			s.log.Warnf("storage: share batches not known to be on enough replicas (%v): keeping them to re-send after a failover", err)
		} else {
			s.log.Warnf("storage: share batches not on enough replicas (%d of %d): keeping them to re-send after a failover",
				acked, s.opt.dur.acks)
		}
	}
}

// closeUnacked gives the replicas one full wait at close and says what is
// dropped when they still do not have everything.
func (s *Store) closeUnacked(ctx context.Context) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	u := &s.unacked
	if len(u.batches) == 0 {
		return
	}
	u.checked = time.Time{}
	u.failing = false // a last check, whatever the spacing
	s.checkUnacked(ctx, s.opt.dur.timeout)
	if len(u.batches) == 0 {
		return
	}
	n := 0
	for _, k := range u.batches {
		n += len(k.shares)
	}
	s.log.Warnf("storage: closing with %d share batches (%d shares) the replicas have not acknowledged: "+
		"they are on the master, a failover before its replicas catch up would lose them", len(u.batches), n)
	u.batches, u.size = nil, 0
}
