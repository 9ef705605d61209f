package stratum

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/stratum/proto"
)

func TestAddrGroup(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                    "192.0.2.7",
		"::ffff:192.0.2.7":             "192.0.2.7",
		"2001:db8:1:2:aaaa::1":         "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ff:ff": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":              "2001:db8:1:3::/64",
		"fe80::1%eth0":                 "fe80::/64",
		"pipe":                         "pipe",
	} {
		if got := addrGroup(in); got != want {
			t.Errorf("addrGroup(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConnRate: a burst, then the rate; groups apart; full buckets swept.
func TestConnRate(t *testing.T) {
	if newConnRate(0, 10) != nil || !(*connRate)(nil).allow("x") {
		t.Fatal("rate 0 must mean no limit")
	}
	now := time.Unix(1_000_000, 0)
	r := newConnRate(2, 5)
	r.now = func() time.Time { return now }
	n := 0
	for r.allow("a") {
		n++
	}
	if n != 5 {
		t.Fatalf("burst: %d connections allowed, want 5", n)
	}
	if !r.allow("b") {
		t.Fatal("another address shares the bucket")
	}
	now = now.Add(time.Second)
	if !r.allow("a") || !r.allow("a") || r.allow("a") {
		t.Fatal("after 1 s at 2/s: want exactly 2 more")
	}
	for i := range rateSweepAt {
		r.allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	// Every bucket refilled: new ones sweep the full ones away once the
	// map has doubled since the last sweep.
	now = now.Add(time.Hour)
	kept := len(r.buckets)
	for i, last := 0, 0; len(r.buckets) > last; i++ {
		if i > 2*kept {
			t.Fatalf("%d buckets after %d new ones: full ones never swept", len(r.buckets), i)
		}
		last = len(r.buckets)
		r.allow(fmt.Sprintf("10.1.%d.%d", i/256, i%256))
	}
	for g, b := range r.buckets {
		if strings.HasPrefix(g, "10.0.") || b.tokens >= r.burst {
			t.Fatalf("bucket of %s (%.1f tokens) kept after the sweep: a full bucket is no limit", g, b.tokens)
		}
	}
}

// TestBanEndsEverySession: a ban for malice from one connection closes the
// address's other connections at once (issue 17: 496 of 500 sessions of a
// banned address kept mining), not those of other addresses.
func TestBanEndsEverySession(t *testing.T) {
	p, _ := hostilePool(t)
	const ip = "127.0.0.71"
	others := make([]*rawConn, 5)
	for i := range others {
		others[i] = p.dialFrom(ip)
		others[i].login(testenv.MoneroAddress(t, 200+i), "x")
	}
	bystander := p.dialFrom("127.0.0.72")
	bsid, _ := bystander.login(testenv.MoneroAddress(t, 210), "x")

	c := p.dialFrom(ip)
	sid, job := c.login(testenv.MoneroAddress(t, 211), "x")
	if got := c.submit(2, sid, job, "00000000", strings.Repeat("ff", 32)); got != errLine("2", proto.ErrMsgWrongResult) {
		t.Fatalf("wrong result answered %s", got)
	}
	for i, o := range others {
		for line := o.readLine(); line != ""; line = o.readLine() {
			if !strings.Contains(line, `"method":"job"`) {
				t.Errorf("connection %d of the banned address got %s", i, line)
			}
		}
	}
	// The bystander's connection is still served.
	bystander.send(fmt.Sprintf(`{"id":3,"method":"keepalived","params":{"id":%q}}`, bsid))
	if got := bystander.reply(); !strings.Contains(got, proto.StatusKeepalive) {
		t.Fatalf("bystander answered %s", got)
	}
}

// TestJunkCountsTowardsBan: with ratio banning on, refused submits that
// cost the pool no hash (wrong job ids, duplicates, bad params, unknown
// methods) get an address banned too (issue 17: 287,521 wrong job ids were
// never banned).
func TestJunkCountsTowardsBan(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) {
		c.Banning = Banning{Enabled: true, Time: time.Minute, InvalidPercent: 50, CheckThreshold: 20}
	}})
	for i, junk := range []func(sid string, job *proto.Job, n int) string{
		func(sid string, _ *proto.Job, n int) string {
			return fmt.Sprintf(`{"id":%d,"method":"submit","params":{"id":%q,"job_id":"nope","nonce":"00000000","result":"00"}}`, n, sid)
		},
		func(sid string, _ *proto.Job, n int) string {
			return fmt.Sprintf(`{"id":%d,"method":"submit","params":[1,2]}`, n)
		},
		func(_ string, _ *proto.Job, n int) string {
			return fmt.Sprintf(`{"id":%d,"method":"mining.notify"}`, n)
		},
	} {
		ip := fmt.Sprintf("127.0.0.%d", 80+i)
		c := p.dialFrom(ip)
		sid, job := c.login(testenv.MoneroAddress(t, 300+i), "x")
		var b strings.Builder
		for n := range 100 {
			b.WriteString(junk(sid, job, 10+n) + "\n")
		}
		go func() { _, _ = c.c.Write([]byte(b.String())) }()
		replies := 0
		for line := c.readLine(); line != ""; line = c.readLine() {
			replies++
		}
		if replies > 25 {
			t.Errorf("junk kind %d: %d replies before the connection closed, want the ban at 20", i, replies)
		}
		if got := p.dialFrom(ip).readLine(); got != errLine("null", proto.ErrMsgBanned) {
			t.Errorf("junk kind %d: reconnecting got %s, want banned", i, got)
		}
	}
}

// TestConnectionRateRefused: beyond the burst, new connections from one
// address are refused before anything is read and summarised in the log,
// while another address connects.
func TestConnectionRateRefused(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) {
		c.ConnRate, c.ConnBurst = 0.01, 10
	}})
	refused := 0
	for range 30 {
		if p.dialFrom("127.0.0.90").readLineWithin(200*time.Millisecond) == errLine("null", proto.ErrMsgTooManyConns) {
			refused++
		}
	}
	if refused != 20 {
		t.Errorf("%d of 30 connections refused with a burst of 10, want 20", refused)
	}
	if got := p.srv.Refused()["connection_rate"]; got != 20 {
		t.Errorf("refused counter connection_rate = %d, want 20", got)
	}
	p.dialFrom("127.0.0.91").login(testenv.MoneroAddress(t, 400), "x")
}

// readLineWithin is readLine with a short deadline: "" when the pool sent
// nothing (a connection that was admitted waits for a login).
func (c *rawConn) readLineWithin(d time.Duration) string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	line, _ := c.r.ReadString('\n')
	return strings.TrimRight(line, "\n")
}

// TestReconnectKeepsEarned: a miner that had a share accepted and
// reconnects from the same address group with the same address is not a
// stranger (a junk flood must not lock out a miner whose connection
// blipped); the same address from another group is. Observed through the
// block lane, which only earned sessions' block claims take.
func TestReconnectKeepsEarned(t *testing.T) {
	p, h := hostilePool(t)
	first := p.dialFrom("127.0.0.35")
	sid, job := first.login(minerAddr, "rig")
	nonce, result := p.hash(job, 1)
	if got := first.submit(2, sid, job, nonce, hex.EncodeToString(result[:])); got != fmt.Sprintf(okLine, 2) {
		t.Fatalf("share: %s", got)
	}
	first.c.Close()
	fakeBlock := "01" + strings.Repeat("00", 31) // meets any network difficulty, not its hash
	for _, tc := range []struct {
		ip       string
		wantPrio int64
	}{{"127.0.0.36", 0}, {"127.0.0.35", 1}} {
		h.prio.Store(0)
		c := p.dialFrom(tc.ip)
		sid, job := c.login(minerAddr, "rig")
		if got := c.submit(3, sid, job, "00000002", fakeBlock); got != errLine("3", proto.ErrMsgWrongResult) {
			t.Fatalf("fake block claim from %s: %s", tc.ip, got)
		}
		if h.prio.Load() != tc.wantPrio {
			t.Errorf("from %s: %d hashes in the block lane, want %d", tc.ip, h.prio.Load(), tc.wantPrio)
		}
	}
}

// TestStrangerJunkBanned: a connection without an accepted share gets ten
// refused requests, then its address is banned, long before the ratio's
// checkThreshold; one with accepted work is judged by the ratio only.
func TestStrangerJunkBanned(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) {
		c.Banning = Banning{Enabled: true, Time: time.Minute, InvalidPercent: 50, CheckThreshold: 1000}
	}})
	badJobs := func(c *rawConn, sid string) (replies int) {
		var b strings.Builder
		for n := range 30 {
			fmt.Fprintf(&b, `{"id":%d,"method":"submit","params":{"id":%q,"job_id":"nope","nonce":"00000000","result":"00"}}`+"\n", 10+n, sid)
		}
		go func() { _, _ = c.c.Write([]byte(b.String())) }()
		for n := 0; n < 30; n++ {
			line := c.readLineWithin(5 * time.Second)
			if line == "" {
				break
			}
			if !strings.Contains(line, `"method":"job"`) {
				replies++
			}
		}
		return replies
	}
	stranger := p.dialFrom("127.0.0.95")
	sid, _ := stranger.login(testenv.MoneroAddress(t, 600), "x")
	if n := badJobs(stranger, sid); n != strangerJunkMax {
		t.Errorf("a stranger got %d replies to 30 bad submits, want %d then the close", n, strangerJunkMax)
	}
	if got := p.dialFrom("127.0.0.95").readLine(); got != errLine("null", proto.ErrMsgBanned) {
		t.Errorf("reconnecting stranger got %s", got)
	}

	miner := p.dialFrom("127.0.0.96")
	sid, job := miner.login(minerAddr, "rig")
	nonce, result := p.hash(job, 7)
	if got := miner.submit(2, sid, job, nonce, hex.EncodeToString(result[:])); got != fmt.Sprintf(okLine, 2) {
		t.Fatalf("share: %s", got)
	}
	if n := badJobs(miner, sid); n != 30 {
		t.Errorf("a miner with accepted work got %d replies to 30 bad submits, want all 30", n)
	}
}
