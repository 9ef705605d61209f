package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/stratum"
)

// sentMiner is what one miner's goroutine offered to Store.Share.
type sentMiner struct {
	addr              string
	accepted, hashes  uint64
	refused           int
	firstRef, lastRef time.Time
}

// mine offers shares until stop closes, about one a millisecond, counting
// what Share accepted and what it refused.
func (m *sentMiner) mine(s *Store, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := uint64(0); ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		diff := 1000 + i%13
		err := s.Share(&stratum.Share{Address: m.addr, Worker: "rig", Scheme: pplns, Difficulty: diff, Height: 100})
		if err == nil {
			m.accepted++
			m.hashes += diff
		} else {
			now := time.Now()
			if m.refused == 0 {
				m.firstRef = now
			}
			m.lastRef = now
			m.refused++
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSentinelFailoverKeepsShares writes two miners' shares through
// Store.Share while the Sentinel master is SIGKILLed. The store must follow
// the promoted replica by itself, and afterwards every share Share accepted
// is counted exactly once (PPLNS log total, effort, miner and pool
// statistics) and none it refused is counted. A block candidate recorded
// right before the kill must be there unless Block returned an error.
func TestSentinelFailoverKeepsShares(t *testing.T) {
	rs := testenv.NewRedisSentinel(t)
	cfg := Config{Prefix: "sent", Sentinel: SentinelConfig{MasterName: rs.MasterName(), Addrs: rs.Addrs()}}
	// Production defaults except a smaller batch interval, so batches are
	// in flight when the master dies.
	s, err := New(cfg, cryptonote.Pastella, testLogger(t), WithBatch(200, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()

	miners := []*sentMiner{{addr: "minerA"}, {addr: "minerB"}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, m := range miners {
		wg.Add(1)
		go m.mine(s, stop, &wg)
	}
	stopMiners := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer stopMiners()
	time.Sleep(time.Second)

	// A block found just before the crash: Block returns once the
	// candidate is written to the master (which replicates asynchronously).
	var hash [32]byte
	_, _ = rand.Read(hash[:])
	cand := &stratum.Block{
		Height: 100, Hash: hash, Address: "minerA", Worker: "rig", Scheme: pplns,
		NetDifficulty: 1_000_000_000_000, ShareDiff: 1_000_000_000_000, Reward: 600_000_000, Time: time.Now(),
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	blockErr := s.Block(bctx, cand)
	bcancel()

	old, err := rs.KillMaster()
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	newMaster, promotion, err := rs.WaitFailover(ctx, old)
	if err != nil {
		t.Fatal(err)
	}

	// The store follows the new master by itself: wait until it is healthy
	// and has taken shares for a while again.
	var healthyAgain time.Duration
	for {
		if ok, _ := s.Healthy(); ok && time.Since(killed) > promotion {
			healthyAgain = time.Since(killed)
			break
		}
		if ctx.Err() != nil {
			_, herr := s.Healthy()
			t.Fatalf("store not healthy %v after the kill: %v", time.Since(killed), herr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	stopMiners()
	for {
		err := s.Flush(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("flush after failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var accepted, hashes uint64
	var refused int
	var firstRef, lastRef time.Time
	for _, m := range miners {
		accepted += m.accepted
		hashes += m.hashes
		refused += m.refused
		if m.refused > 0 && (firstRef.IsZero() || m.firstRef.Before(firstRef)) {
			firstRef = m.firstRef
		}
		if m.lastRef.After(lastRef) {
			lastRef = m.lastRef
		}
	}
	t.Logf("master %s SIGKILLed; %s promoted after %v; store healthy again %v after the kill", old, newMaster, promotion, healthyAgain)
	if refused > 0 {
		t.Logf("Share refused %d shares from %v to %v after the kill (window %v); accepted %d (Σ difficulty %d)",
			refused, firstRef.Sub(killed), lastRef.Sub(killed), lastRef.Sub(firstRef), accepted, hashes)
	} else {
		t.Logf("Share refused no share; accepted %d (Σ difficulty %d)", accepted, hashes)
	}
	if refused == 0 {
		t.Errorf("no share was refused while the master was down: the outage went unnoticed")
	}

	// Every accepted share exactly once, no refused one.
	round, err := s.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec, recErr := s.BlockByHash(ctx, hex.EncodeToString(hash[:]))
	switch {
	case recErr == nil:
		t.Logf("block candidate recorded before the kill survived (Block returned %v)", blockErr)
		if got := rec.EffortHashes + round.Effort[pplns]; got != hashes {
			t.Errorf("PPLNS effort %d before the block + %d after = %d, want Σ accepted %d", rec.EffortHashes, round.Effort[pplns], got, hashes)
		}
	case errors.Is(recErr, ErrUnknownBlock) && blockErr != nil:
		t.Logf("block candidate not recorded; Block returned %v", blockErr)
	case errors.Is(recErr, ErrUnknownBlock):
		t.Errorf("ACKNOWLEDGED BLOCK CANDIDATE LOST in the failover: Block returned nil, %v", recErr)
	default:
		t.Fatal(recErr)
	}
	if round.PPLNSWeight != hashes {
		t.Errorf("PPLNS log total %d, want Σ accepted difficulty %d (difference %d)", round.PPLNSWeight, hashes, int64(round.PPLNSWeight)-int64(hashes))
	}
	for _, m := range miners {
		st, err := s.MinerStats(ctx, m.addr)
		if err != nil {
			t.Fatal(err)
		}
		if st.Accepted != m.accepted || st.Hashes != m.hashes {
			t.Errorf("miner %s: counted %d shares / %d hashes, Share accepted %d / %d (refused %d)",
				m.addr, st.Accepted, st.Hashes, m.accepted, m.hashes, m.refused)
		}
	}
	ps, err := s.PoolStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Accepted != accepted || ps.Hashes != hashes {
		t.Errorf("pool: counted %d shares / %d hashes, Share accepted %d / %d", ps.Accepted, ps.Hashes, accepted, hashes)
	}
}
