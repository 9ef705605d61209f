package payments

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet"
	"rxpool/wallet/wallettest"
)

// fakeLedger is the fake wallet API's ledger of relayed transactions, in
// the form checkLedger compares with the journal.
func fakeLedger(f *wallettest.FakePastella) []fakeTx {
	var out []fakeTx
	for _, tx := range f.Relayed() {
		out = append(out, fakeTx{Hash: tx.Hash, Fee: tx.Fee, Dests: tx.Dests})
	}
	return out
}

// pastellaClient opens the fake's wallet through the real client, which
// uses the fake as its daemon too.
func pastellaClient(t testing.TB, f *wallettest.FakePastella, timeout time.Duration) *wallet.Pastella {
	t.Helper()
	w := wallet.NewPastella("fake", f.URL(), config.Secret(f.APIKey()), timeout, testLogger(t))
	u, err := url.Parse(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	w.SetDaemon("fake", u.Hostname(), port, false)
	if err := w.Open(context.Background(), wallettest.DefaultFile, config.Secret(wallettest.DefaultPassword)); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestPastellaWalletFaults drives payments through the real Pastella
// client against the fake wallet API failing in each way, then checks that
// the record ended in the right state, that nothing was lost or doubled
// (audit; the wallet's ledger against the journal), and that once the
// wallet behaves every miner is paid exactly once: a halted record is
// settled by the lookups of a later run, with no operator.
func TestPastellaWalletFaults(t *testing.T) {
	rds := testenv.NewRedis(t)
	const (
		failed  = storage.PaymentFailed
		sent    = storage.PaymentSent
		halted  = storage.PaymentRelaying
		nothing = "" // no record: the run stopped before
	)
	for _, tc := range []struct {
		name   string
		route  string
		faults []wallettest.Fault
		want   string
	}{
		{"PrepareRefusedNoMoney", wallettest.RoutePrepare, []wallettest.Fault{wallettest.Refuse(wallet.PastellaNotEnoughBalance)}, failed},
		{"Prepare401", wallettest.RoutePrepare, []wallettest.Fault{wallettest.Status(401)}, failed},
		{"Prepare403Reopens", wallettest.RoutePrepare, []wallettest.Fault{wallettest.Status(403)}, sent},
		{"Prepare500", wallettest.RoutePrepare, []wallettest.Fault{wallettest.Status(500)}, failed},
		{"Prepare500AfterActing", wallettest.RoutePrepare, []wallettest.Fault{wallettest.StatusAfterActing(500)}, failed},
		{"PrepareDropped", wallettest.RoutePrepare, []wallettest.Fault{wallettest.DropAfterActing()}, failed},
		{"PrepareTimeout", wallettest.RoutePrepare, []wallettest.Fault{wallettest.TimeoutAfterActing()}, failed},
		{"PrepareGarbage", wallettest.RoutePrepare, []wallettest.Fault{wallettest.Garbage()}, failed},
		{"RelayRefusedExpired", wallettest.RouteRelay, []wallettest.Fault{wallettest.Refuse(wallet.PastellaPreparedExpired)}, failed},
		{"RelayRefusedEmpty400", wallettest.RouteRelay, []wallettest.Fault{wallettest.Status(400)}, failed},
		{"RelayDroppedBeforeActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.DropBeforeActing()}, halted},
		{"RelayDroppedAfterActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.DropAfterActing()}, sent},
		{"RelayTimeoutBeforeActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.TimeoutBeforeActing()}, halted},
		{"RelayTimeoutAfterActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.TimeoutAfterActing()}, sent},
		{"Relay401", wallettest.RouteRelay, []wallettest.Fault{wallettest.Status(401)}, halted},
		{"Relay403Reopens", wallettest.RouteRelay, []wallettest.Fault{wallettest.Status(403)}, sent},
		{"Relay500BeforeActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.Status(500)}, halted},
		{"Relay500AfterActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.StatusAfterActing(500)}, sent},
		{"RelayGarbageBeforeActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.Garbage()}, halted},
		{"RelayGarbageAfterActing", wallettest.RouteRelay, []wallettest.Fault{wallettest.GarbageAfterActing()}, sent},
		// The relay's reply is lost and so are the lookups': halted until a
		// later run's lookup answers.
		{"LookupFailsToo", wallettest.RouteRelay, []wallettest.Fault{wallettest.DropAfterActing()}, halted},
		{"Balance401", wallettest.RouteBalance, []wallettest.Fault{wallettest.Status(401)}, nothing},
		{"BalanceGarbage", wallettest.RouteBalance, []wallettest.Fault{wallettest.Garbage()}, nothing},
		{"PrimaryAddress500", wallettest.RoutePrimary, []wallettest.Fault{wallettest.Status(500)}, nothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := wallettest.Start(t, wallettest.Options{Unlocked: 1 << 50})
			w := pastellaClient(t, f, 500*time.Millisecond)
			store := newStore(t, rds)
			a1, a2 := wallettest.Address(1), wallettest.Address(2)
			fund(t, store, map[string]uint64{a1: 250_500, a2: 400_000})
			cfg := Config{Interval: time.Hour, MinPayment: 100_000, Denomination: 1000, TransferFee: 1000, MaxAddresses: 15,
				MinerPayFee: true, DynamicTransferFee: true, PoolAddress: f.PrimaryAddress(), Coin: cryptonote.Pastella, LeaseTTL: 5 * time.Second,
				RelayGrace: 700 * time.Millisecond} // the client's timeout and a little
			p := New(cfg, store, w, testLogger(t))
			f.Inject(tc.route, tc.faults...)
			if tc.name == "LookupFailsToo" {
				f.Inject(wallettest.RouteLookup, wallettest.Status(500))
				f.Inject(wallettest.RouteDaemonStatus, wallettest.Status(500))
			}
			res, err := p.RunOnce(ctx)
			t.Logf("faulty run: %s (%v)", res, err)
			mustAudit(t, store)
			checkLedger(t, store, fakeLedger(f))
			recs, _ := store.Payments(ctx, 0, 10)
			switch {
			case tc.want == nothing:
				if err == nil || len(recs) != 0 {
					t.Fatalf("want no record and an error: %v, %d records", err, len(recs))
				}
			case len(recs) == 0:
				t.Fatalf("no record; %v", err)
			case recs[len(recs)-1].State != tc.want:
				t.Fatalf("record %+v, want %s (%v)", recs[len(recs)-1], tc.want, err)
			}
			if tc.want == halted {
				if !errors.Is(err, ErrHalted) || !res.Halted {
					t.Fatalf("want a halt: %+v %v", res, err)
				}
				if h, _ := store.HaltedPayments(ctx); len(h) != 1 {
					t.Fatalf("halted %+v", h)
				}
				time.Sleep(cfg.RelayGrace)
			}
			// The wallet behaves again: everyone ends up paid exactly once.
			res, err = p.RunOnce(ctx)
			t.Logf("clean run: %s (%v)", res, err)
			if err != nil {
				t.Fatal(err)
			}
			mustAudit(t, store)
			checkLedger(t, store, fakeLedger(f))
			got := f.ReceivedAll()
			bySent, _ := sentByRecords(t, store)
			for _, a := range []string{a1, a2} {
				b, _ := store.Balance(ctx, a)
				if got[a] != bySent[a] || got[a] == 0 || b.PendingPayment != 0 {
					t.Fatalf("%s: the wallet sent %d, the records say %d; balance %+v", a, got[a], bySent[a], b)
				}
			}
			if b, _ := store.Balance(ctx, a1); b.Balance != 500 || b.Paid != 250_000 {
				t.Fatalf("denomination remainder: %+v", b)
			}
			if h, _ := store.HaltedPayments(ctx); len(h) != 0 {
				t.Fatalf("still halted: %+v", h)
			}
		})
	}
}

// TestPastellaPayoutReorgedAway: the fake behaves as Pastellad v1.0.3 after
// a reorg took a payout's block (the wallet still lists it at its old
// height, the daemon says "in a block", nothing is in the pool). The payout
// is never confirmed; it is dropped after the grace and paid again exactly
// once; a payout below the reorg is confirmed as usual.
func TestPastellaPayoutReorgedAway(t *testing.T) {
	rds := testenv.NewRedis(t)
	ctx := context.Background()
	f := wallettest.Start(t, wallettest.Options{Unlocked: 1 << 50})
	w := pastellaClient(t, f, time.Second)
	store := newStore(t, rds)
	chain := &fakeChain{}
	cfg := Config{Interval: time.Hour, MinPayment: 100_000, Denomination: 1000, TransferFee: 1000, MaxAddresses: 15,
		PoolAddress: f.PrimaryAddress(), Coin: cryptonote.Pastella, LeaseTTL: 5 * time.Second,
		Confirmations: 2, DropGrace: 50 * time.Millisecond, Chain: chain}
	p := New(cfg, store, w, testLogger(t))
	run := func(what string) Result {
		t.Helper()
		chain.set(f.Height())
		res, err := p.RunOnce(ctx)
		t.Logf("%s: %s", what, res)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		mustAudit(t, store)
		return res
	}
	a1, a2 := wallettest.Address(1), wallettest.Address(2)
	fund(t, store, map[string]uint64{a1: 300_000})
	run("first payout")
	below := f.MineBlock()
	fund(t, store, map[string]uint64{a2: 500_000})
	run("second payout")
	f.MineBlock()
	f.MineBlock()
	f.Reorg(below + 1) // the second payout's block and the one above replaced
	f.MineBlock()
	f.MineBlock()
	res := run("after the reorg")
	if res.Confirmed != 1 {
		t.Fatalf("after the reorg %+v: want only the payout below it confirmed", res)
	}
	time.Sleep(cfg.DropGrace)
	if res = run("past the grace"); res.Dropped != 1 || res.Sent != 1 {
		t.Fatalf("past the grace %+v: want the reorged payout dropped and paid again", res)
	}
	recs, err := store.Payments(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].ResendOf != "2" || recs[1].State != storage.PaymentDropped || recs[2].State != storage.PaymentConfirmed {
		t.Fatalf("records %v", recs)
	}
	var onChain uint64 // what reached the miner on the main chain
	for _, tx := range f.Relayed() {
		for _, d := range tx.Dests {
			if d.Address == a2 && !tx.OffChain {
				onChain += d.Amount
			}
		}
	}
	if onChain != recs[0].Sent || recs[0].Sent != recs[1].Sent {
		t.Fatalf("the miner got %d on the main chain; the resend sent %d, the dropped payout %d", onChain, recs[0].Sent, recs[1].Sent)
	}
}
