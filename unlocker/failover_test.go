package unlocker_test

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/unlocker"
)

// TestFailoverCreditsBlockOnce: the pool's Store on a real Redis Sentinel
// deployment (one master, one replica, three sentinels; redis.minReplicaAcks
// 1, the default with Sentinel), blocks mined on a real monerod --regtest
// chain. (1) A block candidate recorded with Store.Block (which returns once
// the replica acknowledged it), then the master SIGKILLed at once: after the
// promotion the candidate is there, the unlocker credits it exactly once
// and a second pass credits nothing. (2) A credit, then the master
// SIGKILLed as soon as the unlocker's pass returns: after the promotion the
// block is still credited and nothing is credited again. Each miner's
// balance is what the credits say; the audit passes after each.
func TestFailoverCreditsBlockOnce(t *testing.T) {
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: 1})
	rs := testenv.NewRedisSentinel(t)
	log := logrus.New()
	log.SetLevel(logrus.InfoLevel)
	d := daemon.NewMonero("regtest", "http://"+md.Address(), 10*time.Second, log)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const depth = 5
	pool, minerA, minerB := testAddress(t, 1), testAddress(t, 2), testAddress(t, 3)
	open := func() *storage.Store {
		t.Helper()
		s, err := storage.New(storage.Config{Prefix: "monero", Sentinel: storage.SentinelConfig{MasterName: rs.MasterName(), Addrs: rs.Addrs()}},
			cryptonote.Monero, log)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.MinReplicaAcks(); n != 1 {
			t.Fatalf("minReplicaAcks %d with Sentinel, want 1", n)
		}
		t.Cleanup(func() { closeStore(s) })
		return s
	}
	unlock := func(s *storage.Store) *unlocker.Unlocker {
		return unlocker.New(unlocker.Config{Interval: time.Second, Depth: depth, FeeBP: 100, FinderBP: 100, ExactReward: true}, s, d, log)
	}
	mine := func(n int) []string {
		t.Helper()
		hashes, err := md.GenerateBlocks(ctx, n, pool, nil)
		if err != nil {
			t.Fatal(err)
		}
		return hashes
	}
	// found: a share of each of two miners (the window at network
	// difficulty 1 holds both), then a real block mined to the pool's
	// address, recorded as the candidate minerA found.
	found := func(s *storage.Store) string {
		t.Helper()
		now := time.Now()
		if err := s.WriteShares(ctx, []stratum.Share{
			{Address: minerA, Worker: "rig", Scheme: stratum.SchemePPLNS, Difficulty: 1, Time: now},
			{Address: minerB, Worker: "rig", Scheme: stratum.SchemePPLNS, Difficulty: 1, Time: now},
		}); err != nil {
			t.Fatal(err)
		}
		hb, err := hex.DecodeString(mine(1)[0])
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := d.BlockHeaderByHash(ctx, [32]byte(hb))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Block(ctx, &stratum.Block{Height: hdr.Height, Hash: hdr.Hash, PrevHash: hdr.PrevHash, Address: minerA, Worker: "rig",
			Scheme: stratum.SchemePPLNS, NetDifficulty: hdr.Difficulty, ShareDiff: hdr.Difficulty, Reward: hdr.Reward, Time: now}); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(hdr.Hash[:])
	}
	failover := func(what string) {
		t.Helper()
		old, err := rs.KillMaster()
		if err != nil {
			t.Fatal(err)
		}
		newMaster, took, err := rs.WaitFailover(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		if err := rs.Restart(old); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: master %s SIGKILLed; %s promoted %v after the kill; the old master a replica again in %v",
			what, old, newMaster, took.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	}
	// check: the blocks are confirmed, each miner's balance is what their
	// credits say, and the audit passes.
	check := func(s *storage.Store, what string, hashes ...string) {
		t.Helper()
		want := map[string]uint64{}
		for _, h := range hashes {
			rec, err := s.BlockByHash(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			credits, err := s.BlockCredits(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			var sum uint64
			for a, c := range credits {
				want[a] += c
				sum += c
			}
			want[minerA] += rec.FinderReward
			if rec.Status != storage.StatusConfirmed || sum+rec.Fee+rec.FinderReward != rec.Reward || rec.Credited != sum+rec.FinderReward {
				t.Fatalf("%s: block %d: status %s, credits %d + fee %d + finder %d, reward %d, credited %d",
					what, rec.Height, rec.Status, sum, rec.Fee, rec.FinderReward, rec.Reward, rec.Credited)
			}
		}
		for _, a := range []string{minerA, minerB} {
			b, err := s.Balance(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if b.Balance < 0 || uint64(b.Balance) != want[a] {
				t.Fatalf("%s: %s balance %d, its credits say %d", what, a, b.Balance, want[a])
			}
		}
		rep, err := s.Audit(ctx)
		if err != nil || !rep.OK() {
			t.Fatalf("%s: audit: %v\n%s", what, err, rep)
		}
		t.Logf("%s: balances %v = credits, audit passes", what, want)
	}

	mine(2) // a chain to build on
	// (1) The candidate, acknowledged, then the crash.
	s1 := open()
	first := found(s1)
	failover("candidate recorded")
	closeStore(s1)
	s2 := open()
	if rec, err := s2.BlockByHash(ctx, first); err != nil || rec.Status != storage.StatusPending {
		t.Fatalf("the candidate after the failover: %+v %v", rec, err)
	}
	mine(depth)
	if res, err := unlock(s2).RunOnce(ctx); err != nil || res != (unlocker.Result{Confirmed: 1}) {
		t.Fatalf("first pass after the failover: %+v %v", res, err)
	}
	if res, err := unlock(s2).RunOnce(ctx); err != nil || res != (unlocker.Result{}) {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	check(s2, "candidate recorded right before the kill", first)

	// (2) A credit, acknowledged, then the crash.
	second := found(s2)
	mine(depth)
	if res, err := unlock(s2).RunOnce(ctx); err != nil || res != (unlocker.Result{Confirmed: 1}) {
		t.Fatalf("credit pass: %+v %v", res, err)
	}
	failover("block credited")
	closeStore(s2)
	s3 := open()
	if res, err := unlock(s3).RunOnce(ctx); err != nil || res != (unlocker.Result{}) {
		t.Fatalf("pass after the failover: %+v %v (the credit was lost or is applied again)", res, err)
	}
	check(s3, "credit right before the kill", first, second)
}

func closeStore(s *storage.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
}
