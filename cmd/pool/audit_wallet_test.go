package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/internal/testenv"
	"rxpool/payments"
	"rxpool/storage"
	"rxpool/stratum"
)

// TestAuditReconcilesWithTheWallet pays a payout through a real
// monero-wallet-rpc on monerod --regtest: `pool audit` reconciles it and
// passes; a transfer the pool did not make (sent with the wallet RPC
// directly) makes it fail, naming the transaction, until the operator
// records it with `pool payments record`.
func TestAuditReconcilesWithTheWallet(t *testing.T) {
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 130})
	rds := testenv.NewRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	js := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"walletApi":{"host":"127.0.0.1","port":%d},
		"payments":{"enabled":true,"minPayment":100000000000,"denomination":100000000,"transferFee":100000000,"minerPayFee":true},
		"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q}}`,
		rt.Wallet.Address, rt.Daemon.RPCPort, rt.Wallet.Port, rds.Socket)
	pool := poolCLI(t, js)
	cfg, err := config.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.New(cfg.Redis, cfg.Coin, testLogrus(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())

	// Credit a miner through a confirmed block, then pay it.
	miner := testenv.MoneroAddress(t, 5)
	const credit = 500_000_000_000
	var h [32]byte
	copy(h[:], "reconcile-block")
	b := &stratum.Block{Height: 1, Hash: h, Address: miner, Worker: "w", Scheme: stratum.SchemeSolo,
		NetDifficulty: 1, ShareDiff: 1, Reward: credit, Time: time.Now()}
	if err := store.WriteBlockCandidate(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreditBlock(ctx, hex.EncodeToString(h[:]), map[string]uint64{miner: credit}, 0, "", miner, 0, credit); err != nil {
		t.Fatal(err)
	}
	w, open, err := newWallet(cfg, testLogrus(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := open(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := payments.New(paymentsConfig(cfg), store, w, testLogrus(t)).RunOnce(ctx)
	if err != nil || res.Sent != 1 {
		t.Fatalf("payments: %+v %v", res, err)
	}
	if out := pool(0, "audit"); !strings.Contains(out, "reconciled with the wallet wallet-rpc (1 outgoing transfers") || !strings.Contains(out, "audit passed") {
		t.Fatalf("audit after the payout (pending):\n%s", out)
	}
	if _, err := rt.Daemon.GenerateBlocks(ctx, 1, testenv.MoneroAddress(t, 77), nil); err != nil {
		t.Fatal(err)
	}
	if out := pool(0, "audit"); !strings.Contains(out, "ok   payouts in the wallet: 1 sent or confirmed") {
		t.Fatalf("audit after the payout (mined):\n%s", out)
	}

	// Coins leave the pool wallet without the pool.
	var tr struct {
		TxHash string `json:"tx_hash"`
	}
	dest := testenv.MoneroAddress(t, 6)
	if err := rt.Wallet.Call(ctx, "transfer", map[string]any{"destinations": []any{map[string]any{"address": dest, "amount": 123_000_000}}}, &tr); err != nil {
		t.Fatal(err)
	}
	out := pool(1, "audit")
	if want := fmt.Sprintf("tx %s (pending, height 0) sends 123000000 to %s 123000000: neither a payout nor recorded", tr.TxHash, dest); !strings.Contains(out, want) || !strings.Contains(out, "audit FAILED") {
		t.Fatalf("audit after an unrecorded transfer:\n%s\nwant %q", out, want)
	}
	t.Logf("audit with an unrecorded transfer:\n%s", out)
	if out := pool(0, "audit", "-wallet=false"); !strings.Contains(out, "not reconciled with the wallet (-wallet=false)") {
		t.Fatalf("audit -wallet=false:\n%s", out)
	}
	pool(0, "payments", "record", tr.TxHash, "moved to cold storage")
	if out := pool(0, "audit"); !strings.Contains(out, "1 payouts and 1 recorded operator transfers") || !strings.Contains(out, "audit passed") {
		t.Fatalf("audit after recording the transfer:\n%s", out)
	}
}
