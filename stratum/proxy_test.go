package stratum

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/internal/testenv"
	"rxpool/stratum/proto"
)

// The load balancer of these tests connects to the pool from 127.0.0.2,
// the only address the PROXY protocol port trusts; miners and attackers
// use other loopback addresses.
const trustedProxy = "127.0.0.2"

// dialTo connects to addr from the loopback address from.
func dialTo(t *testing.T, addr, from string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

// logLines keeps every message logged.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (h *logLines) Levels() []logrus.Level { return logrus.AllLevels }

func (h *logLines) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	h.lines = append(h.lines, e.Message)
	h.mu.Unlock()
	return nil
}

func (h *logLines) find(sub string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.lines {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

func newProxyPool(t *testing.T) (*testPool, *logLines) {
	t.Helper()
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) {
		c.Ports[0].ProxyProtocol = true
		c.Ports[0].TrustedProxies = []netip.Prefix{netip.MustParsePrefix(trustedProxy + "/32")}
		c.MaxConnsPerIP = 1
		c.RefusalLogInterval = 100 * time.Millisecond
	}})
	var h logLines
	p.log.AddHook(&h)
	return p, &h
}

// Behind a real haproxy (send-proxy and send-proxy-v2) the pool sees each
// miner's own address: its shares carry it and the per-IP limit counts
// it, not the proxy's.
func TestProxyProtocolThroughHAProxy(t *testing.T) {
	p, _ := newProxyPool(t)
	v1 := testenv.StartHAProxy(t, testenv.HAProxyOptions{Backend: p.addr, Source: trustedProxy})
	v2 := testenv.StartHAProxy(t, testenv.HAProxyOptions{Backend: p.addr, Source: trustedProxy, V2: true})

	miner := dialTo(t, v1.Addr, "127.0.0.5")
	sid, job := miner.login(minerAddr, "behind-haproxy")
	if job == nil {
		t.Fatal("no job at login through haproxy")
	}
	nonce, h := p.hash(job, 5)
	if got := miner.submit(2, sid, job, nonce, hex.EncodeToString(h[:])); got != fmt.Sprintf(okLine, 2) {
		t.Fatal(got)
	}
	shares, _, _ := p.sink.Snapshot()
	if len(shares) != 1 || shares[0].IP != "127.0.0.5" {
		t.Fatalf("shares %+v, want one from 127.0.0.5, the address haproxy reported", shares)
	}

	// maxConnectionsPerIP 1: a second connection of 127.0.0.5, through
	// the v2 proxy, is refused; another miner through the same proxy is not.
	again := dialTo(t, v2.Addr, "127.0.0.5")
	if got := again.readLine(); got != errLine("null", proto.ErrMsgTooManyConns) {
		t.Fatalf("second connection of 127.0.0.5 through send-proxy-v2: got %q, want the per-IP refusal", got)
	}
	other := dialTo(t, v2.Addr, "127.0.0.6")
	if _, job := other.login(minerAddr, "other"); job == nil {
		t.Fatal("no job for a second miner through haproxy")
	}
	if got := p.srv.Refused()["too_many_connections"]; got != 1 {
		t.Fatalf("Refused() counts %d too_many_connections, want 1", got)
	}
}

// A client that reaches the PROXY protocol port directly cannot pick its
// address with a header of its own: it is closed before a byte is read,
// and the forged address is never seen. A trusted proxy's connection
// without a header is refused too.
func TestProxyProtocolRefusesDirectClients(t *testing.T) {
	p, logs := newProxyPool(t)
	const forged = "10.9.9.9"
	login := `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"` + minerAddr + `","pass":"x","agent":"XMRig/6.26.0"}}`
	for range 3 {
		c := dialTo(t, p.addr, "127.0.0.1")
		// The pool may have closed it already: a failed write is fine.
		_, _ = c.c.Write([]byte("PROXY TCP4 " + forged + " 127.0.0.1 40000 3333\r\n" + login + "\n"))
		c.expectClosed()
	}
	noHeader := dialTo(t, p.addr, trustedProxy)
	noHeader.send(login)
	noHeader.expectClosed()

	waitFor(t, "the refusals to be logged", func() bool {
		return len(logs.find("127.0.0.1")) > 0 && len(logs.find("from "+trustedProxy)) > 0
	})
	if got := p.srv.Refused(); got["untrusted_proxy"] != 3 || got["no_proxy_header"] != 1 {
		t.Fatalf("Refused() = %v, want 3 untrusted_proxy and 1 no_proxy_header", got)
	}
	for _, l := range logs.find("Refused") {
		t.Log(l)
	}
	if lines := logs.find(forged); len(lines) > 0 {
		t.Fatalf("the forged address %s was seen: %q", forged, lines)
	}
	if shares, rejected, _ := p.sink.Snapshot(); len(shares)+len(rejected) > 0 {
		t.Fatalf("direct clients got work recorded: %v %v", shares, rejected)
	}
	waitFor(t, "the refused connections' sessions to end", func() bool { return p.srv.SessionCount() == 0 })
}
