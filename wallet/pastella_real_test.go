package wallet_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/wallet"
)

// The tests in this file drive the client against the real
// Pastella-Wallet-API and Pastellad of one shared chain (testenv.SharedPastella);
// they run one after the other and leave the pool wallet open and synced.

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedPastella()
	os.Exit(code)
}

// realClient is the pool's client for chain's wallet w, told about the
// daemon as cmd/pool does.
func realClient(t *testing.T, chain *testenv.PastellaChain, w *testenv.PastellaWallet) *wallet.Pastella {
	t.Helper()
	c := wallet.NewPastella("pas", w.URL(), config.Secret(w.APIKey), 20*time.Second, testLog(t))
	c.SetDaemon("pastellad", "127.0.0.1", chain.Daemon.RPCPort, false)
	return c
}

// longCtx allows for a block or two being mined on a loaded machine, the
// first one after building the RandomX dataset when the chain came from the
// run's snapshot (testenv.EnvTestCache).
func longCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mineBlock mines one block outside the pool and waits for the pool
// wallet to scan it.
func mineBlock(t *testing.T, ctx context.Context, chain *testenv.PastellaChain) {
	t.Helper()
	if _, err := chain.Daemon.MineBlocks(ctx, 1, testenv.PastellaBurnAddress, t.Logf); err != nil {
		t.Fatal(err)
	}
	if err := chain.Pool.Synced(ctx); err != nil {
		t.Fatal(err)
	}
}

// unlocked is the pool wallet's spendable balance as the API reports it.
func unlocked(t *testing.T, ctx context.Context, w *testenv.PastellaWallet) uint64 {
	t.Helper()
	_, u, err := w.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// resetWallet rescans the pool wallet from the start (PUT /reset), the one
// way found to free the inputs of a prepared transaction that was never
// relayed, and waits for the scan to finish.
func resetWallet(t *testing.T, ctx context.Context, w *testenv.PastellaWallet) {
	t.Helper()
	if status, body, err := w.Do(ctx, http.MethodPut, "/reset", map[string]any{}); err != nil || status != http.StatusOK {
		t.Fatalf("PUT /reset: %d %s %v", status, body, err)
	}
	waitSynced(t, ctx, w)
}

// waitSynced waits until the wallet has scanned the chain again and its
// balance reads as before: right after an open or a reset the API answers
// with a zero balance for a moment, whatever its block count says.
func waitSynced(t *testing.T, ctx context.Context, w *testenv.PastellaWallet) {
	t.Helper()
	for {
		total, _, err := w.SyncedBalance(ctx)
		if err == nil && total > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("wallet %s not synced: %v", w.File, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// A payout to two miners' own wallets: prepared (inputs locked, nothing
// sent), relayed (pending in the wallet and in the daemon's pool), mined
// (confirmed), and each wallet receives exactly its amount.
func TestRealPastellaPayout(t *testing.T) {
	chain := testenv.SharedPastella(t)
	m1, m2 := chain.NewWallet(t, "m1"), chain.NewWallet(t, "m2")
	c := realClient(t, chain, chain.Pool)
	ctx := longCtx(t)

	// The harness opened the wallet: the API answers 403 to open and to
	// create, which the client takes as "a wallet is open, use it".
	if err := c.Open(ctx, chain.Pool.File, config.Secret(chain.Pool.Password)); err != nil {
		t.Fatalf("Open of the open wallet: %v", err)
	}
	if err := c.Create(ctx, "another.wallet", "another-password"); err != nil {
		t.Fatalf("Create while a wallet is open: %v", err)
	}
	if _, err := os.Stat(chain.Pool.Dir + "/another.wallet"); err == nil {
		t.Fatal("Create made a wallet file although a wallet was open")
	}
	if err := wallet.CheckAddress(ctx, c, chain.Pool.Address); err != nil {
		t.Fatal(err)
	}
	if err := wallet.CheckAddress(ctx, c, m1.Address); !errors.Is(err, wallet.ErrWrongWallet) {
		t.Fatalf("CheckAddress against another wallet's address: %v", err)
	}
	if err := c.Synced(ctx); err != nil {
		t.Fatal(err)
	}
	total, unl, err := c.Balance(ctx)
	wantTotal, wantUnl, _ := chain.Pool.Balance(ctx)
	if err != nil || total != wantTotal || unl != wantUnl || unl == 0 {
		t.Fatalf("Balance = %d, %d, %v; the API says %d, %d", total, unl, err, wantTotal, wantUnl)
	}

	const a1, a2 = 110_000_000, 120_000_000
	p, err := c.Prepare(ctx, []wallet.Destination{{Address: m1.Address, Amount: a1}, {Address: m2.Address, Amount: a2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.TxHash) != 64 || p.Handle != p.TxHash || p.Fee != 1000 {
		t.Fatalf("Prepared = %+v, want a hash and the flat fee of 1000", p)
	}
	// Prepare locks the inputs it spends: they leave the unlocked balance
	// (and, until the transaction is relayed, the total).
	if after := unlocked(t, ctx, chain.Pool); after > unl-a1-a2-p.Fee {
		t.Fatalf("unlocked %d after prepare, %d before: the inputs were not locked", after, unl)
	}
	info, err := c.Lookup(ctx, p.TxHash)
	if err != nil || info.State != wallet.TxUnknown || !info.DaemonChecked {
		t.Fatalf("Lookup of a prepared transaction = %+v, %v; want unknown to the wallet and the daemon", info, err)
	}

	if err := c.Relay(ctx, p); err != nil {
		t.Fatal(err)
	}
	info, err = c.Lookup(ctx, strings.ToUpper(p.TxHash))
	if err != nil || info.State != wallet.TxPending || info.Fee != 1000 || info.DaemonChecked {
		t.Fatalf("Lookup after relay = %+v, %v; want pending in the wallet itself", info, err)
	}
	// Relaying it again sends nothing: the wallet dropped it once sent.
	if err := c.Relay(ctx, p); !errors.Is(err, wallet.ErrPreparedNotFound) || wallet.IsRefused(err) {
		t.Fatalf("second Relay: %v, want the ambiguous ErrPreparedNotFound", err)
	}

	wantDests := map[string]uint64{m1.Address: a1, m2.Address: a2}
	checkOutgoing(t, ctx, c, 0, p.TxHash, wallet.TxPending, 0, wantDests)

	mineBlock(t, ctx, chain)
	height, err := chain.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err = c.Lookup(ctx, p.TxHash)
	if err != nil || info.State != wallet.TxConfirmed || info.Height != height-1 || info.Fee != 1000 {
		t.Fatalf("Lookup after a block = %+v, %v; want confirmed at index %d", info, err, height-1)
	}
	// Mined, the wallet lists the payout as if it had received its change;
	// the chain still says whom it paid.
	checkOutgoing(t, ctx, c, height-1, p.TxHash, wallet.TxConfirmed, height-1, wantDests)
	if out, err := c.Outgoing(ctx, height); err != nil || len(out) != 0 {
		t.Fatalf("Outgoing from height %d (after the payout) = %+v, %v; want nothing", height, out, err)
	}
	// The miner's wallet received it: for that wallet it is not outgoing.
	if out, err := realClient(t, chain, m1).Outgoing(ctx, 0); err != nil || len(out) != 0 {
		t.Fatalf("Outgoing of the receiving wallet = %+v, %v; want nothing", out, err)
	}
	for _, w := range []struct {
		w    *testenv.PastellaWallet
		want uint64
	}{{m1, a1}, {m2, a2}} {
		total, _, err := w.w.SyncedBalance(ctx)
		if err != nil || total != w.want {
			t.Errorf("wallet %s holds %d (%v), want exactly %d", w.w.File, total, err, w.want)
		}
	}
}

// Every refusal the wallet gives for a payout is a RefusedError with the
// wallet's code, names the bad destination where there is one, and leaves
// the wallet as it was: nothing sent, nothing locked.
func TestRealPastellaRefusals(t *testing.T) {
	chain := testenv.SharedPastella(t)
	c := realClient(t, chain, chain.Pool)
	ctx := longCtx(t)
	good, good2 := testenv.Address(t, cryptonote.Pastella, 1), testenv.Address(t, cryptonote.Pastella, 2)
	bad := good[:20] + flip(good[20]) + good[21:] // the checksum fails
	many := make([]wallet.Destination, 90)        // 90 + change > 90 outputs
	for i := range many {
		many[i] = wallet.Destination{Address: testenv.Address(t, cryptonote.Pastella, i+10), Amount: 1000}
	}
	before := unlocked(t, ctx, chain.Pool)
	for _, tc := range []struct {
		name    string
		dests   []wallet.Destination
		code    int
		badAddr string
	}{
		{"not enough balance", []wallet.Destination{{good, before}}, wallet.PastellaNotEnoughBalance, ""},
		{"bad checksum, second of three", []wallet.Destination{{good, 1}, {bad, 1}, {good2, 1}}, wallet.PastellaAddressNotValid, bad},
		{"wrong length", []wallet.Destination{{good, 1}, {good[:50], 1}}, wallet.PastellaAddressWrongLength, good[:50]},
		{"wrong prefix", []wallet.Destination{{"X" + good[1:], 1}}, wallet.PastellaAddressWrongPrefix, "X" + good[1:]},
		{"amount zero", []wallet.Destination{{good, 0}}, wallet.PastellaAmountIsZero, ""},
		{"no destinations", nil, wallet.PastellaNoDestinations, ""},
		{"too many outputs", many, wallet.PastellaOutputDecomposition, ""},
	} {
		p, err := c.Prepare(ctx, tc.dests)
		var r *wallet.RefusedError
		if !errors.As(err, &r) || r.Code != tc.code || r.BadAddress != tc.badAddr {
			t.Errorf("%s: Prepare = %+v, %v; want a refusal with code %d naming %q", tc.name, p, err, tc.code, tc.badAddr)
		}
	}
	// rxpool sends no fee (the wallet's minimum, 1000, applies); a fixed
	// fee below the minimum is refused with 17 before anything is built.
	status, body, err := chain.Pool.Do(ctx, http.MethodPost, "/transactions/prepare/advanced",
		map[string]any{"destinations": []map[string]any{{"address": good, "amount": 1000}}, "fee": 100})
	if err != nil || status != http.StatusBadRequest || !strings.Contains(string(body), `"errorCode": 17`) {
		t.Errorf("a fee of 100: HTTP %d %s %v; want 400 with error 17", status, body, err)
	}
	if after := unlocked(t, ctx, chain.Pool); after != before {
		t.Fatalf("unlocked %d after the refusals, %d before", after, before)
	}
	var unconfirmed struct {
		Transactions []any `json:"transactions"`
	}
	if err := chain.Pool.Get(ctx, "/transactions/unconfirmed", &unconfirmed); err != nil || len(unconfirmed.Transactions) != 0 {
		t.Fatalf("unconfirmed transactions after the refusals: %v %v", unconfirmed.Transactions, err)
	}
	// A wrong API key is refused before anything is looked at.
	wrong := wallet.NewPastella("pas", chain.Pool.URL(), "not-the-key", 5*time.Second, testLog(t))
	if _, err := wrong.Prepare(ctx, []wallet.Destination{{good, 1000}}); !errors.Is(err, wallet.ErrAuth) || errors.Is(err, wallet.ErrNotOpen) {
		t.Fatalf("Prepare with a wrong key: %v, want ErrAuth (401)", err)
	}
}

// Discard drops a prepared transaction for good, but the wallet keeps its
// inputs locked (PastellaCore removes the transaction and forgets to
// unlock them): they come back only with PUT /reset.
func TestRealPastellaDiscard(t *testing.T) {
	chain := testenv.SharedPastella(t)
	c := realClient(t, chain, chain.Pool)
	ctx := longCtx(t)
	// The baseline comes from a rescan too: a wallet that has lived
	// through earlier tests' payouts reports a different unlocked
	// balance after a rescan (CI saw +4 PAS) than before it.
	resetWallet(t, ctx, chain.Pool)
	before := unlocked(t, ctx, chain.Pool)
	p, err := c.Prepare(ctx, []wallet.Destination{{Address: testenv.Address(t, cryptonote.Pastella, 3), Amount: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	held := unlocked(t, ctx, chain.Pool)
	if held >= before {
		t.Fatalf("unlocked %d after prepare, %d before", held, before)
	}
	// A wrong API key (401) sends nothing.
	wrong := wallet.NewPastella("pas", chain.Pool.URL(), "not-the-key", 5*time.Second, testLog(t))
	if err := wrong.Relay(ctx, p); !errors.Is(err, wallet.ErrAuth) || errors.Is(err, wallet.ErrNotOpen) || wallet.IsRefused(err) {
		t.Fatalf("Relay with a wrong key: %v, want ErrAuth (401)", err)
	}
	if found, err := c.Discard(ctx, p); !found || err != nil {
		t.Fatalf("Discard = %v, %v; want it still held", found, err)
	}
	if found, err := c.Discard(ctx, p); found || err != nil {
		t.Fatalf("second Discard = %v, %v; want not found", found, err)
	}
	if err := c.Relay(ctx, p); !errors.Is(err, wallet.ErrPreparedNotFound) {
		t.Fatalf("Relay after Discard: %v, want ErrPreparedNotFound", err)
	}
	if info, err := c.Lookup(ctx, p.TxHash); err != nil || info.State != wallet.TxUnknown || !info.DaemonChecked {
		t.Fatalf("Lookup after Discard = %+v, %v", info, err)
	}
	if after := unlocked(t, ctx, chain.Pool); after != held {
		t.Fatalf("unlocked %d after Discard, %d while prepared, %d before: PastellaCore's Discard does not unlock, did that change?", after, held, before)
	}
	resetWallet(t, ctx, chain.Pool)
	if after := unlocked(t, ctx, chain.Pool); after != before {
		t.Fatalf("unlocked %d after PUT /reset, %d before the prepare", after, before)
	}
}

// After a Wallet-API restart the API has no wallet open and answers 403;
// a client told the wallet file (OpenOnDemand, as cmd/pool's are) opens it
// by itself and retries the call. A transaction prepared before the
// restart is gone (58) and is neither in the wallet nor in the daemon.
func TestRealPastellaReopensAfterRestart(t *testing.T) {
	chain := testenv.SharedPastella(t)
	c := realClient(t, chain, chain.Pool)
	ctx := longCtx(t)
	if err := c.Open(ctx, chain.Pool.File, config.Secret(chain.Pool.Password)); err != nil {
		t.Fatal(err)
	}
	p, err := c.Prepare(ctx, []wallet.Destination{{Address: testenv.Address(t, cryptonote.Pastella, 4), Amount: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	chain.Pool.Stop()
	if err := chain.Pool.Restart(false); err != nil {
		t.Fatal(err)
	}
	// A client not told the file answers ErrNotOpen (403) and opens
	// nothing; the errors of its opens are the wallet's own.
	other := realClient(t, chain, chain.Pool)
	if _, err := other.PrimaryAddress(ctx); !errors.Is(err, wallet.ErrNotOpen) {
		t.Fatalf("a call with no wallet open: %v, want ErrNotOpen", err)
	}
	if err := other.Relay(ctx, p); !errors.Is(err, wallet.ErrNotOpen) || wallet.IsRefused(err) {
		t.Fatalf("Relay with no wallet open: %v, want ErrNotOpen", err)
	}
	var ae *wallet.APIError
	if err := other.Open(ctx, chain.Pool.File, "wrong"); !errors.As(err, &ae) || ae.Code != wallet.PastellaWrongPassword {
		t.Fatalf("Open with a wrong password: %v, want error 5", err)
	}
	if err := other.Open(ctx, "missing.wallet", "not-a-password"); !errors.As(err, &ae) || ae.Code != 1 {
		t.Fatalf("Open of a missing file: %v, want error 1", err)
	}
	if err := other.Create(ctx, chain.Pool.File, "not-a-password"); !errors.As(err, &ae) || ae.Code != 8 {
		t.Fatalf("Create of an existing file: %v, want error 8", err)
	}
	// Create of a new file answers 200 and opens it; close it again.
	if err := other.Create(ctx, "created.wallet", "created-password"); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if addr, err := other.PrimaryAddress(ctx); err != nil || addr == chain.Pool.Address || !strings.HasPrefix(addr, "PAS1") {
		t.Fatalf("the created wallet's address: %q, %v", addr, err)
	}
	if status, body, err := chain.Pool.Do(ctx, http.MethodDelete, "/wallet", nil); err != nil || status != http.StatusOK {
		t.Fatalf("DELETE /wallet: %d %s %v", status, body, err)
	}

	onDemand := realClient(t, chain, chain.Pool)
	onDemand.OpenOnDemand(chain.Pool.File, config.Secret(chain.Pool.Password))
	if addr, err := onDemand.PrimaryAddress(ctx); err != nil || addr != chain.Pool.Address {
		t.Fatalf("PrimaryAddress after the restart = %q, %v; want the client to open the wallet", addr, err)
	}
	if err := c.Relay(ctx, p); !errors.Is(err, wallet.ErrPreparedNotFound) {
		t.Fatalf("Relay of a transaction prepared before the restart: %v, want ErrPreparedNotFound", err)
	}
	if info, err := c.Lookup(ctx, p.TxHash); err != nil || info.State != wallet.TxUnknown || !info.DaemonChecked {
		t.Fatalf("Lookup = %+v, %v", info, err)
	}
	waitFor(t, ctx, "the reopened wallet to sync", func() error { return c.Synced(ctx) })
	// Stop saved the wallet with the prepared transaction's inputs locked.
	resetWallet(t, ctx, chain.Pool)
}

// A wallet killed after relaying, before it saved, forgets the
// transaction until it is mined; the daemon still has it in its pool, and
// Lookup finds it there.
func TestRealPastellaLostRelayFoundInDaemon(t *testing.T) {
	chain := testenv.SharedPastella(t)
	m := chain.NewWallet(t, "m3")
	c := realClient(t, chain, chain.Pool)
	ctx := longCtx(t)
	if err := c.Open(ctx, chain.Pool.File, config.Secret(chain.Pool.Password)); err != nil {
		t.Fatal(err)
	}
	const amount = 130_000_000
	p, err := c.Prepare(ctx, []wallet.Destination{{Address: m.Address, Amount: amount}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Relay(ctx, p); err != nil {
		t.Fatal(err)
	}
	chain.Pool.Kill()
	if info, err := c.Lookup(ctx, p.TxHash); err != nil || info.State != wallet.TxPending || !info.DaemonChecked {
		t.Fatalf("Lookup with the wallet down = %+v, %v; want pending, from the daemon", info, err)
	}
	if err := chain.Pool.Restart(false); err != nil {
		t.Fatal(err)
	}
	info, err := c.Lookup(ctx, p.TxHash) // reopens the wallet
	if err != nil || info.State != wallet.TxPending || !info.DaemonChecked {
		t.Fatalf("Lookup after the kill = %+v, %v; want pending, from the daemon", info, err)
	}
	mineBlock(t, ctx, chain)
	waitSynced(t, ctx, chain.Pool)
	if info, err := c.Lookup(ctx, p.TxHash); err != nil || info.State != wallet.TxConfirmed {
		t.Fatalf("Lookup after a block = %+v, %v; want confirmed", info, err)
	}
	if total, _, err := m.SyncedBalance(ctx); err != nil || total != amount {
		t.Fatalf("the miner's wallet holds %d (%v), want %d", total, err, amount)
	}
}

// waitFor polls ready until it succeeds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, ready func() error) {
	t.Helper()
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkOutgoing asserts that the pool wallet's Outgoing from minHeight lists
// the payout txHash exactly once, as the chain has it, and nothing it did
// not send.
func checkOutgoing(t *testing.T, ctx context.Context, c *wallet.Pastella, minHeight uint64, txHash string, state wallet.TxState, height uint64, dests map[string]uint64) {
	t.Helper()
	out, err := c.Outgoing(ctx, minHeight)
	if err != nil {
		t.Fatal(err)
	}
	var found []wallet.OutgoingTx
	for _, tx := range out {
		if tx.TxHash == txHash {
			found = append(found, tx)
		}
		// Only a mined transaction's destinations are known (the chain's).
		if tx.Fee != 1000 || (tx.State == wallet.TxConfirmed) != (tx.Dests != nil) {
			t.Errorf("outgoing %+v: want the flat fee, and the destinations once mined", tx)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Outgoing(%d) lists the payout %d times: %+v", minHeight, len(found), out)
	}
	tx := found[0]
	got := map[string]uint64{}
	var sum uint64
	for _, d := range tx.Dests {
		got[d.Address] += d.Amount
		sum += d.Amount
	}
	var want uint64
	for _, v := range dests {
		want += v
	}
	if tx.State != state || tx.Height != height || tx.Amount != want {
		t.Fatalf("outgoing payout = %+v; want %v at height %d sending %d", tx, state, height, want)
	}
	if tx.Dests == nil {
		return
	}
	if sum != want || len(got) != len(dests) {
		t.Fatalf("outgoing payout pays %v; want %v", got, dests)
	}
	for a, v := range dests {
		if got[a] != v {
			t.Fatalf("outgoing payout pays %v; want %v", got, dests)
		}
	}
}
