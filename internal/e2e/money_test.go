// Package e2e holds end-to-end tests that run the whole money path on real
// programs: monerod --regtest, monero-wallet-rpc, Redis, rxminer processes,
// and the pool's own stratum, unlocker and payments code.
package e2e

import (
	"context"
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
	"rxpool/payments"
	"rxpool/randomx"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/unlocker"
	"rxpool/wallet"
)

// TestMoneyPath: shares → blocks found by the pool → unlocked at depth →
// balances credited exactly → paid by the pool wallet → the miners' own
// wallets hold exactly the paid amounts → the ledger audit passes.
func TestMoneyPath(t *testing.T) {
	const netDiff, depth = 5, 60
	// The pool wallet needs spendable outputs and ~110 blocks of history
	// (ring members) before it can pay anyone.
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 120, Difficulty: netDiff})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	miners := []*testenv.Wallet{testenv.NewWallet(t, rt.Daemon, "minerA"), testenv.NewWallet(t, rt.Daemon, "minerB")}

	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	rds := testenv.NewRedis(t)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	d := daemon.NewMonero("regtest", "http://"+rt.Daemon.Address(), 10*time.Second, log)

	// Stratum with the real verifier; the pool wallet receives the coinbase.
	poolAddr, err := cryptonote.Monero.ParseAddress(rt.Wallet.Address)
	if err != nil {
		t.Fatal(err)
	}
	v := randomx.NewVerifier(randomx.VerifierConfig{Workers: 1, Mode: randomx.ModeLight}, log)
	defer v.Close()
	srv, err := stratum.NewServer(stratum.Config{PoolAddress: poolAddr, BindIP: "127.0.0.1",
		Ports: []stratum.Port{{Diff: 1}}, BlockRefresh: 200 * time.Millisecond, GraceWindow: 3 * time.Second}, d, v, store, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	poolCtx, stopPool := context.WithCancel(ctx)
	poolDone := make(chan struct{})
	go func() { srv.Run(poolCtx); close(poolDone) }()

	// Two rxminer processes mine to their own wallets' addresses until the
	// pool has found a block.
	rxminer := testenv.BuildBinary(t, "rxpool/cmd/rxminer")
	for round := 0; ; round++ {
		if round == 8 {
			t.Fatal("the pool found no block in 8 rounds")
		}
		var wg sync.WaitGroup
		errs := make([]error, len(miners))
		for i, m := range miners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := testenv.Run(rxminer, "-o", srv.Addrs()[0].String(), "-u", m.Address, "-p", fmt.Sprint("rig", i),
					"-t", "1", "--mode", "light", "--json", "--max-shares", "8", "--duration", "2m")
				var sum struct{ Rejected int }
				if err == nil {
					err = json.Unmarshal(out, &sum)
				}
				if err == nil && sum.Rejected > 0 {
					err = fmt.Errorf("honest miner had %d rejected shares", sum.Rejected)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if p, err := store.PendingBlocks(ctx); err != nil {
			t.Fatal(err)
		} else if len(p) > 0 {
			break
		}
	}
	stopPool()
	<-poolDone // block submissions in flight are recorded

	// Mature the blocks and unlock them.
	if _, err := rt.Daemon.GenerateBlocks(ctx, depth, testenv.MoneroAddress(t, 900), t.Logf); err != nil {
		t.Fatal(err)
	}
	pending, err := store.PendingBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ul := unlocker.New(unlocker.Config{Depth: depth, FeeBP: 100, FinderBP: 100, ExactReward: true}, store, d, log)
	res, err := ul.RunOnce(ctx)
	if err != nil || res.Confirmed != len(pending) || res.Confirmed == 0 {
		t.Fatalf("unlock: %+v, %v; want %d confirmed", res, err, len(pending))
	}
	var credited, rewards uint64
	for _, b := range pending {
		rec, err := store.BlockByHash(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		rewards += rec.Reward
		credited += rec.Reward - rec.Fee
	}
	balances := map[string]int64{}
	var sum int64
	for _, m := range miners {
		b, err := store.Balance(ctx, m.Address)
		if err != nil {
			t.Fatal(err)
		}
		balances[m.Address] = b.Balance
		sum += b.Balance
	}
	if uint64(sum) != credited {
		t.Fatalf("miners' balances %v sum to %d; blocks paid %d minus fees = %d", balances, sum, rewards, credited)
	}

	// Pay: denomination 0.0001 XMR, so every balance leaves a remainder.
	w := wallet.NewMonero("pool", rt.Wallet.URL(), "", "", time.Minute, log)
	before := make([]uint64, len(miners))
	for i, m := range miners {
		if before[i], _, err = m.Balance(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const denom = 100_000_000
	pay := payments.New(payments.Config{Interval: time.Hour, MinPayment: denom, Denomination: denom, TransferFee: denom,
		MaxAddresses: 15, PoolAddress: rt.Wallet.Address, Coin: cryptonote.Monero, LeaseTTL: time.Minute}, store, w, log)
	pres, err := pay.RunOnce(ctx)
	if err != nil || pres.Sent != 1 || pres.Halted {
		t.Fatalf("payments: %+v, %v", pres, err)
	}
	if _, err := rt.Daemon.GenerateBlocks(ctx, 1, testenv.MoneroAddress(t, 901), nil); err != nil {
		t.Fatal(err)
	}
	recs, err := store.Payments(ctx, 0, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("payment records %v, %v", recs, err)
	}
	sent := map[string]storage.PaymentDest{}
	for _, dst := range recs[0].Dests {
		sent[dst.Address] = dst
	}
	for i, m := range miners {
		dst, ok := sent[m.Address]
		if !ok {
			t.Fatalf("miner %d was not paid (balance %d)", i, balances[m.Address])
		}
		now, _, err := m.Balance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if now-before[i] != dst.Amount || dst.Amount != dst.Debit || dst.Debit%denom != 0 {
			t.Fatalf("miner %d: wallet received %d, record says sent %d (debit %d)", i, now-before[i], dst.Amount, dst.Debit)
		}
		b, _ := store.Balance(ctx, m.Address)
		if b.Balance != balances[m.Address]-int64(dst.Debit) || b.Balance >= denom || b.Paid != dst.Debit {
			t.Fatalf("miner %d after payment: %+v (had %d, debited %d)", i, b, balances[m.Address], dst.Debit)
		}
	}
	rep, err := store.Audit(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit: %v\n%s", err, rep)
	}
	t.Logf("%d blocks, reward %d, credited %d, paid %v in tx %s (fee %d, paid by the pool)", len(pending), rewards, credited, sent, recs[0].TxHash, recs[0].Fee)
}
