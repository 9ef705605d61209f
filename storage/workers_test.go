package storage

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"rxpool/stratum"
)

// TestWorkerCap runs the worker cap cases against both backends.
func TestWorkerCap(t *testing.T) { runCases(t, workerCases) }

// victim is the address an attacker logs fake workers in under.
const victim = "VICTIM"

// workerNamesOf returns WorkerStats' names, sorted, and fails on an error.
func workerNamesOf(t *testing.T, s *Store, addr string) []string {
	t.Helper()
	ws, err := s.WorkerStats(ctxT(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name
	}
	return out
}

// seq names workers prefix%04d for i in [from, to), in order.
func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%04d", prefix, i))
	}
	return out
}

// checkWorkerKeys checks the address's worker keys hold exactly the
// workers want: the index, and six counter fields at most per worker.
func checkWorkerKeys(t *testing.T, s *Store, addr string, want []string) {
	t.Helper()
	ctx := ctxT(t)
	idx, err := s.rdb.ZRange(ctx, s.k.workersSeen(addr), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(idx)
	if !slices.Equal(idx, want) {
		t.Errorf("worker index holds %d workers, want %d (%v...)", len(idx), len(want), idx[:min(3, len(idx))])
	}
	if got := workerNamesOf(t, s, addr); !slices.Equal(got, want) {
		t.Errorf("WorkerStats lists %d workers, want %d: first %v, want first %v", len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
	}
	if n, err := s.rdb.HLen(ctx, s.k.workers(addr)).Result(); err != nil || n > int64(6*len(want)) {
		t.Errorf("workers hash has %d fields (%v), want at most %d", n, err, 6*len(want))
	}
	for _, k := range []string{s.k.workers(addr), s.k.workersSeen(addr)} {
		if ttl, err := s.rdb.TTL(ctx, k).Result(); err != nil || ttl <= 0 || ttl > statsTTL {
			t.Errorf("%s TTL %v %v", k, ttl, err)
		}
	}
}

var workerCases = []storeCase{
	// 5,000 made-up worker names under one address, first sending junk,
	// then mining: the default cap (256) holds, junk goes before the rigs,
	// the newest are kept, and the address's counters, round weight and
	// balance are exactly what they would be without the cap.
	{name: "FiveThousandFakeWorkers", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		const limit, n = DefaultMaxWorkers, 5000
		base := time.Now().Add(-4 * time.Hour).Truncate(time.Second)
		const balance = "123456789012345678901" // above 2^64: money is never parsed by the cap
		if err := s.rdb.HSet(ctx, s.k.balances, victim, balance).Err(); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s, []stratum.Share{
			{Address: victim, Worker: "rig", Scheme: pplns, Difficulty: 1000, Time: base},
			{Address: victim, Worker: "rig2", Scheme: pplns, Difficulty: 1000, Time: base.Add(10 * time.Minute)},
		})

		// Junk under 5,000 names, 1,000 a batch: invalid shares only.
		junk := seq("junk", 0, n)
		for i, w := range junk {
			s.Reject(&stratum.Rejection{Address: victim, Worker: w, Reason: "Low difficulty share", Invalid: true,
				Time: base.Add(time.Hour + time.Duration(i)*time.Second)})
			if (i+1)%1000 == 0 {
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The rigs stay: a name that never had a share ranks below them;
		// the most recent junk fills the rest.
		checkWorkerKeys(t, s, victim, slices.Concat(seq("junk", n-limit+2, n), []string{"rig", "rig2"}))

		// 5,000 names that mine for the address, one share each, a second
		// apart: the newest limit of them are kept, the rigs (idle since)
		// and all the junk are dropped.
		mined := seq("mined", 0, n)
		for i := 0; i < n; i += 1000 {
			var sh []stratum.Share
			for j, w := range mined[i : i+1000] {
				sh = append(sh, stratum.Share{Address: victim, Worker: w, Scheme: pplns, Difficulty: 1,
					Time: base.Add(2*time.Hour + time.Duration(i+j)*time.Second)})
			}
			mustWrite(t, s, sh)
		}
		checkWorkerKeys(t, s, victim, mined[n-limit:])
		ws, err := s.WorkerStats(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		if w := ws[len(ws)-1]; w.Name != "mined4999" || w.Accepted != 1 || w.Hashes != 1 ||
			!w.LastShare.Equal(base.Add(2*time.Hour+(n-1)*time.Second)) {
			t.Errorf("newest worker %+v", w)
		}

		// Nothing but the worker list was dropped.
		m, err := s.MinerStats(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		want := Counters{Hashes: 2000 + n, Accepted: 2 + n, Invalid: n, LastShare: base.Add(2*time.Hour + (n-1)*time.Second)}
		if m.Counters != want {
			t.Errorf("address counters %+v, want %+v", m.Counters, want)
		}
		if got, err := s.rdb.HGet(ctx, s.k.balances, victim).Result(); err != nil || got != balance {
			t.Errorf("balance %q %v, want %s", got, err, balance)
		}
		if got, err := s.rdb.Get(ctx, s.k.pplnsTotal).Int64(); err != nil || got != 2000+n {
			t.Errorf("PPLNS round weight %d %v, want %d", got, err, 2000+n)
		}
		if p, err := s.PoolStats(ctx); err != nil || p.Accepted != 2+n || p.Invalid != n {
			t.Errorf("pool counters %+v %v", p, err)
		}
	}},
	// A workers hash from before the cap (no index) is listed capped, and
	// indexed and trimmed the next time its address shares.
	{name: "OldWorkersHashIndexedOnce", opts: []Option{func(o *options) { o.maxWorkers = 5 }}, fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		const limit, old = 5, 8
		base := time.Now().Add(-time.Hour).Truncate(time.Second)
		var fields []any
		for i, w := range seq("old", 0, old) {
			fields = append(fields, w+":accepted", 1, w+":hashes", 10, w+":lastShare", base.Add(time.Duration(i)*time.Second).Unix())
		}
		fields = append(fields, "junk:invalid", 3) // never had a share
		if err := s.rdb.HSet(ctx, s.k.workers(victim), fields...).Err(); err != nil {
			t.Fatal(err)
		}
		if got, want := workerNamesOf(t, s, victim), seq("old", old-limit, old); !slices.Equal(got, want) {
			t.Fatalf("before indexing: %v, want %v", got, want)
		}
		mustWrite(t, s, []stratum.Share{{Address: victim, Worker: "new", Scheme: pplns, Difficulty: 1, Time: base.Add(time.Minute)}})
		checkWorkerKeys(t, s, victim, append([]string{"new"}, seq("old", old-limit+1, old)...))
	}},
	// Redis lost its script cache (a restart): the worker counters of the
	// next batch are still recorded, once.
	{name: "WorkersAfterScriptCacheLost", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustWrite(t, s, []stratum.Share{share(victim, pplns, 5)})
		if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s, []stratum.Share{share(victim, pplns, 7)})
		ws, err := s.WorkerStats(ctx, victim)
		if err != nil || len(ws) != 1 || ws[0].Name != "rig" || ws[0].Accepted != 2 || ws[0].Hashes != 12 {
			t.Fatalf("workers after the script cache was lost: %+v %v", ws, err)
		}
	}},
}

func TestMaxWorkersMustNotBeNegative(t *testing.T) {
	r := Config{Socket: "/nonexistent/redis.sock", Prefix: "t", MaxWorkersPerAddress: -1}
	if _, err := New(r, nil, testLogger(t)); err == nil {
		t.Fatal("a negative worker cap was accepted")
	}
}
