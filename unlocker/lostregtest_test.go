package unlocker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"rxpool/storage"
)

// TestRegtestReorgAfterCredit: pool blocks are credited at a small unlock
// depth, then a longer alternative chain replaces them (a reorg deeper than
// the depth). The next pass marks every credited block in its window lost,
// logs each once, and the audit fails naming them; balances are untouched.
func TestRegtestReorgAfterCredit(t *testing.T) {
	const depth = 3
	r := newRig(t, 3)
	hook := logtest.NewLocal(r.log)
	ctx := context.Background()
	miner := testAddress(t, 6)
	r.mineUntilBlocks(1, miner)
	r.stopPool() // no more pool blocks while the chain is rewritten
	pending, err := r.store.PendingBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.md.GenerateBlocks(ctx, depth, testAddress(t, 9), t.Logf); err != nil {
		t.Fatal(err)
	}
	res, err := r.unlocker(depth).RunOnce(ctx)
	if err != nil || res.Confirmed != len(pending) || res.Lost != 0 {
		t.Fatalf("crediting: %+v, %v; want %d confirmed", res, err, len(pending))
	}
	before, err := r.store.Balance(ctx, miner)
	if err != nil || before.Balance <= 0 {
		t.Fatalf("balance after credit: %+v, %v", before, err)
	}
	if rep, err := r.store.Audit(ctx); err != nil || !rep.OK() {
		t.Fatalf("audit after credit: %v\n%s", err, rep)
	}

	r.reorgFrom(lowest(pending).Height, 1)
	top, err := r.d.LastBlockHeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The pass looks 2×depth below the tip; every pool block was replaced.
	var inWindow []*storage.BlockRecord
	for _, b := range pending {
		if b.Height+2*depth >= top.Height+top.Depth {
			inWindow = append(inWindow, b)
		}
	}
	if len(inWindow) == 0 {
		t.Fatalf("no pool block within %d of the new tip %d: %d blocks found", 2*depth, top.Height, len(pending))
	}
	res, err = r.unlocker(depth).RunOnce(ctx)
	if err != nil || res.Lost != len(inWindow) || res.Confirmed+res.Orphaned != 0 {
		t.Fatalf("after the reorg: %+v, %v; want %d lost", res, err, len(inWindow))
	}
	// Marked once: a second pass neither counts nor logs it again.
	if res, err = r.unlocker(depth).RunOnce(ctx); err != nil || res.Lost != 0 {
		t.Fatalf("second pass: %+v, %v", res, err)
	}
	logged := 0
	for _, e := range hook.AllEntries() {
		if strings.HasPrefix(e.Message, "BLOCK LOST AFTER CREDIT: ") {
			logged++
		}
	}
	if logged != len(inWindow) {
		t.Fatalf("%d BLOCK LOST lines, want %d", logged, len(inWindow))
	}

	after, err := r.store.Balance(ctx, miner)
	if err != nil || after != before {
		t.Fatalf("balance %+v after the reorg, %+v before (%v)", after, before, err)
	}
	rep, err := r.store.Audit(ctx)
	if err != nil || rep.OK() {
		t.Fatalf("audit after the reorg: want a failure, got %v\n%s", err, rep)
	}
	for _, b := range inWindow {
		rec, err := r.store.BlockByHash(ctx, b.Hash)
		if err != nil || rec.Status != storage.StatusConfirmed {
			t.Fatalf("block %d: %+v, %v", b.Height, rec, err)
		}
		want := fmt.Sprintf("block %s (height %d) was credited but is no longer on the main chain: ", b.Hash, b.Height)
		if !strings.Contains(rep.String(), want) {
			t.Fatalf("audit does not name block %d:\n%s", b.Height, rep)
		}
	}
}
