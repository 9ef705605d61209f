package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/stratum/proto"
)

// From field-notes.md: a login reply xmrig 6.26 accepted and mined on.
const (
	realBlob = "1010ebda8ed806eee8e1345609e89cbc124b941328ac0463ec701ab8ca60a711c43be825fa6a5d000000001148dbedc6dee04795616c682873df9c2658f1d0efaebf8bf5377174303867d001"
	realSeed = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"
	realJob  = `{"blob":"` + realBlob + `","job_id":"1","target":"5c8fc2f5285c8f02","algo":"rx/0","height":132,"seed_hash":"` + realSeed + `"}`
	realAuth = `{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"sess1","job":` + realJob + `,"extensions":["algo","keepalive"],"status":"OK"}}`
)

// fakePool is a scripted stratum server: the test reads each request and
// writes each line itself, so it controls order, timing and content.
type fakePool struct {
	t     *testing.T
	ln    net.Listener
	conns chan net.Conn
}

func newFakePool(t *testing.T, tlsCfg *tls.Config) *fakePool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	p := &fakePool{t: t, ln: ln, conns: make(chan net.Conn, 4)}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				close(p.conns)
				return
			}
			if tc, ok := nc.(*tls.Conn); ok {
				go tc.Handshake() //nolint:errcheck // the client reports failures
			}
			p.conns <- nc
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *fakePool) addr() string { return p.ln.Addr().String() }

// peer is the pool's end of one connection.
type peer struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func (p *fakePool) accept() *peer {
	p.t.Helper()
	select {
	case nc := <-p.conns:
		p.t.Cleanup(func() { nc.Close() })
		return &peer{t: p.t, nc: nc, r: bufio.NewReader(nc)}
	case <-time.After(5 * time.Second):
		p.t.Fatal("no connection")
		return nil
	}
}

// read returns the next request line, decoded.
func (pc *peer) read() proto.Request {
	pc.t.Helper()
	_ = pc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := pc.r.ReadBytes('\n')
	if err != nil {
		pc.t.Fatalf("pool read: %v", err)
	}
	var req proto.Request
	if err := json.Unmarshal(line, &req); err != nil {
		pc.t.Fatalf("pool got %q: %v", line, err)
	}
	return req
}

func (pc *peer) readRaw() string {
	pc.t.Helper()
	_ = pc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := pc.r.ReadString('\n')
	if err != nil {
		pc.t.Fatalf("pool read: %v", err)
	}
	return line
}

func (pc *peer) send(format string, args ...any) {
	pc.t.Helper()
	if _, err := fmt.Fprintf(pc.nc, format+"\n", args...); err != nil {
		pc.t.Fatalf("pool write: %v", err)
	}
}

func (pc *peer) ok(id json.RawMessage) {
	pc.send(`{"id":%s,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}`, id)
}

func (pc *peer) reject(id json.RawMessage, msg string) {
	pc.send(`{"id":%s,"jsonrpc":"2.0","error":{"code":-1,"message":%q}}`, id, msg)
}

func dial(t *testing.T, addr string, opts Options) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var testLogin = LoginParams{Login: "4addr", Pass: "w1", Agent: "test/1", RigID: "rig", Algo: []string{proto.Algo}}

// login performs the login exchange with the field-notes reply.
func login(t *testing.T, c *Conn, pc *peer) *proto.LoginResult {
	t.Helper()
	type res struct {
		r   *proto.LoginResult
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := c.Login(context.Background(), testLogin)
		done <- res{r, err}
	}()
	req := pc.read()
	if req.Method != proto.MethodLogin || string(req.ID) != "1" || req.JSONRPC != "2.0" {
		t.Fatalf("login request %+v", req)
	}
	var lp proto.LoginParams
	if err := json.Unmarshal(req.Params, &lp); err != nil || lp.Login != "4addr" || lp.Pass != "w1" || lp.RigID != "rig" || lp.Algo[0] != "rx/0" {
		t.Fatalf("login params %s (%v)", req.Params, err)
	}
	pc.send("%s", realAuth)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.r
}

func nextJob(t *testing.T, c *Conn) *proto.Job {
	t.Helper()
	select {
	case j, ok := <-c.Jobs():
		if !ok {
			t.Fatalf("Jobs closed: %v", c.Err())
		}
		return j
	case <-time.After(5 * time.Second):
		t.Fatal("no job")
		return nil
	}
}

func TestLoginSubmitAndPushedJob(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()

	res := login(t, c, pc)
	if res.ID != "sess1" || res.Status != "OK" || res.Job.JobID != "1" || !c.HasExtension("algo") || c.Session() != "sess1" {
		t.Fatalf("login result %+v, extensions %v", res, c.Extensions())
	}
	if j := nextJob(t, c); j.JobID != "1" || j.Height != 132 || j.SeedHash != realSeed {
		t.Fatalf("login job %+v", j)
	}

	// Accepted share: check every submit field as xmrig writes it.
	errc := make(chan error, 1)
	go func() {
		errc <- c.Submit(context.Background(), "1", [4]byte{0x99}, [32]byte{0x73, 31: 0x00})
	}()
	req := pc.read()
	var sp proto.SubmitParams
	if err := json.Unmarshal(req.Params, &sp); err != nil {
		t.Fatal(err)
	}
	want := proto.SubmitParams{ID: "sess1", JobID: "1", Nonce: "99000000", Result: "73" + strings.Repeat("0", 62), Algo: "rx/0"}
	if req.Method != proto.MethodSubmit || string(req.ID) != "2" || sp != want {
		t.Fatalf("submit %s %s %+v", req.ID, req.Method, sp)
	}
	pc.ok(req.ID)
	if err := <-errc; err != nil {
		t.Fatalf("accepted share: %v", err)
	}

	// Rejected share: a typed *proto.Error, not a transport error.
	go func() { errc <- c.SubmitHex(context.Background(), "1", "01000000", strings.Repeat("ab", 32)) }()
	pc.reject(pc.read().ID, proto.ErrMsgLowDifficulty)
	err := <-errc
	var pe *proto.Error
	if !errors.As(err, &pe) || pe.Message != proto.ErrMsgLowDifficulty || pe.Code != -1 || IsCritical(err) {
		t.Fatalf("rejected share: %v", err)
	}

	// A pushed job arrives on Jobs and becomes current.
	pc.send(`{"jsonrpc":"2.0","method":"job","params":{"blob":"%s","job_id":"2","target":"b88d0600","algo":"rx/0","height":133,"seed_hash":"%s"}}`, realBlob, realSeed)
	if j := nextJob(t, c); j.JobID != "2" || j.Target != "b88d0600" || c.Job().JobID != "2" {
		t.Fatalf("pushed job %+v", j)
	}

	go func() { errc <- c.Keepalive(context.Background()) }()
	req = pc.read()
	if req.Method != proto.MethodKeepalive || string(req.Params) != `{"id":"sess1"}` {
		t.Fatalf("keepalive %+v", req)
	}
	pc.send(`{"id":%s,"jsonrpc":"2.0","error":null,"result":{"status":"KEEPALIVED"}}`, req.ID)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	if ls := c.Latency().Stats(); ls.Count != 2 || ls.P99 <= 0 || ls.P50 > ls.P99 {
		t.Fatalf("latency %+v", ls)
	}
	if st := c.Stats(); st.Requests != 4 || st.Replies != 4 || st.Jobs != 2 || st.Unmatched+st.Undecodable+st.JobErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if time.Since(c.LastSend()) > 5*time.Second {
		t.Fatal("LastSend not updated")
	}
}

// Replies come back in another order than the requests; each waiter must
// get its own. The pool rejects each with its job id as message.
func TestPipelinedOutOfOrderReplies(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.SubmitHex(context.Background(), fmt.Sprint("job", i), "00000000", "")
		}()
	}
	reqs := make([]proto.Request, n)
	for i := range reqs {
		reqs[i] = pc.read()
	}
	for i := n - 1; i >= 0; i-- {
		var sp proto.SubmitParams
		_ = json.Unmarshal(reqs[i].Params, &sp)
		if sp.JobID == "job3" {
			pc.ok(reqs[i].ID)
			continue
		}
		pc.reject(reqs[i].ID, sp.JobID)
	}
	wg.Wait()
	for i, err := range errs {
		var pe *proto.Error
		switch {
		case i == 3 && err != nil:
			t.Errorf("job3: %v", err)
		case i != 3 && (!errors.As(err, &pe) || pe.Message != fmt.Sprint("job", i)):
			t.Errorf("job%d got %v", i, err)
		}
	}
}

func TestClosedConnectionFailsWaiters(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()
	login(t, c, pc)

	errc := make(chan error, 2)
	go func() { errc <- c.Keepalive(context.Background()) }()
	go func() { errc <- c.SubmitHex(context.Background(), "1", "00000000", "") }()
	pc.read()
	pc.read()
	pc.nc.Close()
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("waiter got %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter not released")
		}
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err %v", c.Err())
	}
	for range c.Jobs() { // the login job, then closed
	}
	if err := c.Keepalive(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after close: %v", err)
	}
	if err := c.SendLine([]byte("{}\n")); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendLine after close: %v", err)
	}
}

func TestCloseByClientFailsWaiters(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()
	errc := make(chan error, 1)
	go func() { errc <- c.Keepalive(context.Background()) }()
	pc.read()
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatal(c.Err())
	}
}

func TestRequestTimeoutAndLateReply(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{RequestTimeout: 100 * time.Millisecond})
	pc := pool.accept()
	err := c.Keepalive(context.Background())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	req := pc.read()
	pc.ok(req.ID) // too late: nobody waits for it any more
	select {
	case line := <-c.Other():
		if !strings.Contains(string(line), `"id":1`) {
			t.Fatalf("other %s", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("late reply not on Other")
	}
	if st := c.Stats(); st.Unmatched != 1 {
		t.Fatalf("stats %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Keepalive(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestDuplicateJobClosesLikeXmrig(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()
	login(t, c, pc)
	nextJob(t, c)
	// Same job_id, blob (other hex case) and target (other encoding of
	// the same target64) as the login job: xmrig's isEqual holds.
	pc.send(`{"jsonrpc":"2.0","method":"job","params":%s}`, strings.Replace(realJob, "ebda", "EBDA", 1))
	select {
	case je := <-c.JobErrors():
		if !je.Duplicate || !errors.Is(je, ErrDuplicateJob) {
			t.Fatalf("job error %v", je)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no duplicate reported")
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrDuplicateJob) {
		t.Fatalf("close cause %v", c.Err())
	}
}

func TestTolerateBadJobs(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{TolerateBadJobs: true})
	pc := pool.accept()
	login(t, c, pc)
	nextJob(t, c)
	pc.send(`{"jsonrpc":"2.0","method":"job","params":%s}`, realJob)
	pc.send(`{"jsonrpc":"2.0","method":"job","params":{"job_id":"3","blob":"00","target":"b88d0600","algo":"rx/0","seed_hash":"%s"}}`, realSeed)
	// Same job id but another target is a new job for xmrig.
	pc.send(`{"jsonrpc":"2.0","method":"job","params":%s}`, strings.Replace(realJob, "5c8fc2f5285c8f02", "b88d0600", 1))
	if je := <-c.JobErrors(); !je.Duplicate {
		t.Fatalf("first %v", je)
	}
	if je := <-c.JobErrors(); je.Code != CodeBlob || je.Job.JobID != "3" {
		t.Fatalf("second %v", je)
	}
	if j := nextJob(t, c); j.Target != "b88d0600" || c.Err() != nil {
		t.Fatalf("job %+v, err %v", j, c.Err())
	}
	if st := c.Stats(); st.JobErrors != 2 || st.Jobs != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLoginFailures(t *testing.T) {
	cases := []struct {
		name  string
		reply string
		check func(error) bool
	}{
		{"rejected", `{"id":1,"jsonrpc":"2.0","error":{"code":-1,"message":"Invalid address"}}`,
			func(err error) bool {
				var pe *proto.Error
				return errors.As(err, &pe) && pe.Message == "Invalid address"
			}},
		{"no session id", `{"id":1,"jsonrpc":"2.0","error":null,"result":{"job":` + realJob + `,"status":"OK"}}`,
			func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) && pe.Code == CodeNoSessionID }},
		{"bad job", `{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"s","job":` + strings.Replace(realJob, realSeed, "00", 1) + `}}`,
			func(err error) bool { var je *JobError; return errors.As(err, &je) && je.Code == CodeSeedHash }},
		{"no job", `{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"s","status":"OK"}}`,
			func(err error) bool { var je *JobError; return errors.As(err, &je) && je.Code == CodeNotObject }},
		{"result not object", `{"id":1,"jsonrpc":"2.0","error":null,"result":true}`,
			func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) }},
		{"error without message", `{"id":1,"jsonrpc":"2.0","error":{"code":-1}}`,
			func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pool := newFakePool(t, nil)
			c := dial(t, pool.addr(), Options{})
			pc := pool.accept()
			errc := make(chan error, 1)
			go func() { _, err := c.Login(context.Background(), testLogin); errc <- err }()
			pc.read()
			pc.send("%s", tc.reply)
			if err := <-errc; !tc.check(err) {
				t.Fatalf("got %T %v", err, err)
			}
		})
	}
}

func TestSubmitResultNotObject(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()
	errc := make(chan error, 1)
	go func() { errc <- c.SubmitHex(context.Background(), "1", "00000000", "") }()
	pc.send(`{"id":%s,"jsonrpc":"2.0","error":null,"result":true}`, pc.read().ID)
	var pe *ProtocolError
	if err := <-errc; !errors.As(err, &pe) {
		t.Fatalf("bare true accepted: %v", err)
	}
}

func TestGetJob(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()
	login(t, c, pc)
	nextJob(t, c)
	type res struct {
		j   *proto.Job
		err error
	}
	rc := make(chan res, 1)
	get := func() { j, err := c.GetJob(context.Background()); rc <- res{j, err} }

	go get()
	req := pc.read()
	if req.Method != proto.MethodGetJob || string(req.Params) != `{"id":"sess1"}` {
		t.Fatalf("getjob %+v", req)
	}
	pc.send(`{"id":%s,"jsonrpc":"2.0","error":null,"result":%s}`, req.ID, strings.Replace(realJob, `"job_id":"1"`, `"job_id":"7"`, 1))
	if r := <-rc; r.err != nil || r.j.JobID != "7" || nextJob(t, c).JobID != "7" {
		t.Fatalf("getjob %+v", r)
	}
	go get()
	pc.ok(pc.read().ID) // a pool that pushes the job instead
	if r := <-rc; r.err != nil || r.j != nil {
		t.Fatalf("status-only getjob %+v", r)
	}
}

// Malformed input on purpose; the pool's null-id reply and junk lines
// from the pool go to Other.
func TestSendLineAndOther(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{})
	pc := pool.accept()
	if err := c.SendLine([]byte("{\"id\":1,\"method\":\n")); err != nil {
		t.Fatal(err)
	}
	if got := pc.readRaw(); got != "{\"id\":1,\"method\":\n" {
		t.Fatalf("pool got %q", got)
	}
	pc.send(`{"id":null,"jsonrpc":"2.0","error":{"code":-1,"message":%q}}`, proto.ErrMsgParse)
	pc.send(`short`)
	pc.send(`{"jsonrpc":"2.0","method":"client.reconnect","params":["h","1"]}`)
	var got []string
	for range 3 {
		select {
		case l := <-c.Other():
			got = append(got, string(l))
		case <-time.After(5 * time.Second):
			t.Fatalf("only %q", got)
		}
	}
	if !strings.Contains(got[0], proto.ErrMsgParse) || got[1] != "short" || !strings.Contains(got[2], "client.reconnect") {
		t.Fatalf("other %q", got)
	}
	if st := c.Stats(); st.Undecodable != 1 || st.Ignored != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLineTooLong(t *testing.T) {
	pool := newFakePool(t, nil)
	c := dial(t, pool.addr(), Options{MaxLine: 1024})
	pc := pool.accept()
	pc.send(`{"jsonrpc":"2.0","method":"job","params":{"x":"%s"}}`, strings.Repeat("a", 2000))
	<-c.Done()
	if !errors.Is(c.Err(), ErrLineTooLong) {
		t.Fatalf("cause %v", c.Err())
	}
}

func TestTLSWithFingerprint(t *testing.T) {
	cfg, fp := testenv.SelfSignedTLS(t)
	pool := newFakePool(t, cfg)

	c := dial(t, "stratum+ssl://"+pool.addr(), Options{TLSFingerprint: strings.ToUpper(fp)})
	pc := pool.accept()
	login(t, c, pc)

	wrong := strings.Repeat("0", 64)
	_, err := Dial(context.Background(), pool.addr(), Options{TLS: true, TLSFingerprint: wrong})
	if !errors.Is(err, ErrFingerprint) {
		t.Fatalf("wrong pin: %v", err)
	}
}

func TestIsCritical(t *testing.T) {
	for msg, want := range map[string]bool{
		"Unauthenticated": true, "invalid job id": true, "IP Address currently banned": true,
		"Your IP is banned": true, proto.ErrMsgBlockExpired: false, proto.ErrMsgLowDifficulty: false,
	} {
		if got := IsCritical(fmt.Errorf("wrapped: %w", &proto.Error{Message: msg})); got != want {
			t.Errorf("%q: %v", msg, got)
		}
	}
	if IsCritical(ErrClosed) {
		t.Error("transport error critical")
	}
}
