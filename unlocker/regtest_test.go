package unlocker_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/testenv"
	"rxpool/randomx"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/unlocker"
)

// testAddress is a reproducible regtest address for miner k.
func testAddress(t *testing.T, k byte) string { return testenv.MoneroAddress(t, int(k)) }

type rig struct {
	t      *testing.T
	md     *testenv.Monerod
	store  *storage.Store
	d      daemon.Client
	addr   string
	miner  string
	log    *logrus.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// newRig runs monerod, a private Redis, storage and the stratum server with
// the real verifier, as the pool runs them.
func newRig(t *testing.T, netDiff uint64) *rig {
	t.Helper()
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: netDiff})
	rds := testenv.NewRedis(t)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	poolAddr, _ := cryptonote.Monero.ParseAddress(testAddress(t, 1))
	d := daemon.NewMonero("regtest", "http://"+md.Address(), 10*time.Second, log)
	v := randomx.NewVerifier(randomx.VerifierConfig{Workers: 1, Mode: randomx.ModeLight}, log)
	srv, err := stratum.NewServer(stratum.Config{
		PoolAddress: poolAddr, BindIP: "127.0.0.1", Ports: []stratum.Port{{Diff: 1}},
		BlockRefresh: 200 * time.Millisecond, GraceWindow: 3 * time.Second,
	}, d, v, store, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, md: md, store: store, d: d, addr: srv.Addrs()[0].String(), log: log, cancel: cancel, done: make(chan struct{}),
		miner: testenv.BuildBinary(t, "rxpool/cmd/rxminer")}
	go func() { srv.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		r.stopPool()
		v.Close()
		store.Close(context.Background())
	})
	return r
}

func (r *rig) stopPool() {
	r.cancel()
	<-r.done
}

// mine runs rxminer processes (one per address) until each sent n shares.
func (r *rig) mine(n int, addrs ...string) {
	r.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(addrs))
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := testenv.Run(r.miner, "-o", r.addr, "-u", a, "-p", fmt.Sprintf("rig%d", i), "-t", "1",
				"--mode", "light", "--json", "--max-shares", fmt.Sprint(n), "--duration", "3m")
			var sum struct {
				Accepted int `json:"accepted"`
			}
			if err == nil {
				err = json.Unmarshal(out, &sum)
			}
			if err == nil && sum.Accepted == 0 {
				err = fmt.Errorf("no share accepted: %s", out)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			r.t.Fatal(err)
		}
	}
	if err := r.store.Flush(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// mineUntilBlocks mines rounds of shares until the pool has found at least
// n blocks (finding one is luck: each share is a block with probability
// 1/network difficulty).
func (r *rig) mineUntilBlocks(n int, addrs ...string) []*storage.BlockRecord {
	r.t.Helper()
	for round := 0; round < 8; round++ {
		r.mine(8, addrs...)
		pending, err := r.store.PendingBlocks(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		if len(pending) >= n {
			return pending
		}
	}
	r.t.Fatalf("the pool found fewer than %d blocks in 8 rounds", n)
	return nil
}

func (r *rig) unlocker(depth uint64) *unlocker.Unlocker {
	return unlocker.New(unlocker.Config{Interval: time.Second, Depth: depth, FeeBP: 100, SoloFeeBP: 50, FinderBP: 100, ExactReward: true},
		r.store, r.d, r.log)
}

// TestRegtestBlocksUnlockAndCredit: two miners mine through the pool on a
// real regtest chain, blocks are found, the chain advances past maturity,
// the unlocker confirms every block and credits balances exactly, and the
// ledger audit passes.
func TestRegtestBlocksUnlockAndCredit(t *testing.T) {
	const depth = 60 // Monero's coinbase maturity
	r := newRig(t, 5)
	ctx := context.Background()
	minerA, minerB := testAddress(t, 2), testAddress(t, 3)
	pending := r.mineUntilBlocks(2, minerA, minerB)
	// Not deep enough yet: nothing is settled.
	res, err := r.unlocker(depth).RunOnce(ctx)
	if err != nil || res.Confirmed+res.Orphaned != 0 {
		t.Fatalf("before maturity: %+v, %v", res, err)
	}
	if _, err := r.md.GenerateBlocks(ctx, depth, testAddress(t, 9), t.Logf); err != nil {
		t.Fatal(err)
	}
	// Read the candidates again: a block submitted just as the miners
	// stopped is recorded a moment after they exit.
	if pending, err = r.store.PendingBlocks(ctx); err != nil {
		t.Fatal(err)
	}
	res, err = r.unlocker(depth).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Confirmed != len(pending) || res.Orphaned != 0 || res.Refused != 0 {
		t.Fatalf("after maturity: %+v, want %d confirmed", res, len(pending))
	}
	// Every block: credits + fee + finder = reward; the two miners' balances
	// add up to everything credited.
	var want uint64
	for _, b := range pending {
		rec, err := r.store.BlockByHash(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		hb, _ := hex.DecodeString(b.Hash)
		hdr, err := r.d.BlockHeaderByHash(ctx, [32]byte(hb))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != storage.StatusConfirmed || rec.Reward != hdr.Reward {
			t.Fatalf("block %d: status %s reward %d, daemon reward %d", b.Height, rec.Status, rec.Reward, hdr.Reward)
		}
		credits, err := r.store.BlockCredits(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for _, c := range credits {
			sum += c
		}
		if sum+rec.Fee+rec.FinderReward != rec.Reward || rec.FinderReward == 0 {
			t.Fatalf("block %d: credits %d + fee %d + finder %d != reward %d", b.Height, sum, rec.Fee, rec.FinderReward, rec.Reward)
		}
		want += sum + rec.FinderReward
	}
	var got int64
	for _, a := range []string{minerA, minerB} {
		bal, err := r.store.Balance(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		got += bal.Balance
	}
	if uint64(got) != want {
		t.Fatalf("balances sum to %d, credits to %d", got, want)
	}
	rep, err := r.store.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("audit failed:\n%s", rep)
	}
	// A second pass changes nothing.
	if res, err := r.unlocker(depth).RunOnce(ctx); err != nil || res.Confirmed+res.Orphaned+res.Waiting != 0 {
		t.Fatalf("second pass: %+v, %v", res, err)
	}
}

// TestRegtestReorgOrphansPoolBlock: a block the pool found is replaced by a
// longer alternative chain; the unlocker marks it orphaned and credits
// nothing.
func TestRegtestReorgOrphansPoolBlock(t *testing.T) {
	const depth = 10
	r := newRig(t, 3)
	ctx := context.Background()
	r.mineUntilBlocks(1, testAddress(t, 4))
	r.stopPool() // no more pool blocks while the chain is rewritten
	// A block submitted as the miners stopped is recorded only now.
	pending, err := r.store.PendingBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := lowest(pending)
	r.reorgFrom(first.Height, depth+1)
	out, err := r.unlocker(depth).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Orphaned != len(pending) || out.Confirmed != 0 {
		t.Fatalf("after the reorg: %+v, want all %d pool blocks orphaned", out, len(pending))
	}
	rec, err := r.store.BlockByHash(ctx, first.Hash)
	if err != nil || rec.Status != storage.StatusOrphaned {
		t.Fatalf("block record %+v, %v", rec, err)
	}
	if bal, _ := r.store.Balance(ctx, testAddress(t, 4)); bal.Balance != 0 {
		t.Fatalf("orphaned blocks credited %d", bal.Balance)
	}
	if rep, err := r.store.Audit(ctx); err != nil || !rep.OK() {
		t.Fatalf("audit: %v\n%s", err, rep)
	}
}

func lowest(blocks []*storage.BlockRecord) *storage.BlockRecord {
	first := blocks[0]
	for _, b := range blocks {
		if b.Height < first.Height {
			first = b
		}
	}
	return first
}

// reorgFrom replaces the main chain from height on with an alternative
// chain (mined from the block below height) that is extra blocks longer.
func (r *rig) reorgFrom(height uint64, extra int) {
	r.t.Helper()
	ctx := context.Background()
	parent, err := r.d.BlockHeaderByHeight(ctx, height-1)
	if err != nil {
		r.t.Fatal(err)
	}
	count, err := r.md.Height(ctx) // blocks in the chain: the top is count-1
	if err != nil {
		r.t.Fatal(err)
	}
	var res struct{}
	if err := r.md.Call(ctx, "generateblocks", map[string]any{
		"amount_of_blocks": int(count-height) + extra, "wallet_address": testAddress(r.t, 9),
		"prev_block": hex.EncodeToString(parent.Hash[:]), "starting_nonce": 0,
	}, &res); err != nil {
		r.t.Fatal(err)
	}
}
