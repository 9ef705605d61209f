package payments

import (
	"context"
	"sync"
	"testing"
	"time"

	"rxpool/daemon"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet"
)

// fakeChain is a daemon whose height the test sets.
type fakeChain struct {
	mu     sync.Mutex
	height uint64
}

func (c *fakeChain) Info(context.Context) (*daemon.Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &daemon.Info{Height: c.height}, nil
}

func (c *fakeChain) set(h uint64) {
	c.mu.Lock()
	c.height = h
	c.mu.Unlock()
}

// TestConfirmAndDropWithFakeWallet walks the states after sent against a
// fake wallet: confirmed only once deep enough; a transaction that goes
// missing and comes back keeps waiting; the wallet's word alone drops
// nothing; one that neither the wallet nor the daemon has past the grace
// is dropped and paid again exactly once, in a record naming it; the audit
// holds at every step.
func TestConfirmAndDropWithFakeWallet(t *testing.T) {
	rds := testenv.NewRedis(t)
	e := newEnv(t, rds, 2)
	chain := &fakeChain{height: 100}
	e.cfg.Chain, e.cfg.Confirmations, e.cfg.DropGrace = chain, 5, 50*time.Millisecond
	var mu sync.Mutex
	states := map[string]*wallet.TxInfo{} // hash → what the wallet says; absent = the fake's default
	e.w.onLookup = func(h string) (*wallet.TxInfo, error) {
		mu.Lock()
		defer mu.Unlock()
		return states[h], nil
	}
	setState := func(h string, info *wallet.TxInfo) {
		mu.Lock()
		states[h] = info
		mu.Unlock()
	}
	ctx := context.Background()
	record := func(id uint64) *storage.PaymentRecord {
		t.Helper()
		r, err := e.store.Payment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	e.fundEach(300_000, 0)
	if res := e.mustRun(); res.Sent != 1 {
		t.Fatalf("first run %+v", res)
	}
	first := record(1)
	setState(first.TxHash, &wallet.TxInfo{State: wallet.TxConfirmed, Height: 98})
	if res := e.mustRun(); res.Confirmed != 0 || record(1).State != storage.PaymentSent {
		t.Fatalf("2 deep of 5: %+v, record %s", res, record(1).State)
	}
	chain.set(103)
	if res := e.mustRun(); res.Confirmed != 1 || record(1).State != storage.PaymentConfirmed || record(1).Height != 98 {
		t.Fatalf("5 deep: %+v, record %+v", res, record(1))
	}

	e.fundEach(0, 400_000)
	if res := e.mustRun(); res.Sent != 1 {
		t.Fatalf("second payout %+v", res)
	}
	second := record(2)
	// Missing, then back before the grace ends: no change.
	setState(second.TxHash, &wallet.TxInfo{State: wallet.TxFailed})
	e.mustRun()
	if r := record(2); r.State != storage.PaymentSent || r.MissingSince.IsZero() {
		t.Fatalf("missing once: %+v", r)
	}
	setState(second.TxHash, nil) // the fake has it relayed: pending
	time.Sleep(2 * e.cfg.DropGrace)
	e.mustRun()
	if r := record(2); r.State != storage.PaymentSent || !r.MissingSince.IsZero() {
		t.Fatalf("back: %+v", r)
	}
	// The wallet alone saying it does not know the transaction, however
	// long, drops nothing: the daemon may hold it.
	setState(second.TxHash, &wallet.TxInfo{State: wallet.TxUnknown})
	e.mustRun()
	time.Sleep(2 * e.cfg.DropGrace)
	if res := e.mustRun(); res.Dropped != 0 || record(2).State != storage.PaymentSent || record(2).MissingSince.IsZero() {
		t.Fatalf("dropped on the wallet's word alone: %+v, record %+v", res, record(2))
	}
	// Missing past the grace, the daemon asked too: dropped and paid again
	// in the same run (missing since the grace began above).
	setState(second.TxHash, &wallet.TxInfo{State: wallet.TxUnknown, DaemonChecked: true})
	res := e.mustRun()
	if res.Dropped != 1 || res.Records != 1 || res.Sent != 1 {
		t.Fatalf("drop run %+v", res)
	}
	if r := record(2); r.State != storage.PaymentDropped {
		t.Fatalf("dropped record %+v", r)
	}
	again := record(3)
	if again.ResendOf != "2" || again.Debited != second.Debited || again.State != storage.PaymentSent {
		t.Fatalf("resend %+v", again)
	}
	if b := e.balance(e.addrs[1]); b.Paid != second.Debited || b.Balance != 0 {
		t.Fatalf("balance after the resend %+v, want paid %d once", b, second.Debited)
	}
	// Nothing more to pay, and the dropped one is not watched any more.
	if res := e.mustRun(); res.Records != 0 || res.Dropped != 0 {
		t.Fatalf("after %+v", res)
	}
	// The miner's history and the pool's list show the states and leave
	// the dropped payout out.
	hist, err := e.store.MinerPayments(ctx, e.addrs[1], 0, 10)
	if err != nil || len(hist) != 1 || hist[0].ID != 3 || hist[0].State != storage.PaymentSent {
		t.Fatalf("history of the resent miner %+v %v", hist, err)
	}
	all, _, err := e.store.SentPayments(ctx, 0, 10)
	if err != nil || len(all) != 2 || all[0].ID != 3 || all[1].ID != 1 || all[1].State != storage.PaymentConfirmed {
		t.Fatalf("sent payments %+v %v", all, err)
	}
	st, _ := e.store.PaymentStats(ctx)
	if st.Confirmed != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}
