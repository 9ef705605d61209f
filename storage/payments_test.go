package storage

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPayments runs the payment journal cases on a single Redis and on a
// cluster (every journal key must share the {prefix} slot).
func TestPayments(t *testing.T) {
	runCases(t, paymentCases)
}

// journal is everything a journal script may write.
type journal struct {
	Balances, Pending, Paid, Blocked, Halted map[string]string
	Records, Open                            []string
	Ledger                                   int64
}

func journalState(t *testing.T, s *Store) journal {
	t.Helper()
	ctx := ctxT(t)
	return journal{
		Balances: s.rdb.HGetAll(ctx, s.k.balances).Val(), Pending: s.rdb.HGetAll(ctx, s.k.payPending).Val(),
		Paid: s.rdb.HGetAll(ctx, s.k.paid).Val(), Blocked: s.rdb.HGetAll(ctx, s.k.payBlocked).Val(),
		Halted: s.rdb.HGetAll(ctx, s.k.payHalted).Val(), Records: s.rdb.ZRange(ctx, s.k.payRecords, 0, -1).Val(),
		Open: s.rdb.ZRange(ctx, s.k.payOpen, 0, -1).Val(), Ledger: s.rdb.XLen(ctx, s.k.ledger).Val(),
	}
}

func lease(t *testing.T, s *Store) uint64 {
	t.Helper()
	tok, err := s.AcquirePaymentsLease(ctxT(t), time.Minute)
	if err != nil || tok == 0 {
		t.Fatalf("lease: %d %v", tok, err)
	}
	return tok
}

func mustAudit(t *testing.T, s *Store) {
	t.Helper()
	rep, err := s.Audit(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("audit failed:\n%s", rep)
	}
}

// funded credits propBlock: balances A 337, B 653, F 10.
func funded(t *testing.T, s *Store) {
	t.Helper()
	credit(t, s, propBlock(t, s, 1))
}

var payAB = []PaymentDest{{Address: "A", Debit: 300}, {Address: "B", Debit: 600}}

// preparedAB: A pays 5 of the fee, B 5; the transaction's fee is 12.
var preparedAB = []PaymentDest{{Address: "A", Debit: 300, Fee: 5, Amount: 295}, {Address: "B", Debit: 600, Fee: 5, Amount: 595}}

// relaying takes a record for A and B through to relaying.
func relaying(t *testing.T, s *Store, tok uint64) uint64 {
	t.Helper()
	ctx := ctxT(t)
	id, err := s.CreatePayment(ctx, tok, payAB)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PaymentPrepared(ctx, tok, id, "tx1", 12, "h1", preparedAB); err != nil {
		t.Fatal(err)
	}
	if err := s.PaymentRelaying(ctx, tok, id); err != nil {
		t.Fatal(err)
	}
	return id
}

var paymentCases = []storeCase{
	{name: "SentOnceAndAudited", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		tok := lease(t, s)
		id, err := s.CreatePayment(ctx, tok, payAB)
		if err != nil {
			t.Fatal(err)
		}
		st := journalState(t, s)
		if want := map[string]string{"A": "37", "B": "53", "F": "10"}; !reflect.DeepEqual(st.Balances, want) {
			t.Fatalf("balances after preparing %v", st.Balances)
		}
		if want := map[string]string{"A": "300", "B": "600"}; !reflect.DeepEqual(st.Pending, want) {
			t.Fatalf("pending %v", st.Pending)
		}
		mustAudit(t, s)
		// Each step twice: the second is a no-op (a retry after a lost reply).
		for i := 0; i < 2; i++ {
			if err := s.PaymentPrepared(ctx, tok, id, "tx1", 12, "h1", preparedAB); err != nil {
				t.Fatal(err)
			}
		}
		mustAudit(t, s)
		for i := 0; i < 2; i++ {
			if err := s.PaymentRelaying(ctx, tok, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PaymentPrepared(ctx, tok, id, "tx1", 12, "h1", preparedAB); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("prepared after relaying: %v", err)
		}
		mustAudit(t, s)
		for i, want := range []bool{true, false} {
			if done, err := s.PaymentSent(ctx, tok, id, SettledByRelay); err != nil || done != want {
				t.Fatalf("sent #%d: %v %v", i, done, err)
			}
		}
		st = journalState(t, s)
		if len(st.Pending) != 0 || !reflect.DeepEqual(st.Paid, map[string]string{"A": "300", "B": "600"}) || len(st.Open) != 0 {
			t.Fatalf("after sent: %+v", st)
		}
		if _, err := s.PaymentFailed(ctx, tok, id, SettledByLookup, "x", true); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("failing a sent record: %v", err)
		}
		rec, err := s.Payment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != PaymentSent || rec.TxHash != "tx1" || rec.Fee != 12 || rec.MinerFee != 10 || rec.Sent != 890 ||
			rec.Debited != 900 || rec.Handle != "" || rec.SettledBy != SettledByRelay || !reflect.DeepEqual(rec.Dests, preparedAB) {
			t.Fatalf("record %+v", rec)
		}
		h, err := s.MinerPayments(ctx, "B", 0, 10)
		if err != nil || len(h) != 1 || h[0].TxHash != "tx1" || h[0].Amount != 595 || h[0].Fee != 5 || h[0].Debit != 600 || h[0].ID != id {
			t.Fatalf("history of B: %+v %v", h, err)
		}
		if n := s.rdb.ZCard(ctx, s.k.payAll).Val(); n != 1 {
			t.Fatalf("%d pool history entries", n)
		}
		if ps, _ := s.PaymentStats(ctx); ps != (PaymentStats{Sent: 1}) {
			t.Fatalf("stats %+v", ps)
		}
		mustAudit(t, s)
	}},
	{name: "FailedReturnsTheDebits", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		before := journalState(t, s)
		tok := lease(t, s)
		for _, prepare := range []bool{false, true} {
			id, err := s.CreatePayment(ctx, tok, payAB)
			if err != nil {
				t.Fatal(err)
			}
			if prepare {
				if err := s.PaymentPrepared(ctx, tok, id, "tx", 12, "h", preparedAB); err != nil {
					t.Fatal(err)
				}
			}
			for i, want := range []bool{true, false} {
				if done, err := s.PaymentFailed(ctx, tok, id, SettledByRecovery, "never relayed", false); err != nil || done != want {
					t.Fatalf("failed #%d: %v %v", i, done, err)
				}
			}
			if err := s.PaymentRelaying(ctx, tok, id); !errors.Is(err, ErrPaymentState) {
				t.Fatalf("relaying a failed record: %v", err)
			}
			mustAudit(t, s)
		}
		after := journalState(t, s)
		if !reflect.DeepEqual(after.Balances, before.Balances) || len(after.Pending) != 0 || len(after.Paid) != 0 || len(after.Records) != 2 {
			t.Fatalf("before %+v\nafter %+v", before, after)
		}
		// A relaying record may have been sent: failing it needs the caller
		// to know it was not.
		id := relaying(t, s, tok)
		if _, err := s.PaymentFailed(ctx, tok, id, SettledByLookup, "?", false); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("failing a relaying record blindly: %v", err)
		}
		if done, err := s.PaymentFailed(ctx, tok, id, SettledByLookup, "wallet says failed", true); err != nil || !done {
			t.Fatalf("failing a relaying record: %v %v", done, err)
		}
		if rec, _ := s.Payment(ctx, id); rec.State != PaymentFailed || rec.Error != "wallet says failed" || rec.TxHash != "tx1" {
			t.Fatalf("record %+v", rec)
		}
		if b := journalState(t, s).Balances; !reflect.DeepEqual(b, before.Balances) {
			t.Fatalf("balances %v", b)
		}
		mustAudit(t, s)
	}},
	{name: "CreateRefusalsWriteNothing", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		if err := s.BlockAddress(ctx, "F", "bad address"); err != nil {
			t.Fatal(err)
		}
		before := journalState(t, s)
		tok := lease(t, s)
		for name, dests := range map[string][]PaymentDest{
			"over the balance": {{Address: "A", Debit: 300}, {Address: "B", Debit: 654}},
			"no balance":       {{Address: "Z", Debit: 1}},
			"blocked":          {{Address: "A", Debit: 1}, {Address: "F", Debit: 10}},
			"zero":             {{Address: "A", Debit: 0}},
			"twice":            {{Address: "A", Debit: 1}, {Address: "A", Debit: 1}},
			"none":             nil,
		} {
			if _, err := s.CreatePayment(ctx, tok, dests); !errors.Is(err, ErrPaymentRefused) {
				t.Fatalf("%s: %v", name, err)
			}
			if now := journalState(t, s); !reflect.DeepEqual(now, before) {
				t.Fatalf("%s wrote:\n%+v\n%+v", name, before, now)
			}
		}
		id, err := s.CreatePayment(ctx, tok, payAB)
		if err != nil {
			t.Fatal(err)
		}
		for name, dests := range map[string][]PaymentDest{
			"fee + amount ≠ debit": {{Address: "A", Debit: 300, Fee: 5, Amount: 296}, {Address: "B", Debit: 600, Amount: 600}},
			"a destination less":   {{Address: "A", Debit: 300, Amount: 300}},
			"another debit":        {{Address: "A", Debit: 301, Fee: 1, Amount: 300}, {Address: "B", Debit: 600, Amount: 600}},
			"another address":      {{Address: "A", Debit: 300, Amount: 300}, {Address: "C", Debit: 600, Amount: 600}},
			"nothing sent":         {{Address: "A", Debit: 300, Fee: 300}, {Address: "B", Debit: 600, Amount: 600}},
		} {
			if err := s.PaymentPrepared(ctx, tok, id, "tx", 1, "h", dests); !errors.Is(err, ErrPaymentRefused) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if rec, _ := s.Payment(ctx, id); rec.State != PaymentPreparing || rec.Prepared {
			t.Fatalf("record %+v", rec)
		}
		if err := s.PaymentRelaying(ctx, tok, id); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("relaying before prepared: %v", err)
		}
		if _, err := s.PaymentSent(ctx, tok, id, SettledByRelay); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("sent before relaying: %v", err)
		}
		mustAudit(t, s)
	}},
	{name: "LeaseAndFencing", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		old := lease(t, s)
		if tok, err := s.AcquirePaymentsLease(ctx, time.Minute); err != nil || tok != 0 {
			t.Fatalf("second process got the lease: %d %v", tok, err)
		}
		id := relaying(t, s, old)
		idPrep, err := s.CreatePayment(ctx, old, []PaymentDest{{Address: "A", Debit: 30}})
		if err != nil {
			t.Fatal(err)
		}
		// The holder stalls past its lease; another process takes over.
		s.rdb.Del(ctx, s.k.payLease)
		cur := lease(t, s)
		if cur <= old {
			t.Fatalf("token %d after %d", cur, old)
		}
		before := journalState(t, s)
		for name, write := range map[string]func() error{
			"create":   func() error { _, err := s.CreatePayment(ctx, old, []PaymentDest{{Address: "A", Debit: 1}}); return err },
			"prepared": func() error { return s.PaymentPrepared(ctx, old, idPrep, "t", 1, "h", nil) },
			"relaying": func() error { return s.PaymentRelaying(ctx, old, idPrep) },
			"sent":     func() error { _, err := s.PaymentSent(ctx, old, id, SettledByRelay); return err },
			"failed":   func() error { _, err := s.PaymentFailed(ctx, old, id, SettledByLookup, "x", true); return err },
			"halt":     func() error { return s.HaltPayment(ctx, old, id, "x") },
		} {
			if err := write(); !errors.Is(err, ErrFenced) {
				t.Fatalf("stale %s: %v", name, err)
			}
		}
		if now := journalState(t, s); !reflect.DeepEqual(now, before) {
			t.Fatalf("a stale token wrote:\n%+v\n%+v", before, now)
		}
		if ok, err := s.RenewPaymentsLease(ctx, old, time.Minute); ok || err != nil {
			t.Fatalf("stale renew: %v %v", ok, err)
		}
		if err := s.ReleasePaymentsLease(ctx, old); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.RenewPaymentsLease(ctx, cur, time.Minute); !ok || err != nil {
			t.Fatalf("the stale release freed the current lease: %v %v", ok, err)
		}
		if _, err := s.PaymentSent(ctx, cur, id, SettledByLookup); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleasePaymentsLease(ctx, cur); err != nil {
			t.Fatal(err)
		}
		// A lease that is not renewed expires by itself.
		short, err := s.AcquirePaymentsLease(ctx, 50*time.Millisecond)
		if err != nil || short == 0 {
			t.Fatalf("lease after release: %d %v", short, err)
		}
		time.Sleep(120 * time.Millisecond)
		if next, err := s.AcquirePaymentsLease(ctx, time.Minute); err != nil || next <= short {
			t.Fatalf("lease after expiry: %d %v", next, err)
		}
		if _, err := s.PaymentFailed(ctx, short, idPrep, SettledByRecovery, "x", false); !errors.Is(err, ErrFenced) {
			t.Fatalf("expired token: %v", err)
		}
		mustAudit(t, s)
	}},
	{name: "LostRepliesAreRetriedOnce", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		tok := lease(t, s)
		lossy := twin(t, s)
		lossy.rdb.AddHook(loseReplies{})
		// Every step runs but its reply is lost; the retry through a good
		// connection must find it done and change nothing.
		if _, err := lossy.CreatePayment(ctx, tok, payAB); err == nil {
			t.Fatal("lost reply not reported")
		}
		recs := journalState(t, s).Records
		if len(recs) != 1 {
			t.Fatalf("records %v", recs)
		}
		id, _ := strconv.ParseUint(recs[0], 10, 64)
		keys := []string{s.k.payLease, s.k.balances, s.k.payPending, s.k.payRecords, s.k.payOpen, s.k.payBlocked,
			s.k.payment(recs[0]), s.k.paymentDests(recs[0])}
		again, err := scriptPayCreate.Run(ctx, s.rdb, keys, u64(tok), recs[0], 1, "900", "A", "300", "B", "600").Text()
		if err != nil || again != PaymentPreparing {
			t.Fatalf("repeated create: %q %v", again, err)
		}
		steps := []func(st *Store) error{
			func(st *Store) error { return st.PaymentPrepared(ctx, tok, id, "tx1", 12, "h1", preparedAB) },
			func(st *Store) error { return st.PaymentRelaying(ctx, tok, id) },
			func(st *Store) error { _, err := st.PaymentSent(ctx, tok, id, SettledByRelay); return err },
		}
		for i, step := range steps {
			if err := step(lossy); err == nil {
				t.Fatalf("step %d: lost reply not reported", i)
			}
			if err := step(s); err != nil {
				t.Fatalf("step %d retried: %v", i, err)
			}
			mustAudit(t, s)
		}
		if st := journalState(t, s); !reflect.DeepEqual(st.Paid, map[string]string{"A": "300", "B": "600"}) ||
			!reflect.DeepEqual(st.Balances, map[string]string{"A": "37", "B": "53", "F": "10"}) || st.Ledger != 4+2 {
			t.Fatalf("after retries: %+v", st)
		}
	}},
	{name: "HaltAndOperatorResolve", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		tok := lease(t, s)
		id := relaying(t, s, tok)
		for i := 0; i < 2; i++ {
			if err := s.HaltPayment(ctx, tok, id, "tx1 unknown to the wallet"); err != nil {
				t.Fatal(err)
			}
		}
		h, err := s.HaltedPayments(ctx)
		if err != nil || len(h) != 1 || h[0].ID != id || h[0].Reason != "tx1 unknown to the wallet" || time.Since(h[0].Since) > time.Minute {
			t.Fatalf("halted %+v %v", h, err)
		}
		if ps, _ := s.PaymentStats(ctx); ps.Halts != 1 {
			t.Fatalf("stats %+v", ps)
		}
		// The operator works without the lease (the payments process holds it).
		if err := s.ResolvePayment(ctx, id, "maybe", ""); err == nil {
			t.Fatal("bad outcome accepted")
		}
		if err := s.ResolvePayment(ctx, id, PaymentSent, ""); err != nil {
			t.Fatal(err)
		}
		if h, _ := s.HaltedPayments(ctx); len(h) != 0 {
			t.Fatalf("still halted: %+v", h)
		}
		if err := s.ResolvePayment(ctx, id, PaymentFailed, ""); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("resolving a settled record: %v", err)
		}
		if rec, _ := s.Payment(ctx, id); rec.State != PaymentSent || rec.SettledBy != SettledByOperator {
			t.Fatalf("record %+v", rec)
		}
		// A preparing record has no transaction: it can only fail.
		id2, err := s.CreatePayment(ctx, tok, []PaymentDest{{Address: "A", Debit: 37}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ResolvePayment(ctx, id2, PaymentSent, ""); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("resolving preparing as sent: %v", err)
		}
		if err := s.ResolvePayment(ctx, id2, PaymentFailed, "checked by hand"); err != nil {
			t.Fatal(err)
		}
		if rec, _ := s.Payment(ctx, id2); rec.State != PaymentFailed || !strings.Contains(rec.Error, "checked by hand") {
			t.Fatalf("record %+v", rec)
		}
		if err := s.ResolvePayment(ctx, 999, PaymentFailed, ""); !errors.Is(err, ErrUnknownPayment) {
			t.Fatalf("unknown record: %v", err)
		}
		mustAudit(t, s)
	}},
	{name: "AuditSeesJournalMismatches", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		tok := lease(t, s)
		relaying(t, s, tok)
		mustAudit(t, s)
		// Pending money no open record explains, moved from a balance so
		// the credited total still adds up.
		s.rdb.HIncrBy(ctx, s.k.balances, "F", -10)
		s.rdb.HIncrBy(ctx, s.k.payPending, "F", 10)
		rep, err := s.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || !strings.Contains(rep.String(), "FAIL pending payments") || strings.Contains(rep.String(), "FAIL balances") {
			t.Fatalf("audit:\n%s", rep)
		}
		t.Logf("audit of a pending payment without a record:\n%s", rep)
	}},
	{name: "ThresholdsAndBlocked", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		if err := s.SetThreshold(ctx, "A", 500); err != nil {
			t.Fatal(err)
		}
		if err := s.BlockAddress(ctx, "B", "refused by the wallet"); err != nil {
			t.Fatal(err)
		}
		th, _ := s.Thresholds(ctx)
		bl, _ := s.BlockedAddresses(ctx)
		bal, _ := s.PayableBalances(ctx)
		if th["A"] != 500 || bl["B"] != "refused by the wallet" || !reflect.DeepEqual(bal, map[string]uint64{"A": 337, "B": 653, "F": 10}) {
			t.Fatalf("thresholds %v blocked %v balances %v", th, bl, bal)
		}
		if ok, _ := s.UnblockAddress(ctx, "B"); !ok {
			t.Fatal("unblock")
		}
		if err := s.SetThreshold(ctx, "A", 0); err != nil {
			t.Fatal(err)
		}
		th, _ = s.Thresholds(ctx)
		bl, _ = s.BlockedAddresses(ctx)
		if len(th) != 0 || len(bl) != 0 {
			t.Fatalf("thresholds %v blocked %v", th, bl)
		}
	}},
}
