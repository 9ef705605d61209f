package storage

import (
	"strings"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/stratum"
)

// A batch whose first attempt applied part of its statistics (A's and the
// pool's, as when the share script's node and B's failed) and which is then
// written twice more with the same seq is counted once everywhere: share
// log, miner, worker, pool counters and hashrate buckets.
func TestStatsBatchRetriedAfterPartialApplyCountsOnce(t *testing.T) {
	r := testenv.NewRedis(t)
	s := newTestStore(t, Config{Socket: r.Socket})
	ctx := ctxT(t)
	now := time.Now()
	s.flushMu.Lock()
	s.seq++
	seq := s.seq
	mk := func() *batch {
		sh := shares(pplns, "A:100", "B:50", "A:25")
		sh[0].IP, sh[2].Worker = "10.0.0.1", "rig2"
		return &batch{seq: seq, shares: sh, rejects: []stratum.Rejection{{Address: "A", Worker: "rig", Invalid: true, Time: now}}}
	}

	first := s.statsGroups(mk())
	var part []*statsGroup
	for _, g := range first {
		if !strings.Contains(g.keys[0], "{B}") {
			part = append(part, g)
		}
	}
	if len(part) == len(first) || len(part) == 0 {
		t.Fatalf("%d of %d groups kept: want B's left out", len(part), len(first))
	}
	pipe := s.rdb.Pipeline()
	sendStats(ctx, pipe, part)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.writeBatch(ctx, mk()); err != nil {
			t.Fatal(err)
		}
	}
	s.flushMu.Unlock()

	// The next batch is applied as usual.
	mustWrite(t, s, shares(pplns, "B:10"))

	if tot, err := s.rdb.Get(ctx, s.k.pplnsTotal).Uint64(); err != nil || tot != 185 {
		t.Fatalf("PPLNS total %d (%v), want 185", tot, err)
	}
	want := map[string]Counters{
		"A": {Hashes: 125, Accepted: 2, Invalid: 1},
		"B": {Hashes: 60, Accepted: 2},
	}
	for addr, w := range want {
		m, err := s.MinerStats(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if m.Hashes != w.Hashes || m.Accepted != w.Accepted || m.Invalid != w.Invalid {
			t.Errorf("miner %s: %+v, want %+v", addr, m.Counters, w)
		}
		h, err := s.Hashrate(ctx, Scope{Address: addr}, 24*time.Hour)
		if err != nil || h <= 0 {
			t.Fatalf("hashrate of %s: %v, %v", addr, h, err)
		}
	}
	ws, err := s.WorkerStats(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, w := range ws {
		got[w.Name+":accepted"], got[w.Name+":hashes"], got[w.Name+":invalid"] = w.Accepted, w.Hashes, w.Invalid
	}
	if got["rig:accepted"] != 1 || got["rig:hashes"] != 100 || got["rig:invalid"] != 1 || got["rig2:accepted"] != 1 || got["rig2:hashes"] != 25 {
		t.Errorf("workers of A: %v", got)
	}
	p, err := s.PoolStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hashes != 185 || p.Accepted != 4 || p.Invalid != 1 {
		t.Errorf("pool %+v, want 185 hashes, 4 accepted, 1 invalid", p.Counters)
	}
	// The minute buckets add up to the counters (no bucket counted twice).
	for _, sc := range []Scope{{}, {Address: "A"}, {Address: "B"}} {
		_, b, _, err := s.statsRead(ctx, "", func(h int64) string {
			if sc.Address == "" {
				return s.k.poolHR(h)
			}
			return s.k.minerHR(sc.Address, h)
		})
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for _, h := range b[""] {
			sum += h
		}
		if w := map[string]uint64{"": 185, "A": 125, "B": 60}[sc.Address]; sum != w {
			t.Errorf("buckets of %q: %d hashes, want %d", sc.Address, sum, w)
		}
	}
}
