package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
)

// TestBlockWhileReplicasSilent: with the one replica frozen (SIGSTOP),
// Store.Block writes the candidate on the master, then waits for the
// replica without writing it again: one error from the unacknowledged
// write, at most one retry line per blockRetryLog, and, when it gives up,
// a final line that says the candidate is on the master but not on enough
// replicas (not "NOT RECORDED"). With the replica back mid-way, it returns
// nil and the replica has the candidate.
func TestBlockWhileReplicasSilent(t *testing.T) {
	master, replica := testenv.NewRedisWithReplica(t)
	log := testLogger(t)
	hook := logtest.NewLocal(log)
	s, err := New(Config{Socket: master.Socket, Prefix: fmt.Sprintf("t%d", prefixSeq.Add(1))}, cryptonote.Pastella, log,
		WithBatch(10_000, time.Hour), WithReplicaAcks(-1, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err = s.Block(ctx, candidate(1, pplns, "A", 100, 1000))
	cancel()
	if !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Block with the replica frozen: %v", err)
	}
	var unacked, retries, final, notRecorded int
	for _, e := range hook.AllEntries() {
		switch m := e.Message; {
		case strings.Contains(m, "recorded on the master only"):
			unacked++
		case strings.HasPrefix(m, "storage: recording block candidate"):
			retries++
		case strings.HasPrefix(m, "storage: BLOCK CANDIDATE ON THE MASTER ONLY") && e.Level == logrus.ErrorLevel:
			final++
		case strings.Contains(m, "NOT RECORDED"):
			notRecorded++
		}
	}
	t.Logf("3 s with the replica frozen: %d unacknowledged writes, %d retry lines, %d final lines", unacked, retries, final)
	if unacked != 1 || retries != 1 || final != 1 || notRecorded != 0 {
		t.Fatalf("logged %d unacknowledged writes, %d retry lines, %d final, %d NOT RECORDED; want 1, 1, 1, 0", unacked, retries, final, notRecorded)
	}
	if rec, err := s.BlockByHash(ctxT(t), hexHash(1)); err != nil || rec.Status != StatusPending {
		t.Fatalf("candidate on the master: %+v %v", rec, err)
	}

	done := make(chan error, 1)
	go func() { done <- s.Block(ctxT(t), candidate(2, pplns, "A", 100, 1000)) }()
	time.Sleep(time.Second)
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Block with the replica back mid-way: %v", err)
	}
	rc := replica.Client()
	defer rc.Close()
	for _, n := range []int{1, 2} {
		if st := onReplica(t, rc, s.k.block(hexHash(n)), "status"); st != StatusPending {
			t.Fatalf("candidate %d on the replica: status %q", n, st)
		}
	}
}
