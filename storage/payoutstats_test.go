package storage

import (
	"testing"
	"time"
)

// TestPayoutStats runs the payout state counts on a single Redis and on a
// cluster.
func TestPayoutStats(t *testing.T) {
	runCases(t, []storeCase{payoutStatsCase()})
}

// payoutStatsCase sends a payout, drops it, pays A again and confirms
// that: the oldest unconfirmed is always the waiting record's sent time
// (its settledAt), read from the index, and the counters follow.
func payoutStatsCase() storeCase {
	return storeCase{name: "OldestUnconfirmedAndCounts", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		check := func(want PayoutStats) {
			t.Helper()
			got, err := s.PayoutStats(ctx)
			if err != nil || got.PaymentStats != want.PaymentStats || got.Unconfirmed != want.Unconfirmed || !got.OldestUnconfirmed.Equal(want.OldestUnconfirmed) {
				t.Fatalf("payout stats %+v %v, want %+v", got, err, want)
			}
		}
		check(PayoutStats{})
		if age := (PayoutStats{}).OldestUnconfirmedAge(time.Now()); age != 0 {
			t.Fatalf("age with none waiting %v", age)
		}
		funded(t, s)
		tok := lease(t, s)
		first := sentAB(t, s, tok)
		rec, _ := s.Payment(ctx, first)
		t0 := rec.SettledAt
		check(PayoutStats{PaymentStats: PaymentStats{Sent: 1}, Unconfirmed: 1, OldestUnconfirmed: t0})
		got, _ := s.PayoutStats(ctx)
		if age := got.OldestUnconfirmedAge(t0.Add(90 * time.Second)); age != 90*time.Second {
			t.Fatalf("age 90 s after sending: %v", age)
		}
		if _, err := s.PaymentDropped(ctx, tok, first, "gone"); err != nil {
			t.Fatal(err)
		}
		check(PayoutStats{PaymentStats: PaymentStats{Sent: 1, Dropped: 1}})

		id, err := s.CreatePayment(ctx, tok, payAB[:1])
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PaymentPrepared(ctx, tok, id, "tx2", 5, "h2", preparedAB[:1]); err != nil {
			t.Fatal(err)
		}
		if err := s.PaymentRelaying(ctx, tok, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PaymentSent(ctx, tok, id, SettledByRelay); err != nil {
			t.Fatal(err)
		}
		rec, _ = s.Payment(ctx, id)
		check(PayoutStats{PaymentStats: PaymentStats{Sent: 2, Dropped: 1}, Unconfirmed: 1, OldestUnconfirmed: rec.SettledAt})
		if _, err := s.PaymentConfirmed(ctx, tok, id, 9); err != nil {
			t.Fatal(err)
		}
		check(PayoutStats{PaymentStats: PaymentStats{Sent: 2, Dropped: 1, Confirmed: 1}})
		mustAudit(t, s)
	}}
}
