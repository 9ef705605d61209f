package storage

import (
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestPaymentsAfterSent runs the sent → confirmed|dropped journal steps on
// a single Redis and on a cluster.
func TestPaymentsAfterSent(t *testing.T) {
	runCases(t, afterSentCases)
}

// sentAB takes a record for A and B through to sent.
func sentAB(t *testing.T, s *Store, tok uint64) uint64 {
	t.Helper()
	id := relaying(t, s, tok)
	if _, err := s.PaymentSent(ctxT(t), tok, id, SettledByRelay); err != nil {
		t.Fatal(err)
	}
	return id
}

var afterSentCases = []storeCase{
	{name: "ConfirmedOnceAndFenced", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		tok := lease(t, s)
		id := sentAB(t, s, tok)
		if u, err := s.UnconfirmedPayments(ctx); err != nil || len(u) != 1 || u[0].ID != id {
			t.Fatalf("unconfirmed %v %v", u, err)
		}
		if _, err := s.PaymentConfirmed(ctx, tok+1, id, 7); !errors.Is(err, ErrFenced) {
			t.Fatalf("wrong token: %v", err)
		}
		if done, err := s.PaymentConfirmed(ctx, tok, id, 7); err != nil || !done {
			t.Fatalf("confirm: %v %v", done, err)
		}
		if done, err := s.PaymentConfirmed(ctx, tok, id, 7); err != nil || done {
			t.Fatalf("confirm again: %v %v", done, err)
		}
		if _, err := s.PaymentDropped(ctx, tok, id, "x"); !errors.Is(err, ErrPaymentState) {
			t.Fatalf("drop a confirmed payout: %v", err)
		}
		rec, _ := s.Payment(ctx, id)
		if u, _ := s.UnconfirmedPayments(ctx); rec.State != PaymentConfirmed || rec.Height != 7 || len(u) != 0 {
			t.Fatalf("record %+v, unconfirmed %v", rec, u)
		}
		mustAudit(t, s)
	}},
	{name: "DroppedReturnsTheDebitsOnce", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		tok := lease(t, s)
		id := sentAB(t, s, tok)
		since, err := s.PaymentMissing(ctx, tok, id, false, "gone")
		if err != nil || since.IsZero() {
			t.Fatalf("missing: %v %v", since, err)
		}
		if again, _ := s.PaymentMissing(ctx, tok, id, false, "gone"); !again.Equal(since) {
			t.Fatalf("missing since moved: %v, first %v", again, since)
		}
		lines := journalState(t, s).Ledger
		if _, err := s.PaymentDropped(ctx, tok+1, id, "x"); !errors.Is(err, ErrFenced) {
			t.Fatalf("wrong token: %v", err)
		}
		if done, err := s.PaymentDropped(ctx, tok, id, "chain lost it"); err != nil || !done {
			t.Fatalf("drop: %v %v", done, err)
		}
		if done, err := s.PaymentDropped(ctx, tok, id, "chain lost it"); err != nil || done {
			t.Fatalf("drop again: %v %v", done, err)
		}
		j := journalState(t, s)
		if j.Balances["A"] != "337" || j.Balances["B"] != "653" || len(j.Paid) != 0 || j.Ledger != lines+2 {
			t.Fatalf("after the drop %+v, want two reversing lines more than %d", j, lines)
		}
		if h, _ := s.MinerPayments(ctx, "A", 0, 10); len(h) != 0 {
			t.Fatalf("history still lists the dropped payout: %+v", h)
		}
		mustAudit(t, s)
		// The next record paying A names the dropped one; B's is still due.
		again, err := s.CreatePayment(ctx, tok, []PaymentDest{{Address: "A", Debit: 300}})
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := s.Payment(ctx, again)
		left := s.rdb.HGetAll(ctx, s.k.payResend()).Val()
		if rec.ResendOf != u64(id) || len(left) != 1 || left["B"] != u64(id) {
			t.Fatalf("resend %+v, still due %v", rec, left)
		}
		mustAudit(t, s)
	}},
	{name: "AuditCatchesAnUnconfirmedIndexOfOthers", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s)
		tok := lease(t, s)
		id := sentAB(t, s, tok)
		if _, err := s.PaymentConfirmed(ctx, tok, id, 3); err != nil {
			t.Fatal(err)
		}
		s.rdb.ZAdd(ctx, s.k.payUnconfirmed(), redis.Z{Score: 1, Member: u64(id)})
		if rep, err := s.Audit(ctx); err != nil || rep.OK() {
			t.Fatalf("audit passed with a confirmed record in the unconfirmed index: %v\n%s", err, rep)
		}
	}},
}
