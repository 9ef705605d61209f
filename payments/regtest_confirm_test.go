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
// reaches confirmed once Confirmations deep. One whose block is popped
// (pop_blocks) and whose transaction is flushed from the pool
// (flush_txpool) while a longer chain is mined goes missing; relayed again
// (send_raw_transaction) it is found alive, keeps waiting and is confirmed.
// One that stays gone is marked dropped after DropGrace and paid again
// exactly once. The miner's wallet ends with exactly what the pool records
// as paid, and the audit passes after every run. It logs how soon the
// wallet calls the lost transaction failed or unknown.
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
		Confirmations: depth, DropGrace: grace,
		// As cmd/pool builds it: the Failover asks monerod whether it has
		// a transaction the wallet does not know (get_transactions).
		Chain: daemon.NewFailover([]daemon.Client{daemon.NewMonero("regtest", rt.Daemon.URL(), time.Minute, testLogger(t))}, 10*time.Second, testLogger(t))}
	proc := New(cfg, store, w, testLogger(t))
	pcfg := cfg
	pcfg.DropGrace = 10 * time.Minute
	patient := New(pcfg, store, w, testLogger(t))
	other := testAddress(t, cryptonote.Monero, 77) // mines the blocks
	runWith := func(p *Processor, what string) Result {
		t.Helper()
		res, err := p.RunOnce(ctx)
		t.Logf("%s: %s", what, res)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		mustAudit(t, store)
		return res
	}
	run := func(what string) Result { t.Helper(); return runWith(proc, what) }
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

	// (c) A payout whose block is reorged away comes back: missing while no
	// node has it, then relayed again (send_raw_transaction of the same
	// transaction); the payout keeps waiting and is confirmed, never paid
	// twice. A long grace here, so the pause cannot drop it.
	fund(t, store, map[string]uint64{miner.Address: xmr / 4})
	if res := run("payout that comes back"); res.Sent != 1 {
		t.Fatalf("payout that comes back %+v", res)
	}
	back := record(2)
	mine(1)
	seenMined(ctx, t, w, back.TxHash)
	blob := popAndFlush(ctx, t, rt.Daemon, back.TxHash)
	mine(2)
	until := time.Now().Add(3 * time.Minute)
	for record(2).MissingSince.IsZero() {
		if time.Now().After(until) {
			t.Fatalf("the reorged payout was not found missing in 3 minutes: %+v", record(2))
		}
		runWith(patient, "reorged away")
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("missing: %s", record(2).Missing)
	var relayed struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if err := daemonPost(ctx, rt.Daemon, "send_raw_transaction", map[string]any{"tx_as_hex": blob}, &relayed); err != nil || relayed.Status != "OK" {
		t.Fatalf("send_raw_transaction: %+v %v", relayed, err)
	}
	for !record(2).MissingSince.IsZero() {
		if time.Now().After(until) {
			t.Fatalf("the payout relayed again was not found alive in time: %+v", record(2))
		}
		runWith(patient, "relayed again")
		time.Sleep(500 * time.Millisecond)
	}
	if r := record(2); r.State != storage.PaymentSent {
		t.Fatalf("payout that came back: %+v", r)
	}
	mine(depth)
	if res := runWith(patient, "came back, deep"); res.Confirmed != 1 || record(2).State != storage.PaymentConfirmed || res.Records != 0 {
		t.Fatalf("payout that came back: %+v, record %+v", res, record(2))
	}

	// (b) A payout mined, then its block popped, the pool flushed and two
	// other blocks mined in its place.
	fund(t, store, map[string]uint64{miner.Address: xmr / 3})
	if res := run("second payout"); res.Sent != 1 {
		t.Fatalf("second payout %+v", res)
	}
	second := record(3)
	mine(1)
	seenMined(ctx, t, w, second.TxHash)
	popAndFlush(ctx, t, rt.Daemon, second.TxHash)
	flushed := time.Now()
	// A longer chain without the transaction, as a reorg brings: the
	// wallet notices its block is gone only when new blocks come.
	mine(2)
	var missingAfter time.Duration
	var said *wallet.TxInfo
	for {
		if time.Since(flushed) > 3*time.Minute {
			t.Fatalf("the dropped payout was not settled 3 minutes after the flush: %+v", record(3))
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
	if r := record(3); r.State != storage.PaymentDropped {
		t.Fatalf("second payout %+v", r)
	}
	again := record(4)
	if again.ResendOf != "3" || again.Debited != second.Debited || again.State != storage.PaymentSent {
		t.Fatalf("resend %+v", again)
	}
	mine(depth)
	if res := run("resend deep"); res.Confirmed != 1 || record(4).State != storage.PaymentConfirmed || res.Records != 0 {
		t.Fatalf("resend %+v, record %+v", res, record(4))
	}
	// Exactly what is recorded as paid, the dropped payout not counted.
	b, _ := store.Balance(ctx, miner.Address)
	got, _, err := miner.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := record(1).Sent + record(2).Sent + again.Sent
	if got != want || b.Paid != want {
		t.Fatalf("the miner's wallet holds %d, the pool records paid %d; want %d (payouts 1, 2 and 4)", got, b.Paid, want)
	}
	t.Logf("miner's wallet: %d = paid %d", got, b.Paid)
	// The pool wallet's own list agrees with the records: the payouts as
	// recorded, the dropped one's transaction not alive, nothing else sent.
	rep, err := store.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Reconcile(ctx, store, w, rep, 0)
	if err != nil || !rep.OK() {
		t.Fatalf("audit reconciling with the wallet (%d outgoing transfers): %v\n%s", n, err, rep)
	}
	t.Logf("audit reconciled with the wallet's %d outgoing transfers", n)
}

// popAndFlush removes the top block (its transactions go back to the
// daemon's pool), reads transaction tx's blob from the pool, then empties
// the pool, so the chain loses it; it returns the blob.
func popAndFlush(ctx context.Context, t *testing.T, d *testenv.Monerod, tx string) string {
	t.Helper()
	var pop struct {
		Status string `json:"status"`
		Height uint64 `json:"height"`
	}
	if err := daemonPost(ctx, d, "pop_blocks", map[string]any{"nblocks": 1}, &pop); err != nil || pop.Status != "OK" {
		t.Fatalf("pop_blocks: %+v %v", pop, err)
	}
	var got struct {
		Status string `json:"status"`
		Txs    []struct {
			AsHex  string `json:"as_hex"`
			InPool bool   `json:"in_pool"`
		} `json:"txs"`
	}
	if err := daemonPost(ctx, d, "get_transactions", map[string]any{"txs_hashes": []string{tx}}, &got); err != nil ||
		len(got.Txs) != 1 || !got.Txs[0].InPool {
		t.Fatalf("get_transactions after the pop: %+v %v", got, err)
	}
	var flush struct {
		Status string `json:"status"`
	}
	if err := d.Call(ctx, "flush_txpool", map[string]any{}, &flush); err != nil || flush.Status != "OK" {
		t.Fatalf("flush_txpool: %+v %v", flush, err)
	}
	t.Logf("popped the top block (height now %d) and flushed the pool", pop.Height)
	return got.Txs[0].AsHex
}

// seenMined makes the wallet see the transaction in a block before the
// reorg. A wallet that never saw it mined keeps calling it pending long
// after the chain lost it (monero-wallet-rpc: about 8 minutes, then failed).
func seenMined(ctx context.Context, t *testing.T, w wallet.Wallet, tx string) {
	t.Helper()
	if info, err := w.Lookup(ctx, tx); err != nil || info.State != wallet.TxConfirmed {
		t.Fatalf("payout %s mined: %+v %v", tx, info, err)
	}
}

// daemonPost calls one of monerod's plain JSON endpoints (not JSON-RPC).
func daemonPost(ctx context.Context, d *testenv.Monerod, path string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://%s/%s", d.Address(), path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}
