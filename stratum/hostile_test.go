package stratum

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/internal/testenv"
	"rxpool/randomx"
	"rxpool/stratum/proto"
)

// countingHasher counts the hashes the real verifier computed and those
// asked in the priority lane; a request refused with a full queue ("busy")
// costs no hash and is counted apart.
type countingHasher struct {
	Hasher
	n, prio, busy atomic.Int64
}

func (c *countingHasher) Hash(ctx context.Context, seed [32]byte, blob []byte, lane randomx.Lane) ([32]byte, error) {
	if lane == randomx.LaneBlock {
		c.prio.Add(1)
	}
	h, err := c.Hasher.Hash(ctx, seed, blob, lane)
	switch {
	case err == nil:
		c.n.Add(1)
	case errors.Is(err, randomx.ErrQueueFull):
		c.busy.Add(1)
	}
	return h, err
}

func hostilePool(t *testing.T) (*testPool, *countingHasher) {
	h := &countingHasher{}
	p := newTestPool(t, poolOptions{netDiff: unreachable, portDiff: 1,
		wrapHasher: func(v Hasher) Hasher { h.Hasher = v; return h },
		// Ratio banning off (the Node pool's default), to show that malice
		// is banned regardless.
		mutate: func(c *Config) { c.Banning = Banning{Time: time.Minute, InvalidPercent: 50, CheckThreshold: 30} }})
	return p, h
}

// flood sends n submits of result for job in one write, without waiting for
// replies, as an attacker would, and reads until the pool closes the
// connection; it returns the replies.
func (c *rawConn) flood(sid string, job *proto.Job, n int, result string) []string {
	c.t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":%d,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":"%08x","result":%q}}`+"\n",
			100+i, sid, job.JobID, i, result)
	}
	go func() { _, _ = c.c.Write([]byte(b.String())) }() // the pool may close before reading it all
	var replies []string
	for line := c.readLine(); line != ""; line = c.readLine() {
		if !strings.Contains(line, `"method":"job"`) {
			replies = append(replies, line)
		}
	}
	return replies
}

// TestWrongResultFloodIsCutOff: a result that is not its share's hash is
// never honest work. A flood of them costs the pool one hash: the
// connection is closed and the IP banned, with ratio banning off. A false
// block claim from a session without accepted work is not hashed in the
// priority lane and is malice too.
func TestWrongResultFloodIsCutOff(t *testing.T) {
	p, h := hostilePool(t)
	for _, tc := range []struct{ name, ip, result string }{
		{"wrong result", "127.0.0.31", strings.Repeat("ff", 32)},
		{"fake block claim", "127.0.0.32", "01" + strings.Repeat("00", 31)}, // meets any network difficulty
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.n.Store(0)
			c := p.dialFrom(tc.ip)
			sid, job := c.login(testenv.MoneroAddress(t, 1), "w")
			replies := c.flood(sid, job, 1000, tc.result)
			hashes := h.n.Load()
			t.Logf("1000 submits sent: %d replies, %d hashes, then closed", len(replies), hashes)
			if hashes > 10 {
				t.Errorf("%d hashes spent on the flood, want at most 10", hashes)
			}
			if len(replies) == 0 || replies[0] != errLine("100", proto.ErrMsgWrongResult) {
				t.Errorf("first reply %v, want %q", replies[:min(1, len(replies))], proto.ErrMsgWrongResult)
			}
			if h.prio.Load() != 0 {
				t.Errorf("%d hashes of a session without accepted work took the priority lane", h.prio.Load())
			}
			if got, want := p.dialFrom(tc.ip).readLine(), errLine("null", proto.ErrMsgBanned); got != want {
				t.Errorf("reconnecting from %s:\n got %s\nwant %s", tc.ip, got, want)
			}
		})
	}
}

// TestHonestMinerThroughFlood: while fresh addresses flood junk (wrong
// results, cut off at once; low-difficulty shares, never hashed), a miner
// with accepted work keeps having every share accepted. Counts only.
func TestHonestMinerThroughFlood(t *testing.T) {
	p, h := hostilePool(t)
	honest := p.dialFrom("127.0.0.40")
	sid, job := honest.login(minerAddr, "honest")
	// Hash first: the test's own hashing must not pace the flood.
	const shares = 10
	nonces, results := make([]string, shares), make([]string, shares)
	for i := range shares {
		n, r := p.hash(job, uint32(i))
		nonces[i], results[i] = n, hex.EncodeToString(r[:])
	}
	if got := honest.submit(2, sid, job, nonces[0], results[0]); got != fmt.Sprintf(okLine, 2) {
		t.Fatalf("first honest share: %s", got)
	}

	const flooders = 8
	var wg sync.WaitGroup
	var wrongReplies, busyReplies, lowReplies atomic.Int64
	for i := range flooders {
		c := p.dialFrom(fmt.Sprintf("127.0.0.%d", 50+i))
		login := testenv.MoneroAddress(t, 100+i)
		wrong := i%2 == 0
		if !wrong {
			login += ".1000000000" // a difficulty the made-up result misses
		}
		fsid, fjob := c.login(login, "x")
		wg.Go(func() {
			if wrong {
				// Busy answers (the strangers' lane is full) cost no hash
				// and are counted apart.
				for _, r := range c.flood(fsid, fjob, 500, strings.Repeat("ff", 32)) {
					if strings.Contains(r, proto.ErrMsgBusy) {
						busyReplies.Add(1)
					} else {
						wrongReplies.Add(1)
					}
				}
				return
			}
			for _, r := range c.floodOpen(fsid, fjob, 500, strings.Repeat("ff", 32)) {
				if strings.Contains(r, proto.ErrMsgLowDifficulty) {
					lowReplies.Add(1)
				}
			}
		})
	}
	accepted := 1
	for i := 1; i < shares; i++ {
		if got := honest.submit(2+i, sid, job, nonces[i], results[i]); got == fmt.Sprintf(okLine, 2+i) {
			accepted++
		} else {
			t.Errorf("honest share %d during the flood: %s", i, got)
		}
	}
	wg.Wait()
	t.Logf("honest: %d of %d accepted; flood: %d wrong-result replies (and %d busy), %d low-difficulty replies, %d hashes in all",
		accepted, shares, wrongReplies.Load(), busyReplies.Load(), lowReplies.Load(), h.n.Load())
	if wrongReplies.Load() > flooders/2*10 {
		t.Errorf("wrong-result flooders got %d replies before being cut off", wrongReplies.Load())
	}
	if lowReplies.Load() != flooders/2*500 {
		t.Errorf("%d low-difficulty replies, want %d", lowReplies.Load(), flooders/2*500)
	}
	if n := h.n.Load(); n > int64(shares+flooders/2*10) {
		t.Errorf("%d hashes for %d honest shares and %d cut-off flooders", n, shares, flooders/2)
	}
}

// floodOpen is flood for junk that does not close the connection: it reads
// exactly n replies.
func (c *rawConn) floodOpen(sid string, job *proto.Job, n int, result string) []string {
	c.t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":%d,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":"%08x","result":%q}}`+"\n",
			100+i, sid, job.JobID, i, result)
	}
	go func() { _, _ = c.c.Write([]byte(b.String())) }()
	replies := make([]string, 0, n)
	for len(replies) < n {
		replies = append(replies, c.reply())
	}
	return replies
}

// TestKnownMinersBounded: addresses with accepted work are remembered up
// to a limit, the oldest forgotten first, so no number of addresses grows
// the set past it.
func TestKnownMinersBounded(t *testing.T) {
	k := newKnownMiners(3)
	for _, a := range []string{"a", "b", "c", "a", "d", "e"} {
		k.add(a)
	}
	for a, want := range map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": true} {
		if k.has(a) != want {
			t.Errorf("has(%s) = %v, want %v", a, !want, want)
		}
	}
	if len(k.set) != 3 || len(k.ring) != 3 {
		t.Fatalf("%d addresses kept, limit 3", len(k.set))
	}
}

// TestMaliceBanWithBanningOff: a ban for malice holds with ratio banning
// off, ends after banning.time, and expired bans are swept.
func TestMaliceBanWithBanningOff(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	log := logrus.New()
	log.SetOutput(io.Discard) // a line per ban: thousands here
	b := newBanList(Banning{Time: time.Minute}, log)
	b.now = func() time.Time { return now }
	b.malice("192.0.2.1", WrongResult)
	if !b.banned("192.0.2.1") || b.banned("192.0.2.2") {
		t.Fatal("malice ban not held with banning off")
	}
	if b.record("192.0.2.2", true) {
		t.Fatal("a ratio ban with banning off")
	}
	for i := range sweepAt {
		b.malice(fmt.Sprintf("10.0.%d.%d", i/256, i%256), BadNonce)
	}
	now = now.Add(time.Minute + time.Second)
	if b.banned("192.0.2.1") {
		t.Fatal("ban outlived banning.time")
	}
	// New bans sweep the expired ones once the list has doubled.
	expired := len(b.until)
	for i, last := 0, 0; len(b.until) > last; i++ {
		if i > 2*expired {
			t.Fatalf("%d bans after %d new ones: the expired ones were never swept", len(b.until), i)
		}
		last = len(b.until)
		b.malice(fmt.Sprintf("10.1.%d.%d", i/256, i%256), BadResult)
	}
	for ip, until := range b.until {
		if now.After(until) {
			t.Fatalf("expired ban of %s kept", ip)
		}
	}
}
