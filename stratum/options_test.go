package stratum

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/randomx"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

func TestTLSPortWithPinnedFingerprint(t *testing.T) {
	cfg, fp := testenv.SelfSignedTLS(t)
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) { c.Ports[0].TLS = cfg }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := client.Dial(ctx, p.addr, client.Options{TLS: true, TLSFingerprint: fp})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Login(ctx, client.LoginParams{Login: minerAddr, Pass: "tls", Algo: []string{"rx/0"}})
	if err != nil {
		t.Fatal(err)
	}
	nonce, h := p.hash(res.Job, 3)
	var nb [4]byte
	hex.Decode(nb[:], []byte(nonce))
	if err := conn.Submit(ctx, res.Job.JobID, nb, h); err != nil {
		t.Fatalf("share over TLS: %v", err)
	}
	// A plain-text client on the TLS port gets nowhere.
	raw := p.dial()
	raw.send(xmrigLogin)
	if line := raw.readLine(); line != "" && line[0] == '{' {
		t.Fatalf("TLS port answered plain JSON: %s", line)
	}
}

func TestProxyProtocolGivesTheMinersIP(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) { c.Ports[0].ProxyProtocol = true }})
	c := p.dial()
	// What HAProxy sends first: the real client address.
	if _, err := c.c.Write([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 40000 3333\r\n")); err != nil {
		t.Fatal(err)
	}
	sid, job := c.login(minerAddr, "behind-lb")
	nonce, h := p.hash(job, 5)
	if got := c.submit(2, sid, job, nonce, hex.EncodeToString(h[:])); got != fmt.Sprintf(okLine, 2) {
		t.Fatal(got)
	}
	shares, _, _ := p.sink.Snapshot()
	if len(shares) != 1 || shares[0].IP != "203.0.113.7" {
		t.Fatalf("share IP %+v, want the PROXY header's 203.0.113.7", shares)
	}
}

func TestLoginTimeoutClosesSilentConnections(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) { c.LoginTimeout = 300 * time.Millisecond }})
	c := p.dial()
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("connection without login held for %s", d)
	}
	// The server forgets the session just after closing the socket.
	for deadline := time.Now().Add(2 * time.Second); p.srv.SessionCount() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left open", p.srv.SessionCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A connection that never logs in is closed at LoginTimeout from its
// start, however often it sends lines that are not a login.
func TestLoginTimeoutIsADeadlineNotAnIdleTimer(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) { c.LoginTimeout = time.Second }})
	c := p.dial()
	start := time.Now()
	sent := 0
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			// Each getjob is refused as unauthenticated; read to EOF.
			if _, err := c.r.ReadString('\n'); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("closed after %s, want about the 1 s login timeout", d)
			}
			if sent < 3 {
				t.Fatalf("only %d lines sent before the close", sent)
			}
			return
		case <-tick.C:
			if time.Since(start) > 10*time.Second {
				t.Fatalf("still open after %s and %d lines", time.Since(start), sent)
			}
			if _, err := c.c.Write([]byte(`{"id":1,"jsonrpc":"2.0","method":"getjob","params":{}}` + "\n")); err == nil {
				sent++
			}
		}
	}
}

// failingSubmit passes everything through to the real daemon but refuses
// block submissions, like a daemon that rejects or is unreachable.
type failingSubmit struct{ Daemon }

func (failingSubmit) SubmitBlock(context.Context, []byte) error {
	return errors.New("connection refused")
}

func TestBlockCandidateRecordedEvenWhenSubmissionFails(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: 1, portDiff: 1, wrapDaemon: func(d Daemon) Daemon { return failingSubmit{d} }})
	c := p.dial()
	sid, job := c.login(minerAddr, "w")
	nonce, h := p.hash(job, 11)
	if got := c.submit(2, sid, job, nonce, hex.EncodeToString(h[:])); got != fmt.Sprintf(okLine, 2) {
		t.Fatalf("share meeting the network difficulty: %s", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, blocks := p.sink.Snapshot(); len(blocks) == 1 {
			b := blocks[0]
			if b.SubmitError == "" || b.Height != job.Height || b.Address != minerAddr {
				t.Fatalf("candidate %+v", b)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no block candidate recorded after a failed submission")
}

// TestBusyVerifierAnswersClearly fills the verification queue: shares that
// cannot be checked get a clear error and can be sent again.
func TestBusyVerifierAnswersClearly(t *testing.T) {
	busy := &busyHasher{}
	busy.full.Store(true)
	p := newTestPool(t, poolOptions{netDiff: unreachable, wrapHasher: func(h Hasher) Hasher { busy.Hasher = h; return busy }})
	c := p.dial()
	sid, job := c.login(minerAddr, "w")
	nonce, h := p.hash(job, 1)
	if got, want := c.submit(2, sid, job, nonce, hex.EncodeToString(h[:])), errLine("2", proto.ErrMsgBusy); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	busy.full.Store(false)
	if got := c.submit(3, sid, job, nonce, hex.EncodeToString(h[:])); got != fmt.Sprintf(okLine, 3) {
		t.Fatalf("the same share sent again after the queue drained: %s", got)
	}
}

// busyHasher answers "queue full" while full is set.
type busyHasher struct {
	Hasher
	full atomic.Bool
}

func (b *busyHasher) Hash(ctx context.Context, seed [32]byte, blob []byte, lane randomx.Lane) ([32]byte, error) {
	if b.full.Load() {
		return [32]byte{}, randomx.ErrQueueFull
	}
	return b.Hasher.Hash(ctx, seed, blob, lane)
}

func TestDualStackListener(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) { c.BindIP = "::" }})
	_, port, _ := net.SplitHostPort(p.addr)
	for _, host := range []string{"127.0.0.1", "::1"} {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
		if sid, job := rc.login(minerAddr, "v6"); sid == "" || job == nil {
			t.Fatalf("%s: no login", host)
		}
		c.Close()
	}
}

// TestShutdownAnswersSharesInVerification stops the server while a share
// is being verified: the share is still verified, recorded and answered
// before the connection closes, so a miner never has a share recorded that
// it was not told about, nor one refused only because the pool stopped.
func TestShutdownAnswersSharesInVerification(t *testing.T) {
	gate := &gateHasher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	p := newTestPool(t, poolOptions{netDiff: unreachable, wrapHasher: func(h Hasher) Hasher { gate.Hasher = h; return gate }})
	c := p.dial()
	sid, job := c.login(minerAddr, "w")
	nonce, h := p.hash(job, 1)
	c.send(fmt.Sprintf(`{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":%q,"result":%q,"algo":"rx/0"}}`,
		sid, job.JobID, nonce, hex.EncodeToString(h[:])))
	<-gate.entered
	stopped := p.stop()
	select {
	case <-stopped:
		t.Fatal("Run returned while a share was being verified")
	case <-time.After(300 * time.Millisecond):
	}
	close(gate.release)
	if got := c.reply(); got != fmt.Sprintf(okLine, 2) {
		t.Fatalf("the share in verification at shutdown: %s", got)
	}
	c.expectClosed()
	<-stopped
	if shares, _, _ := p.sink.Snapshot(); len(shares) != 1 {
		t.Fatalf("%d shares recorded, want the one answered", len(shares))
	}
	// No new connection is served once the server stopped.
	if conn, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("the port still accepts connections after Run returned")
	}
}

// TestShutdownGraceBoundsVerification: a verification that does not end
// is cancelled ShutdownGrace after shutdown began, and Run returns.
func TestShutdownGraceBoundsVerification(t *testing.T) {
	gate := &gateHasher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) { c.ShutdownGrace = 200 * time.Millisecond },
		wrapHasher: func(h Hasher) Hasher { gate.Hasher = h; return gate }})
	c := p.dial()
	sid, job := c.login(minerAddr, "w")
	nonce, h := p.hash(job, 1)
	c.send(fmt.Sprintf(`{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":%q,"result":%q,"algo":"rx/0"}}`,
		sid, job.JobID, nonce, hex.EncodeToString(h[:])))
	<-gate.entered
	start := time.Now()
	select {
	case <-p.stop():
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the shutdown grace")
	}
	t.Logf("Run returned %v after shutdown began", time.Since(start).Round(time.Millisecond))
	// The share was not checked: the miner is told so, or the connection
	// closed before the answer could be written; nothing was recorded.
	if line := c.readLine(); line != "" && line != errLine("2", proto.ErrMsgBusy) {
		t.Fatalf("got %s", line)
	}
	if shares, _, _ := p.sink.Snapshot(); len(shares) != 0 {
		t.Fatalf("%d shares recorded", len(shares))
	}
}

// gateHasher holds each Hash until release is closed (or its ctx ends),
// signalling entered when one starts.
type gateHasher struct {
	Hasher
	entered chan struct{}
	release chan struct{}
}

func (g *gateHasher) Hash(ctx context.Context, seed [32]byte, blob []byte, lane randomx.Lane) ([32]byte, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return [32]byte{}, ctx.Err()
	}
	return g.Hasher.Hash(ctx, seed, blob, lane)
}
