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

// TestCreditNotDurable: on a master whose one replica is frozen (SIGSTOP),
// a due block is credited on the master but the pass reports the credit as
// not acknowledged; it is credited once, and a later pass, with the replica
// back, finds it acknowledged and says so. The audit passes throughout.
func TestCreditNotDurable(t *testing.T) {
	master, replica := testenv.NewRedisWithReplica(t)
	log := logrus.New()
	store, err := storage.New(config.RedisConfig{Socket: master.Socket, Prefix: "monero"}, cryptonote.Monero, log,
		storage.WithReplicaAcks(-1, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	if n := store.MinReplicaAcks(); n != 1 {
		t.Fatalf("minReplicaAcks %d with a replica connected", n)
	}
	ctx := context.Background()
	miner := testAddress(t, 5)
	if err := store.WriteShares(ctx, []stratum.Share{{Address: miner, Worker: "w", Scheme: stratum.SchemePPLNS, Difficulty: 10, Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	var hash [32]byte
	hash[0] = 0xcd
	if err := store.WriteBlockCandidate(ctx, &stratum.Block{Height: 100, Hash: hash, Address: miner, Worker: "w",
		Scheme: stratum.SchemePPLNS, NetDifficulty: 10, ShareDiff: 10, Reward: 1000, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	u := unlocker.New(unlocker.Config{Depth: 10, FeeBP: 100, FinderBP: 100}, store,
		fixedChain{daemon.BlockHeader{Height: 100, Hash: hash, Depth: 10, Reward: 1000}}, log)
	got, err := u.RunOnce(ctx)
	if err != nil || got != (unlocker.Result{Confirmed: 1, NotDurable: 1}) {
		t.Fatalf("pass with the replica frozen: %+v %v", got, err)
	}
	got, err = u.RunOnce(ctx) // still frozen: asked again, nothing credited twice
	if err == nil || got != (unlocker.Result{NotDurable: 1}) {
		t.Fatalf("second pass with the replica frozen: %+v %v", got, err)
	}
	if bal, _ := store.Balance(ctx, miner); bal.Balance != 1000-10 {
		t.Fatalf("miner balance %d, want 990", bal.Balance)
	}
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	got, err = u.RunOnce(ctx)
	if err != nil || got != (unlocker.Result{}) {
		t.Fatalf("pass with the replica back: %+v %v", got, err)
	}
	rc := replica.Client()
	defer rc.Close()
	if st, err := rc.HGet(ctx, "{monero}:block:"+hex.EncodeToString(hash[:]), "status").Result(); err != nil || st != storage.StatusConfirmed {
		t.Fatalf("credited block on the replica: %q %v", st, err)
	}
	rep, err := store.Audit(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit: %v\n%s", err, rep)
	}
}
