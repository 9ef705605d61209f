package payments

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet"
)

func TestPlanSelectsAndRounds(t *testing.T) {
	c := Config{MinPayment: 1000, Denomination: 100, MaxPayment: 50_000, MaxAddresses: 15}
	balances := map[string]uint64{
		"below":      999,
		"exact":      1000,
		"remainder":  1299,
		"threshold":  4000, // own threshold 5000: waits
		"thresh-ok":  5050,
		"capped":     80_099,
		"blocked":    9000,
		"huge-thres": 60_000, // threshold above maxPayment: capped at it
	}
	thresholds := map[string]uint64{"threshold": 5000, "thresh-ok": 5000, "huge-thres": 1 << 40}
	blocked := map[string]string{"blocked": "bad"}
	got := c.plan(balances, thresholds, blocked)
	want := []payee{{"capped", 50_000}, {"exact", 1000}, {"huge-thres", 50_000}, {"remainder", 1200}, {"thresh-ok", 5000}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan %v\nwant %v", got, want)
	}
	// A fixed fee the miner pays must leave something to send.
	c = Config{MinPayment: 1000, Denomination: 1000, TransferFee: 1000, MinerPayFee: true, MaxAddresses: 15}
	if got := c.plan(map[string]uint64{"a": 1999, "b": 2000}, nil, nil); !reflect.DeepEqual(got, []payee{{"b", 2000}}) {
		t.Fatalf("fixed fee plan %v", got)
	}
}

func TestBatches(t *testing.T) {
	ps := []payee{{"a", 10}, {"b", 20}, {"c", 30}, {"d", 200}, {"e", 5}, {"f", 5}, {"g", 5}}
	for _, tc := range []struct {
		maxAddr int
		maxAmt  uint64
		want    string
	}{
		{15, 0, "abcdefg"},
		{3, 0, "abc def g"},
		{1, 0, "a b c d e f g"},
		{15, 60, "abc d efg"}, // d (200) exceeds the cap and goes alone
		{2, 35, "ab c d ef g"},
		{15, 30, "ab c d efg"},
	} {
		c := Config{MaxAddresses: tc.maxAddr, MaxTransactionAmount: tc.maxAmt}
		var parts []string
		for _, b := range c.batches(ps) {
			s := ""
			for _, p := range b {
				s += p.Address
			}
			parts = append(parts, s)
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("maxAddresses %d, maxTransactionAmount %d: %q, want %q", tc.maxAddr, tc.maxAmt, got, tc.want)
		}
	}
}

func TestDynamicShare(t *testing.T) {
	for _, tc := range []struct {
		fee, share uint64
		n          int
		minDebit   uint64
		try        int
		ok         bool
		next       uint64
	}{
		{fee: 1000, share: 333, n: 3, minDebit: 1e6, ok: true, next: 333},                   // exact split, pool pays 1
		{fee: 1000, share: 0, n: 3, minDebit: 1e6, next: 333},                               // prepare again with the split
		{fee: 1200, share: 333, n: 3, minDebit: 1e6, try: 1, next: 400},                     // fee rose
		{fee: 900, share: 333, n: 3, minDebit: 1e6, try: 1, next: 300},                      // fee fell: miners must not overpay
		{fee: 1200, share: 333, n: 3, minDebit: 1e6, try: maxFeeTries, ok: true, next: 333}, // give up, miners pay less
		{fee: 900, share: 333, n: 3, minDebit: 1e6, try: maxFeeTries, next: 0},              // give up, the pool pays
		{fee: 0, share: 0, n: 3, minDebit: 1e6, try: maxFeeTries + 1, ok: true},             // ... which always fits
		{fee: 10_000, share: 99, n: 2, minDebit: 100, ok: true, next: 99},                   // the share stays below the debit
		{fee: 10_000, share: 0, n: 2, minDebit: 100, next: 99},
	} {
		ok, next := dynamicShare(tc.fee, tc.share, tc.n, tc.minDebit, tc.try)
		if ok != tc.ok || next != tc.next {
			t.Errorf("%+v: got %v %d", tc, ok, next)
		}
		if ok && tc.share*uint64(tc.n) > tc.fee {
			t.Errorf("%+v: miners pay more than the fee", tc)
		}
	}
}

// env is a processor against a real Redis and the in-package fake wallet.
type env struct {
	t     *testing.T
	store *storage.Store
	w     *fakeWallet
	cfg   Config
	pool  string
	addrs []string
}

func newEnv(t *testing.T, rds *testenv.Redis, n int) *env {
	e := &env{t: t, store: newStore(t, rds), pool: testAddress(t, cryptonote.Pastella, 0)}
	e.w = newFakeWallet(e.pool)
	for i := 1; i <= n; i++ {
		e.addrs = append(e.addrs, testAddress(t, cryptonote.Pastella, i))
	}
	e.cfg = Config{Interval: time.Hour, MinPayment: 100_000, Denomination: 1000, TransferFee: 1000, MaxAddresses: 15,
		PoolAddress: e.pool, Coin: cryptonote.Pastella, LeaseTTL: 5 * time.Second}
	return e
}

func (e *env) processor() *Processor { return New(e.cfg, e.store, e.w, testLogger(e.t)) }

func (e *env) run() (Result, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.processor().RunOnce(ctx)
	e.t.Logf("run: %s (err %v)", res, err)
	return res, err
}

func (e *env) mustRun() Result {
	e.t.Helper()
	res, err := e.run()
	if err != nil {
		e.t.Fatal(err)
	}
	mustAudit(e.t, e.store)
	return res
}

func (e *env) balance(addr string) storage.Balance {
	e.t.Helper()
	b, err := e.store.Balance(context.Background(), addr)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// fundEach credits each of the first len(amounts) addresses.
func (e *env) fundEach(amounts ...uint64) {
	m := map[string]uint64{}
	for i, a := range amounts {
		m[e.addrs[i]] = a
	}
	fund(e.t, e.store, m)
}

func TestFeeModes(t *testing.T) {
	rds := testenv.NewRedis(t)
	for _, tc := range []struct {
		name          string
		minerPays     bool
		dynamic       bool
		txFee         uint64
		wantFee       []uint64 // per destination
		wantRemainder []uint64 // left in the balances
	}{
		{name: "PoolPays", txFee: 1000, wantFee: []uint64{0, 0, 0}, wantRemainder: []uint64{345, 0, 999}},
		{name: "FixedPerDestination", minerPays: true, txFee: 1000, wantFee: []uint64{1000, 1000, 1000}, wantRemainder: []uint64{345, 0, 999}},
		// 1000 over 3: 333 each, the pool pays 1.
		{name: "DynamicSplitRemainderToPool", minerPays: true, dynamic: true, txFee: 1000, wantFee: []uint64{333, 333, 333}, wantRemainder: []uint64{345, 0, 999}},
		{name: "DynamicRealFeeDiffers", minerPays: true, dynamic: true, txFee: 4001, wantFee: []uint64{1333, 1333, 1333}, wantRemainder: []uint64{345, 0, 999}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, rds, 3)
			e.cfg.MinerPayFee, e.cfg.DynamicTransferFee = tc.minerPays, tc.dynamic
			e.w.fee = func([]wallet.Destination) uint64 { return tc.txFee }
			e.fundEach(1_234_345, 200_000, 150_999)
			res := e.mustRun()
			if res.Records != 1 || res.Sent != 1 {
				t.Fatalf("result %+v", res)
			}
			recs, _ := e.store.Payments(context.Background(), 0, 10)
			rec := recs[0]
			debits := []uint64{1_234_000, 200_000, 150_000}
			got := e.w.received()
			var fees uint64
			for i, a := range e.addrs {
				var d storage.PaymentDest
				for _, x := range rec.Dests {
					if x.Address == a {
						d = x
					}
				}
				if d.Debit != debits[i] || d.Fee != tc.wantFee[i] || d.Amount != debits[i]-tc.wantFee[i] || got[a] != d.Amount {
					t.Errorf("%s: %+v, the wallet received %d; want debit %d fee %d", a[:8], d, got[a], debits[i], tc.wantFee[i])
				}
				if b := e.balance(a); b.Balance != int64(tc.wantRemainder[i]) || b.Paid != debits[i] || b.PendingPayment != 0 {
					t.Errorf("%s: balance %+v, want remainder %d", a[:8], b, tc.wantRemainder[i])
				}
				fees += d.Fee
			}
			if rec.Fee != tc.txFee || rec.MinerFee != fees || rec.State != storage.PaymentSent {
				t.Errorf("record %+v", rec)
			}
			if tc.dynamic && fees > tc.txFee {
				t.Errorf("miners paid %d of a %d fee", fees, tc.txFee)
			}
			checkLedger(t, e.store, e.w.relayedTxs())
			// Only one prepared transaction was relayed; the others were discarded.
			if len(e.w.prepared) != 0 {
				t.Errorf("prepared transactions left in the wallet: %d", len(e.w.prepared))
			}
			// A second run finds nothing to pay (remainders are below the minimum).
			if res := e.mustRun(); res.Records != 0 {
				t.Fatalf("second run %+v", res)
			}
		})
	}
}

func TestDynamicFeeFollowsTheAmounts(t *testing.T) {
	rds := testenv.NewRedis(t)
	sum := func(ds []wallet.Destination) (s uint64) {
		for _, d := range ds {
			s += d.Amount
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		fee      func([]wallet.Destination) uint64
		prepares int
		share    uint64 // 0: only check the split is sound
	}{
		// transferFee (1000) is only the first estimate: prepared again
		// with the real fee's split.
		{"EstimateWrong", func([]wallet.Destination) uint64 { return 3001 }, 2, 1500},
		// Smaller amounts cost more (as a size-based fee can): again.
		{"FeeRisesWithTheSplit", func(ds []wallet.Destination) uint64 {
			if sum(ds) >= 1_199_000 {
				return 3001
			}
			return 3101
		}, 3, 1550},
		// A fee that never settles: after the last try miners pay at most
		// their split of the real fee.
		{"NeverSettles", func(ds []wallet.Destination) uint64 { return 3000 + sum(ds)%7*100 }, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, rds, 2)
			e.cfg.MinerPayFee, e.cfg.DynamicTransferFee = true, true
			e.w.fee = tc.fee
			e.fundEach(500_000, 700_000)
			e.mustRun()
			recs, _ := e.store.Payments(context.Background(), 0, 10)
			r := recs[0]
			share := r.Dests[0].Fee
			if r.Dests[1].Fee != share || share*2 > r.Fee || (tc.share != 0 && share != tc.share) {
				t.Fatalf("record %+v: shares %d, %d of fee %d", r, share, r.Dests[1].Fee, r.Fee)
			}
			if tc.prepares != 0 && e.w.prepares != tc.prepares {
				t.Fatalf("%d prepares, want %d", e.w.prepares, tc.prepares)
			}
			if len(e.w.prepared) != 0 {
				t.Fatalf("%d prepared transactions not discarded", len(e.w.prepared))
			}
			checkLedger(t, e.store, e.w.relayedTxs())
		})
	}
}

func TestBatchesAreSequentialAndLimited(t *testing.T) {
	e := newEnv(t, testenv.NewRedis(t), 7)
	e.cfg.MaxAddresses = 3
	e.cfg.MaxTransactionAmount = 1_000_000
	var inFlight, maxInFlight int
	var mu sync.Mutex
	e.w.onPrepare = func(int, []wallet.Destination) error {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return nil
	}
	e.fundEach(400_000, 400_000, 400_000, 2_000_000, 100_000, 100_000, 100_000)
	res := e.mustRun()
	txs := e.w.relayedTxs()
	if res.Records != 4 || len(txs) != 4 || maxInFlight != 1 {
		t.Fatalf("result %+v, %d transactions, %d at once", res, len(txs), maxInFlight)
	}
	for _, tx := range txs {
		var sum uint64
		for _, d := range tx.Dests {
			sum += d.Amount
		}
		if len(tx.Dests) > 3 || (sum > 1_000_000 && len(tx.Dests) > 1) {
			t.Fatalf("transaction over the limits: %+v", tx)
		}
	}
	checkLedger(t, e.store, txs)
}

func TestBadAddressIsBlockedAndTheOthersPaid(t *testing.T) {
	e := newEnv(t, testenv.NewRedis(t), 4)
	bad := e.addrs[1]
	e.w.onPrepare = func(_ int, ds []wallet.Destination) error {
		for _, d := range ds {
			if d.Address == bad {
				return &wallet.RefusedError{Code: 15, Reason: "address not valid", BadAddress: bad}
			}
		}
		return nil
	}
	e.fundEach(200_000, 300_000, 400_000, 500_000)
	// And one that is not even a valid address, caught before the wallet.
	fund(t, e.store, map[string]uint64{"PASnotanaddress": 900_000})
	res := e.mustRun()
	if res.Records != 2 || res.Sent != 1 || res.Failed != 1 || len(res.Blocked) != 2 {
		t.Fatalf("result %+v", res)
	}
	blocked, _ := e.store.BlockedAddresses(context.Background())
	if _, ok := blocked[bad]; !ok || !strings.Contains(blocked[bad], "address not valid") || blocked["PASnotanaddress"] == "" {
		t.Fatalf("blocked %v", blocked)
	}
	if b := e.balance(bad); b.Balance != 300_000 || b.Paid != 0 {
		t.Fatalf("the bad address's balance %+v", b)
	}
	for _, i := range []int{0, 2, 3} {
		if b := e.balance(e.addrs[i]); b.Paid == 0 || b.Balance != 0 {
			t.Fatalf("%d not paid: %+v", i, b)
		}
	}
	// Next run: the blocked ones are skipped, nothing fails again.
	if res := e.mustRun(); res.Records != 0 {
		t.Fatalf("second run %+v", res)
	}
	// Unblocked by the operator, it is tried again.
	e.store.UnblockAddress(context.Background(), bad)
	e.w.onPrepare = nil
	if res := e.mustRun(); res.Sent != 1 || e.balance(bad).Paid != 300_000 {
		t.Fatalf("after unblocking %+v", res)
	}
	checkLedger(t, e.store, e.w.relayedTxs())
}

func TestRefusalsReturnTheDebits(t *testing.T) {
	e := newEnv(t, testenv.NewRedis(t), 2)
	e.fundEach(200_000, 300_000)
	e.w.onPrepare = func(int, []wallet.Destination) error {
		return &wallet.RefusedError{Code: 11, Reason: "not enough balance"}
	}
	res, err := e.run()
	if !wallet.IsRefused(err) || res.Failed != 1 {
		t.Fatalf("prepare refused: %+v %v", res, err)
	}
	mustAudit(t, e.store)
	e.w.onPrepare = nil
	e.w.onRelay = func(fakeTx) (bool, error) { return false, &wallet.RefusedError{Code: 57, Reason: "inputs spent"} }
	res, err = e.run()
	if !wallet.IsRefused(err) || res.Failed != 1 || res.Sent != 0 {
		t.Fatalf("relay refused: %+v %v", res, err)
	}
	for _, a := range e.addrs {
		if b := e.balance(a); b.Paid != 0 || b.PendingPayment != 0 || b.Balance == 0 {
			t.Fatalf("%+v", b)
		}
	}
	mustAudit(t, e.store)
	e.w.onRelay = nil
	if res := e.mustRun(); res.Sent != 1 {
		t.Fatalf("%+v", res)
	}
	checkLedger(t, e.store, e.w.relayedTxs())
}

func TestWrongWalletAndNoFunds(t *testing.T) {
	e := newEnv(t, testenv.NewRedis(t), 2)
	e.fundEach(200_000, 300_000)
	e.w.addr = testAddress(t, cryptonote.Pastella, 99)
	if _, err := e.run(); !errors.Is(err, wallet.ErrWrongWallet) {
		t.Fatalf("wrong wallet: %v", err)
	}
	e.w.addr = e.pool
	e.w.unlocked = 400_000
	res := e.mustRun()
	if res.Records != 0 || res.Waiting == "" {
		t.Fatalf("not enough unlocked money: %+v", res)
	}
	if recs, _ := e.store.Payments(context.Background(), 0, 10); len(recs) != 0 {
		t.Fatalf("records %v", recs)
	}
}

// TestAmbiguousRelay: the relay's reply is lost. If the transaction went
// out, the lookup settles it sent; if not, payments halt until it is
// settled, and nothing else is paid meanwhile.
func TestAmbiguousRelay(t *testing.T) {
	rds := testenv.NewRedis(t)
	t.Run("WentOut", func(t *testing.T) {
		e := newEnv(t, rds, 2)
		e.fundEach(200_000, 300_000)
		e.w.onRelay = func(fakeTx) (bool, error) { return true, errConnLost }
		res := e.mustRun()
		if res.Sent != 1 || res.Halted {
			t.Fatalf("%+v", res)
		}
		recs, _ := e.store.Payments(context.Background(), 0, 10)
		if recs[0].SettledBy != storage.SettledByLookup {
			t.Fatalf("record %+v", recs[0])
		}
		checkLedger(t, e.store, e.w.relayedTxs())
	})
	t.Run("UnknownHalts", func(t *testing.T) {
		e := newEnv(t, rds, 3)
		e.cfg.MaxAddresses = 1
		e.fundEach(200_000, 300_000, 400_000)
		e.w.onRelay = func(fakeTx) (bool, error) { return false, errConnLost }
		res, err := e.run()
		if !errors.Is(err, ErrHalted) || !res.Halted || res.Records != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		mustAudit(t, e.store)
		h, _ := e.store.HaltedPayments(context.Background())
		if len(h) != 1 || !strings.Contains(h[0].Reason, "does not know") {
			t.Fatalf("halted %+v", h)
		}
		// Still unknown: still halted, nothing new paid.
		e.w.onRelay = nil
		res, err = e.run()
		if !errors.Is(err, ErrHalted) || res.Records != 0 || len(e.w.relayedTxs()) != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		// The operator checks the chain and settles it by hand.
		if err := e.store.ResolvePayment(context.Background(), h[0].ID, storage.PaymentFailed, "not on the chain"); err != nil {
			t.Fatal(err)
		}
		res = e.mustRun()
		if res.Sent != 3 || len(e.w.relayedTxs()) != 3 {
			t.Fatalf("after resolve %+v", res)
		}
		if st, _ := e.store.PaymentStats(context.Background()); st.Halts != 1 {
			t.Fatalf("stats %+v", st)
		}
		checkLedger(t, e.store, e.w.relayedTxs())
	})
	// Neither the wallet nor the daemon has it, and the wallet dropped it:
	// halted while a relay could still be under way, failed after
	// RelayGrace, and paid again.
	t.Run("NobodyHasItFailsAfterGrace", func(t *testing.T) {
		e := newEnv(t, rds, 1)
		e.cfg.RelayGrace = 300 * time.Millisecond
		e.w.daemon = true
		e.fundEach(200_000)
		e.w.onRelay = func(fakeTx) (bool, error) { return false, errConnLost }
		if res, err := e.run(); !errors.Is(err, ErrHalted) || !res.Halted {
			t.Fatalf("%+v %v", res, err)
		}
		h, _ := e.store.HaltedPayments(context.Background())
		if len(h) != 1 || !strings.Contains(h[0].Reason, "neither the wallet nor the daemon has the transaction yet") {
			t.Fatalf("halted %+v", h)
		}
		// The dropped transaction can never go out.
		e.w.onRelay = nil
		time.Sleep(e.cfg.RelayGrace)
		res := e.mustRun()
		if res.Recovered != 1 || res.Failed != 1 || res.Sent != 1 || len(e.w.relayedTxs()) != 1 {
			t.Fatalf("%+v", res)
		}
		recs, _ := e.store.Payments(context.Background(), 0, 10)
		if recs[1].State != storage.PaymentFailed || recs[1].SettledBy != storage.SettledByLookup || recs[0].State != storage.PaymentSent {
			t.Fatalf("records %+v %+v", recs[1], recs[0])
		}
		checkLedger(t, e.store, e.w.relayedTxs())
	})
	// The daemon restarted after the relay: its pool may have lost a
	// transaction its peers still hold, so its "unknown" settles nothing
	// however long ago the relay was; the operator resolves it.
	t.Run("DaemonRestartedStaysHalted", func(t *testing.T) {
		e := newEnv(t, rds, 1)
		e.cfg.RelayGrace = time.Millisecond
		e.w.daemon = true
		e.fundEach(200_000)
		e.w.onRelay = func(fakeTx) (bool, error) {
			e.w.daemonStarted = time.Now().Add(time.Second) // the caller holds no lock here
			return false, errConnLost
		}
		for range 2 {
			if res, err := e.run(); !errors.Is(err, ErrHalted) || !res.Halted {
				t.Fatalf("%+v %v", res, err)
			}
			e.w.onRelay = nil
			time.Sleep(2 * e.cfg.RelayGrace)
		}
		if h, _ := e.store.HaltedPayments(context.Background()); len(h) != 1 || !strings.Contains(h[0].Reason, "its pool may have lost it") {
			t.Fatalf("halted %+v", h)
		}
		if len(e.w.relayedTxs()) != 0 {
			t.Fatalf("relayed %v", e.w.relayedTxs())
		}
		mustAudit(t, e.store)
	})
	// The wallet does not answer the request to drop it: it could still
	// relay it, so it stays halted however long ago the relay was.
	t.Run("NotDroppedStaysHalted", func(t *testing.T) {
		e := newEnv(t, rds, 1)
		e.cfg.RelayGrace = time.Millisecond
		e.w.daemon = true
		e.fundEach(200_000)
		e.w.onRelay = func(fakeTx) (bool, error) { return false, errConnLost }
		e.w.onDiscard = func() error { return errConnLost }
		for range 2 {
			if res, err := e.run(); !errors.Is(err, ErrHalted) || !res.Halted {
				t.Fatalf("%+v %v", res, err)
			}
		}
		if h, _ := e.store.HaltedPayments(context.Background()); len(h) != 1 || !strings.Contains(h[0].Reason, "did not answer a request to drop it") {
			t.Fatalf("halted %+v", h)
		}
		mustAudit(t, e.store)
	})
	t.Run("WalletReportsFailed", func(t *testing.T) {
		e := newEnv(t, rds, 1)
		e.fundEach(200_000)
		e.w.onRelay = func(tx fakeTx) (bool, error) {
			e.w.failed[tx.Hash] = true // the caller holds no lock here
			return false, errConnLost
		}
		res, err := e.run()
		if err == nil || res.Failed != 1 || e.balance(e.addrs[0]).Balance != 200_000 {
			t.Fatalf("%+v %v", res, err)
		}
		mustAudit(t, e.store)
	})
	t.Run("LookupFailsHalts", func(t *testing.T) {
		e := newEnv(t, rds, 1)
		e.fundEach(200_000)
		e.w.onRelay = func(fakeTx) (bool, error) { return true, errConnLost }
		e.w.onLookup = func(string) (*wallet.TxInfo, error) { return nil, errConnLost }
		if res, err := e.run(); !errors.Is(err, ErrHalted) || !res.Halted {
			t.Fatalf("%+v %v", res, err)
		}
		// The wallet answers again: the next run settles it.
		e.w.onLookup = nil
		if res := e.mustRun(); res.Recovered != 1 || res.Sent != 1 {
			t.Fatalf("%+v", res)
		}
		if h, _ := e.store.HaltedPayments(context.Background()); len(h) != 0 {
			t.Fatalf("still halted %+v", h)
		}
		checkLedger(t, e.store, e.w.relayedTxs())
	})
}

// TestRecoveryOfEachState leaves a record in each open state, as a crash
// would, and checks the next run settles it rightly.
func TestRecoveryOfEachState(t *testing.T) {
	rds := testenv.NewRedis(t)
	ctx := context.Background()
	for _, tc := range []struct {
		state   string
		relayed bool // the wallet did relay it
		want    string
	}{
		{storage.PaymentPreparing, false, storage.PaymentFailed},
		{storage.PaymentPrepared, false, storage.PaymentFailed},
		{storage.PaymentRelaying, true, storage.PaymentSent},
		{storage.PaymentRelaying, false, storage.PaymentRelaying}, // unknown: halted
	} {
		t.Run(tc.state, func(t *testing.T) {
			e := newEnv(t, rds, 2)
			e.fundEach(200_000, 300_000)
			// A crashed process: its lease token, its steps, then nothing.
			// Long enough for its steps on a loaded machine, then it lapses.
			tok, _ := e.store.AcquirePaymentsLease(ctx, 300*time.Millisecond)
			id, err := e.store.CreatePayment(ctx, tok, debits([]payee{{e.addrs[0], 200_000}, {e.addrs[1], 300_000}}))
			if err != nil {
				t.Fatal(err)
			}
			if tc.state != storage.PaymentPreparing {
				dests := withFee([]payee{{e.addrs[0], 200_000}, {e.addrs[1], 300_000}}, 0)
				prep, _ := e.w.Prepare(ctx, walletDests(dests))
				if err := e.store.PaymentPrepared(ctx, tok, id, prep.TxHash, prep.Fee, prep.Handle, dests); err != nil {
					t.Fatal(err)
				}
				if tc.state == storage.PaymentRelaying {
					if err := e.store.PaymentRelaying(ctx, tok, id); err != nil {
						t.Fatal(err)
					}
					if tc.relayed {
						e.w.Relay(ctx, prep)
					}
				}
			}
			time.Sleep(350 * time.Millisecond) // its lease expires
			mustAudit(t, e.store)
			res, err := e.run()
			rec, _ := e.store.Payment(ctx, id)
			if rec.State != tc.want {
				t.Fatalf("record %d is %s, want %s (%+v %v)", id, rec.State, tc.want, res, err)
			}
			if tc.want == storage.PaymentRelaying {
				if !errors.Is(err, ErrHalted) || res.Records != 0 {
					t.Fatalf("%+v %v", res, err)
				}
			} else if err != nil || res.Recovered != 1 {
				t.Fatalf("%+v %v", res, err)
			}
			mustAudit(t, e.store)
			if tc.want == storage.PaymentFailed {
				// Returned and paid again by a new record in the same run.
				if res.Sent != 1 || len(e.w.relayedTxs()) != 1 || len(e.w.prepared) != 0 {
					t.Fatalf("%+v, wallet %d relayed %d prepared", res, len(e.w.relayedTxs()), len(e.w.prepared))
				}
			}
			checkLedger(t, e.store, e.w.relayedTxs())
		})
	}
}

func TestLease(t *testing.T) {
	rds := testenv.NewRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, rds, 2)
	e.cfg.LeaseTTL = 300 * time.Millisecond
	e.cfg.Interval = 20 * time.Millisecond
	e.fundEach(200_000, 300_000)

	// A second RunOnce while a Run holds the lease is refused; a second
	// Run waits, then takes over when the first stops.
	ctx1, stop1 := context.WithCancel(ctx)
	done1 := make(chan struct{})
	go func() { e.processor().Run(ctx1); close(done1) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.w.relayedTxs()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.processor().RunOnce(ctx); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("RunOnce beside Run: %v", err)
	}
	second := New(e.cfg, e.store, e.w, testLogger(t))
	done2 := make(chan struct{})
	go func() { second.Run(ctx); close(done2) }()
	e.fundEach(100_000, 100_000)
	time.Sleep(100 * time.Millisecond)
	stop1()
	<-done1
	e.fundEach(150_000, 150_000)
	deadline = time.Now().Add(5 * time.Second)
	for e.balance(e.addrs[1]).Paid != 550_000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done2
	if b := e.balance(e.addrs[1]); b.Paid != 550_000 {
		t.Fatalf("after the second process took over: %+v", b)
	}
	mustAudit(t, e.store)
	checkLedger(t, e.store, e.w.relayedTxs())
}

// TestStaleProcessCannotWrite: a process stalls inside a wallet call past
// its lease; another takes over and recovers its record. When the first
// wakes up its journal writes are fenced, so it never relays.
func TestStaleProcessCannotWrite(t *testing.T) {
	rds := testenv.NewRedis(t)
	e := newEnv(t, rds, 2)
	e.cfg.LeaseTTL = 200 * time.Millisecond
	e.fundEach(200_000, 300_000)
	ctx := context.Background()
	stalled := make(chan struct{})
	resume := make(chan struct{})
	e.w.onPrepare = func(n int, _ []wallet.Destination) error {
		if n == 1 { // only the first process's prepare stalls
			close(stalled)
			<-resume
		}
		return nil
	}
	// The stall outlives the lease but the renewer keeps it; to model a
	// process frozen as a whole, the renewal is taken away by deleting the
	// lease from Redis (as expiry would).
	p := New(e.cfg, e.store, e.w, testLogger(t))
	resCh := make(chan error, 1)
	go func() {
		tok, _ := e.store.AcquirePaymentsLease(ctx, e.cfg.LeaseTTL)
		_, err := p.pass(ctx, tok) // no renewer: frozen
		resCh <- err
	}()
	<-stalled
	time.Sleep(e.cfg.LeaseTTL + 50*time.Millisecond)
	// The new holder fails the stalled record and pays the balances itself.
	res := e.mustRun()
	if res.Recovered != 1 || res.Sent != 1 {
		t.Fatalf("takeover: %+v", res)
	}
	close(resume)
	if err := <-resCh; !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("stale process: %v", err)
	}
	if n := len(e.w.relayedTxs()); n != 1 {
		t.Fatalf("%d transactions relayed", n)
	}
	mustAudit(t, e.store)
	checkLedger(t, e.store, e.w.relayedTxs())
}

// TestWalletDownPausesOnce: while the wallet does not answer, every run
// fails before paying and nothing is recorded; the pause is logged once
// (repeats at debug), the return of the wallet is logged, and the due
// balances are then paid once.
func TestWalletDownPausesOnce(t *testing.T) {
	rds := testenv.NewRedis(t)
	e := newEnv(t, rds, 2)
	e.cfg.Interval = 20 * time.Millisecond
	e.fundEach(200_000, 300_000)
	down := &downWallet{fakeWallet: e.w}
	down.down.Store(true)
	log := testLogger(t)
	hook := logtest.NewLocal(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { New(e.cfg, e.store, down, log).Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	defer stop()

	deadline := time.Now().Add(10 * time.Second)
	for down.calls.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := down.calls.Load(); n < 5 {
		t.Fatalf("%d runs with the wallet down", n)
	}
	if recs, err := e.store.Payments(context.Background(), 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("records with the wallet down: %v, %v", recs, err)
	}
	if b := e.balance(e.addrs[0]); b.Balance != 200_000 || b.PendingPayment != 0 {
		t.Fatalf("balance with the wallet down: %+v", b)
	}
	down.down.Store(false)
	for e.balance(e.addrs[1]).Paid != 300_000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	checkOnePause(t, hook, "payments: PAUSED, wallet unavailable: wallet fake: get_address: ", "payments: resumed: wallet fake answers again")
	if b := e.balance(e.addrs[1]); b.Paid != 300_000 || len(e.w.relayedTxs()) != 1 {
		t.Fatalf("after the wallet came back: %+v, %d transactions", b, len(e.w.relayedTxs()))
	}
	mustAudit(t, e.store)
	checkLedger(t, e.store, e.w.relayedTxs())
}

// downWallet does not answer PrimaryAddress while down is set.
type downWallet struct {
	*fakeWallet
	down  atomic.Bool
	calls atomic.Int64
}

func (d *downWallet) PrimaryAddress(ctx context.Context) (string, error) {
	if d.down.Load() {
		d.calls.Add(1)
		return "", errors.New(`wallet fake: get_address: no reply: dial tcp 127.0.0.1:1: connect: connection refused`)
	}
	return d.fakeWallet.PrimaryAddress(ctx)
}
