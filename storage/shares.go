package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/stratum"
)

// batch is a group of shares written in one round trip. Its sequence number
// lets the share script ignore a batch it has already applied, so a batch
// whose reply was lost can be retried without counting its shares twice;
// the statistics scripts check it too (statsbatch.go).
type batch struct {
	seq     uint64
	shares  []stratum.Share
	rejects []stratum.Rejection
	// stats are its statistics not applied yet (built on the first
	// attempt); prior those of earlier batches, whose shares are written,
	// retried before its own so every slot sees them in order.
	stats, prior []*statsGroup
	grouped      bool
	written      bool // only prior left: carried by the next batch
}

// Share buffers an accepted share; it never waits for Redis. It fails while
// Redis is known to be down, so the miner is told instead of the share
// being lost.
func (s *Store) Share(sh *stratum.Share) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.healthy.Load() {
		if e := s.lastErr.Load(); e != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, *e)
		}
		return ErrUnavailable
	}
	if !validScheme(sh.Scheme) {
		return fmt.Errorf("storage: unknown reward scheme %q", sh.Scheme)
	}
	c := *sh
	if c.Time.IsZero() {
		c.Time = s.now()
	}
	s.mu.Lock()
	if len(s.buf) >= s.opt.maxBuffered {
		s.mu.Unlock()
		return ErrBacklog
	}
	s.buf = append(s.buf, c)
	full := len(s.buf) >= s.opt.batchSize
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Reject buffers a refused share for the statistics.
func (s *Store) Reject(r *stratum.Rejection) {
	if s.closed.Load() || !s.healthy.Load() {
		return // statistics only: not worth a backlog while Redis is down
	}
	c := *r
	if c.Time.IsZero() {
		c.Time = s.now()
	}
	s.mu.Lock()
	if len(s.rejects) < s.opt.maxBuffered { // statistics only: dropping is acceptable under a flood
		s.rejects = append(s.rejects, c)
	}
	s.mu.Unlock()
}

// blockRetryLog is how often Store.Block says it is still retrying.
const blockRetryLog = 10 * time.Second

// Block records a block candidate (see WriteBlockCandidate), retrying until
// ctx ends so a short Redis outage does not lose it.
func (s *Store) Block(ctx context.Context, b *stratum.Block) error {
	wait := 100 * time.Millisecond
	var logged time.Time
	err := s.WriteBlockCandidate(ctx, b)
	for err != nil {
		if errors.Is(err, errBadCandidate) {
			s.log.Errorf("storage: BLOCK CANDIDATE NOT RECORDED: %+v: %v", *b, err)
			return err
		}
		if time.Since(logged) >= blockRetryLog {
			logged = time.Now()
			s.log.Warnf("storage: recording block candidate %d %x, retrying (logged again every %v while it fails): %v", b.Height, b.Hash, blockRetryLog, err)
		}
		select {
		case <-ctx.Done():
			if errors.Is(err, ErrNotDurable) {
				s.log.Errorf("storage: BLOCK CANDIDATE ON THE MASTER ONLY: written to the Redis master but not acknowledged by "+
					"redis.minReplicaAcks replicas before giving up; a failover now would lose it: %+v: %v", *b, err)
			} else {
				s.log.Errorf("storage: BLOCK CANDIDATE NOT RECORDED: %+v: %v", *b, err)
			}
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
		if errors.Is(err, ErrNotDurable) {
			// On the master already: wait for the replicas without writing
			// it again (every write that is not acknowledged logs an
			// error), then write it once more, since a failover meanwhile
			// may have lost it (on the same master the write is a no-op).
			if derr := s.Durable(ctx); derr != nil {
				err = fmt.Errorf("storage: recording block %d %x: %w", b.Height, b.Hash, derr)
				continue
			}
		}
		err = s.WriteBlockCandidate(ctx, b)
	}
	return nil
}

// WriteShares records shares and waits until they are written (the stratum
// path uses Share, which does not wait).
func (s *Store) WriteShares(ctx context.Context, shares []stratum.Share) error {
	for i := range shares {
		if !validScheme(shares[i].Scheme) {
			return fmt.Errorf("storage: unknown reward scheme %q", shares[i].Scheme)
		}
	}
	now := s.now()
	s.mu.Lock()
	for _, sh := range shares {
		if sh.Time.IsZero() {
			sh.Time = now
		}
		s.buf = append(s.buf, sh)
	}
	s.mu.Unlock()
	return s.Flush(ctx)
}

// Flush writes every buffered share and rejection; batches that fail stay
// queued, in order, for the next attempt.
func (s *Store) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.flushLocked(ctx, true)
}

// flushLocked must be called with flushMu held. It writes what is buffered
// on entry (so a steady stream of shares cannot keep it looping); with
// all false only full batches, leaving the rest to fill up.
func (s *Store) flushLocked(ctx context.Context, all bool) error {
	s.mu.Lock()
	n := len(s.buf)
	if !all {
		if n -= n % s.opt.batchSize; n == 0 {
			s.mu.Unlock()
			return nil
		}
	}
	shares, rejects := s.buf[:n:n], s.rejects
	s.buf, s.rejects = s.buf[n:], nil
	if len(s.buf) == 0 {
		s.buf = nil
	}
	s.mu.Unlock()
	for len(shares) > 0 || len(rejects) > 0 {
		b := &batch{shares: shares[:min(len(shares), s.opt.batchSize)], rejects: rejects[:min(len(rejects), s.opt.batchSize)]}
		shares, rejects = shares[len(b.shares):], rejects[len(b.rejects):]
		s.seq++
		b.seq = s.seq
		s.retry = append(s.retry, b)
	}
	if !s.healthy.Load() || s.masterLacksUnacked(ctx) {
		s.resendUnacked() // the master may be a promoted replica lacking them
	}
	for len(s.retry) > 0 {
		b := s.retry[0]
		if b.written && len(s.retry) > 1 { // statistics only: the next batch carries them
			s.retry[1].prior = append(b.prior, s.retry[1].prior...)
			s.retry[0] = nil
			s.retry = s.retry[1:]
			continue
		}
		fresh, ks, kr := !b.written, b.shares, b.rejects // writeBatch releases them
		if err := s.writeBatch(ctx, b); err != nil {
			s.setHealth(err)
			return err
		}
		if fresh {
			s.keepUnacked(b.seq, ks, kr)
		}
		if len(b.prior) > 0 { // kept, statistics only, until they apply
			*b = batch{prior: b.prior, written: true, grouped: true}
			break
		}
		s.retry[0] = nil
		s.retry = s.retry[1:]
	}
	s.setHealth(nil)
	s.checkUnacked(ctx, unackedWait)
	return nil
}

// flushLoop writes a batch every flushInterval, or sooner when one is full.
func (s *Store) flushLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.flushInterval)
	defer t.Stop()
	for {
		all := true
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
			all = false
		}
		if !s.healthy.Load() {
			continue // the health loop retries once Redis answers
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.flushMu.Lock()
		err := s.flushLocked(ctx, all)
		s.flushMu.Unlock()
		if err != nil {
			s.log.Warnf("storage: writing shares: %v", err)
		}
		cancel()
	}
}

// writeBatch sends the share script and the statistics in one pipeline:
// one round trip per batch (per node on a cluster, in parallel). The
// statistics that were not applied stay in b.prior, without holding the
// shares back: each slot's part applies once however often it is sent.
func (s *Store) writeBatch(ctx context.Context, b *batch) error {
	if !b.grouped {
		b.stats, b.grouped = s.statsGroups(b), true
	}
	pipe := s.rdb.Pipeline()
	var script *redis.Cmd
	keys := []string{s.k.pplnsLog, s.k.pplnsTotal, s.k.propRound, s.k.effort, s.k.effortSolo, s.k.seq(s.instance)}
	var args []any
	if !b.written {
		args = shareArgs(b, s.keepWeight())
		script = scriptShares.EvalSha(ctx, pipe, keys, args...)
	}
	sendStats(ctx, pipe, b.prior)
	sendStats(ctx, pipe, b.stats)
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	var serr error
	if script != nil {
		if serr = script.Err(); isNoScript(serr) { // Redis restarted and lost its script cache
			serr = scriptShares.Run(ctx, s.rdb, keys, args...).Err()
		}
	}
	hadPrior := len(b.prior) > 0
	defer s.followCluster(ctx, b, serr)
	prior, perr := s.settleStats(ctx, b.prior)
	stats, err := s.settleStats(ctx, b.stats)
	err = cmp.Or(perr, err)
	b.prior, b.stats = s.pruneStats(append(prior, stats...), err), nil
	switch {
	case len(b.prior) > 0 && !hadPrior:
		s.log.Warnf("storage: share statistics not applied yet, retrying them with the next batches: %v", err)
	case len(b.prior) == 0 && hadPrior:
		s.log.Info("storage: pending share statistics applied")
	}
	if serr != nil {
		s.expired = nil // the TTLs queued with this batch may not have been set
		return serr
	}
	b.written, b.shares, b.rejects = true, nil, nil
	return nil
}

// followCluster asks a cluster client to reload its slot map when a write
// failed: after a failover go-redis would keep dialling the dead master
// until its periodic reload (a minute), refusing shares all that time.
func (s *Store) followCluster(ctx context.Context, b *batch, serr error) {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok && (serr != nil || len(b.prior) > 0) {
		cc.ReloadState(ctx)
	}
}

// shareArgs builds scriptShares' arguments: consecutive PPLNS shares of one
// address become one log entry; PROP and SOLO shares are summed by address.
// Stale shares count (they were accepted); SOLO shares only feed effort.
func shareArgs(b *batch, keep uint64) []any {
	type pair struct {
		addr string
		w    uint64
	}
	var log []pair
	var pplnsSum, propSum uint64
	prop, solo := map[string]uint64{}, map[string]uint64{}
	var propOrder, soloOrder []string
	for i := range b.shares {
		sh := &b.shares[i]
		switch sh.Scheme {
		case stratum.SchemePPLNS:
			pplnsSum += sh.Difficulty
			if n := len(log); n > 0 && log[n-1].addr == sh.Address {
				log[n-1].w += sh.Difficulty
			} else {
				log = append(log, pair{sh.Address, sh.Difficulty})
			}
		case stratum.SchemeProp:
			propSum += sh.Difficulty
			if _, ok := prop[sh.Address]; !ok {
				propOrder = append(propOrder, sh.Address)
			}
			prop[sh.Address] += sh.Difficulty
		case stratum.SchemeSolo:
			if _, ok := solo[sh.Address]; !ok {
				soloOrder = append(soloOrder, sh.Address)
			}
			solo[sh.Address] += sh.Difficulty
		}
	}
	args := make([]any, 0, 7+2*(len(log)+len(prop)+len(solo)))
	args = append(args, b.seq, keep, len(log), len(prop), len(solo), pplnsSum, propSum)
	for _, p := range log {
		args = append(args, p.addr, p.w)
	}
	for _, a := range propOrder {
		args = append(args, a, prop[a])
	}
	for _, a := range soloOrder {
		args = append(args, a, solo[a])
	}
	return args
}

// maxExact is the largest integer Lua (double) arithmetic keeps exact.
const maxExact = 1 << 53

// keepWeight is how much PPLNS weight the log keeps: keepFactor windows at
// the latest network difficulty; 0 (keep everything) while it is unknown.
func (s *Store) keepWeight() uint64 {
	d := s.netDiff.Load()
	k := math.Ceil(s.opt.keepFactor * s.opt.window * float64(d))
	if d == 0 || k >= maxExact {
		return 0
	}
	return uint64(k)
}

func validScheme(s string) bool {
	return s == stratum.SchemePPLNS || s == stratum.SchemeProp || s == stratum.SchemeSolo
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
