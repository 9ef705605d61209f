package unlocker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/unlocker"
)

// countingChain is a chain that counts the unlocker's questions; the block
// at height 100+n is the test's candidate n, deep enough to settle.
type countingChain struct{ calls atomic.Int64 }

func (c *countingChain) BlockHeaderByHeight(_ context.Context, h uint64) (*daemon.BlockHeader, error) {
	c.calls.Add(1)
	var hash [32]byte
	hash[0] = byte(h - 100)
	return &daemon.BlockHeader{Height: h, Hash: hash, Depth: 100, Reward: 1000}, nil
}

// LastBlockHeader: the tip is at 110, so both candidates are checked again
// after their credit (and found on the chain).
func (c *countingChain) LastBlockHeader(context.Context) (*daemon.BlockHeader, error) {
	c.calls.Add(1)
	return &daemon.BlockHeader{Height: 110}, nil
}

// TestSecondUnlockerWaits: two unlocker processes on one Redis; one holds
// the lease and settles, the other never asks the daemon anything until the
// first stops, then takes over and settles the next block.
func TestSecondUnlockerWaits(t *testing.T) {
	rds := testenv.NewRedis(t)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	ctx := context.Background()
	miner := testAddress(t, 5)
	candidate := func(n byte) {
		var h [32]byte
		h[0] = n
		if err := store.WriteShares(ctx, []stratum.Share{{Address: miner, Worker: "w", Scheme: stratum.SchemePPLNS, Difficulty: 10, Time: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteBlockCandidate(ctx, &stratum.Block{Height: 100 + uint64(n), Hash: h, Address: miner, Worker: "w",
			Scheme: stratum.SchemePPLNS, NetDifficulty: 10, ShareDiff: 10, Reward: 1000, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		p, err := store.PendingBlocks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(p)
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
		}
	}
	cfg := unlocker.Config{Interval: 50 * time.Millisecond, Depth: 10, FeeBP: 100}
	chains := []*countingChain{{}, {}}
	candidate(1)
	ctxA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { unlocker.New(cfg, store, chains[0], log).Run(ctxA); close(doneA) }()
	waitUntil("the first unlocker to settle block 1", func() bool { return pending() == 0 })

	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	doneB := make(chan struct{})
	go func() { unlocker.New(cfg, store, chains[1], log).Run(ctxB); close(doneB) }()
	time.Sleep(300 * time.Millisecond) // several of B's passes
	if n := chains[1].calls.Load(); n != 0 {
		t.Fatalf("the second unlocker asked the daemon %d times while the first held the lease", n)
	}

	stopA() // releases the lease
	<-doneA
	candidate(2)
	waitUntil("the second unlocker to take over and settle block 2", func() bool { return pending() == 0 })
	if chains[1].calls.Load() == 0 {
		t.Fatal("block 2 settled without the second unlocker")
	}
	rep, err := store.Audit(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit: %v\n%s", err, rep)
	}
	stopB()
	<-doneB
}
