package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvXmrigDir names the directory holding the real xmrig and xmrig-proxy
// (6.26.0); without it they are taken from ../shared/xmrig beside the
// checkout.
const EnvXmrigDir = "RXPOOL_XMRIG_DIR"

// XmrigDir returns the directory of the real xmrig programs, or an error
// saying where it looked and what to do.
func XmrigDir() (string, error) {
	dir := os.Getenv(EnvXmrigDir)
	if dir == "" {
		root, err := ProjectRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "..", "shared", "xmrig")
	}
	dir = mustAbs(dir)
	bin := filepath.Join(dir, "xmrig")
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("xmrig: no executable %s (set %s, or put xmrig 6.26.0 in ../shared/xmrig): %v", bin, EnvXmrigDir, err)
	}
	return dir, nil
}

// XmrigOptions configure StartXmrig.
type XmrigOptions struct {
	URL       string // host:port of the pool (loopback only)
	User      string // the login, e.g. ADDRESS.DIFF
	Pass      string // --pass (the pool's worker name unless RigID is set)
	RigID     string // --rig-id, sent as "rigid" at login
	Keepalive bool   // --keepalive: "keepalived" after 60 s without a message from the pool
	Args      []string
}

// Xmrig is the real xmrig mining with one light-mode thread (~30 H/s, no
// 2 GiB dataset), its HTTP API on a loopback port for its own counters.
type Xmrig struct {
	Log     string // its log (--log-file, --no-color)
	APIPort int
	token   string
	proc    *process
}

// StartXmrig starts xmrig for t and stops it at cleanup, printing the end
// of its log when t failed. It returns once the HTTP API answers.
func StartXmrig(t testing.TB, opts XmrigOptions) *Xmrig {
	t.Helper()
	dir, err := XmrigDir()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if !strings.HasPrefix(opts.URL, "127.0.0.1:") {
		t.Fatalf("testenv: xmrig may only mine on loopback, not %q", opts.URL)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	x := &Xmrig{Log: filepath.Join(work, "xmrig.log"), APIPort: port, token: fmt.Sprintf("t%d", time.Now().UnixNano())}
	args := []string{
		"--url", opts.URL, "--user", opts.User, "--pass", opts.Pass,
		"--algo", "rx/0", "--threads", "1", "--randomx-mode", "light",
		"--no-color", "--donate-level", "0", "--print-time", "5", "--no-huge-pages", "--randomx-wrmsr=-1",
		"--http-host", "127.0.0.1", "--http-port", strconv.Itoa(port), "--http-access-token", x.token, "--http-no-restricted",
		// xmrig prints nothing to a stdout that is not a terminal: its
		// log only reaches a file through --log-file.
		"--log-file", x.Log,
	}
	if opts.RigID != "" {
		args = append(args, "--rig-id", opts.RigID)
	}
	if opts.Keepalive {
		args = append(args, "--keepalive")
	}
	args = append(args, opts.Args...)
	// The working directory is the test's own, so xmrig neither finds nor
	// writes a config.json anywhere shared.
	p, err := startProgramIn(work, "xmrig", filepath.Join(dir, "xmrig"), filepath.Join(work, "xmrig.out"), args, []string{"HOME=" + work})
	if err != nil {
		t.Fatalf("testenv: %v (its libraries come from `make deps`: libuv1 libhwloc15 libssl3)", err)
	}
	x.proc = p
	t.Cleanup(func() {
		x.proc.terminate(10 * time.Second)
		if t.Failed() {
			t.Logf("xmrig %s log (tail):\n%s", opts.User, tail(x.Output(), 3000))
		}
	})
	if err := p.waitUntil(time.Minute, "HTTP API", func() error {
		_, err := x.Summary(context.Background())
		return err
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return x
}

// XmrigSummary is the part of xmrig's GET /2/summary the tests read.
type XmrigSummary struct {
	Connection struct {
		Pool     string `json:"pool"`
		Uptime   uint64 `json:"uptime"`
		Failures uint64 `json:"failures"`
		Diff     uint64 `json:"diff"`
		Accepted uint64 `json:"accepted"`
		Rejected uint64 `json:"rejected"`
	} `json:"connection"`
	Results struct {
		DiffCurrent uint64 `json:"diff_current"`
		SharesGood  uint64 `json:"shares_good"`
		SharesTotal uint64 `json:"shares_total"`
	} `json:"results"`
	Paused bool `json:"paused"`
}

// Summary reads xmrig's own counters.
func (x *Xmrig) Summary(ctx context.Context) (*XmrigSummary, error) {
	var s XmrigSummary
	return &s, x.api(ctx, http.MethodGet, "/2/summary", nil, &s)
}

// Pause stops hashing while the connection stays up (the json_rpc "pause"
// method of the unrestricted API); Resume starts it again.
func (x *Xmrig) Pause(ctx context.Context) error  { return x.rpc(ctx, "pause") }
func (x *Xmrig) Resume(ctx context.Context) error { return x.rpc(ctx, "resume") }

func (x *Xmrig) rpc(ctx context.Context, method string) error {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method})
	var res struct {
		Error *RPCError `json:"error"`
	}
	if err := x.api(ctx, http.MethodPost, "/json_rpc", body, &res); err != nil {
		return err
	}
	if res.Error != nil {
		return fmt.Errorf("xmrig %s: %w", method, res.Error)
	}
	return nil
}

func (x *Xmrig) api(ctx context.Context, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return doJSON(ctx, method, fmt.Sprintf("http://127.0.0.1:%d%s", x.APIPort, path), x.token, body,
		func(raw []byte) error { return json.Unmarshal(raw, out) })
}

// Output is everything xmrig printed so far.
func (x *Xmrig) Output() string {
	b, _ := os.ReadFile(x.Log)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Running reports whether xmrig is still up.
func (x *Xmrig) Running() bool { return !x.proc.exited() }

// Stop ends xmrig (SIGTERM, then SIGKILL after 10 s).
func (x *Xmrig) Stop() { x.proc.terminate(10 * time.Second) }
