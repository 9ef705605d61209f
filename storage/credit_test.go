package storage

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// twin opens a second Store on the same Redis and prefix, as a second pool
// process would.
func twin(t *testing.T, s *Store) *Store {
	t.Helper()
	var c redis.UniversalClient
	switch r := s.rdb.(type) {
	case *redis.ClusterClient:
		c = redis.NewClusterClient(r.Options())
	case *redis.Client:
		c = redis.NewClient(r.Options())
	}
	o := s.opt
	t2, err := newStore(c, s.k.prefix, testLogger(t), func(x *options) { *x = o })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = t2.Close(context.Background()) })
	return t2
}

// moneyState is everything a credit or orphan may write, to prove a refused
// one wrote nothing.
type moneyState struct {
	Balances, Totals, Round map[string]string
	Block, Credits          map[string]string
	Ledger                  int64
}

func money(t *testing.T, s *Store, hash string) moneyState {
	t.Helper()
	ctx := ctxT(t)
	return moneyState{
		Balances: s.rdb.HGetAll(ctx, s.k.balances).Val(), Totals: s.rdb.HGetAll(ctx, s.k.totals).Val(),
		Round: s.rdb.HGetAll(ctx, s.k.propRound).Val(), Block: s.rdb.HGetAll(ctx, s.k.block(hash)).Val(),
		Credits: s.rdb.HGetAll(ctx, s.k.credits(hash)).Val(), Ledger: s.rdb.XLen(ctx, s.k.ledger).Val(),
	}
}

// propBlock records a PROP block found by A with weights A:1, B:2 and
// reward 1000.
func propBlock(t *testing.T, s *Store, n int) string {
	t.Helper()
	mustWrite(t, s, shares(prop, "A:1", "B:2"))
	return mustBlock(t, s, candidate(n, prop, "A", 100, 1000)).Hash
}

// The split of propBlock: fee 10 to F, finder 10 to A, 980 by weight with
// the largest remainder going to A.
var propCredits = map[string]uint64{"A": 327, "B": 653}

func credit(t *testing.T, s *Store, hash string) bool {
	t.Helper()
	ok, err := s.CreditBlock(ctxT(t), hash, propCredits, 10, "F", "A", 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

var creditCases = []storeCase{
	{name: "CreditSumsExactlyOnce", fn: func(t *testing.T, s *Store) {
		h := propBlock(t, s, 1)
		if !credit(t, s, h) {
			t.Fatal("first credit reported as a repeat")
		}
		after := money(t, s, h)
		if want := map[string]string{"A": "337", "B": "653", "F": "10"}; !reflect.DeepEqual(after.Balances, want) {
			t.Fatalf("balances %v, want %v", after.Balances, want)
		}
		rec, _ := s.BlockByHash(ctxT(t), h)
		if rec.Status != StatusConfirmed || rec.Fee != 10 || rec.FeeAddress != "F" || rec.FinderReward != 10 || rec.Credited != 1000 {
			t.Fatalf("record %+v", rec)
		}
		if c, _ := s.BlockCredits(ctxT(t), h); !equalMaps(c, propCredits) {
			t.Fatalf("block credits %v", c)
		}
		tot, err := s.Totals(ctxT(t))
		if want := (Totals{Rewards: 1000, Credited: 1000, Fees: 10, FeesCredited: 10, Finder: 10, Confirmed: 1}); err != nil || tot != want {
			t.Fatalf("totals %+v %v, want %+v", tot, err, want)
		}
		if after.Ledger != 4 {
			t.Fatalf("%d ledger lines, want 4 (2 credits, finder, fee)", after.Ledger)
		}
		if b, err := s.Balance(ctxT(t), "A"); err != nil || b != (Balance{Balance: 337}) {
			t.Fatalf("balance of A %+v %v", b, err)
		}
		// Again, as after a crash: nothing changes.
		if credit(t, s, h) {
			t.Fatal("second credit reported as done")
		}
		if again := money(t, s, h); !reflect.DeepEqual(again, after) {
			t.Fatalf("second credit changed money:\n%+v\n%+v", after, again)
		}
		if pend, _ := s.PendingBlocks(ctxT(t)); len(pend) != 0 {
			t.Fatalf("still pending: %v", pend)
		}
	}},
	{name: "CreditMismatchWritesNothing", fn: func(t *testing.T, s *Store) {
		h := propBlock(t, s, 1)
		before := money(t, s, h)
		for _, tc := range []struct {
			name                string
			credits             map[string]uint64
			fee, finder, reward uint64
			finderAddr, feeAddr string
			want                error
		}{
			{"sum short by one", map[string]uint64{"A": 327, "B": 652}, 10, 10, 1000, "A", "F", ErrMismatch},
			{"sum over by one", map[string]uint64{"A": 328, "B": 653}, 10, 10, 1000, "A", "F", ErrMismatch},
			{"overflow", map[string]uint64{"A": 1 << 63, "B": 1 << 63}, 10, 10, 1000, "A", "F", ErrMismatch},
			{"reward differs from the candidate", map[string]uint64{"A": 328, "B": 653}, 10, 10, 1001, "A", "F", ErrMismatch},
			{"finder differs from the candidate", propCredits, 10, 10, 1000, "B", "F", ErrMismatch},
			{"finder reward without finder", propCredits, 10, 10, 1000, "", "F", ErrMismatch},
		} {
			_, err := s.CreditBlock(ctxT(t), h, tc.credits, tc.fee, tc.feeAddr, tc.finderAddr, tc.finder, tc.reward)
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: error %v, want %v", tc.name, err, tc.want)
			}
			if now := money(t, s, h); !reflect.DeepEqual(now, before) {
				t.Fatalf("%s wrote:\n%+v\n%+v", tc.name, before, now)
			}
		}
		if _, err := s.CreditBlock(ctxT(t), hexHash(99), propCredits, 10, "F", "A", 10, 1000); !errors.Is(err, ErrUnknownBlock) {
			t.Fatalf("unknown block: %v", err)
		}
	}},
	{name: "CreditConcurrentOnce", fn: func(t *testing.T, s *Store) {
		h := propBlock(t, s, 1)
		other := twin(t, s) // a second unlocker process
		var done atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(st *Store) {
				defer wg.Done()
				ok, err := st.CreditBlock(context.Background(), h, propCredits, 10, "F", "A", 10, 1000)
				if err != nil {
					t.Error(err)
				}
				if ok {
					done.Add(1)
				}
			}([]*Store{s, other}[i%2])
		}
		wg.Wait()
		if done.Load() != 1 {
			t.Fatalf("credited %d times", done.Load())
		}
		if b := money(t, s, h).Balances; !reflect.DeepEqual(b, map[string]string{"A": "337", "B": "653", "F": "10"}) {
			t.Fatalf("balances %v", b)
		}
	}},
	{name: "CreditReplyLostThenRetried", fn: func(t *testing.T, s *Store) {
		// The script runs but the unlocker never hears back (it crashed, or
		// the connection dropped): its retry must not credit again.
		h := propBlock(t, s, 1)
		lossy := twin(t, s)
		lossy.rdb.AddHook(loseReplies{})
		if _, err := lossy.CreditBlock(ctxT(t), h, propCredits, 10, "F", "A", 10, 1000); err == nil {
			t.Fatal("the lost reply was not reported")
		}
		if credit(t, s, h) {
			t.Fatal("retry credited again")
		}
		if b := money(t, s, h).Balances; !reflect.DeepEqual(b, map[string]string{"A": "337", "B": "653", "F": "10"}) {
			t.Fatalf("balances %v", b)
		}
	}},
	{name: "CreditIsAtomicToReaders", fn: func(t *testing.T, s *Store) {
		// A reader taking MULTI snapshots while blocks are credited never
		// sees part of a credit: Σ balances always equals the credited total.
		const blocks = 20
		var hashes []string
		for i := 1; i <= blocks; i++ {
			hashes = append(hashes, propBlock(t, s, i))
		}
		stop := make(chan struct{})
		var seen atomic.Int32
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for { // at least one snapshot, then until stopped
				tx := s.rdb.TxPipeline()
				bal := tx.HVals(context.Background(), s.k.balances)
				tot := tx.HGet(context.Background(), s.k.totals, "credited")
				if _, err := tx.Exec(context.Background()); err != nil && !errors.Is(err, redis.Nil) {
					t.Error(err)
					return
				}
				var sum uint64
				for _, v := range bal.Val() {
					n, _ := parseUintMap("", map[string]string{"": v})
					sum += n[""]
				}
				credited, _ := tot.Uint64()
				if sum != credited {
					t.Errorf("a reader saw Σ balances %d with %d credited", sum, credited)
					return
				}
				seen.Add(1)
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		for _, h := range hashes {
			credit(t, s, h)
		}
		close(stop)
		wg.Wait()
		if seen.Load() == 0 {
			t.Fatal("the reader took no snapshot")
		}
	}},
	{name: "OrphanPROPReturnsWeights", fn: func(t *testing.T, s *Store) {
		h := propBlock(t, s, 1)
		mustWrite(t, s, shares(prop, "C:5", "A:4"))
		ok, err := s.OrphanBlock(ctxT(t), h)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if r := propRound(t, s); !reflect.DeepEqual(r, map[string]string{"A": "5", "B": "2", "C": "5"}) {
			t.Fatalf("round after the orphan %v", r)
		}
		st := money(t, s, h)
		if st.Block["status"] != StatusOrphaned || len(st.Balances) != 0 || len(st.Credits) != 0 || st.Ledger != 0 || st.Totals["orphaned"] != "1" {
			t.Fatalf("after orphaning: %+v", st)
		}
		if ok, err := s.OrphanBlock(ctxT(t), h); ok || err != nil {
			t.Fatalf("second orphan: %v %v", ok, err)
		}
		if r := propRound(t, s); r["A"] != "5" {
			t.Fatalf("second orphan returned the weights again: %v", r)
		}
		if _, err := s.CreditBlock(ctxT(t), h, propCredits, 10, "F", "A", 10, 1000); !errors.Is(err, ErrNotPending) {
			t.Fatalf("crediting an orphan: %v", err)
		}
		// And the other way: a confirmed block cannot be orphaned.
		h2 := propBlock(t, s, 2)
		credit(t, s, h2)
		if _, err := s.OrphanBlock(ctxT(t), h2); !errors.Is(err, ErrNotPending) {
			t.Fatalf("orphaning a confirmed block: %v", err)
		}
	}},
	{name: "OrphanPPLNSCreditsNothing", fn: func(t *testing.T, s *Store) {
		mustWrite(t, s, shares(pplns, "A:1", "B:2"))
		h := mustBlock(t, s, candidate(1, pplns, "A", 100, 1000)).Hash
		logBefore := pplnsLog(t, s)
		if ok, err := s.OrphanBlock(ctxT(t), h); !ok || err != nil {
			t.Fatal(ok, err)
		}
		st := money(t, s, h)
		if len(st.Balances) != 0 || len(st.Round) != 0 || st.Ledger != 0 || st.Block["status"] != StatusOrphaned {
			t.Fatalf("after orphaning: %+v", st)
		}
		if l := pplnsLog(t, s); !reflect.DeepEqual(l, logBefore) {
			t.Fatalf("log changed: %v", l)
		}
	}},
	{name: "ImmatureBalances", fn: func(t *testing.T, s *Store) {
		mustWrite(t, s, shares(pplns, "A:1", "B:2"))
		h := mustBlock(t, s, candidate(1, pplns, "A", 100, 100)).Hash
		for addr, want := range map[string]uint64{"A": 33, "B": 66} {
			im, err := s.ImmatureBalances(ctxT(t), addr)
			if err != nil || len(im) != 1 || im[0].Amount != want || im[0].Hash != h {
				t.Fatalf("%s: %+v %v, want %d", addr, im, err, want)
			}
		}
		if im, _ := s.ImmatureBalances(ctxT(t), "Z"); len(im) != 0 {
			t.Fatalf("non-participant: %+v", im)
		}
		if _, err := s.CreditBlock(ctxT(t), h, map[string]uint64{"A": 33, "B": 67}, 0, "", "", 0, 100); err != nil {
			t.Fatal(err)
		}
		if im, _ := s.ImmatureBalances(ctxT(t), "A"); len(im) != 0 {
			t.Fatalf("still immature after crediting: %+v", im)
		}
	}},
	{name: "Audit", fn: func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		audit := func() *AuditReport {
			t.Helper()
			r, err := s.Audit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		// A consistent history: PROP with the fee to an address, PPLNS with
		// the fee kept, SOLO, an orphan, a pending block, and a payout.
		h1 := propBlock(t, s, 1)
		credit(t, s, h1)
		mustWrite(t, s, shares(pplns, "A:3", "C:1"))
		h2 := mustBlock(t, s, candidate(2, pplns, "C", 100, 999)).Hash
		if _, err := s.CreditBlock(ctx, h2, map[string]uint64{"A": 732, "C": 245}, 12, "", "C", 10, 999); err != nil {
			t.Fatal(err)
		}
		h3 := mustBlock(t, s, candidate(3, solo, "S", 100, 500)).Hash
		if _, err := s.CreditBlock(ctx, h3, map[string]uint64{"S": 495}, 5, "F", "", 0, 500); err != nil {
			t.Fatal(err)
		}
		h4 := propBlock(t, s, 4)
		if _, err := s.OrphanBlock(ctx, h4); err != nil {
			t.Fatal(err)
		}
		propBlock(t, s, 5)
		// Payouts through the payments journal: 200 to A sent, 100 in flight.
		tok, _ := s.AcquirePaymentsLease(ctx, time.Minute)
		id, err := s.CreatePayment(ctx, tok, []PaymentDest{{Address: "A", Debit: 200}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PaymentPrepared(ctx, tok, id, "tx", 1, "h", []PaymentDest{{Address: "A", Debit: 200, Amount: 200}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PaymentRelaying(ctx, tok, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PaymentSent(ctx, tok, id, SettledByRelay); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreatePayment(ctx, tok, []PaymentDest{{Address: "A", Debit: 100}}); err != nil {
			t.Fatal(err)
		}
		r := audit()
		if !r.OK() || len(r.Checks) < 7 {
			t.Fatalf("consistent ledger fails the audit:\n%s", r)
		}
		t.Logf("audit:\n%s", r)

		for _, tc := range []struct {
			name            string
			corrupt, repair func()
			check, mention  string
		}{
			{"balance bumped behind the pool's back",
				func() { s.rdb.HIncrBy(ctx, s.k.balances, "B", 1) }, func() { s.rdb.HIncrBy(ctx, s.k.balances, "B", -1) },
				"balances total", "credited 2487 ≠ balances"},
			{"block credit changed",
				func() { s.rdb.HIncrBy(ctx, s.k.credits(h2), "A", 1) }, func() { s.rdb.HIncrBy(ctx, s.k.credits(h2), "A", -1) },
				"block splits", "credits 978 + fee 12 + finder 10 = 1000 ≠ reward 999"},
			{"negative balance",
				func() { s.rdb.HSet(ctx, s.k.balances, "Z", -5) }, func() { s.rdb.HDel(ctx, s.k.balances, "Z") },
				"no negative balance", "Z = -5 is negative"},
			{"operator total changed",
				func() { s.rdb.HIncrBy(ctx, s.k.totals, "credited", 7) }, func() { s.rdb.HIncrBy(ctx, s.k.totals, "credited", -7) },
				"operator totals", "credited"},
			{"pending payment without a record",
				func() { s.rdb.HIncrBy(ctx, s.k.balances, "A", -1); s.rdb.HIncrBy(ctx, s.k.payPending, "A", 1) },
				func() { s.rdb.HIncrBy(ctx, s.k.balances, "A", 1); s.rdb.HIncrBy(ctx, s.k.payPending, "A", -1) },
				"pending payments", "A: pending payment 101, its open payment records debit 100"},
			{"pending index lost a block",
				func() { s.rdb.ZRem(ctx, s.k.pending, hexHash(5)) }, func() { s.rdb.ZAdd(ctx, s.k.pending, redis.Z{Score: 1005, Member: hexHash(5)}) },
				"block records", "is pending but pending index says false"},
		} {
			tc.corrupt()
			r := audit()
			if r.OK() {
				t.Fatalf("%s: audit passed:\n%s", tc.name, r)
			}
			found := false
			for _, c := range r.Checks {
				if c.Name == tc.check && len(c.Violations) > 0 && strings.Contains(strings.Join(c.Violations, "\n"), tc.mention) {
					found = true
				}
			}
			if !found {
				t.Fatalf("%s: want check %q to name %q:\n%s", tc.name, tc.check, tc.mention, r)
			}
			tc.repair()
			if r := audit(); !r.OK() {
				t.Fatalf("after repairing %s:\n%s", tc.name, r)
			}
		}
	}},
}

// loseReplies runs every command and then reports a network error, as if the
// connection died before the reply arrived.
type loseReplies struct{}

func (loseReplies) DialHook(next redis.DialHook) redis.DialHook { return next }
func (loseReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := next(ctx, cmd); err != nil {
			return err
		}
		if n := cmd.Name(); n == "evalsha" || n == "eval" {
			cmd.SetErr(errConnReset)
			return errConnReset
		}
		return nil
	}
}
func (loseReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

var errConnReset = errors.New("read: connection reset by peer")
