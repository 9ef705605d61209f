package unlocker_test

import (
	"context"
	"encoding/hex"
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

// fixedChain answers every height with the same header.
type fixedChain struct{ hdr daemon.BlockHeader }

func (f fixedChain) BlockHeaderByHeight(context.Context, uint64) (*daemon.BlockHeader, error) {
	h := f.hdr
	return &h, nil
}

// LastBlockHeader is the tip of a chain where every height has hdr.
func (f fixedChain) LastBlockHeader(context.Context) (*daemon.BlockHeader, error) {
	return &daemon.BlockHeader{Height: f.hdr.Height + f.hdr.Depth, Hash: f.hdr.Hash}, nil
}

// TestRefusesToCreditOnRewardMismatch: when the daemon's reward for our
// block disagrees with what our template paid the pool, nothing is credited
// and the block stays pending for the operator to look at.
func TestRefusesToCreditOnRewardMismatch(t *testing.T) {
	rds := testenv.NewRedis(t)
	log := logrus.New()
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	ctx := context.Background()
	miner := testAddress(t, 5)
	if err := store.WriteShares(ctx, []stratum.Share{{Address: miner, Worker: "w", Scheme: stratum.SchemePPLNS, Difficulty: 10, Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	var hash [32]byte
	hash[0] = 0xab
	if err := store.WriteBlockCandidate(ctx, &stratum.Block{Height: 100, Hash: hash, Address: miner, Worker: "w",
		Scheme: stratum.SchemePPLNS, NetDifficulty: 10, ShareDiff: 10, Reward: 1000, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reward uint64
		exact  bool
		want   unlocker.Result
	}{
		{999, false, unlocker.Result{Refused: 1}},    // less than ours: never
		{1001, true, unlocker.Result{Refused: 1}},    // Monero: must be equal
		{1001, false, unlocker.Result{Confirmed: 1}}, // Pastella: staking outputs may add
	} {
		u := unlocker.New(unlocker.Config{Depth: 10, FeeBP: 100, FinderBP: 100, ExactReward: tc.exact}, store,
			fixedChain{daemon.BlockHeader{Height: 100, Hash: hash, Depth: 10, Reward: tc.reward}}, log)
		got, err := u.RunOnce(ctx)
		if err != nil || got != tc.want {
			t.Fatalf("daemon reward %d (exact %v): %+v, %v; want %+v", tc.reward, tc.exact, got, err, tc.want)
		}
	}
	rec, err := store.BlockByHash(ctx, hex.EncodeToString(hash[:]))
	if err != nil || rec.Status != storage.StatusConfirmed || rec.Fee != 10 || rec.FinderReward != 10 {
		t.Fatalf("after the matching pass: %+v, %v", rec, err)
	}
	if bal, _ := store.Balance(ctx, miner); bal.Balance != 1000-10 {
		t.Fatalf("miner balance %d, want 990 (reward − fee; the finder is the only miner)", bal.Balance)
	}
}
