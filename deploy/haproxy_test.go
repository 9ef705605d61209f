package deploy

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// haproxyBin finds haproxy, which Debian installs in /usr/sbin, outside a
// user's PATH.
func haproxyBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if p, err := exec.LookPath("/usr/sbin/haproxy"); err == nil {
		return p
	}
	t.Fatal("haproxy is not installed (Debian package haproxy): run `make deps`")
	return ""
}

// proxySeen is one connection a stand-in stratum process got from haproxy.
type proxySeen struct {
	local  bool   // a LOCAL header: haproxy's health check
	client string // the client's address from a PROXY header
}

// proxyBackend stands in for a stratum process on a proxyProtocol port: it
// requires the PROXY header on every connection, notes what it said, and
// tells a proxied client "<its own address> <the client's address>".
type proxyBackend struct {
	addr string
	mu   sync.Mutex
	seen []proxySeen
}

func startProxyBackend(t *testing.T, addr string) *proxyBackend {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &proxyBackend{addr: addr}
	pl := &proxyproto.Listener{Listener: l, ReadHeaderTimeout: 5 * time.Second,
		ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
	t.Cleanup(func() { pl.Close() })
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *proxyBackend) serve(c net.Conn) {
	defer c.Close()
	pc := c.(*proxyproto.Conn)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	client := c.RemoteAddr() // reads the header
	h := pc.ProxyHeader()
	if h == nil {
		return // no valid header: closed, as the pool does
	}
	s := proxySeen{local: h.Command.IsLocal()}
	if !s.local {
		s.client = client.(*net.TCPAddr).IP.String()
	}
	b.mu.Lock()
	b.seen = append(b.seen, s)
	b.mu.Unlock()
	if s.local {
		return
	}
	fmt.Fprintf(c, "%s %s\n", b.addr, s.client)
	_, _ = bufio.NewReader(c).ReadString('\n') // until the client closes
}

func (b *proxyBackend) checks() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.seen {
		if s.local {
			n++
		}
	}
	return n
}

// TestHAProxySampleConfig: haproxy -c accepts deploy/haproxy/haproxy.cfg as
// it is; then haproxy runs its defaults, frontend and backend (under a
// global of the test's own: no chroot, no user switch, log to stderr) with
// loopback addresses, in front of two stand-in stratum processes that
// require the PROXY header. Health checks arrive with a LOCAL header; a
// miner's connections carry its own address, reach the port it connected
// to, and are spread over both processes. The pool itself behind a real
// haproxy is tested in rxpool/stratum (TestHAProxyClusterSharesBansAndLimits).
func TestHAProxySampleConfig(t *testing.T) {
	bin := haproxyBin(t)
	sample := filepath.Join("haproxy", "haproxy.cfg")
	out, code := run(t, time.Minute, nil, bin, "-c", "-f", sample)
	if code != 0 || !strings.Contains(out, "Configuration file is valid") || strings.Contains(out, "[WARNING]") {
		t.Fatalf("haproxy -c -f %s: exit %d:\n%s", sample, code, out)
	}

	conf := readFile(t, sample)
	_, rest, ok := strings.Cut(conf, "\ndefaults\n")
	if !ok {
		t.Fatalf("%s: no defaults section", sample)
	}
	conf = "global\n    log stderr format raw local0 info\n\ndefaults\n" + rest
	port1, port2 := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	conf = mustReplace(t, sample, conf, "bind :3333\n", "bind 127.0.0.1:"+port1+"\n")
	conf = mustReplace(t, sample, conf, "bind :5555\n", "bind 127.0.0.1:"+port2+"\n")
	conf = mustReplace(t, sample, conf, "    bind :7777\n", "")
	conf = mustReplace(t, sample, conf, "    bind :9999\n", "")
	conf = mustReplace(t, sample, conf, "check port 3333", "check port "+port1)
	// The stratum machines: other loopback addresses, on the same ports.
	conf = mustReplace(t, sample, conf, "10.0.0.21\n", "127.0.0.3\n")
	conf = mustReplace(t, sample, conf, "10.0.0.22\n", "127.0.0.4\n")
	backends := map[string]*proxyBackend{}
	for _, ip := range []string{"127.0.0.3", "127.0.0.4"} {
		for _, port := range []string{port1, port2} {
			addr := net.JoinHostPort(ip, port)
			backends[addr] = startProxyBackend(t, addr)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	writeFile(t, cfg, conf)
	logPath := filepath.Join(dir, "haproxy.log")
	startDaemon(t, logPath, bin, "-f", cfg, "-db")

	// Each process is health-checked on the check port, with a header.
	waitFor(t, "haproxy's health checks of both processes", logPath, func() error {
		for _, ip := range []string{"127.0.0.3", "127.0.0.4"} {
			if n := backends[net.JoinHostPort(ip, port1)].checks(); n == 0 {
				return fmt.Errorf("no health check with a LOCAL header on %s:%s yet", ip, port1)
			}
		}
		return nil
	})

	// A miner's connections, kept open so leastconn spreads them.
	const miner = "127.0.0.8"
	reached := map[string]bool{}
	for i, port := range []string{port1, port1, port2, port2} {
		var c net.Conn
		var line string
		waitFor(t, "a connection through haproxy", logPath, func() error {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(miner)}}
			var err error
			if c, err = d.Dial("tcp", "127.0.0.1:"+port); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if line, err = bufio.NewReader(c).ReadString('\n'); err != nil {
				c.Close()
				return err
			}
			return nil
		})
		t.Cleanup(func() { c.Close() })
		backend, client, _ := strings.Cut(strings.TrimSpace(line), " ")
		_, bport, _ := net.SplitHostPort(backend)
		if client != miner || bport != port {
			t.Fatalf("connection %d to port %s reached %s as %q, want port %s and the miner's own address %s",
				i, port, backend, client, port, miner)
		}
		reached[strings.TrimSuffix(backend, ":"+bport)] = true
	}
	if len(reached) != 2 {
		t.Fatalf("four open connections reached only %v, want both processes (balance leastconn)", reached)
	}
}
