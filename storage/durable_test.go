package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/internal/testenv"
)

// notDurable checks err is ErrNotDurable with acked of wanted.
func notDurable(t *testing.T, err error, acked, wanted int) {
	t.Helper()
	var nd *NotDurableError
	if !errors.Is(err, ErrNotDurable) || !errors.As(err, &nd) || nd.Acked != acked || nd.Wanted != wanted || nd.Err != nil {
		t.Fatalf("want not durable (%d of %d), got %v", acked, wanted, err)
	}
}

// onReplica reads one hash field from the replica.
func onReplica(t *testing.T, r *redis.Client, key, field string) string {
	t.Helper()
	v, err := r.HGet(ctxT(t), key, field).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return v
}

// TestDurableWithAReplica: a master with one real replica. With the
// replica answering, the relaying step, a block candidate and a credit are
// acknowledged (1 of 1) and the replica has them when the call returns.
// With the replica frozen (SIGSTOP), each returns ErrNotDurable (0 of 1)
// after the wait, having written on the master; Store.Block keeps waiting
// until the replica is back; the audit passes throughout.
func TestDurableWithAReplica(t *testing.T) {
	master, replica := testenv.NewRedisWithReplica(t)
	s := newTestStore(t, Config{Socket: master.Socket}, WithReplicaAcks(-1, 500*time.Millisecond))
	if n := s.MinReplicaAcks(); n != 1 {
		t.Fatalf("default with a replica connected: minReplicaAcks %d, want 1", n)
	}
	rc := replica.Client()
	defer rc.Close()
	ctx := ctxT(t)

	// Replica up: everything acknowledged, and on the replica at once.
	funded(t, s) // a block candidate (Store.Block) and its credit
	h1 := hexHash(1)
	if st := onReplica(t, rc, s.k.block(h1), "status"); st != StatusConfirmed {
		t.Fatalf("credited block on the replica: status %q", st)
	}
	tok := lease(t, s)
	id := relaying(t, s, tok)
	if st := onReplica(t, rc, s.k.payment(u64(id)), "state"); st != PaymentRelaying {
		t.Fatalf("relaying step on the replica: state %q", st)
	}
	if _, err := s.PaymentSent(ctx, tok, id, SettledByRelay); err != nil {
		t.Fatal(err)
	}
	mustAudit(t, s)

	// Replica frozen: the relaying step lands on the master only.
	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	funded2 := []PaymentDest{{Address: "A", Debit: 30}}
	id2, err := s.CreatePayment(ctx, tok, funded2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PaymentPrepared(ctx, tok, id2, "tx2", 2, "h2", []PaymentDest{{Address: "A", Debit: 30, Fee: 1, Amount: 29}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.PaymentRelaying(ctx, tok, id2)
	t.Logf("relaying step with the replica frozen: %v after %v", err, time.Since(start).Round(time.Millisecond))
	notDurable(t, err, 0, 1)
	if rec, _ := s.Payment(ctx, id2); rec.State != PaymentRelaying {
		t.Fatalf("on the master the record is %s", rec.State)
	}
	notDurable(t, s.Durable(ctx), 0, 1)
	// Not relayed: the payments module fails it (relayFailed), as it does.
	if done, err := s.PaymentFailed(ctx, tok, id2, SettledByUnsent, "never relayed: not durable", true); err != nil || !done {
		t.Fatalf("fail: %v %v", done, err)
	}
	mustAudit(t, s)

	// A block candidate: written on the master, not acknowledged.
	mustWrite(t, s, shares(prop, "A:1", "B:2"))
	b2 := candidate(2, prop, "A", 100, 1000)
	notDurable(t, s.WriteBlockCandidate(ctx, b2), 0, 1)
	h2 := hexHash(2)
	if rec, err := s.BlockByHash(ctx, h2); err != nil || rec.Status != StatusPending {
		t.Fatalf("candidate on the master: %+v %v", rec, err)
	}
	// Its credit too.
	done, err := s.CreditBlock(ctx, h2, propCredits, 10, "F", "A", 10, 1000)
	if !done {
		t.Fatalf("credit not done on the master: %v", err)
	}
	var nd *NotDurableError
	if !errors.As(err, &nd) || nd.Acked != 0 || nd.Wanted != 1 {
		t.Fatalf("credit with the replica frozen: %v", err)
	}
	mustAudit(t, s)

	// Store.Block of a new candidate waits until the replica is back.
	mustWrite(t, s, shares(prop, "B:1"))
	b3 := candidate(3, prop, "B", 100, 1000)
	blockDone := make(chan error, 1)
	go func() {
		bctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		blockDone <- s.Block(bctx, b3)
	}()
	time.Sleep(1500 * time.Millisecond) // a few waits in vain
	select {
	case err := <-blockDone:
		t.Fatalf("Store.Block returned while the replica was frozen: %v", err)
	default:
	}
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := <-blockDone; err != nil {
		t.Fatalf("Store.Block after the replica came back: %v", err)
	}
	if st := onReplica(t, rc, s.k.block(hexHash(3)), "status"); st != StatusPending {
		t.Fatalf("candidate 3 on the replica: status %q", st)
	}
	if err := s.Durable(ctx); err != nil {
		t.Fatal(err)
	}
	// The wait covered the earlier writes made with the replica frozen.
	if st := onReplica(t, rc, s.k.block(h2), "status"); st != StatusConfirmed {
		t.Fatalf("credited block 2 on the replica: status %q", st)
	}
	if st := onReplica(t, rc, s.k.payment(u64(id2)), "state"); st != PaymentFailed {
		t.Fatalf("payment %d on the replica: state %q", id2, st)
	}
	// A repeated step writes nothing itself, yet is acknowledged only
	// once the replica has everything (the {p}:durable write).
	if err := s.PaymentRelaying(ctx, tok, id2); !errors.Is(err, ErrPaymentState) {
		t.Fatalf("relaying a failed record: %v", err)
	}
	if _, err := s.CreditBlock(ctx, h2, propCredits, 10, "F", "A", 10, 1000); err != nil {
		t.Fatalf("repeated credit: %v", err)
	}
	mustAudit(t, s)
}

// TestDurableSettings: without replicas the default waits for none
// (nothing changes on a single Redis); an explicit minReplicaAcks is kept
// and, with no replica to answer, refuses after the wait, on a cluster
// through the master of the prefix's slot; an invalid value is refused.
func TestDurableSettings(t *testing.T) {
	single := testenv.NewRedis(t)
	s := newTestStore(t, Config{Socket: single.Socket})
	if n := s.MinReplicaAcks(); n != 0 {
		t.Fatalf("single Redis: minReplicaAcks %d, want 0", n)
	}
	if err := s.Durable(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{-1, 0} {
		s := newTestStore(t, Config{Socket: single.Socket, MinReplicaAcks: &want})
		if n := s.MinReplicaAcks(); n != 0 {
			t.Fatalf("minReplicaAcks %d: %d in force", want, n)
		}
	}
	bad := -2
	if _, err := New(Config{Socket: single.Socket, Prefix: "bad", MinReplicaAcks: &bad}, nil, testLogger(t)); err == nil {
		t.Fatal("minReplicaAcks -2 accepted")
	}
	one := 1
	cluster := testenv.NewRedisCluster(t)
	for name, cfg := range map[string]Config{
		"single":  {Socket: single.Socket, MinReplicaAcks: &one},
		"cluster": {Cluster: ClusterConfig{Addrs: cluster.Addrs()}, MinReplicaAcks: &one},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestStore(t, cfg, WithReplicaAcks(1, 200*time.Millisecond))
			ctx := ctxT(t)
			if n := s.MinReplicaAcks(); n != 1 {
				t.Fatalf("minReplicaAcks %d in force, want 1", n)
			}
			mustWrite(t, s, shares(prop, "A:1", "B:2"))
			notDurable(t, s.WriteBlockCandidate(ctx, candidate(1, prop, "A", 100, 1000)), 0, 1)
			done, err := s.CreditBlock(ctx, hexHash(1), propCredits, 10, "F", "A", 10, 1000)
			if !done {
				t.Fatalf("credit: %v", err)
			}
			notDurable(t, err, 0, 1)
			tok := lease(t, s)
			id, err := s.CreatePayment(ctx, tok, payAB)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PaymentPrepared(ctx, tok, id, "tx1", 12, "h1", preparedAB); err != nil {
				t.Fatal(err)
			}
			notDurable(t, s.PaymentRelaying(ctx, tok, id), 0, 1)
			notDurable(t, s.Durable(ctx), 0, 1)
			mustAudit(t, s)
		})
	}
}

// TestWaitAOFVersion: WAITAOF is used from Redis 7.2 on, WAIT before.
func TestWaitAOFVersion(t *testing.T) {
	for v, want := range map[string]bool{"7.0.15": false, "7.2.0": true, "7.2.4": true, "8.0.1": true, "6.2.14": false, "": false, "x.y": false} {
		if got := versionAtLeast(v, 7, 2); got != want {
			t.Errorf("versionAtLeast(%q, 7, 2) = %v", v, got)
		}
	}
	f := parseInfo("# Server\r\nredis_version:7.0.15\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\n")
	if f["redis_version"] != "7.0.15" || f["connected_slaves"] != "1" {
		t.Errorf("parsed %v", f)
	}
}
