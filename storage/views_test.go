package storage

import (
	"testing"
	"time"

	"rxpool/stratum"
)

func TestViews(t *testing.T) {
	runCases(t, viewCases)
}

var viewCases = []storeCase{
	{name: "SeriesActiveMinersIPs", opts: []Option{withClock}, fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		at := func(addr, ip string, diff uint64, ago time.Duration) stratum.Share {
			return stratum.Share{Address: addr, Worker: "w", Scheme: pplns, IP: ip, Difficulty: diff, Time: clockNow.Add(-ago)}
		}
		mustWrite(t, s, []stratum.Share{
			at("A", "10.0.0.1", 600, 30*time.Second),  // current step
			at("A", "10.0.0.1", 1200, 15*time.Minute), // two steps back
			at("A", "10.0.0.2", 300, 3*time.Hour),
			at("B", "10.0.0.3", 6000, 5*time.Minute),
			at("C", "10.0.0.4", 10, 2*time.Hour),
		})
		series, err := s.HashrateSeries(ctx, Scope{Address: "A"}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(series) != 144 || !series[143].Time.Equal(clockNow) {
			t.Fatalf("%d points ending %v, want 144 ending now", len(series), series[len(series)-1].Time)
		}
		// The last step spans the 9 whole minutes before now plus 20 s.
		if want := 600 / (9*60 + 20.0); !near(series[143].Value, want) {
			t.Errorf("current step %g H/s, want %g", series[143].Value, want)
		}
		if !near(series[142].Value, 1200/600.0) || series[141].Value != 0 {
			t.Errorf("earlier steps %g, %g; want 2, 0", series[142].Value, series[141].Value)
		}
		var sum float64
		for _, p := range series[:143] {
			sum += p.Value * 600
		}
		if !near(sum, 1500) {
			t.Errorf("Σ hashes of full steps %g, want 1500", sum)
		}

		act, err := s.ActiveMiners(ctx, clockNow.Add(-time.Hour), 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]MinerSummary{}
		for _, m := range act {
			got[m.Address] = m
		}
		if len(got) != 2 || got["A"].Hashes != 2100 || got["B"].Hashes != 6000 {
			t.Fatalf("active miners %+v, want A (2100 hashes) and B (6000)", act)
		}
		if w := 600 / span(10*time.Minute); !near(got["A"].Hashrate, w) || !got["A"].LastShare.Equal(clockNow.Add(-30*time.Second)) {
			t.Errorf("A: %+v, want hashrate %g", got["A"], w)
		}

		for _, c := range []struct {
			addr, ip string
			since    time.Duration
			want     bool
		}{{"A", "10.0.0.1", time.Minute, true}, {"A", "10.0.0.2", time.Hour, false}, {"A", "10.0.0.2", 4 * time.Hour, true}, {"A", "10.0.0.3", 24 * time.Hour, false}, {"D", "10.0.0.1", time.Hour, false}} {
			ok, err := s.SharedFrom(ctx, c.addr, c.ip, clockNow.Add(-c.since))
			if err != nil || ok != c.want {
				t.Errorf("SharedFrom(%s, %s, -%v) = %v, %v; want %v", c.addr, c.ip, c.since, ok, err, c.want)
			}
		}
	}},
	{name: "ChartSamples", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		now := time.Now().Truncate(time.Minute)
		add := func(ago time.Duration, miners int) {
			if err := s.AddChartSample(ctx, ChartSample{Time: now.Add(-ago), Miners: miners, Workers: 2 * miners, Difficulty: 1000}, 5*time.Minute, 48*time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		add(50*time.Hour, 1) // trimmed by the next add
		add(10*time.Minute, 3)
		add(10*time.Minute, 3) // a second API process, same slot
		add(0, 4)
		got, err := s.ChartSamples(ctx, now.Add(-49*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Miners != 3 || got[1].Miners != 4 || got[1].Workers != 8 || got[1].Difficulty != 1000 {
			t.Fatalf("samples %+v, want two (3 and 4 miners)", got)
		}
	}},
	{name: "MinerBlocksAndPaidFees", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		funded(t, s) // a confirmed PROP block: A 337, B 653, F 10
		tok := lease(t, s)
		id := relaying(t, s, tok)
		if ok, err := s.PaymentSent(ctx, tok, id, SettledByRelay); err != nil || !ok {
			t.Fatalf("sent: %v %v", ok, err)
		}
		b, err := s.Balance(ctx, "A")
		if err != nil || b.Paid != 300 || b.FeesPaid != 5 || b.Sent() != 295 || b.Balance != 37 {
			t.Fatalf("A's balance %+v (%v), want paid 300, fees 5, balance 37", b, err)
		}
		pays, total, err := s.SentPayments(ctx, 0, 10)
		if err != nil || total != 1 || len(pays) != 1 || pays[0].Amount != 890 || pays[0].Fee != 12 || pays[0].MinerFees != 10 || pays[0].Destinations != 2 || pays[0].ID != id {
			t.Fatalf("sent payments %+v total %d (%v)", pays, total, err)
		}
		if n, err := s.MinerPaymentCount(ctx, "B"); err != nil || n != 1 {
			t.Fatalf("B's payments %d %v", n, err)
		}
		mustAudit(t, s)

		mb, err := s.MinerBlocks(ctx, "A", 10)
		if err != nil || len(mb) != 1 || mb[0].Status != StatusConfirmed || mb[0].Amount != 337 || mb[0].Estimated {
			t.Fatalf("A's blocks %+v (%v), want the confirmed block with 337", mb, err)
		}
		if none, err := s.MinerBlocks(ctx, "Z", 10); err != nil || len(none) != 0 {
			t.Fatalf("Z's blocks %+v (%v), want none", none, err)
		}
		if _, _, err := s.SentPayments(ctx, -1, 10); err == nil {
			t.Fatal("a negative offset must be an error")
		}
	}},
	{name: "LeasesAndInstanceIDs", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		seen := map[uint32]bool{}
		for i := 0; i < 50; i++ {
			id, err := s.NextInstanceID(ctx)
			if err != nil || id == 0 || seen[id] {
				t.Fatalf("instance id %d (%v) repeated or zero", id, err)
			}
			seen[id] = true
		}
		a, err := s.AcquireLease(ctx, LeaseUnlocker, time.Minute)
		if err != nil || a == 0 {
			t.Fatalf("first acquire: %d %v", a, err)
		}
		if b, err := s.AcquireLease(ctx, LeaseUnlocker, time.Minute); err != nil || b != 0 {
			t.Fatalf("second acquire while held: %d %v, want 0", b, err)
		}
		// Leases of different names are independent; the payments one keeps
		// the keys its journal scripts check.
		p, err := s.AcquirePaymentsLease(ctx, time.Minute)
		if err != nil || p == 0 {
			t.Fatalf("payments lease: %d %v", p, err)
		}
		if ok, err := s.RenewLease(ctx, LeaseUnlocker, a+1, time.Minute); err != nil || ok {
			t.Fatalf("renew with a wrong token: %v %v", ok, err)
		}
		if err := s.ReleaseLease(ctx, LeaseUnlocker, a); err != nil {
			t.Fatal(err)
		}
		if c, err := s.AcquireLease(ctx, LeaseUnlocker, time.Minute); err != nil || c <= a {
			t.Fatalf("after release: token %d (%v), want > %d (fencing tokens only grow)", c, err, a)
		}
	}},
}
