package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/stratum"
)

// unackedTally is what Share accepted and Reject was given, per miner.
type unackedTally struct {
	addr, scheme               string
	accepted, hashes, rejected uint64
}

// nodeCounts reads, on one node directly, the PPLNS log total and the
// pool's accepted shares.
func nodeCounts(t *testing.T, s *Store, addr string) (pplns, accepted uint64) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := ctxT(t)
	tot, err := c.Get(ctx, s.k.pplnsTotal).Uint64()
	if err != nil && err != redis.Nil {
		t.Fatalf("%s: %v", addr, err)
	}
	acc, err := c.HGet(ctx, s.k.pool, fAccepted).Uint64()
	if err != nil && err != redis.Nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return tot, acc
}

// keptShares is how many batches and shares the Store keeps for the
// replicas.
func keptShares(s *Store) (batches, shares int) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for _, k := range s.unacked.batches {
		shares += len(k.shares)
	}
	return len(s.unacked.batches), shares
}

// TestUnackedBatchesResentAfterFailover: Sentinel with the replica behind a
// proxy. Shares are written and acknowledged; then the proxy stops passing
// the master's stream, and more shares are answered OK by Share and written
// to the master, which the replica never receives. The master is SIGKILLed,
// the replica (lacking them) is promoted, and the Store writes the batches
// the replicas had not acknowledged again: every share Share accepted is
// counted exactly once on the new master (PPLNS log total, efforts, PROP
// round, miner and pool statistics). "outage": the Store sees Redis down
// (its health check, every second) and re-sends on recovering; "silent": no
// health check, so the Store follows the new master without an error, and
// its next flush finds the master lacking the kept batches.
func TestUnackedBatchesResentAfterFailover(t *testing.T) {
	t.Run("outage", func(t *testing.T) { unackedFailover(t, false) })
	t.Run("silent", func(t *testing.T) { unackedFailover(t, true) })
}

func unackedFailover(t *testing.T, silent bool) {
	rs, proxy := testenv.NewRedisSentinelWithProxy(t)
	cfg := Config{Prefix: "unacked", Sentinel: SentinelConfig{MasterName: rs.MasterName(), Addrs: rs.Addrs()}}
	health := time.Second // the default
	if silent {
		health = time.Hour
	}
	s, err := New(cfg, cryptonote.Pastella, testLogger(t), WithBatch(50, 50*time.Millisecond), WithHealthInterval(health))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if n := s.MinReplicaAcks(); n != 1 {
		t.Fatalf("minReplicaAcks with Sentinel: %d, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	miners := []*unackedTally{{addr: "minerA", scheme: pplns}, {addr: "minerB", scheme: pplns}, {addr: "minerP", scheme: stratum.SchemeProp}}
	var sent uint64 // shares Share accepted
	offer := func(rounds int) {
		t.Helper()
		for i := 0; i < rounds; i++ {
			for j, m := range miners {
				diff := uint64(1000 + (i*7+j)%13)
				if err := s.Share(&stratum.Share{Address: m.addr, Worker: "rig", Scheme: m.scheme, Difficulty: diff, Height: 100}); err != nil {
					t.Fatalf("Share refused while storage is up: %v", err)
				}
				m.accepted++
				m.hashes += diff
				sent++
				if i%10 == 0 {
					s.Reject(&stratum.Rejection{Address: m.addr, Worker: "rig", Reason: "Low difficulty share"})
					m.rejected++
				}
			}
		}
	}
	pplnsSum := func() (n uint64) {
		for _, m := range miners {
			if m.scheme == pplns {
				n += m.hashes
			}
		}
		return n
	}
	flush := func() {
		t.Helper()
		for {
			err := s.Flush(ctx)
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("flush: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// 1. Written and acknowledged: nothing kept.
	offer(200)
	flush()
	for {
		if b, _ := keptShares(s); b == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the replica never acknowledged the first shares")
		}
		time.Sleep(20 * time.Millisecond)
		flush()
	}
	master, replica := rs.Master(), rs.Replica()
	ackedPPLNS, ackedSent := pplnsSum(), sent
	if p, a := nodeCounts(t, s, replica); p != ackedPPLNS || a != ackedSent {
		t.Fatalf("replica after the acknowledgement: PPLNS total %d, accepted %d; want %d, %d", p, a, ackedPPLNS, ackedSent)
	}

	// 2. The replica stops receiving: more shares are answered OK and
	// written on the master only.
	proxy.Freeze()
	frozen := time.Now()
	offer(150)
	flush()
	frozenPPLNS, frozenSent := pplnsSum()-ackedPPLNS, sent-ackedSent
	mp, ma := nodeCounts(t, s, master)
	if mp != pplnsSum() || ma != sent {
		t.Fatalf("master while frozen: PPLNS total %d, accepted %d; want %d, %d", mp, ma, pplnsSum(), sent)
	}
	rp, ra := nodeCounts(t, s, replica)
	if rp != ackedPPLNS || ra != ackedSent {
		t.Fatalf("replica while frozen: PPLNS total %d, accepted %d; want only the acknowledged %d, %d", rp, ra, ackedPPLNS, ackedSent)
	}
	keptB, keptS := keptShares(s)
	if uint64(keptS) < frozenSent {
		t.Fatalf("kept %d batches with %d shares, want at least the %d written while frozen", keptB, keptS, frozenSent)
	}

	// 3. The master dies; the replica, lacking them, is promoted.
	old, err := rs.KillMaster()
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	proxy.Cut()
	t.Logf("replica denied %d bytes of the master's stream for %v; %d shares (PPLNS weight %d) answered OK meanwhile, on the master only; "+
		"the Store kept %d batches (%d shares)", proxy.Held(), killed.Sub(frozen).Round(time.Millisecond), frozenSent, frozenPPLNS, keptB, keptS)
	newMaster, promotion, err := rs.WaitFailover(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if newMaster != replica {
		t.Fatalf("promoted %s, want the replica %s", newMaster, replica)
	}
	if silent {
		// Nothing was written meanwhile: the Store saw no error.
		if ok, herr := s.Healthy(); !ok {
			t.Fatalf("the store saw the outage (%v): this run does not test a silent switch", herr)
		}
		t.Logf("%s killed, %s promoted after %v; the store saw no outage", old, newMaster, promotion)
	} else {
		for {
			if ok, _ := s.Healthy(); ok && time.Since(killed) > promotion {
				break
			}
			if ctx.Err() != nil {
				_, herr := s.Healthy()
				t.Fatalf("store not healthy %v after the kill: %v", time.Since(killed), herr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s killed, %s promoted after %v, store healthy %v after the kill", old, newMaster, promotion, time.Since(killed).Round(time.Millisecond))
	}

	// 4. More shares on the new master, then every one exactly once.
	offer(100)
	flush()
	if ok, herr := s.Healthy(); silent && !ok {
		t.Fatalf("the store saw an outage (%v): this run does not test a silent switch", herr)
	}
	round, err := s.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var propHashes uint64
	for _, m := range miners {
		if m.scheme == stratum.SchemeProp {
			propHashes += m.hashes
		}
	}
	if round.PPLNSWeight != pplnsSum() || round.Effort[pplns] != pplnsSum() || round.Effort[stratum.SchemeProp] != propHashes {
		t.Errorf("round: PPLNS log total %d, effort %v; want PPLNS %d (lacking %d if the frozen batches were lost), PROP %d",
			round.PPLNSWeight, round.Effort, pplnsSum(), frozenPPLNS, propHashes)
	}
	var logSum uint64
	for _, e := range pplnsLog(t, s) {
		w, _ := strconv.ParseUint(e[strings.LastIndexByte(e, ':')+1:], 10, 64)
		logSum += w
	}
	if logSum != pplnsSum() {
		t.Errorf("PPLNS log entries add up to %d, want %d", logSum, pplnsSum())
	}
	var rejected uint64
	for _, m := range miners {
		rejected += m.rejected
		st, err := s.MinerStats(ctx, m.addr)
		if err != nil {
			t.Fatal(err)
		}
		if st.Accepted != m.accepted || st.Hashes != m.hashes || st.Rejected != m.rejected {
			t.Errorf("miner %s: counted %d shares / %d hashes / %d rejected, want %d / %d / %d",
				m.addr, st.Accepted, st.Hashes, st.Rejected, m.accepted, m.hashes, m.rejected)
		}
		if m.scheme == stratum.SchemeProp {
			if got := propRound(t, s)[m.addr]; got != strconv.FormatUint(m.hashes, 10) {
				t.Errorf("PROP round of %s: %s, want %d", m.addr, got, m.hashes)
			}
		}
	}
	ps, err := s.PoolStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Accepted != sent || ps.Hashes != pplnsSum()+propHashes || ps.Rejected != rejected {
		t.Errorf("pool: counted %d shares / %d hashes / %d rejected, want %d / %d / %d",
			ps.Accepted, ps.Hashes, ps.Rejected, sent, pplnsSum()+propHashes, rejected)
	}
	t.Logf("Share accepted %d shares (%d while frozen, which the promoted replica lacked); counted on the new master: pool %d, PPLNS log %d of %d",
		sent, frozenSent, ps.Accepted, round.PPLNSWeight, pplnsSum())
}

// failSlot fails, without sending them, the statistics scripts of one slot
// (named by its applied marker) while on is set: that slot's node is down.
type failSlot struct {
	marker string
	on     atomic.Bool
}

func (f *failSlot) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (f *failSlot) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (f *failSlot) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !f.on.Load() {
			return next(ctx, cmds)
		}
		var pass []redis.Cmder
		for _, c := range cmds {
			if a := c.Args(); len(a) > 3 && fmt.Sprint(a[3]) == f.marker { // EVALSHA sha numkeys marker …
				c.SetErr(errors.New("test: the slot's node is down"))
				continue
			}
			pass = append(pass, c)
		}
		if len(pass) == 0 {
			return nil
		}
		return next(ctx, pass)
	}
}

// TestResentBatchesKeepStatsOrder: a miner's statistics slot fails while
// three batches are written and acknowledged (their statistics for it stay
// pending), then a fourth is written while the replica is paused (kept).
// When storage recovers, the kept batch is written again before the
// pending statistics: a slot skips a seq ≤ its marker, so sending the kept
// batch's statistics (seq 4) first would make the pending ones (1 to 3)
// no-ops. Every share is counted once in the miner's statistics.
func TestResentBatchesKeepStatsOrder(t *testing.T) {
	master, replica := testenv.NewRedisWithReplica(t)
	s := newTestStore(t, Config{Socket: master.Socket}, WithBatch(1000, 20*time.Millisecond))
	if n := s.MinReplicaAcks(); n != 1 {
		t.Fatalf("minReplicaAcks with a replica: %d, want 1", n)
	}
	ctx := ctxT(t)
	fail := &failSlot{marker: s.k.applied("minerX", s.instance)}
	s.rdb.AddHook(fail)
	fail.on.Store(true)
	write := func() {
		t.Helper()
		var sh []stratum.Share
		for i := 0; i < 10; i++ {
			sh = append(sh, share("minerX", pplns, 100), share("minerY", pplns, 100))
		}
		mustWrite(t, s, sh)
	}
	for i := 0; i < 3; i++ {
		write()
	}
	for {
		if b, _ := keptShares(s); b == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the replica never acknowledged the batches")
		}
		time.Sleep(30 * time.Millisecond)
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.MinerStats(ctx, "minerX"); err != nil || st.Accepted != 0 {
		t.Fatalf("minerX's statistics while its slot fails: %+v, %v; want none", st, err)
	}

	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	write()
	b, n := keptShares(s)
	if b != 1 || n != 20 {
		t.Fatalf("kept %d batches (%d shares) with the replica paused, want the last one (20)", b, n)
	}

	fail.on.Store(false)
	s.setHealth(errors.New("test: an outage"))
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"minerX", "minerY"} {
		st, err := s.MinerStats(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if st.Accepted != 40 || st.Hashes != 4000 {
			t.Errorf("%s: counted %d shares / %d hashes, want 40 / 4000", addr, st.Accepted, st.Hashes)
		}
	}
	if ps, err := s.PoolStats(ctx); err != nil || ps.Accepted != 80 {
		t.Errorf("pool: %+v, %v; want 80 accepted", ps, err)
	}
}
