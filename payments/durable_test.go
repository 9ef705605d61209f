package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet"
)

// newDurableEnv is newEnv on a Redis master with one real replica; its
// store waits for that replica (the default when one is connected) up to
// 300 ms per step.
func newDurableEnv(t *testing.T, n int) (*env, *testenv.RedisReplica) {
	t.Helper()
	master, replica := testenv.NewRedisWithReplica(t)
	e := newEnv(t, master, n)
	s, err := storage.New(config.RedisConfig{Socket: master.Socket, Prefix: fmt.Sprintf("p%d", prefixSeq.Add(1))},
		cryptonote.Pastella, testLogger(t), storage.WithReplicaAcks(-1, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	if got := s.MinReplicaAcks(); got != 1 {
		t.Fatalf("minReplicaAcks %d with a replica connected, want 1", got)
	}
	e.store = s
	return e, replica
}

func (f *fakeWallet) preparesSoFar() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prepares
}

// TestReplicaOutagePausesPayments: while the replica does not answer,
// every run stops before making a record or asking the wallet anything
// about a payout; the pause is logged once, /health's record says why, and
// once the replica is back the balances are paid exactly once, the pause's
// end is logged and its record cleared.
func TestReplicaOutagePausesPayments(t *testing.T) {
	e, replica := newDurableEnv(t, 2)
	e.cfg.Interval = 50 * time.Millisecond
	e.fundEach(200_000, 300_000)
	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	hook := logtest.NewLocal(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { New(e.cfg, e.store, e.w, log).Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	defer stop()

	deadline := time.Now().Add(20 * time.Second)
	var pause *storage.PaymentsPause
	for pause == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		var err error
		if pause, err = e.store.PaymentsPaused(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if pause == nil || !strings.Contains(pause.Reason, "the relaying step is on 0 of 1 replicas") {
		t.Fatalf("pause recorded for /health: %+v", pause)
	}
	time.Sleep(time.Second) // a few more runs find the replica silent
	if n, recs := len(e.w.relayedTxs()), records(t, e.store); n != 0 || len(recs) != 0 || e.w.preparesSoFar() != 0 {
		t.Fatalf("with the replica frozen: %d relayed, %d records, %d prepares", n, len(recs), e.w.preparesSoFar())
	}
	if b := e.balance(e.addrs[1]); b.Balance != 300_000 || b.PendingPayment != 0 {
		t.Fatalf("balance with the replica frozen: %+v", b)
	}
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	for e.balance(e.addrs[1]).Paid != 300_000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for time.Now().Before(deadline) { // the run that paid clears the pause as it ends
		if p, _ := e.store.PaymentsPaused(context.Background()); p == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if p, err := e.store.PaymentsPaused(context.Background()); p != nil || err != nil {
		t.Fatalf("pause still recorded after the replica came back: %+v %v", p, err)
	}
	checkOnePause(t, hook, "payments: PAUSED: the relaying step is on 0 of 1 replicas (redis.minReplicaAcks)", "payments: resumed: 1 replicas acknowledge the journal again")
	if b := e.balance(e.addrs[0]); b.Paid != 200_000 || len(e.w.relayedTxs()) != 1 {
		t.Fatalf("after the replica came back: %+v, %d transactions", b, len(e.w.relayedTxs()))
	}
	mustAudit(t, e.store)
	checkLedger(t, e.store, e.w.relayedTxs())
}

func records(t *testing.T, s *storage.Store) []*storage.PaymentRecord {
	t.Helper()
	recs, err := s.Payments(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestRelayingStepNotDurable: the replica stops answering after the run's
// check, while the wallet prepares: the relaying step lands on the master
// only, so the transaction is not relayed but dropped and the record failed
// (its debits back); the next run, with the replica back, pays once.
func TestRelayingStepNotDurable(t *testing.T) {
	e, replica := newDurableEnv(t, 2)
	e.fundEach(200_000, 300_000)
	e.w.onPrepare = func(n int, _ []wallet.Destination) error {
		if n == 1 {
			return replica.Pause()
		}
		return nil
	}
	res, err := e.run()
	if !errors.Is(err, storage.ErrNotDurable) || res.Failed != 1 || res.Sent != 0 {
		t.Fatalf("run with the replica frozen after the check: %+v %v", res, err)
	}
	recs := records(t, e.store)
	if len(recs) != 1 || recs[0].State != storage.PaymentFailed || recs[0].SettledBy != storage.SettledByUnsent ||
		!strings.Contains(recs[0].Error, "0 of 1 replicas") {
		t.Fatalf("records %+v", recs)
	}
	if n := len(e.w.relayedTxs()); n != 0 || len(e.w.prepared) != 0 {
		t.Fatalf("%d relayed, %d prepared left", n, len(e.w.prepared))
	}
	mustAudit(t, e.store)
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	res = e.mustRun()
	if res.Sent != 1 || len(e.w.relayedTxs()) != 1 || e.balance(e.addrs[1]).Paid != 300_000 {
		t.Fatalf("after the replica came back: %+v, %d relayed", res, len(e.w.relayedTxs()))
	}
	checkLedger(t, e.store, e.w.relayedTxs())
}

// TestNotDurableRelayingRecovered: the relaying step lands on the master
// only and the process dies before failing the record: the record is
// relaying though never relayed, as after a crash just before the relay.
// The next run settles it exactly so: with the daemon's word that nobody
// has the transaction and the wallet's drop, it fails it and pays the
// balances again, once; on the wallet's word alone it halts.
func TestNotDurableRelayingRecovered(t *testing.T) {
	for _, daemon := range []bool{true, false} {
		t.Run(fmt.Sprintf("daemon=%v", daemon), func(t *testing.T) {
			e, replica := newDurableEnv(t, 2)
			e.fundEach(200_000, 300_000)
			e.w.daemon = daemon
			e.cfg.RelayGrace = time.Millisecond
			ctx := context.Background()
			tok, err := e.store.AcquirePaymentsLease(ctx, 500*time.Millisecond)
			if err != nil || tok == 0 {
				t.Fatal(tok, err)
			}
			batch := []payee{{e.addrs[0], 200_000}, {e.addrs[1], 300_000}}
			id, err := e.store.CreatePayment(ctx, tok, debits(batch))
			if err != nil {
				t.Fatal(err)
			}
			dests := withFee(batch, 0)
			prep, err := e.w.Prepare(ctx, walletDests(dests))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.PaymentPrepared(ctx, tok, id, prep.TxHash, prep.Fee, prep.Handle, dests); err != nil {
				t.Fatal(err)
			}
			if err := replica.Pause(); err != nil {
				t.Fatal(err)
			}
			if err := e.store.PaymentRelaying(ctx, tok, id); !errors.Is(err, storage.ErrNotDurable) {
				t.Fatalf("relaying step with the replica frozen: %v", err)
			}
			// The process dies here. The replica comes back; the lease lapses.
			if err := replica.Resume(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(600 * time.Millisecond)
			mustAudit(t, e.store)
			res, err := e.run()
			rec, _ := e.store.Payment(ctx, id)
			if !daemon {
				if !errors.Is(err, ErrHalted) || rec.State != storage.PaymentRelaying || len(e.w.relayedTxs()) != 0 {
					t.Fatalf("wallet alone: %+v %v, record %s, %d relayed", res, err, rec.State, len(e.w.relayedTxs()))
				}
				mustAudit(t, e.store)
				return
			}
			if err != nil || rec.State != storage.PaymentFailed || rec.SettledBy != storage.SettledByLookup || res.Recovered != 1 || res.Sent != 1 {
				t.Fatalf("recovery: %+v %v, record %+v", res, err, rec)
			}
			relayed := e.w.relayedTxs()
			if len(relayed) != 1 || relayed[0].Hash == prep.TxHash {
				t.Fatalf("relayed %+v (the unrelayed one was %s)", relayed, prep.TxHash)
			}
			if e.balance(e.addrs[0]).Paid != 200_000 || e.balance(e.addrs[1]).Paid != 300_000 {
				t.Fatalf("paid %+v %+v", e.balance(e.addrs[0]), e.balance(e.addrs[1]))
			}
			mustAudit(t, e.store)
			checkLedger(t, e.store, relayed)
		})
	}
}

// checkOnePause asserts that the log holds exactly one pause line (at error
// level) starting with paused, one resumption starting with resumed, and no
// failed run.
func checkOnePause(t *testing.T, hook *logtest.Hook, paused, resumed string) {
	t.Helper()
	var nPaused, nResumed, runErrors int
	for _, en := range hook.AllEntries() {
		switch {
		case strings.HasPrefix(en.Message, paused):
			if en.Level != logrus.ErrorLevel {
				t.Errorf("pause logged at %v", en.Level)
			}
			nPaused++
		case strings.HasPrefix(en.Message, resumed):
			nResumed++
		case strings.HasPrefix(en.Message, "payments: run: ") && en.Level <= logrus.ErrorLevel:
			runErrors++
		}
	}
	if nPaused != 1 || nResumed != 1 || runErrors != 0 {
		t.Fatalf("logged %d pauses, %d resumptions, %d run errors; want one pause, one resumption, no run errors", nPaused, nResumed, runErrors)
	}
}
