package e2epastella

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

// TestPastellaPayoutReorgedAwayIsPaidOnce: a payout mined on node A is
// reorged away (node B, mining apart from before it, brings a chain of more
// work without it). Pastellad keeps its transaction out of the pool, so it
// is never mined again, while the Wallet-API lists it at its old height
// until it has synced past the reorg. The pool (payments only, 2
// confirmations, 5 s drop grace) must not call it confirmed, must mark it
// dropped and pay it again exactly once; the miner's own wallet ends with
// exactly what was credited, and the audit reconciles with the wallet.
func TestPastellaPayoutReorgedAwayIsPaidOnce(t *testing.T) {
	chain := testenv.NewPastellaChain(t)
	a := chain.Daemon
	b := testenv.NewPastellad(t, testenv.PastelladOptions{})
	r := newPasWalletRigWith(t, pasRigOptions{chain: chain, timeout: 12 * time.Minute,
		payments: `,"confirmations":2,"dropGrace":5`})
	ctx := r.ctx
	miner := chain.NewWallet(t, "miner")
	// B takes A's chain, then mines apart from here on.
	peerUntil(t, ctx, a, b, a)
	if err := b.RestartPeered(); err != nil {
		t.Fatal(err)
	}
	fork := chainCount(t, ctx, a)

	const owed = 50_000_000
	r.fund(t, map[string]uint64{miner.Address: owed})
	first := r.waitPaid(t, 2*time.Minute)[0]
	mineOn(t, ctx, a, 1)
	e2e.WaitFor(t, time.Minute, "the payout in A's block", func() error { return txIs(ctx, a, first.TxHash, "block") })
	e2e.WaitFor(t, time.Minute, "the miner's wallet seeing it", func() error {
		got, _, err := miner.SyncedBalance(ctx)
		if err == nil && got != owed {
			err = fmt.Errorf("balance %d", got)
		}
		return err
	})

	mineOn(t, ctx, b, int(chainCount(t, ctx, a)-fork)+2)
	reorg(t, ctx, a, b)
	reorged := time.Now()
	// What Pastellad v1.0.3 does (wallet/pastella_mainchain.go): the
	// transaction stays "in a block" (the one off the main chain now) and
	// out of its pool, so nobody mines it again.
	if err := txIs(ctx, a, first.TxHash, "block"); err != nil {
		t.Fatalf("after the reorg: %v", err)
	}
	lastBlock := time.Now()
	e2e.WaitFor(t, 3*time.Minute, "the payout dropped", func() error {
		rec := payment(t, r, first.ID)
		if rec.State == storage.PaymentConfirmed {
			t.Fatalf("a payout whose transaction no chain has was confirmed: %+v", rec)
		}
		if rec.State != storage.PaymentDropped {
			// Blocks keep coming, as on the network.
			if time.Since(lastBlock) > 5*time.Second {
				mineOn(t, ctx, a, 1)
				lastBlock = time.Now()
			}
			return fmt.Errorf("payout %d is %s (missing: %q)", rec.ID, rec.State, rec.Missing)
		}
		return nil
	})
	dropped := payment(t, r, first.ID)
	t.Logf("missing %v after the reorg, dropped %v after it: %s", dropped.MissingSince.Sub(reorged).Round(time.Millisecond),
		dropped.DroppedAt.Sub(reorged).Round(time.Millisecond), dropped.Error)
	// Paid again. A wallet that has not synced past the reorg yet may build
	// the first try from outputs of the replaced blocks; the daemon refuses
	// it, the record fails unsent and the next run pays.
	recs := r.waitPaid(t, 2*time.Minute)
	var again *storage.PaymentRecord
	for _, rec := range recs {
		switch {
		case rec.ID == first.ID:
		case rec.State == storage.PaymentFailed:
			t.Logf("payment %d failed unsent: %s", rec.ID, rec.Error)
		case again == nil && rec.State == storage.PaymentSent:
			again = rec
		default:
			t.Fatalf("payment %d is %s besides the resend: %v", rec.ID, rec.State, settledBy(recs))
		}
	}
	if again == nil || again.Debited != first.Debited || again.TxHash == first.TxHash {
		t.Fatalf("no resend of %+v: %v", first, settledBy(recs))
	}
	mineOn(t, ctx, a, 3)
	e2e.WaitFor(t, time.Minute, "the resend confirmed", func() error {
		if rec := payment(t, r, again.ID); rec.State != storage.PaymentConfirmed {
			return fmt.Errorf("resend is %s", rec.State)
		}
		return nil
	})
	got, _, err := miner.SyncedBalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bal := e2e.BalanceOf(t, r.store, miner.Address)
	if got != owed || bal.Paid != owed || bal.Balance != 0 || bal.PendingPayment != 0 {
		t.Fatalf("the miner's wallet holds %d, the books %+v; credited %d", got, bal, owed)
	}
	if err := chain.Pool.Synced(ctx); err != nil {
		t.Fatal(err)
	}
	if out := e2e.PoolAudit(t, r.pool, "-min-height", r.from); !strings.Contains(out, "reconciled with the wallet wallet-api") {
		t.Fatalf("the audit did not reconcile with the wallet:\n%s", out)
	}
}

func payment(t *testing.T, r *pasWalletRig, id uint64) *storage.PaymentRecord {
	t.Helper()
	rec, err := r.store.Payment(r.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// txState is where the daemon has a transaction: "pool", "block" or
// "unknown" (POST /get_transactions_status), or the error.
func txState(ctx context.Context, d *testenv.Pastellad, hash string) string {
	body, _ := json.Marshal(map[string][]string{"transactionHashes": {hash}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL()+"/get_transactions_status", bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Close = true // no idle connection: Pastellad waits for those when it stops
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var st struct {
		InPool  []string `json:"transactionsInPool"`
		InBlock []string `json:"transactionsInBlock"`
		Unknown []string `json:"transactionsUnknown"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return err.Error()
	}
	switch {
	case len(st.InPool) == 1:
		return "pool"
	case len(st.InBlock) == 1:
		return "block"
	case len(st.Unknown) == 1:
		return "unknown"
	}
	return fmt.Sprintf("%+v", st)
}

// txIs is nil when the daemon has the transaction where want says.
func txIs(ctx context.Context, d *testenv.Pastellad, hash, want string) error {
	if got := txState(ctx, d, hash); got != want {
		return fmt.Errorf("the daemon has %s: %s, want %s", hash, got, want)
	}
	return nil
}
