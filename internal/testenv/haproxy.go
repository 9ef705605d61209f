package testenv

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// HAProxyOptions configure StartHAProxy.
type HAProxyOptions struct {
	Backend string // host:port of the server haproxy forwards to (loopback only)
	// Backends are several servers (loopback only) instead of Backend, as
	// when stratum processes on several machines share one balancer.
	Backends []string
	Balance  string // haproxy's balance algorithm ("" = roundrobin)
	// Check has haproxy health-check each server on its port; over the
	// PROXY protocol a check is a connection with a LOCAL header.
	Check bool
	// Source is the loopback address haproxy connects to the backend
	// from ("" = the kernel's choice, 127.0.0.1), so a test can tell the
	// proxy's connections from direct ones.
	Source string
	V2     bool // send-proxy-v2 (binary header) instead of send-proxy (v1 text)
}

// HAProxy is a real haproxy in TCP mode sending the PROXY protocol header
// to its backends, as an operator puts it in front of a pool port.
type HAProxy struct {
	Addr     string // host:port of its frontend, on loopback
	proc     *process
	backends []string // server s<i+1> is backends[i]
	stats    string   // its stats socket
}

// StartHAProxy starts haproxy for t in the foreground (-db) on a free
// loopback port and stops it at cleanup, printing its log when t failed.
// It returns once the frontend accepts connections. A missing haproxy
// fails the test.
func StartHAProxy(t testing.TB, opts HAProxyOptions) *HAProxy {
	t.Helper()
	backends := opts.Backends
	if opts.Backend != "" {
		backends = append([]string{opts.Backend}, backends...)
	}
	if len(backends) == 0 {
		t.Fatal("testenv: haproxy needs a backend")
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	send := "send-proxy"
	if opts.V2 {
		send = "send-proxy-v2"
	}
	balance := opts.Balance
	if balance == "" {
		balance = "roundrobin"
	}
	servers := []string{"  balance " + balance}
	for i, b := range backends {
		if !strings.HasPrefix(b, "127.0.0.1:") {
			t.Fatalf("testenv: haproxy may only forward to loopback, not %q", b)
		}
		server := fmt.Sprintf("  server s%d %s %s", i+1, b, send)
		if opts.Source != "" {
			server += " source " + opts.Source
		}
		if opts.Check {
			server += " check"
		}
		servers = append(servers, server)
	}
	// The stats socket's path must fit a unix socket's 108 bytes, which a
	// test's TempDir may not.
	sockDir, err := shortTempDir("rxhap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	h := &HAProxy{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), backends: backends,
		stats: filepath.Join(sockDir, "stats.sock")}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	// No "daemon" and no pid file: -db keeps it a child that cleanup stops.
	conf := strings.Join([]string{
		"global",
		"  log stderr format raw local0 info",
		"  stats socket " + h.stats + " mode 600 level user",
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
		strings.Join(servers, "\n"),
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
	// Ready once the stats socket lists the frontend open. Not by dialing
	// it: that connection would be a session on a server, counted in its
	// stot a moment later, when a test may already have read the counts.
	if err := p.waitUntil(30*time.Second, "frontend "+h.Addr, func() error {
		rows, err := h.showStat()
		if err != nil {
			return err
		}
		status := slices.Index(rows[0], "status")
		for _, row := range rows[1:] {
			if status > 1 && len(row) > status && row[0] == "pool" && row[1] == "FRONTEND" && row[status] == "OPEN" {
				return nil
			}
		}
		return fmt.Errorf("no open frontend in %v", rows)
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return h
}

// showStat reads "show stat" from the stats socket: the CSV's rows, the
// header (its names) first.
func (h *HAProxy) showStat() ([][]string, error) {
	c, err := net.DialTimeout("unix", h.stats, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("haproxy stats socket: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, fmt.Errorf("haproxy stats socket: %w", err)
	}
	// The reply is CSV whose header line starts with "# ".
	r := bufio.NewReader(c)
	if _, err := r.Discard(2); err != nil {
		return nil, fmt.Errorf("haproxy show stat: %w", err)
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("haproxy show stat: %v (%d rows)", err, len(rows))
	}
	return rows, nil
}

// HAProxyServer is what haproxy reports of one backend server.
type HAProxyServer struct {
	Sessions int    // connections handed to it so far (stot)
	Status   string // "UP", "DOWN", "no check", …
	Check    string // the last health check's result, e.g. "L4OK" ("" without checks)
}

// Servers returns what haproxy reports of each backend ("show stat"), by
// backend address: a test learns which server a connection landed on from
// the one whose Sessions grew.
func (h *HAProxy) Servers(t testing.TB) map[string]HAProxyServer {
	t.Helper()
	rows, err := h.showStat()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	px, sv, stot, status, check := col["pxname"], col["svname"], col["stot"], col["status"], col["check_status"]
	out := map[string]HAProxyServer{}
	for _, row := range rows[1:] {
		if len(row) <= max(stot, status, check) || row[px] != "pool" || !strings.HasPrefix(row[sv], "s") {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(row[sv], "s"))
		if err != nil || i < 1 || i > len(h.backends) {
			continue
		}
		n, err := strconv.Atoi(row[stot])
		if err != nil {
			t.Fatalf("testenv: haproxy show stat: stot %q of %s", row[stot], row[sv])
		}
		out[h.backends[i-1]] = HAProxyServer{Sessions: n, Status: row[status], Check: row[check]}
	}
	if len(out) != len(h.backends) {
		t.Fatalf("testenv: haproxy show stat lists %v, want every one of %v", out, h.backends)
	}
	return out
}
