package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// testPool is a small verifying pool: it hashes every submit again
// (refHash), checks it against the share difficulty with the pool's 256-bit
// test, refuses duplicates and shares for replaced jobs, and can push a new
// job on every connection at an interval.
type testPool struct {
	t         *testing.T
	ln        net.Listener
	diff      uint64
	pushEvery time.Duration
	loginErr  string

	mu       sync.Mutex
	methods  map[string]int // requests seen by method
	logins   []proto.LoginParams
	jobs     map[string][]byte // job id → blob
	seen     map[string]bool   // job id + nonce
	nextJob  int
	accepted int
}

func newTestPool(t *testing.T, diff uint64) *testPool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testPool{t: t, ln: ln, diff: diff, methods: map[string]int{}, jobs: map[string][]byte{}, seen: map[string]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait() // handlers use t; they end with the miner's connections
	})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(nc)
			}()
		}
	}()
	return p
}

func (p *testPool) addr() string { return p.ln.Addr().String() }

// newJob makes a job whose blob differs from every other (as the pool's
// extra nonce makes it).
func (p *testPool) newJob() *proto.Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextJob++
	blob, _ := hex.DecodeString(realBlob)
	blob[50], blob[51] = byte(p.nextJob), byte(p.nextJob>>8)
	id := fmt.Sprint("job", p.nextJob)
	p.jobs[id] = blob
	return &proto.Job{Blob: hex.EncodeToString(blob), JobID: id, Target: cryptonote.TargetHex(p.diff),
		Algo: proto.Algo, Height: 7, SeedHash: realSeed}
}

func (p *testPool) serve(nc net.Conn) {
	defer nc.Close()
	var wmu sync.Mutex
	send := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = nc.Write(b)
	}
	var (
		cmu     sync.Mutex
		current string // the job shares must be for
	)
	push := func() {
		j := p.newJob()
		cmu.Lock()
		current = j.JobID
		cmu.Unlock()
		line, _ := proto.AppendJob(nil, j)
		send(line)
	}
	stop := make(chan struct{})
	defer close(stop)
	sc := bufio.NewScanner(nc)
	for sc.Scan() {
		var req proto.Request
		if json.Unmarshal(sc.Bytes(), &req) != nil {
			send(proto.AppendError(nil, nil, -1, proto.ErrMsgParse))
			continue
		}
		p.mu.Lock()
		p.methods[req.Method]++
		p.mu.Unlock()
		switch req.Method {
		case proto.MethodLogin:
			var lp proto.LoginParams
			_ = json.Unmarshal(req.Params, &lp)
			p.mu.Lock()
			p.logins = append(p.logins, lp)
			p.mu.Unlock()
			if p.loginErr != "" {
				send(proto.AppendError(nil, req.ID, -1, p.loginErr))
				return
			}
			j := p.newJob()
			current = j.JobID
			line, _ := proto.AppendResult(nil, req.ID, proto.LoginResult{ID: "sess", Job: j, Extensions: []string{proto.ExtAlgo}, Status: "OK"})
			send(line)
			if p.pushEvery > 0 {
				go func() {
					tick := time.NewTicker(p.pushEvery)
					defer tick.Stop()
					for {
						select {
						case <-tick.C:
							push()
						case <-stop:
							return
						}
					}
				}()
			}
		case proto.MethodSubmit:
			var sp proto.SubmitParams
			_ = json.Unmarshal(req.Params, &sp)
			cmu.Lock()
			cur := current
			cmu.Unlock()
			if msg := p.check(sp, cur); msg != "" {
				send(proto.AppendError(nil, req.ID, -1, msg))
				continue
			}
			line, _ := proto.AppendResult(nil, req.ID, proto.StatusResult{Status: proto.StatusOK})
			send(line)
		case proto.MethodKeepalive:
			line, _ := proto.AppendResult(nil, req.ID, proto.StatusResult{Status: proto.StatusKeepalive})
			send(line)
		default:
			send(proto.AppendError(nil, req.ID, -1, proto.ErrMsgInvalidMethod))
		}
	}
}

// check returns the rejection message for a submit, "" to accept it.
func (p *testPool) check(sp proto.SubmitParams, current string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	blob := p.jobs[sp.JobID]
	nonce, nerr := hex.DecodeString(sp.Nonce)
	result, rerr := hex.DecodeString(sp.Result)
	switch {
	case sp.ID != "sess":
		return proto.ErrMsgUnauthenticated
	case blob == nil:
		return proto.ErrMsgInvalidJobID
	case sp.JobID != current:
		return proto.ErrMsgBlockExpired
	case nerr != nil || len(nonce) != 4:
		return proto.ErrMsgInvalidNonce
	case rerr != nil || len(result) != 32:
		return proto.ErrMsgInvalidResult
	case p.seen[sp.JobID+sp.Nonce]:
		return proto.ErrMsgDuplicateShare
	}
	hash := refHash(p.t, realSeed, blob, [4]byte(nonce))
	switch {
	case !bytes.Equal(hash[:], result):
		return proto.ErrMsgWrongResult
	case !cryptonote.CheckHash(&hash, p.diff):
		return proto.ErrMsgLowDifficulty
	}
	p.seen[sp.JobID+sp.Nonce] = true
	p.accepted++
	return ""
}

// runMiner runs rxminer with args and --json and returns the exit code and
// the parsed summary.
func runMiner(t *testing.T, ctx context.Context, args ...string) (int, summary, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"--json", "--report", "0", "--retries", "1", "--timeout", "10s"}, args...), &stdout, &stderr)
	var s summary
	if code != 2 {
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
			t.Fatalf("summary %q: %v\nstderr: %s", stdout.String(), err, stderr.String())
		}
	}
	return code, s, stderr.String()
}

func TestMinerHonest(t *testing.T) {
	pool := newTestPool(t, 2)
	code, s, logs := runMiner(t, context.Background(), "-o", pool.addr(), "-u", "solo:4addr.500", "-p", "w1",
		"--rig-id", "r1", "-t", "2", "--sessions", "2", "--max-shares", "4")
	if code != 0 || s.Accepted != 4 || s.Rejected != 0 || s.Failed != 0 || s.Sent != 4 || s.Logins != 2 || s.Sessions != 2 {
		t.Fatalf("exit %d, summary %+v\n%s", code, s, logs)
	}
	if s.LatencyMS.Count != 4 || s.LatencyMS.P50 <= 0 || s.LatencyMS.P99 < s.LatencyMS.P50 || s.Hashes < 4 || s.Mode != "light" || s.SeedChanges != 1 {
		t.Fatalf("summary %+v", s)
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.accepted != 4 || len(pool.logins) != 2 {
		t.Fatalf("pool accepted %d, logins %d", pool.accepted, len(pool.logins))
	}
	lp := pool.logins[0]
	if lp.Login != "solo:4addr.500" || lp.Pass != "w1" || lp.RigID != "r1" || len(lp.Algo) != 1 || lp.Algo[0] != "rx/0" || !strings.HasPrefix(lp.Agent, "rxminer/") {
		t.Fatalf("login %+v", lp)
	}
}

// Several logins in one process: each session logs in as its own login,
// and accepted shares are counted by login. A repeated -u replaces the
// earlier one.
func TestMinerSeveralLogins(t *testing.T) {
	pool := newTestPool(t, 2)
	code, s, logs := runMiner(t, context.Background(), "-o", pool.addr(), "-u", "earlier", "-u", "4addrA,solo:4addrB,prop:4addrC",
		"-t", "3", "--max-shares", "30")
	var byLogin uint64
	for _, n := range s.AcceptedBy {
		byLogin += n
	}
	if code != 0 || s.Sessions != 3 || s.Logins != 3 || s.Accepted != 30 || byLogin != 30 || len(s.AcceptedBy) != 3 {
		t.Fatalf("exit %d, summary %+v\n%s", code, s, logs)
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	got := map[string]bool{}
	for _, lp := range pool.logins {
		got[lp.Login] = true
	}
	if len(got) != 3 || !got["4addrA"] || !got["solo:4addrB"] || !got["prop:4addrC"] {
		t.Fatalf("logins %v", got)
	}
}

func TestMinerBadShares(t *testing.T) {
	cases := []struct {
		kind      badKind
		diff      uint64
		pushEvery time.Duration
		max       int
		want      string // every rejection has this message
	}{
		{badResult, 2, 0, 2, proto.ErrMsgWrongResult},
		{badNonce, 2, 0, 2, proto.ErrMsgInvalidNonce},
		{badLowDiff, 2, 0, 2, proto.ErrMsgLowDifficulty},
		{badMalformed, 2, 0, 2, proto.ErrMsgParse},
		{badStale, 2, 150 * time.Millisecond, 2, proto.ErrMsgBlockExpired},
		{badDuplicate, 2, 0, 4, proto.ErrMsgDuplicateShare},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			pool := newTestPool(t, tc.diff)
			pool.pushEvery = tc.pushEvery
			code, s, logs := runMiner(t, context.Background(), "-o", pool.addr(), "-t", "2", "--max-shares", fmt.Sprint(tc.max),
				"--bad", string(tc.kind), "--bad-rate", "1", "--stale-after", "100ms")
			bad := s.BadSent[string(tc.kind)]
			if code != 0 || s.Sent != uint64(tc.max) || s.Accepted+s.Rejected != s.Sent || s.Rejected != bad || s.RejectedBy[tc.want] != bad || bad == 0 {
				t.Fatalf("exit %d, summary %+v\n%s", code, s, logs)
			}
			if tc.kind != badDuplicate && bad != uint64(tc.max) {
				t.Fatalf("bad sent %d of %d", bad, tc.max)
			}
		})
	}
}

func TestMinerLoginRejected(t *testing.T) {
	pool := newTestPool(t, 2)
	pool.loginErr = proto.ErrMsgInvalidAddrPrefix
	code, s, _ := runMiner(t, context.Background(), "-o", pool.addr(), "-t", "1", "-u", "nonsense")
	if code != 1 || s.LoginErrors != 1 || s.Logins != 0 || !strings.Contains(s.LastError, proto.ErrMsgInvalidAddrPrefix) {
		t.Fatalf("exit %d, summary %+v", code, s)
	}
}

// Cancelling the context is what Ctrl-C and SIGTERM do: the run stops,
// in-flight replies are counted and the summary printed. The cancel comes
// once the pool has seen both logins, a share and a keepalive.
func TestMinerStopsOnSignal(t *testing.T) {
	pool := newTestPool(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer cancel()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			pool.mu.Lock()
			m := maps.Clone(pool.methods)
			pool.mu.Unlock()
			if m[proto.MethodLogin] >= 2 && m[proto.MethodSubmit] >= 1 && m[proto.MethodKeepalive] >= 1 {
				return
			}
		}
	}()
	code, s, logs := runMiner(t, ctx, "-o", "127.0.0.1:1,"+pool.addr(), "--sessions", "2", "-t", "1",
		"--retries", "0", "--retry-pause", "10ms", "--keepalive", "--keepalive-interval", "100ms")
	if code != 0 || s.Hashes == 0 || s.Sent == 0 || s.Logins < 2 || s.Keepalives == 0 {
		t.Fatalf("exit %d, summary %+v\n%s", code, s, logs)
	}
	// Every submission sent before the stop got its answer counted.
	if s.Accepted+s.Rejected != s.Sent || s.Failed != 0 {
		t.Fatalf("unbalanced: %+v", s)
	}
	// Session 0 starts on the dead first address and fails over.
	if s.ConnectErrors == 0 {
		t.Fatalf("summary %+v", s)
	}
}

func TestFlags(t *testing.T) {
	c, err := parseFlags([]string{"-o", "a:1,b:2", "-o", "c:3", "--mode", "fast", "--bad", "stale", "--tls"}, &bytes.Buffer{})
	if err != nil || strings.Join(c.session.pools, " ") != "a:1 b:2 c:3" || !c.fast || c.session.bad != badStale || !c.session.dial.TLS {
		t.Fatalf("%+v %v", c, err)
	}
	for _, args := range [][]string{
		{}, {"-o", "a:1", "--mode", "medium"}, {"-o", "a:1", "--bad", "evil"}, {"-o", "a:1", "--bad-rate", "2"},
		{"-o", "a:1", "extra"}, {"-o", "a:1", "--sessions", "0"}, {"-o", "a:1", "-u", "a,b", "--sessions", "1"},
	} {
		if code := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
			t.Errorf("%q: exit %d", args, code)
		}
	}
}

func TestSummaryText(t *testing.T) {
	tl := newTally(0)
	tl.result(nil)
	tl.result(&proto.Error{Code: -1, Message: proto.ErrMsgLowDifficulty})
	tl.result(fmt.Errorf("x: %w", client.ErrTimeout))
	s := tl.summary()
	var b bytes.Buffer
	if err := s.print(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"accepted 1", "rejected 1 (Low difficulty share: 1)", "failed 1 (timeout: 1)", "p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
}

// TestShareOfAnEarlierConnectionIsDropped: a share found on a job of an
// earlier connection (handed over while the session reconnected) is not
// submitted on the new one, where its job id may name another job.
func TestShareOfAnEarlierConnectionIsDropped(t *testing.T) {
	tl := newTally(0)
	s := newSession(0, &sessionConfig{logf: t.Logf}, tl, nil)
	s.conn = 2
	// A submit would dereference the nil connection.
	s.handleShare(context.Background(), nil, share{work: &work{jobID: "1", conn: 1}, meets: true})
	if n := tl.sent.Load() + tl.found.Load(); n != 0 {
		t.Fatalf("a share of connection 1 was counted on connection 2 (sent+found %d)", n)
	}
}
