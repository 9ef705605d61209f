package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// HAProxyOptions configure StartHAProxy.
type HAProxyOptions struct {
	Backend string // host:port of the server haproxy forwards to (loopback only)
	// Source is the loopback address haproxy connects to the backend
	// from ("" = the kernel's choice, 127.0.0.1), so a test can tell the
	// proxy's connections from direct ones.
	Source string
	V2     bool // send-proxy-v2 (binary header) instead of send-proxy (v1 text)
}

// HAProxy is a real haproxy in TCP mode sending the PROXY protocol header
// to its one backend, as an operator puts it in front of a pool port.
type HAProxy struct {
	Addr string // host:port of its frontend, on loopback
	proc *process
}

// StartHAProxy starts haproxy for t in the foreground (-db) on a free
// loopback port and stops it at cleanup, printing its log when t failed.
// It returns once the frontend accepts connections. A missing haproxy
// fails the test.
func StartHAProxy(t testing.TB, opts HAProxyOptions) *HAProxy {
	t.Helper()
	if !strings.HasPrefix(opts.Backend, "127.0.0.1:") {
		t.Fatalf("testenv: haproxy may only forward to loopback, not %q", opts.Backend)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	send := "send-proxy"
	if opts.V2 {
		send = "send-proxy-v2"
	}
	server := fmt.Sprintf("server s1 %s %s", opts.Backend, send)
	if opts.Source != "" {
		server += " source " + opts.Source
	}
	h := &HAProxy{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	// No "daemon" and no pid file: -db keeps it a child that cleanup stops.
	conf := strings.Join([]string{
		"global",
		"  log stderr format raw local0 info",
		"defaults",
		"  mode tcp",
		"  log global",
		"  option tcplog",
		"  timeout connect 5s",
		"  timeout client 1m",
		"  timeout server 1m",
		"frontend pool",
		"  bind " + h.Addr,
		"  default_backend pool",
		"backend pool",
		"  " + server,
		"",
	}, "\n")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := LookBinary("haproxy")
	if err != nil {
		// Debian installs it in /usr/sbin, which a user's PATH may lack.
		if sbin, serr := exec.LookPath("/usr/sbin/haproxy"); serr == nil {
			bin, err = sbin, nil
		}
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p, err := startProgram("haproxy", bin, filepath.Join(dir, "haproxy.log"), []string{"-f", cfg, "-db"}, nil)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	h.proc = p
	t.Cleanup(func() {
		p.terminate(5 * time.Second)
		if t.Failed() {
			t.Logf("haproxy log (tail):\n%s", p.logTail())
		}
	})
	if err := p.waitUntil(30*time.Second, "frontend "+h.Addr, func() error {
		c, err := net.DialTimeout("tcp", h.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return h
}
