package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/internal/testenv"
	"rxpool/payments"
	"rxpool/storage"
)

// TestImportedBalanceIsPaid imports a Node pool balance with the pool
// binary, then the payments module pays it through a real monero-wallet-rpc
// on a monerod --regtest chain: the miner's wallet receives exactly the
// imported balance less the denomination remainder (which stays) and the
// configured fixed fee the miner pays, and the audit passes.
func TestImportedBalanceIsPaid(t *testing.T) {
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 130})
	miner := testenv.NewWallet(t, rt.Daemon, "miner")
	srcRedis, dstRedis := testenv.NewRedis(t), testenv.NewRedis(t)
	src := srcRedis.Client()
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	const (
		balance = 1_234_567_890_123 // atomic units, with a remainder below the denomination
		paid    = 500_000_000_000
		denom   = 100_000_000
		fee     = 100_000_000 // transferFee, paid by the miner
	)
	if err := src.HSet(ctx, "Monero:workers:"+miner.Address, "balance", balance, "paid", paid, "hashes", "1000").Err(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.json")
	js := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"walletApi":{"host":"127.0.0.1","port":%d},
		"payments":{"enabled":true,"minPayment":100000000000,"denomination":%d,"transferFee":%d,"minerPayFee":true},
		"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q}}`,
		rt.Wallet.Address, rt.Daemon.RPCPort, rt.Wallet.Port, denom, fee, dstRedis.Socket)
	if err := os.WriteFile(path, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testenv.BuildBinary(t, "rxpool/cmd/pool")
	out := poolBinary(t, bin, path, 0, "import", "nodepool", "-from", "unix://"+srcRedis.Socket, "-prefix", "Monero")
	if !strings.Contains(out, "1 imported") {
		t.Fatalf("import:\n%s", out)
	}

	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.New(cfg.Redis, cfg.Coin, testLogrus(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
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
	if _, err := rt.Daemon.GenerateBlocks(ctx, 1, testenv.MoneroAddress(t, 77), nil); err != nil {
		t.Fatal(err)
	}
	if err := miner.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, err := miner.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	debit := uint64(balance - balance%denom)
	if want := debit - fee; got != want {
		t.Fatalf("the miner's wallet received %d, want the imported %d less the remainder %d and the fee %d = %d",
			got, uint64(balance), uint64(balance%denom), uint64(fee), want)
	}
	b, err := store.Balance(ctx, miner.Address)
	if err != nil || b.Balance != balance%denom || b.Paid != paid+debit || b.FeesPaid != fee {
		t.Fatalf("after paying: %+v %v", b, err)
	}
	if out := poolBinary(t, bin, path, 0, "audit"); !strings.Contains(out, "audit passed") {
		t.Fatalf("audit:\n%s", out)
	}
	t.Logf("imported %d, paid %d to the miner's wallet (fee %d), %d left", uint64(balance), got, uint64(fee), b.Balance)
}
