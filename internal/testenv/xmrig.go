package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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
	// Config is a JSON config file's content for what the command line
	// cannot say (e.g. {"cpu":{"rx":false}}: no RandomX algorithm at
	// login). With it xmrig gets no --threads (which would add a CPU
	// profile for every algorithm), and its HTTP API binds a port of its
	// own choosing whatever --http-port says (measured with 6.26.0), so
	// the API port is read from its log and its counters may not answer.
	Config string
}

// xmrigProc is what xmrig and xmrig-proxy share: a log file, an HTTP API
// on a loopback port with an access token, and the process.
type xmrigProc struct {
	Log     string // its log (--log-file, --no-color)
	APIPort int
	token   string
	proc    *process
}

// Xmrig is the real xmrig mining with one light-mode thread (~30 H/s, no
// 2 GiB dataset), its HTTP API on a loopback port for its own counters.
type Xmrig struct{ xmrigProc }

// StartXmrig starts xmrig for t and stops it at cleanup, printing the end
// of its log when t failed. It returns once the HTTP API answers.
func StartXmrig(t testing.TB, opts XmrigOptions) *Xmrig {
	t.Helper()
	var args []string
	if opts.RigID != "" {
		args = append(args, "--rig-id", opts.RigID)
	}
	if opts.Keepalive {
		args = append(args, "--keepalive")
	}
	x := &Xmrig{}
	ready := func() error {
		_, err := x.Summary(context.Background())
		return err
	}
	if opts.Config == "" {
		args = append(args, "--threads", "1")
	} else {
		file := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(file, []byte(opts.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", file)
		ready = func() error {
			m := apiLine.FindStringSubmatch(x.Output())
			if m == nil {
				return errors.New("no HTTP API line in its log yet")
			}
			x.APIPort, _ = strconv.Atoi(m[1])
			return nil
		}
	}
	x.start(t, "xmrig", opts.URL, append([]string{
		"--user", opts.User, "--pass", opts.Pass, "--algo", "rx/0", "--randomx-mode", "light",
		"--print-time", "5", "--no-huge-pages", "--randomx-wrmsr=-1", "--http-no-restricted",
	}, append(args, opts.Args...)...), ready)
	return x
}

// apiLine is xmrig's start-up line naming its HTTP API's address.
var apiLine = regexp.MustCompile(`\* HTTP API\s+127\.0\.0\.1:(\d+)`)

// start runs program (xmrig or xmrig-proxy) against url with args, its API
// and log on the test's own loopback port and directory, stops it at
// cleanup (printing the end of its log when t failed), and returns once
// ready succeeds.
func (x *xmrigProc) start(t testing.TB, program, url string, args []string, ready func() error) {
	t.Helper()
	dir, err := XmrigDir()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if !strings.HasPrefix(url, "127.0.0.1:") {
		t.Fatalf("testenv: %s may only connect to loopback, not %q", program, url)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	x.Log, x.APIPort, x.token = filepath.Join(work, program+".log"), port, fmt.Sprintf("t%d", time.Now().UnixNano())
	args = append([]string{
		"--url", url, "--no-color", "--donate-level", "0",
		"--http-host", "127.0.0.1", "--http-port", strconv.Itoa(port), "--http-access-token", x.token,
		// xmrig prints nothing to a stdout that is not a terminal: its
		// log only reaches a file through --log-file.
		"--log-file", x.Log,
	}, args...)
	// The working directory is the test's own, so the program neither
	// finds nor writes a config.json anywhere shared.
	p, err := startProgramIn(work, program, filepath.Join(dir, program), filepath.Join(work, program+".out"), args, []string{"HOME=" + work})
	if err != nil {
		t.Fatalf("testenv: %v (its libraries come from `make deps`: libuv1 libhwloc15 libssl3)", err)
	}
	x.proc = p
	t.Cleanup(func() {
		x.proc.terminate(10 * time.Second)
		if t.Failed() {
			t.Logf("%s %s log (tail):\n%s", program, x.Log, tail(x.Output(), 3000))
		}
	})
	if err := p.waitUntil(time.Minute, "HTTP API", ready); err != nil {
		t.Fatalf("testenv: %v", err)
	}
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
	// Hashrate.Total is H/s over 10 s, 60 s and 15 min (null until measured).
	Hashrate struct {
		Total []*float64 `json:"total"`
	} `json:"hashrate"`
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

func (x *xmrigProc) api(ctx context.Context, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return doJSON(ctx, method, fmt.Sprintf("http://127.0.0.1:%d%s", x.APIPort, path), x.token, body,
		func(raw []byte) error { return json.Unmarshal(raw, out) })
}

// Output is everything xmrig printed so far.
func (x *xmrigProc) Output() string {
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
func (x *xmrigProc) Running() bool { return !x.proc.exited() }

// Stop ends xmrig (SIGTERM, then SIGKILL after 10 s).
func (x *xmrigProc) Stop() { x.proc.terminate(10 * time.Second) }

// XmrigProxyOptions configure StartXmrigProxy.
type XmrigProxyOptions struct {
	URL  string // host:port of the pool (loopback only)
	User string // the proxy's login at the pool (its miners' logins are not passed on)
	Pass string
	Mode string // "simple" (one pool connection per miner) or "nicehash"
}

// XmrigProxy is the real xmrig-proxy between xmrig miners and the pool:
// miners connect to Addr; its HTTP API reports its own counters.
type XmrigProxy struct {
	xmrigProc
	Addr string // 127.0.0.1:PORT its miners connect to
}

// StartXmrigProxy starts xmrig-proxy for t and stops it at cleanup. It
// returns once its HTTP API answers.
func StartXmrigProxy(t testing.TB, opts XmrigProxyOptions) *XmrigProxy {
	t.Helper()
	bind, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	x := &XmrigProxy{Addr: fmt.Sprintf("127.0.0.1:%d", bind)}
	// --verbose logs each job it takes from the pool.
	x.start(t, "xmrig-proxy", opts.URL, []string{"--user", opts.User, "--pass", opts.Pass, "--mode", opts.Mode,
		"--bind", x.Addr, "--verbose"}, func() error {
		_, err := x.Summary(context.Background())
		return err
	})
	return x
}

// XmrigProxySummary is the part of xmrig-proxy's GET /1/summary the tests
// read: its miners, its pool connections and the results the pool gave.
type XmrigProxySummary struct {
	Mode   string `json:"mode"`
	Miners struct {
		Now uint64 `json:"now"`
	} `json:"miners"`
	Upstreams struct {
		Active uint64 `json:"active"`
		Total  uint64 `json:"total"`
	} `json:"upstreams"`
	Results struct {
		Accepted uint64 `json:"accepted"`
		Rejected uint64 `json:"rejected"`
		Invalid  uint64 `json:"invalid"`
		Expired  uint64 `json:"expired"`
	} `json:"results"`
}

// Summary reads xmrig-proxy's own counters.
func (x *XmrigProxy) Summary(ctx context.Context) (*XmrigProxySummary, error) {
	var s XmrigProxySummary
	return &s, x.api(ctx, http.MethodGet, "/1/summary", nil, &s)
}
