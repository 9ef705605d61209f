package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/stratumtest"
	"rxpool/internal/testenv"
	"rxpool/randomx"
	"rxpool/stratum"
)

// TestMinesBlocksThroughThePool is the stratum integration test: rxminer
// mines through our stratum server against a real monerod --regtest; the
// pool verifies every share, submits the blocks its miner finds, the chain
// grows with exactly those blocks, and the pool's own wallet receives their
// coinbase outputs, each of the amount the pool recorded.
func TestMinesBlocksThroughThePool(t *testing.T) {
	const netDiff, portDiff, wantBlocks = 40, 8, 3
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Difficulty: netDiff})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	startHeight, err := rt.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}

	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	poolAddr, err := cryptonote.Monero.ParseAddress(rt.Wallet.Address)
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.NewMonero("regtest", "http://"+rt.Daemon.Address(), 10*time.Second, log)
	v := randomx.NewVerifier(randomx.VerifierConfig{Workers: 1, Mode: randomx.ModeLight}, log)
	defer v.Close()
	sink := stratumtest.New[stratum.Share, stratum.Rejection, stratum.Block]()
	srv, err := stratum.NewServer(stratum.Config{
		PoolAddress: poolAddr, BindIP: "127.0.0.1",
		Ports:        []stratum.Port{{Diff: portDiff, Desc: "test"}},
		BlockRefresh: 200 * time.Millisecond, GraceWindow: 5 * time.Second,
	}, d, v, sink, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	poolCtx, stopPool := context.WithCancel(ctx)
	poolDone := make(chan struct{})
	go func() { srv.Run(poolCtx); close(poolDone) }()
	defer func() { stopPool(); <-poolDone }()

	// Mine until the pool has found enough blocks.
	minerCtx, stopMiner := context.WithCancel(ctx)
	go func() {
		defer stopMiner()
		for minerCtx.Err() == nil {
			if _, _, blocks := sink.Snapshot(); len(blocks) >= wantBlocks {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	var out, errOut bytes.Buffer
	code := run(minerCtx, []string{"-o", srv.Addrs()[0].String(), "-u", rt.Wallet.Address, "-p", "itest",
		"-t", "1", "--mode", "light", "--json", "--duration", "3m"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("rxminer exit %d\nstderr: %s", code, errOut.String())
	}
	var sum summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("rxminer summary: %v\n%s", err, out.String())
	}
	stopPool()
	<-poolDone // waits for block submissions in flight

	shares, rejects, blocks := sink.Snapshot()
	t.Logf("rxminer: %d accepted, %d rejected, %.1f H/s; pool: %d shares, %d blocks", sum.Accepted, sum.Rejected, sum.Hashrate, len(shares), len(blocks))
	if len(blocks) < wantBlocks {
		t.Fatalf("pool found %d blocks, want %d", len(blocks), wantBlocks)
	}
	if sum.Rejected != 0 || len(rejects) != 0 {
		t.Fatalf("honest miner had rejections: %v / %+v", sum.RejectedBy, rejects)
	}
	if sum.Accepted == 0 || uint64(len(shares)) != sum.Accepted {
		t.Fatalf("miner counted %d accepted shares, pool recorded %d", sum.Accepted, len(shares))
	}
	for _, s := range shares {
		if s.Difficulty != portDiff || s.Worker != "itest" || s.Address != rt.Wallet.Address {
			t.Fatalf("share recorded as %+v", s)
		}
	}

	height, err := rt.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if height < startHeight+uint64(len(blocks)) {
		t.Fatalf("chain height %d, want at least %d after %d pool blocks", height, startHeight+uint64(len(blocks)), len(blocks))
	}
	reward := map[uint64]uint64{}
	for _, b := range blocks {
		if b.SubmitError != "" {
			t.Fatalf("block at %d: submission failed: %s", b.Height, b.SubmitError)
		}
		hdr, err := d.BlockHeaderByHeight(ctx, b.Height)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Hash != b.Hash {
			t.Fatalf("height %d: main chain has %x, the pool recorded %x", b.Height, hdr.Hash, b.Hash)
		}
		if hdr.Reward != b.Reward {
			t.Fatalf("height %d: daemon says reward %d, pool recorded %d", b.Height, hdr.Reward, b.Reward)
		}
		reward[b.Height] = b.Reward
	}

	// The pool wallet sees each block's coinbase output, of that amount.
	if err := rt.Wallet.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var transfers struct {
		In []struct {
			Height uint64 `json:"height"`
			Amount uint64 `json:"amount"`
			Type   string `json:"type"`
			TxID   string `json:"txid"`
		} `json:"in"`
	}
	if err := rt.Wallet.Call(ctx, "get_transfers", map[string]any{"in": true}, &transfers); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]uint64{}
	for _, tr := range transfers.In {
		seen[tr.Height] += tr.Amount
	}
	for h, r := range reward {
		if seen[h] != r {
			t.Errorf("wallet received %d at height %d, the pool's block there pays %d", seen[h], h, r)
		}
	}
	if t.Failed() {
		t.Logf("wallet transfers: %+v", transfers.In)
	}
}
