package storage

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/stratum"
)

// clockNow is the fixed "now" of the statistics case: 20 s into a minute.
var clockNow = time.Unix(1_700_000_000, 0)

func withClock(o *options) { o.now = func() time.Time { return clockNow } }

// span is the time a window's buckets cover at clockNow: the whole minutes
// before the current one, plus the 20 s of the current one.
func span(w time.Duration) float64 { return (w - time.Minute + 20*time.Second).Seconds() }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func wantRates(t *testing.T, what string, got map[time.Duration]float64, want map[time.Duration]float64) {
	t.Helper()
	for w, r := range want {
		if !near(got[w], r) {
			t.Errorf("%s hashrate over %v: %g, want %g", what, w, got[w], r)
		}
	}
}

var statsCases = []storeCase{
	{name: "MinerWorkerPoolStats", opts: []Option{withClock}, fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		at := func(addr, worker, scheme string, diff uint64, ago time.Duration, stale bool) stratum.Share {
			return stratum.Share{Address: addr, Worker: worker, Scheme: scheme, Difficulty: diff, Time: clockNow.Add(-ago), Stale: stale}
		}
		mustWrite(t, s, []stratum.Share{
			at("A", "rig1", pplns, 100, 23*time.Hour, false),
			at("A", "rig1", pplns, 6000, 2*time.Hour, true),
			at("A", "rig2", prop, 1200, 5*time.Minute, false),
			at("B", "rig", pplns, 60, time.Minute, false),
			at("A", "rig1", pplns, 600, 30*time.Second, false),
		})
		s.Reject(&stratum.Rejection{Address: "A", Worker: "rig1", Invalid: true, Time: clockNow})
		s.Reject(&stratum.Rejection{Address: "A", Worker: "rig1", Reason: "Duplicate share", Time: clockNow})
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}

		m, err := s.MinerStats(ctx, "A")
		if err != nil {
			t.Fatal(err)
		}
		want := Counters{Hashes: 7900, Accepted: 4, Stale: 1, Invalid: 1, Rejected: 1, LastShare: clockNow.Add(-30 * time.Second)}
		if m.Counters != want {
			t.Fatalf("miner counters %+v, want %+v", m.Counters, want)
		}
		wantRates(t, "A", m.Hashrate, map[time.Duration]float64{
			10 * time.Minute: 1800 / span(10*time.Minute), time.Hour: 1800 / span(time.Hour),
			6 * time.Hour: 7800 / span(6*time.Hour), 24 * time.Hour: 7900 / span(24*time.Hour),
		})

		// Connected sessions from two stratum processes.
		other := twin(t, s)
		s.MinerConnected("A", "rig1", "1.2.3.4")
		s.MinerConnected("A", "rig1", "1.2.3.5")
		s.MinerConnected("B", "rig", "1.2.3.6")
		s.MinerConnected("B", "gone", "1.2.3.6")
		s.MinerDisconnected("B", "gone", "1.2.3.6")
		other.MinerConnected("A", "rig2", "5.6.7.8")
		for _, st := range []*Store{s, other} {
			if err := st.writeOnline(ctx); err != nil {
				t.Fatal(err)
			}
		}

		ws, err := s.WorkerStats(ctx, "A")
		if err != nil || len(ws) != 2 || ws[0].Name != "rig1" || ws[1].Name != "rig2" {
			t.Fatalf("workers %+v %v", ws, err)
		}
		if w := (Counters{Hashes: 6700, Accepted: 3, Stale: 1, Invalid: 1, Rejected: 1, LastShare: clockNow.Add(-30 * time.Second)}); ws[0].Counters != w || ws[0].Online != 2 {
			t.Fatalf("rig1 %+v online %d, want %+v online 2", ws[0].Counters, ws[0].Online, w)
		}
		if w := (Counters{Hashes: 1200, Accepted: 1, LastShare: clockNow.Add(-5 * time.Minute)}); ws[1].Counters != w || ws[1].Online != 1 {
			t.Fatalf("rig2 %+v online %d", ws[1].Counters, ws[1].Online)
		}
		wantRates(t, "rig2", ws[1].Hashrate, map[time.Duration]float64{10 * time.Minute: 1200 / span(10*time.Minute)})
		if ws[0].Series != nil {
			t.Fatal("WorkerStats read series it was not asked for")
		}
		wss, err := s.WorkerStatsSeries(ctx, "A", 10*time.Minute)
		if err != nil || len(wss) != 2 {
			t.Fatalf("workers with series %+v %v", wss, err)
		}
		for _, w := range wss {
			var sum float64
			for _, p := range w.Series {
				sum += p.Value * (10 * time.Minute).Seconds()
			}
			if len(w.Series) != 144 || sum < float64(w.Hashes)*0.99 {
				t.Errorf("%s: %d points adding up to %.0f hashes, want 144 points and its %d hashes", w.Name, len(w.Series), sum, w.Hashes)
			}
		}

		p, err := s.PoolStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Hashes != 7960 || p.Accepted != 5 || p.Stale != 1 || p.Invalid != 1 || p.Rejected != 1 {
			t.Fatalf("pool counters %+v", p.Counters)
		}
		if p.Miners != 2 || p.Workers != 3 || p.Sessions != 4 || p.ActiveMiners != 2 {
			t.Fatalf("pool miners %d workers %d sessions %d active %d, want 2 3 4 2", p.Miners, p.Workers, p.Sessions, p.ActiveMiners)
		}
		wantRates(t, "pool", p.Hashrate, map[time.Duration]float64{10 * time.Minute: 1860 / span(10*time.Minute)})
		wantRates(t, "pool prop", p.SchemeHashrate[prop], map[time.Duration]float64{10 * time.Minute: 1200 / span(10*time.Minute)})
		wantRates(t, "pool pplns", p.SchemeHashrate[pplns], map[time.Duration]float64{time.Hour: 660 / span(time.Hour)})

		for _, tc := range []struct {
			scope Scope
			w     time.Duration
			want  float64
		}{
			{Scope{Address: "A", Worker: "rig1"}, time.Hour, 600 / span(time.Hour)},
			{Scope{Address: "B"}, 10 * time.Minute, 60 / span(10*time.Minute)},
			{Scope{}, 24 * time.Hour, 7960 / span(24*time.Hour)},
			{Scope{Scheme: solo}, time.Hour, 0},
		} {
			got, err := s.Hashrate(ctx, tc.scope, tc.w)
			if err != nil || !near(got, tc.want) {
				t.Errorf("Hashrate(%+v, %v) = %g %v, want %g", tc.scope, tc.w, got, err, tc.want)
			}
		}
		if _, err := s.Hashrate(ctx, Scope{}, 25*time.Hour); err == nil {
			t.Error("a window beyond the buckets was accepted")
		}

		// A process that shuts down takes its sessions with it.
		if err := other.Close(ctx); err != nil {
			t.Fatal(err)
		}
		on, err := s.Connected(ctx)
		if err != nil || len(on["A"]) != 1 || on["A"]["rig1"] != 2 {
			t.Fatalf("connected after the second process left: %v %v", on, err)
		}
	}},
	{name: "BatchingRoundTrips", opts: []Option{WithBatch(500, 100*time.Millisecond)}, fn: func(t *testing.T, s *Store) {
		rt := countRoundTrips(s)
		const goroutines, each = 50, 100
		start := time.Now()
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					sh := share(string(rune('a'+g%26))+"x", pplns, 1)
					if err := s.Share(&sh); err != nil {
						t.Error(err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		if err := s.Flush(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		const n = goroutines * each
		limit := int64(n/500 + int(elapsed/(100*time.Millisecond)) + 3)
		if got := rt.n.Load(); got > limit || got > n/100 {
			t.Fatalf("%d round trips for %d shares in %v, want ≤ %d", got, n, elapsed, limit)
		}
		p, err := s.PoolStats(ctxT(t))
		if err != nil || p.Accepted != n {
			t.Fatalf("pool accepted %d (%v), want %d", p.Accepted, err, n)
		}
		if v := s.rdb.Get(ctxT(t), s.k.pplnsTotal).Val(); v != "5000" {
			t.Fatalf("log total %s", v)
		}
		t.Logf("%d shares: %d round trips in %v", n, rt.n.Load(), elapsed)
	}},
	{name: "FlushesOnInterval", opts: []Option{WithBatch(10_000, 50*time.Millisecond)}, fn: func(t *testing.T, s *Store) {
		sh := share("A", prop, 3)
		if err := s.Share(&sh); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for propRound(t, s)["A"] != "3" {
			if time.Now().After(deadline) {
				t.Fatal("a lone share was not written by the interval flush")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}},
	{name: "CloseFlushes", fn: func(t *testing.T, s *Store) {
		reader := twin(t, s)
		for i := 0; i < 10; i++ {
			sh := share("A", prop, 1)
			if err := s.Share(&sh); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if r := propRound(t, reader); r["A"] != "10" {
			t.Fatalf("round after close %v, want A:10", r)
		}
		sh := share("A", prop, 1)
		if err := s.Share(&sh); !errors.Is(err, ErrClosed) {
			t.Fatalf("share after close: %v", err)
		}
	}},
}

func TestShareFailsWhileRedisIsDownAndRecovers(t *testing.T) {
	r := testenv.NewRedis(t)
	s := newTestStore(t, Config{Socket: r.Socket}, WithBatch(100, 20*time.Millisecond), WithHealthInterval(100*time.Millisecond))
	ctx := ctxT(t)
	sh := share("A", prop, 1)
	if err := s.Share(&sh); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Every share accepted after the stop must reach the restarted Redis
	// (which starts empty: no persistence in tests).
	r.Stop()
	accepted := 0
	start := time.Now()
	for {
		sh := share("A", prop, 1)
		err := s.Share(&sh)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("error %v, want ErrUnavailable", err)
			}
			break
		}
		accepted++
		if time.Since(start) > 5*time.Second {
			t.Fatal("Share kept accepting 5 s after Redis went down")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("refused after %v (%d shares buffered meanwhile)", time.Since(start), accepted)
	if ok, err := s.Healthy(); ok || err == nil {
		t.Fatalf("healthy %v %v while down", ok, err)
	}
	if err := s.Block(ctxTimeout(t, 300*time.Millisecond), candidate(1, prop, "A", 100, 1)); err == nil {
		t.Fatal("a block was recorded with Redis down")
	}

	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sh := share("A", prop, 1)
		if s.Share(&sh) == nil {
			accepted++
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("storage did not recover after Redis came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Flush(ctx); err != nil { // also reloads the scripts Redis forgot
		t.Fatal(err)
	}
	if got := propRound(t, s)["A"]; got != itoa(accepted) {
		t.Fatalf("round after recovery A:%s, want %d (every accepted share)", got, accepted)
	}
	if err := s.Block(ctx, candidate(2, prop, "A", 100, 1)); err != nil {
		t.Fatal(err)
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func itoa(n int) string { return u64(uint64(n)) }

func TestNewRejectsBadPrefix(t *testing.T) {
	for _, p := range []string{"{x}", "a b"} {
		if _, err := New(Config{Socket: "/nonexistent", Prefix: p}, nil, testLogger(t)); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}
