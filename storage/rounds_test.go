package storage

import (
	"reflect"
	"testing"

	"rxpool/stratum"
)

const (
	pplns = stratum.SchemePPLNS
	prop  = stratum.SchemeProp
	solo  = stratum.SchemeSolo
)

func wantWeights(t *testing.T, s *Store, rec *BlockRecord, want map[string]uint64) {
	t.Helper()
	got := mustWeights(t, s, rec.Hash)
	var total uint64
	for _, w := range want {
		total += w
	}
	if !equalMaps(got, want) || rec.TotalWeight != total || rec.WeightEntries != len(want) {
		t.Fatalf("block %d weights %v (total %d, %d entries), want %v (total %d)", rec.Height, got, rec.TotalWeight, rec.WeightEntries, want, total)
	}
}

var roundCases = []storeCase{
	{name: "PPLNSWindowBoundaries", fn: func(t *testing.T, s *Store) {
		// Window 2 × netDiff 100 = 200. Oldest first: D is just outside,
		// A's single unit is the last one inside.
		mustWrite(t, s, shares(pplns, "D:1", "A:1", "B:99", "C:100"))
		b1 := mustBlock(t, s, candidate(1, pplns, "C", 100, 1000))
		wantWeights(t, s, b1, map[string]uint64{"C": 100, "B": 99, "A": 1})
		if b1.EffortHashes != 201 || b1.Status != StatusPending {
			t.Fatalf("effort %d status %s", b1.EffortHashes, b1.Status)
		}
		// The next block's window ends inside B's entry: B is cut to 50.
		mustWrite(t, s, shares(pplns, "E:50"))
		b2 := mustBlock(t, s, candidate(2, pplns, "E", 100, 1000))
		wantWeights(t, s, b2, map[string]uint64{"E": 50, "C": 100, "B": 50})
		if b2.EffortHashes != 50 {
			t.Fatalf("effort since the previous PPLNS block %d, want 50", b2.EffortHashes)
		}
		// A window longer than the log takes all of it.
		b3 := mustBlock(t, s, candidate(3, pplns, "E", 1000, 1000))
		wantWeights(t, s, b3, map[string]uint64{"E": 50, "C": 100, "B": 99, "A": 1, "D": 1})
		// Freezing reads the log, never changes it (PPLNS ignores rounds).
		if got := pplnsLog(t, s); !reflect.DeepEqual(got, []string{"E:50", "C:100", "B:99", "A:1", "D:1"}) {
			t.Fatalf("log %v", got)
		}
	}},
	{name: "PPLNSAggregatesConsecutiveShares", fn: func(t *testing.T, s *Store) {
		mustWrite(t, s, shares(pplns, "A:1", "A:2"))
		mustWrite(t, s, shares(pplns, "A:4")) // merges into the head across batches
		if got := pplnsLog(t, s); !reflect.DeepEqual(got, []string{"A:7"}) {
			t.Fatalf("log %v, want [A:7]", got)
		}
		mustWrite(t, s, shares(pplns, "B:1", "A:1", "A:1"))
		if got := pplnsLog(t, s); !reflect.DeepEqual(got, []string{"A:2", "B:1", "A:7"}) {
			t.Fatalf("log %v", got)
		}
		if v := s.rdb.Get(ctxT(t), s.k.pplnsTotal).Val(); v != "10" {
			t.Fatalf("total %s, want 10", v)
		}
	}},
	{name: "PPLNSTrimKeepsEnough", opts: []Option{WithPPLNSWindow(2), WithKeepFactor(2)}, fn: func(t *testing.T, s *Store) {
		s.SetNetworkDifficulty(10) // keep 2 × 2 × 10 = 40
		var sh []stratum.Share
		for i := 0; i < 100; i++ {
			sh = append(sh, share([]string{"A", "B"}[i%2], pplns, 1))
		}
		mustWrite(t, s, sh)
		if l := pplnsLog(t, s); len(l) != 40 {
			t.Fatalf("log has %d entries, want 40", len(l))
		}
		// A block at the same difficulty (N = 20) and one at twice it
		// (N = 40) both find a full window.
		wantWeights(t, s, mustBlock(t, s, candidate(1, pplns, "A", 10, 1)), map[string]uint64{"A": 10, "B": 10})
		wantWeights(t, s, mustBlock(t, s, candidate(2, pplns, "A", 20, 1)), map[string]uint64{"A": 20, "B": 20})

		// One miner alone: the single head entry is cut to what is kept
		// (now 2 × 2 × 20 = 80), it does not grow without bound.
		sh = sh[:0]
		for i := 0; i < 500; i++ {
			sh = append(sh, share("C", pplns, 1))
		}
		mustWrite(t, s, sh)
		if got := pplnsLog(t, s); !reflect.DeepEqual(got, []string{"C:80"}) {
			t.Fatalf("log %v, want [C:80]", got)
		}
		if v := s.rdb.Get(ctxT(t), s.k.pplnsTotal).Val(); v != "80" {
			t.Fatalf("total %s, want 80", v)
		}
	}},
	{name: "PROPRoundResetsAtPROPBlock", fn: func(t *testing.T, s *Store) {
		mustWrite(t, s, shares(prop, "A:10", "B:20", "A:5"))
		b := mustBlock(t, s, candidate(1, prop, "A", 100, 1000))
		wantWeights(t, s, b, map[string]uint64{"A": 15, "B": 20})
		if b.EffortHashes != 35 {
			t.Fatalf("effort %d, want 35", b.EffortHashes)
		}
		if r := propRound(t, s); len(r) != 0 {
			t.Fatalf("round after the block: %v", r)
		}
		mustWrite(t, s, shares(prop, "C:5"))
		if r := propRound(t, s); !reflect.DeepEqual(r, map[string]string{"C": "5"}) {
			t.Fatalf("new round %v", r)
		}
		if l := pplnsLog(t, s); len(l) != 0 {
			t.Fatalf("PROP shares entered the PPLNS log: %v", l)
		}
	}},
	{name: "SOLOIsolation", fn: func(t *testing.T, s *Store) {
		mustWrite(t, s, shares(pplns, "P:7"))
		mustWrite(t, s, shares(prop, "Q:9"))
		mustWrite(t, s, shares(solo, "S:10", "S:5"))
		logBefore, roundBefore := pplnsLog(t, s), propRound(t, s)
		if !reflect.DeepEqual(logBefore, []string{"P:7"}) || !reflect.DeepEqual(roundBefore, map[string]string{"Q": "9"}) {
			t.Fatalf("SOLO shares entered a shared round: log %v round %v", logBefore, roundBefore)
		}
		b := mustBlock(t, s, candidate(1, solo, "S", 100, 1000))
		wantWeights(t, s, b, map[string]uint64{"S": 1})
		if b.EffortHashes != 15 {
			t.Fatalf("SOLO effort %d, want 15", b.EffortHashes)
		}
		if l, r := pplnsLog(t, s), propRound(t, s); !reflect.DeepEqual(l, logBefore) || !reflect.DeepEqual(r, roundBefore) {
			t.Fatalf("a SOLO block touched the shared rounds: log %v round %v", l, r)
		}
		// The PROP round the SOLO block did not end still pays its miners.
		wantWeights(t, s, mustBlock(t, s, candidate(2, prop, "Q", 100, 1000)), map[string]uint64{"Q": 9})
	}},
	{name: "CandidateFreezesBufferedShares", fn: func(t *testing.T, s *Store) {
		// Accepted through the stratum path and still in the buffer (the
		// flush interval is an hour here) when the block arrives.
		for _, sh := range append(shares(pplns, "A:10", "B:10"), shares(prop, "X:3")...) {
			if err := s.Share(&sh); err != nil {
				t.Fatal(err)
			}
		}
		b1 := mustBlock(t, s, candidate(1, pplns, "B", 100, 1000))
		wantWeights(t, s, b1, map[string]uint64{"A": 10, "B": 10})
		b2 := mustBlock(t, s, candidate(2, prop, "X", 100, 1000))
		wantWeights(t, s, b2, map[string]uint64{"X": 3})

		// Later shares do not change the frozen weights.
		for _, sh := range append(shares(pplns, "C:50"), shares(prop, "X:7", "Y:1")...) {
			if err := s.Share(&sh); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		wantWeights(t, s, b1, map[string]uint64{"A": 10, "B": 10})
		wantWeights(t, s, b2, map[string]uint64{"X": 3})
	}},
	{name: "CandidateIsIdempotent", fn: func(t *testing.T, s *Store) {
		mustWrite(t, s, shares(prop, "A:10"))
		b := candidate(1, prop, "A", 100, 1000)
		first := mustBlock(t, s, b)
		mustWrite(t, s, shares(prop, "B:10"))
		again := *b
		again.Reward = 999
		second := mustBlock(t, s, &again)
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("rewriting changed the record:\n%+v\n%+v", first, second)
		}
		wantWeights(t, s, second, map[string]uint64{"A": 10})
		if r := propRound(t, s); !reflect.DeepEqual(r, map[string]string{"B": "10"}) {
			t.Fatalf("second write took the new round: %v", r)
		}
		if n := s.rdb.ZCard(ctxT(t), s.k.blocks).Val(); n != 1 {
			t.Fatalf("%d blocks indexed", n)
		}
	}},
	{name: "FailedSubmissionIsRecordedPending", fn: func(t *testing.T, s *Store) {
		mustWrite(t, s, shares(pplns, "A:10"))
		b := candidate(1, pplns, "A", 100, 1000)
		b.SubmitError = "daemon said: block not accepted"
		rec := mustBlock(t, s, b)
		if rec.Status != StatusPending || rec.SubmitError != b.SubmitError {
			t.Fatalf("record %+v", rec)
		}
		pend, err := s.PendingBlocks(ctxT(t))
		if err != nil || len(pend) != 1 || pend[0].Hash != rec.Hash {
			t.Fatalf("pending %v %v", pend, err)
		}
		want := &BlockRecord{
			Hash: hexHash(1), PrevHash: hexHash(0), Height: 1001, Scheme: pplns, Address: "A", Worker: "rig",
			NetDiff: 100, ShareDiff: 100, Reward: 1000, Time: rec.Time, SubmitError: b.SubmitError,
			Status: StatusPending, TotalWeight: 10, WeightEntries: 1, EffortHashes: 10,
		}
		if !reflect.DeepEqual(rec, want) || rec.Time.UnixMilli() != b.Time.UnixMilli() {
			t.Fatalf("record\n%+v\nwant\n%+v", rec, want)
		}
	}},
	{name: "BlocksNewestFirst", fn: func(t *testing.T, s *Store) {
		for i := 1; i <= 3; i++ {
			mustBlock(t, s, candidate(i, solo, "S", 100, 1000))
		}
		page := func(off, n int) []uint64 {
			bs, err := s.Blocks(ctxT(t), off, n)
			if err != nil {
				t.Fatal(err)
			}
			var h []uint64
			for _, b := range bs {
				h = append(h, b.Height)
			}
			return h
		}
		if p := page(0, 2); !reflect.DeepEqual(p, []uint64{1003, 1002}) {
			t.Fatalf("page 1 %v", p)
		}
		if p := page(2, 2); !reflect.DeepEqual(p, []uint64{1001}) {
			t.Fatalf("page 2 %v", p)
		}
	}},
}
