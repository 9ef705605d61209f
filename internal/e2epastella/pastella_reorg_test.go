package e2epastella

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

// reorgDepth is the unlocker's depth in the reorg test: Pastella's coinbase
// maturity, the least the configuration accepts.
const reorgDepth = 10

// TestPastellaReorgOrphansAndLosesPoolBlocks makes real reorgs on Pastella:
// two Pastellads that share only the genesis block mine apart, the pool on
// node A, the test on node B; peering them makes A switch to B's chain of
// more work, as a node does when a competing chain reaches it. The pool
// binary's unlocker (depth 10) must follow:
//
//  1. Pool blocks still maturing are replaced: each becomes orphaned once
//     the new chain is 10 past its height, nothing is credited, the audit
//     passes.
//  2. Pool blocks credited at depth 10 are replaced by a chain deeper than
//     that: each is marked lost once with one BLOCK LOST AFTER CREDIT line,
//     balances stay as credited, `pool audit` fails naming each block until
//     `pool blocks settle-lost` records how it was settled.
func TestPastellaReorgOrphansAndLosesPoolBlocks(t *testing.T) {
	a := testenv.NewPastellad(t, testenv.PastelladOptions{})
	b := testenv.NewPastellad(t, testenv.PastelladOptions{})
	// Shares of 100 from one fast-mode rxminer thread: a few a second, a
	// block about every tenth (network difficulty 1000 on a young chain).
	r := newPDRigWith(t, a, 15*time.Minute, pdOptions{shareDiff: 100,
		unlocker: fmt.Sprintf(`{"enabled":true,"interval":1,"depth":%d,"poolFee":1,"finderReward":1}`, reorgDepth)})
	ctx, pool := r.ctx, r.pool
	r.pool.WaitOK(t, r.base+"/health", time.Minute)
	e2e.WaitStratum(t, pool, r.addr, 10*time.Second)
	store := e2e.OpenStore(t, r.rds, "pastella", cryptonote.Pastella)
	minerAddr, err := testenv.MakeAddress(cryptonote.Pastella, 8)
	if err != nil {
		t.Fatal(err)
	}
	miner := e2e.StartMiner(t, r.addr, "rig", "-u", minerAddr, "--mode", "fast")

	// 1. Orphaned while maturing.
	found := mineBlocksThenPause(t, ctx, store, miner, nil)
	top := chainCount(t, ctx, a)
	// B (genesis only) overtakes A by the depth the unlocker waits for.
	mineOn(t, ctx, b, int(top-1)+reorgDepth)
	reorg(t, ctx, a, b)
	e2e.WaitFor(t, time.Minute, "the pool's blocks orphaned", func() error {
		return blocksAre(ctx, store, found, storage.StatusOrphaned)
	})
	if bal, err := store.Balance(ctx, minerAddr); err != nil || bal != (storage.Balance{}) {
		t.Fatalf("after the orphaning: %+v, %v; want nothing credited", bal, err)
	}
	e2e.PoolAudit(t, pool)
	t.Logf("phase 1: %d pool blocks orphaned by a reorg to B's chain of %d blocks", len(found), chainCount(t, ctx, a))

	// 2. Lost after credit. B mines apart again from A's tip on.
	if err := b.RestartPeered(); err != nil {
		t.Fatal(err)
	}
	fork := chainCount(t, ctx, a)
	miner.Resume(t)
	lost := mineBlocksThenPause(t, ctx, store, miner, found)
	mineOn(t, ctx, a, reorgDepth)
	e2e.WaitFor(t, time.Minute, "the pool's new blocks credited", func() error {
		return blocksAre(ctx, store, lost, storage.StatusConfirmed)
	})
	credited, err := store.Balance(ctx, minerAddr)
	if err != nil || credited.Balance == 0 {
		t.Fatalf("after the credit: %+v, %v", credited, err)
	}
	e2e.PoolAudit(t, pool)
	mineOn(t, ctx, b, int(chainCount(t, ctx, a)-fork)+2)
	reorg(t, ctx, a, b)
	e2e.WaitFor(t, time.Minute, "a BLOCK LOST line per credited block", func() error {
		if n := strings.Count(pool.Output(), "BLOCK LOST AFTER CREDIT: "); n != len(lost) {
			return fmt.Errorf("%d lines, want %d", n, len(lost))
		}
		return nil
	})
	if after, err := store.Balance(ctx, minerAddr); err != nil || after != credited {
		t.Fatalf("balance %+v after the reorg, %+v before (%v)", after, credited, err)
	}
	out, err := testenv.Run(pool.Bin, "-config", pool.Config, "audit")
	if err == nil {
		t.Fatalf("pool audit passed with credited blocks off the chain:\n%s", out)
	}
	for _, blk := range lost {
		want := fmt.Sprintf("block %s (height %d) was credited but is no longer on the main chain: ", blk.Hash, blk.Height)
		if !strings.Contains(string(out), want) {
			t.Fatalf("the audit does not name block %d:\n%s", blk.Height, out)
		}
		if o, err := testenv.Run(pool.Bin, "-config", pool.Config, "blocks", "settle-lost", blk.Hash, "covered from the pool fee"); err != nil {
			t.Fatalf("settle-lost: %v\n%s", err, o)
		}
	}
	e2e.PoolAudit(t, pool)
	// The lines are not repeated by later passes.
	time.Sleep(3 * time.Second)
	if n := strings.Count(pool.Output(), "BLOCK LOST AFTER CREDIT: "); n != len(lost) {
		t.Fatalf("%d BLOCK LOST lines, want %d", n, len(lost))
	}
	miner.Resume(t)
	sum := miner.Stop(t)
	t.Logf("phase 2: %d credited pool blocks lost to a reorg %d blocks deep; rxminer %+v", len(lost), chainCount(t, ctx, a)-fork, sum)
}

// mineBlocksThenPause lets the miner mine through the pool until the pool
// has found a block that is not in before, pauses it, and returns the
// blocks found since (settled: a submit in flight at the pause is in).
func mineBlocksThenPause(t *testing.T, ctx context.Context, store *storage.Store, miner *e2e.MinerProc, before []*storage.BlockRecord) []*storage.BlockRecord {
	t.Helper()
	var found []*storage.BlockRecord
	newBlocks := func() error {
		all, err := store.Blocks(ctx, 0, 1000)
		if err != nil {
			return err
		}
		found = found[:0]
		for _, blk := range all {
			if !containsBlock(before, blk.Hash) {
				found = append(found, blk)
			}
		}
		if len(found) == 0 {
			return fmt.Errorf("no new pool block among %d", len(all))
		}
		return nil
	}
	e2e.WaitFor(t, 4*time.Minute, "a pool block", func() error {
		if miner.Exited() {
			t.Fatalf("rxminer exited:\n%s", e2e.Tail(miner.Stderr.String(), 4000))
		}
		return newBlocks()
	})
	miner.Pause(t)
	time.Sleep(2 * time.Second)
	if err := newBlocks(); err != nil {
		t.Fatal(err)
	}
	return found
}

func containsBlock(bs []*storage.BlockRecord, hash string) bool {
	for _, b := range bs {
		if b.Hash == hash {
			return true
		}
	}
	return false
}

// blocksAre is nil once every block's record has the status.
func blocksAre(ctx context.Context, store *storage.Store, bs []*storage.BlockRecord, status string) error {
	for _, b := range bs {
		rec, err := store.BlockByHash(ctx, b.Hash)
		if err != nil {
			return err
		}
		if rec.Status != status {
			return fmt.Errorf("block %d %s is %s", b.Height, b.Hash, rec.Status)
		}
	}
	return nil
}

// chainCount is the daemon's block count.
func chainCount(t *testing.T, ctx context.Context, d *testenv.Pastellad) uint64 {
	t.Helper()
	h, err := d.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mineOn mines n blocks on d outside the pool (to the burn address).
func mineOn(t *testing.T, ctx context.Context, d *testenv.Pastellad, n int) {
	t.Helper()
	if _, err := d.MineBlocks(ctx, n, testenv.PastellaBurnAddress, nil); err != nil {
		t.Fatal(err)
	}
}

// peerUntil restarts b peered with a and waits until both are on the
// chain leader had (a node switches to a peer's chain of more work); b is
// left peered.
func peerUntil(t *testing.T, ctx context.Context, a, b, leader *testenv.Pastellad) {
	t.Helper()
	want, err := leader.TopHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := b.RestartPeered(a); err != nil {
		t.Fatal(err)
	}
	e2e.WaitFor(t, time.Minute, "both nodes on one chain", func() error {
		for _, d := range []*testenv.Pastellad{a, b} {
			if got, err := d.TopHash(ctx); err != nil || got != want {
				return fmt.Errorf("a node's top %s (%v), want %s", got, err, want)
			}
		}
		return nil
	})
	t.Logf("peered, both nodes on the chain with top %s… %v later", want[:12], time.Since(began).Round(time.Millisecond))
}

// reorg makes a switch to b's chain (of more work).
func reorg(t *testing.T, ctx context.Context, a, b *testenv.Pastellad) {
	t.Helper()
	peerUntil(t, ctx, a, b, b)
}
