package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet"
)

// TestRegtestConfirmAndDrop follows payouts after sent on a real monerod
// --regtest chain and monero-wallet-rpc (issue 20). A payout that is mined
// reaches confirmed once Confirmations deep. A second payout is mined, then
// its block popped (pop_blocks), the daemon's pool flushed (flush_txpool)
// and a longer chain mined, so the chain no longer has it: the pool marks it dropped
// after DropGrace and pays it again exactly once; the miner's wallet ends
// with exactly what the pool records as paid, and the audit passes. It logs
// how long the wallet took to call the dropped transaction failed or
// unknown.
func TestRegtestConfirmAndDrop(t *testing.T) {
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 130})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	miner := testenv.NewWallet(t, rt.Daemon, "miner")
	rds := testenv.NewRedis(t)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	w := wallet.NewMonero("regtest", rt.Wallet.URL(), "", "", time.Minute, testLogger(t))
	const (
		xmr   = 1_000_000_000_000
		denom = 100_000_000
		depth = 3
		grace = 5 * time.Second
	)
	// The pool pays the fee, so each payout's amount is its debit.
	cfg := Config{Interval: time.Hour, MinPayment: 10_000_000_000, Denomination: denom, TransferFee: denom, MaxAddresses: 2,
		PoolAddress: rt.Wallet.Address, Coin: cryptonote.Monero, LeaseTTL: time.Minute,
		Confirmations: depth, DropGrace: grace, Chain: daemon.NewMonero("regtest", rt.Daemon.URL(), time.Minute, testLogger(t))}
	proc := New(cfg, store, w, testLogger(t))
	other := testAddress(t, cryptonote.Monero, 77) // mines the blocks
	run := func(what string) Result {
		t.Helper()
		res, err := proc.RunOnce(ctx)
		t.Logf("%s: %s", what, res)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		mustAudit(t, store)
		return res
	}
	mine := func(n int) {
		t.Helper()
		if _, err := rt.Daemon.GenerateBlocks(ctx, n, other, nil); err != nil {
			t.Fatal(err)
		}
	}
	record := func(id uint64) *storage.PaymentRecord {
		t.Helper()
		r, err := store.Payment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// (a) A payout that is mined is confirmed once depth deep, not before.
	fund(t, store, map[string]uint64{miner.Address: xmr / 2})
	if res := run("first payout"); res.Sent != 1 {
		t.Fatalf("first payout %+v", res)
	}
	mine(1)
	if run("1 deep"); record(1).State != storage.PaymentSent {
		t.Fatalf("1 of %d deep: %s", depth, record(1).State)
	}
	mine(depth - 1)
	if res := run("depth deep"); res.Confirmed != 1 || record(1).State != storage.PaymentConfirmed {
		t.Fatalf("%d deep: %+v, record %+v", depth, res, record(1))
	}

	// (b) A payout mined, then its block popped, the pool flushed and two
	// other blocks mined in its place.
	fund(t, store, map[string]uint64{miner.Address: xmr / 3})
	if res := run("second payout"); res.Sent != 1 {
		t.Fatalf("second payout %+v", res)
	}
	second := record(2)
	mine(1)
	if info, err := w.Lookup(ctx, second.TxHash); err != nil || info.State != wallet.TxConfirmed {
		t.Fatalf("second payout mined: %+v %v", info, err)
	}
	popAndFlush(ctx, t, rt.Daemon)
	flushed := time.Now()
	// A longer chain without the transaction, as a reorg brings: the
	// wallet notices its block is gone only when new blocks come.
	mine(2)
	var missingAfter time.Duration
	var said *wallet.TxInfo
	for {
		if time.Since(flushed) > 3*time.Minute {
			t.Fatalf("the dropped payout was not settled 3 minutes after the flush: %+v", record(2))
		}
		info, err := w.Lookup(ctx, second.TxHash)
		if err != nil {
			t.Fatal(err)
		}
		if said == nil || *said != *info {
			t.Logf("%v after the flush the wallet says %+v", time.Since(flushed).Round(time.Millisecond), *info)
			said = info
		}
		if missingAfter == 0 && !alive(info) {
			missingAfter = time.Since(flushed)
			t.Logf("the wallet calls the flushed transaction %s (daemon asked: %v) %v after the flush",
				info.State, info.DaemonChecked, missingAfter.Round(time.Millisecond))
		}
		res := run("after the flush")
		if res.Dropped > 0 {
			if res.Dropped != 1 || res.Sent != 1 {
				t.Fatalf("drop run %+v: want the dropped payout paid again once", res)
			}
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("dropped %v after the flush (grace %v; missing after %v)", time.Since(flushed).Round(time.Millisecond), grace, missingAfter)
	if r := record(2); r.State != storage.PaymentDropped {
		t.Fatalf("second payout %+v", r)
	}
	again := record(3)
	if again.ResendOf != "2" || again.Debited != second.Debited || again.State != storage.PaymentSent {
		t.Fatalf("resend %+v", again)
	}
	mine(depth)
	if res := run("resend deep"); res.Confirmed != 1 || record(3).State != storage.PaymentConfirmed || res.Records != 0 {
		t.Fatalf("resend %+v, record %+v", res, record(3))
	}
	// Exactly what is recorded as paid, the dropped payout not counted.
	b, _ := store.Balance(ctx, miner.Address)
	got, _, err := miner.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := record(1).Sent + again.Sent
	if got != want || b.Paid != want {
		t.Fatalf("the miner's wallet holds %d, the pool records paid %d; want %d (payouts 1 and 3)", got, b.Paid, want)
	}
	t.Logf("miner's wallet: %d = paid %d", got, b.Paid)
}

// popAndFlush removes the top block (its transactions go back to the
// daemon's pool) and then empties the pool, so the chain loses them.
func popAndFlush(ctx context.Context, t *testing.T, d *testenv.Monerod) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"nblocks": 1})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://%s/pop_blocks", d.Address()), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pop struct {
		Status string `json:"status"`
		Height uint64 `json:"height"`
	}
	err = json.NewDecoder(resp.Body).Decode(&pop)
	resp.Body.Close()
	if err != nil || pop.Status != "OK" {
		t.Fatalf("pop_blocks: %+v %v", pop, err)
	}
	var flush struct {
		Status string `json:"status"`
	}
	if err := d.Call(ctx, "flush_txpool", map[string]any{}, &flush); err != nil || flush.Status != "OK" {
		t.Fatalf("flush_txpool: %+v %v", flush, err)
	}
	t.Logf("popped the top block (height now %d) and flushed the pool", pop.Height)
}
