package storage

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestImport(t *testing.T) {
	runCases(t, importCases)
}

const importSource = "nodepool:Pastella"

// importedA is a miner of the other pool: 500 unpaid, 1200 paid in two
// payouts, a threshold of 700.
var importedA = ImportedMiner{
	Address: "A", Balance: 500, Paid: 1200, Threshold: 700,
	History: []ImportedPayment{
		{Time: time.UnixMilli(1_700_000_000_000), TxHash: hexHash(901), Amount: 400},
		{Time: time.UnixMilli(1_700_000_600_000), TxHash: hexHash(902), Amount: 800},
	},
}

var importCases = []storeCase{
	{name: "MinerOnceAndAudited", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		// The pool's own books first: a credited block and a sent payment.
		funded(t, s)
		tok := lease(t, s)
		id := relaying(t, s, tok)
		if _, err := s.PaymentSent(ctx, tok, id, SettledByRelay); err != nil {
			t.Fatal(err)
		}
		if foreign, err := s.ForeignState(ctx, importSource); err != nil || len(foreign) == 0 {
			t.Fatalf("foreign state of a pool with its own books: %v %v", foreign, err)
		}
		before, err := s.Balance(ctx, "A")
		if err != nil {
			t.Fatal(err)
		}
		added, err := s.ImportMiner(ctx, importSource, importedA)
		if err != nil || !added {
			t.Fatalf("import: %v %v", added, err)
		}
		mustAudit(t, s)
		after, err := s.Balance(ctx, "A")
		if err != nil {
			t.Fatal(err)
		}
		if after.Balance-before.Balance != 500 || after.Paid-before.Paid != 1200 {
			t.Fatalf("balance %+v → %+v", before, after)
		}
		if v, err := s.Threshold(ctx, "A"); err != nil || v != 700 {
			t.Fatalf("threshold %d %v", v, err)
		}
		hist, err := s.MinerPayments(ctx, "A", 0, 10)
		if err != nil || len(hist) != 3 {
			t.Fatalf("history %+v %v", hist, err)
		}
		if h := hist[2]; h.ID != 0 || h.TxHash != hexHash(901) || h.Amount != 400 || h.Fee != 0 || h.Debit != 400 ||
			!h.Time.Equal(importedA.History[0].Time) {
			t.Fatalf("oldest entry %+v", h)
		}
		if hist[0].ID != id {
			t.Fatalf("newest entry %+v is not payment %d", hist[0], id)
		}

		// A repeat writes nothing, even with other values.
		st := journalState(t, s)
		again := importedA
		again.Balance = 9999
		if added, err := s.ImportMiner(ctx, importSource, again); err != nil || added {
			t.Fatalf("repeat: %v %v", added, err)
		}
		if !reflect.DeepEqual(st, journalState(t, s)) {
			t.Fatal("a repeated import changed the books")
		}
		done, err := s.ImportedMiners(ctx, importSource)
		if err != nil || len(done) != 1 || !strings.HasPrefix(done["A"], "balance=500 paid=1200 threshold=700 payments=2") {
			t.Fatalf("markers %v %v", done, err)
		}

		// Money added to an imported miner without a ledger line is caught.
		s.rdb.HIncrBy(ctx, s.k.balances, "A", 1)
		if rep, err := s.Audit(ctx); err != nil || rep.OK() {
			t.Fatalf("audit of a tampered import passed: %v\n%s", err, rep)
		}
	}},
	{name: "OnlyImportedStateIsNotForeign", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		if _, err := s.ImportMiner(ctx, importSource, importedA); err != nil {
			t.Fatal(err)
		}
		if foreign, err := s.ForeignState(ctx, importSource); err != nil || len(foreign) != 0 {
			t.Fatalf("foreign state after an import alone: %v %v", foreign, err)
		}
		if foreign, _ := s.ForeignState(ctx, "nodepool:Other"); len(foreign) == 0 {
			t.Fatal("another source's import is not foreign")
		}
		if _, err := s.ImportMiner(ctx, importSource, ImportedMiner{Address: "B", Balance: 1 << 62}); !errors.Is(err, ErrImport) {
			t.Fatalf("an amount beyond 2^61: %v", err)
		}
		mustAudit(t, s)
	}},
	{name: "BlocksAreSettledAndNeverCredited", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		b := ImportedBlock{Hash: hexHash(77), Height: 1234, Scheme: "prop", Address: "A", Time: time.Unix(1_700_000_000, 0),
			NetDiff: 5000, EffortHashes: 4000, TotalWeight: 4000, Reward: 400_000_000}
		o := ImportedBlock{Hash: hexHash(78), Height: 1235, Scheme: "solo", Address: "B", Time: time.Unix(1_700_000_030, 0), Orphaned: true}
		for _, x := range []ImportedBlock{b, o} {
			if added, repeat, err := s.ImportBlock(ctx, "import:nodepool", x); err != nil || !added || repeat {
				t.Fatalf("import %s: %v %v %v", x.Hash, added, repeat, err)
			}
		}
		if added, repeat, err := s.ImportBlock(ctx, "import:nodepool", b); err != nil || added || !repeat {
			t.Fatalf("repeat: %v %v %v", added, repeat, err)
		}
		own := mustBlock(t, s, candidate(5, prop, "A", 100, 1000))
		if added, repeat, err := s.ImportBlock(ctx, "import:nodepool", ImportedBlock{Hash: own.Hash, Scheme: "prop", Address: "A"}); err != nil || added || repeat {
			t.Fatalf("a hash of the pool's own: %v %v %v", added, repeat, err)
		}
		recs, err := s.Blocks(ctx, 0, 10)
		if err != nil || len(recs) != 3 || recs[0].Status != StatusOrphaned || recs[1].Status != StatusConfirmed || recs[1].Reward != b.Reward {
			t.Fatalf("blocks %v %v", recs, err)
		}
		if pend, err := s.PendingBlocks(ctx); err != nil || len(pend) != 1 || pend[0].Hash != own.Hash {
			t.Fatalf("pending %v %v", pend, err)
		}
		// The unlocker finds it settled: crediting writes nothing.
		if ok, err := s.CreditBlock(ctx, b.Hash, map[string]uint64{"A": b.Reward}, 0, "", "", 0, b.Reward); ok || err != nil {
			t.Fatalf("crediting an imported block: %v %v", ok, err)
		}
		if bal, err := s.Balance(ctx, "A"); err != nil || bal != (Balance{}) {
			t.Fatalf("balance after crediting an imported block: %+v %v", bal, err)
		}
		mustAudit(t, s)
	}},
	{name: "PoolPaymentsOnce", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		txs := []ImportedTx{{Time: time.Unix(1_700_000_000, 0), TxHash: hexHash(901), Amount: 1400, Fee: 1000, Destinations: 2}}
		for want := 1; want >= 0; want-- {
			if n, err := s.ImportPoolPayments(ctx, txs); err != nil || n != want {
				t.Fatalf("import: %d %v, want %d", n, err, want)
			}
		}
		sent, total, err := s.SentPayments(ctx, 0, 10)
		if err != nil || total != 1 || sent[0].ID != 0 || sent[0].Amount != 1400 || sent[0].Fee != 1000 || sent[0].MinerFees != 0 {
			t.Fatalf("payments %+v %d %v", sent, total, err)
		}
		mustAudit(t, s)
	}},
}
