package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// TestMain lets the test binary stand in for rxload when it is started as
// an idle-mode worker process or as a -notify command (reexecEnv set), so
// those run the code under test, with the race detector when it is on.
func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// runCmd runs rxload in-process and decodes its JSON output into out.
func runCmd(t *testing.T, ctx context.Context, out any, args ...string) {
	t.Helper()
	var stdout, stderr testenv.SyncBuffer
	start := time.Now()
	code := run(ctx, args, nil, &stdout, &stderr)
	t.Logf("rxload %s: exit %d in %v\nstderr:\n%s", args[0], code, time.Since(start).Round(time.Millisecond), stderr.String())
	if code != 0 {
		t.Fatalf("rxload %v: exit %d\nstdout: %s", args, code, stdout.String())
	}
	if err := json.Unmarshal([]byte(stdout.String()), out); err != nil {
		t.Fatalf("rxload output is not JSON: %v\n%s", err, stdout.String())
	}
	t.Logf("rxload %s output:\n%s", args[0], stdout.String())
}

// testPool is the pool binary on a private regtest monerod and Redis,
// with one stratum port of difficulty 1 and fixed difficulty down to 1.
type testPool struct {
	addr    string // stratum host:port
	pid     int
	monerod *testenv.Monerod
}

func startPool(t *testing.T, ctx context.Context, netDiff uint64, blockRefresh time.Duration) *testPool {
	t.Helper()
	for _, prog := range []string{"monerod", "redis-server"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s not found: run make deps", prog)
		}
	}
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: netDiff})
	rds := testenv.NewRedis(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"ports":{"%d":{"diff":1,"desc":"load"}},"varDiff":{"minDiff":1},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":%d},
		"randomx":{"mode":"light","workers":2},
		"blockUnlocker":{"enabled":false},"payments":{"enabled":false},
		"redis":{"socket":%q},
		"api":{"enabled":false}}`,
		testenv.MoneroAddress(t, 0), md.RPCPort, port, blockRefresh.Milliseconds(), rds.Socket)
	dir := t.TempDir()
	cfgPath, logPath := filepath.Join(dir, "pool.json"), filepath.Join(dir, "pool.log")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.BuildBinary(t, "rxpool/cmd/pool"), "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("pool log:\n%s", b)
		}
	})
	p := &testPool{addr: fmt.Sprintf("127.0.0.1:%d", port), pid: cmd.Process.Pid, monerod: md}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the pool exited while starting:\n%s", b)
		default:
		}
		if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the pool's stratum port %s did not open", p.addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSubmit precomputes shares in light mode for three sessions logged in
// with fixed difficulty 1 and submits them as fast as the pool answers,
// then at a fixed rate: every share must be accepted.
func TestSubmit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// No hash can be a block at this network difficulty, so the tip stays.
	pool := startPool(t, ctx, 1_000_000_000, time.Second)
	addr := testenv.MoneroAddress(t, 1)

	var res SubmitResult
	runCmd(t, ctx, &res, "submit", "-o", pool.addr, "-u", addr, "-sessions", "3", "-shares", "60",
		"-rate", "max", "-inflight", "8", "-mode", "light", "-t", "2", "-json")
	m := res.Measured
	if res.Login.LoggedIn != 3 || res.Precompute.Shares != 60 {
		t.Fatalf("logged in %d, precomputed %d shares", res.Login.LoggedIn, res.Precompute.Shares)
	}
	if !slicesEqual(res.Precompute.JobDiffs, []uint64{1}) {
		t.Errorf("job difficulties %v, want [1] (fixed difficulty)", res.Precompute.JobDiffs)
	}
	if m.Submitted != 60 || m.Accepted != 60 || m.Rejected != 0 || m.Errors != 0 || m.Unsent != 0 {
		t.Fatalf("measured %+v: want 60 accepted and nothing else", m)
	}
	if m.AcceptedPerS <= 0 || m.Seconds <= 0 {
		t.Errorf("accepted/s %v over %v s", m.AcceptedPerS, m.Seconds)
	}
	l := res.Latency
	if l.Count != 60 || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency summary %+v", l)
	}
	if res.Precompute.Seconds <= 0 || res.Precompute.Hashes < 60 || res.Precompute.HashesPerS <= 0 {
		t.Errorf("precompute %+v", res.Precompute)
	}

	// Paced: 20 shares at 25/s take about 0.8 s to send.
	var paced SubmitResult
	runCmd(t, ctx, &paced, "submit", "-o", pool.addr, "-u", addr, "-sessions", "2", "-shares", "20",
		"-rate", "25", "-mode", "light", "-t", "2", "-json")
	pm := paced.Measured
	if pm.Accepted != 20 || pm.Rejected != 0 || pm.Errors != 0 {
		t.Fatalf("paced run: %+v", pm)
	}
	if pm.Seconds < 0.7 {
		t.Errorf("paced run took %.2f s, want ≥ 0.76 s at 25/s", pm.Seconds)
	}
}

// TestIdle holds 200 idle sessions in two worker processes over two
// source addresses, reads the pool's RSS, and has a notify command mine a
// regtest block and signal the pool: every session must get the new job.
func TestIdle(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A long poll interval: the new tips reach the pool through SIGUSR1.
	pool := startPool(t, ctx, 1, 30*time.Second)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// GORACE: a race-enabled binary otherwise sleeps 1 s before exiting,
	// which would delay the command's return past the job pushes.
	notify := fmt.Sprintf("GORACE=atexit_sleep_ms=0 %s=1 %s -mine-block %s -mine-address %s -signal %d",
		reexecEnv, shellQuote(self), pool.monerod.Address(), testenv.MoneroAddress(t, 7), pool.pid)

	const n, tips = 200, 2
	var res IdleResult
	runCmd(t, ctx, &res, "idle", "-o", pool.addr, "-u", testenv.MoneroAddress(t, 2), "-n", strconv.Itoa(n),
		"-src", "127.0.0.2,127.0.0.3", "-procs", "2", "-keepalive", "2s", "-settle", "2s",
		"-pool-pid", strconv.Itoa(pool.pid), "-notify", notify, "-tips", strconv.Itoa(tips), "-json")
	if res.Login.LoggedIn != n || res.Login.Failed != 0 {
		t.Fatalf("login: %+v", res.Login)
	}
	if res.Login.PerS <= 0 || res.Login.Latency.Count != n {
		t.Errorf("login rate %v, latency %+v", res.Login.PerS, res.Login.Latency)
	}
	if res.PoolRSS == nil || res.PoolRSS.KiBPerConn <= 0 {
		t.Fatalf("pool RSS per connection not reported: %+v", res.PoolRSS)
	}
	if res.Generator.RSSKiB <= 0 || res.Generator.Open != n {
		t.Errorf("generator %+v", res.Generator)
	}
	if len(res.Tips) != tips {
		t.Fatalf("%d tips measured, want %d", len(res.Tips), tips)
	}
	var lastHeight uint64
	for _, tip := range res.Tips {
		if tip.NotifyError != "" {
			t.Fatalf("tip %d: notify: %s", tip.Tip, tip.NotifyError)
		}
		if tip.Armed != n || tip.Received != n || tip.Missed != 0 {
			t.Fatalf("tip %d: %d armed, %d received, %d missed; want all %d", tip.Tip, tip.Armed, tip.Received, tip.Missed, n)
		}
		if len(tip.Heights) != 1 || tip.Heights[0] <= lastHeight {
			t.Errorf("tip %d: heights %v after %d", tip.Tip, tip.Heights, lastHeight)
		}
		lastHeight = tip.Heights[len(tip.Heights)-1]
		if tip.FirstAfterNotify == nil || tip.DelayFromFirst.Count != n || tip.FirstToLast < 0 {
			t.Errorf("tip %d: %+v", tip.Tip, tip)
		}
	}
	if res.Keepalive.Replies == 0 || res.Keepalive.Errors != 0 {
		t.Errorf("keepalive %+v: want replies and no errors", res.Keepalive)
	}
	if res.Disconnects != 0 || res.OpenAtEnd != n {
		t.Errorf("%d disconnects %v, %d open at the end", res.Disconnects, res.DisconnectReasons, res.OpenAtEnd)
	}
}

// TestFlood sends made-up results meeting the target from 127.0.0.2 for
// 3 s, logging in with fresh addresses: the pool hashes one, finds it
// false, closes the session (and bans the address); the flood reconnects
// and counts every answer. No junk may be accepted.
func TestFlood(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pool := startPool(t, ctx, 1_000_000_000, time.Second)
	var res FloodResult
	runCmd(t, ctx, &res, "flood", "-o", pool.addr, "-u", testenv.MoneroAddress(t, 4), "-addresses", "5",
		"-src", "127.0.0.2", "-conns", "4", "-kind", "wrong-result", "-duration", "3s", "-json")
	if res.Config.Addresses != 6 || res.Config.Sources != 1 {
		t.Errorf("config %+v", res.Config)
	}
	if res.Connects.Sessions == 0 || res.Sent == 0 || res.Answered == 0 || res.Accepted != 0 {
		t.Fatalf("flood: %d sessions, %d sent, %d answered, %d accepted", res.Connects.Sessions, res.Sent, res.Answered, res.Accepted)
	}
	if res.AnswersBy["wrong-result"][proto.ErrMsgWrongResult] == 0 || res.Closed.ByPool == 0 {
		t.Errorf("no wrong result answered, or no session closed by the pool: %+v %+v", res.AnswersBy, res.Closed)
	}
	if res.Connects.Attempts != res.Connects.Sessions+res.Connects.Refused {
		t.Errorf("connects %+v: attempts are sessions + refused", res.Connects)
	}
}

// TestReference hashes in light mode for 2 s.
func TestReference(t *testing.T) {
	t.Parallel()
	var res ReferenceResult
	runCmd(t, context.Background(), &res, "reference", "-mode", "light", "-t", "1", "-duration", "2s")
	if res.Mode != "light" || res.Threads != 1 || res.Hashes == 0 || res.HashesPerS <= 0 || res.Seconds < 2 {
		t.Fatalf("reference %+v", res)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nonsense"},
		{"reference", "-mode", "medium"},
		{"submit", "-u", "x"},
		{"submit", "-o", "h:1", "-u", "x", "-rate", "0"},
		{"idle", "-o", "h:1", "-u", "x", "-src", "not-an-ip"},
		{"idle", "-o", "h:1", "-u", "x", "extra"},
		{"flood", "-o", "h:1", "-u", "x", "-kind", "nonsense"},
		{"flood", "-o", "h:1", "-u", "x", "-addresses", "3"},
		{"flood", "-u", "x"},
		{"flood", "-o", "h:1", "-u", "x", "-src", "127.0.0.0/8"},
		{"-mine-block", "h:1"},
	} {
		var out, errb testenv.SyncBuffer
		if code := run(context.Background(), args, nil, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, errb.String())
		}
	}
}

func TestStrictDiff(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   uint64
	}{
		{"ffffffff", 1},
		{"ff7fffff", 1},         // a slightly lower target still stands for difficulty 1
		{"ffffff7f", 2},         // diff 2
		{"b88d0600", 10000},     // diff 10000: 0xffffffff/10000 = 429496
		{"ffffffffffffffff", 1}, // 16 digits
	} {
		got, err := strictDiff(tc.target)
		if err != nil || got != tc.want {
			t.Errorf("strictDiff(%s) = %d, %v; want %d", tc.target, got, err, tc.want)
		}
	}
	if _, err := strictDiff("00000000"); err == nil {
		t.Error("zero target accepted")
	}
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func shellQuote(s string) string {
	return "'" + string(bytes.ReplaceAll([]byte(s), []byte("'"), []byte(`'\''`))) + "'"
}

// TestFloodJunk checks each junk kind's claim as the pool judges it: a
// wrong result meets the job's difficulty (whatever the target's width)
// but is no block, a fake block meets a large network difficulty, a low
// one meets neither, a bad job names no job; nonces differ per share.
func TestFloodJunk(t *testing.T) {
	addr, err := coinOf(testenv.MoneroAddress(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := freshAddresses(addr, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range fresh {
		if got, err := cryptonote.Monero.ParseAddress(a); err != nil || got.Network != "mainnet" || a == addr.Text {
			t.Fatalf("fresh address %s: %v", a, err)
		}
	}
	const netDiff = 1_000_000_000_000
	blob := strings.Repeat("00", 76)
	for _, target := range []string{"b88d0600", "ffffffff", "efa7c64b37894100"} { // diff 10000, 1, and 1000 as a 64-bit target
		j := &proto.Job{JobID: "j1", Blob: blob, Target: target, Algo: proto.Algo, Height: 5, SeedHash: strings.Repeat("11", 32)}
		w, err := client.DecodeJob(j)
		if err != nil {
			t.Fatal(err)
		}
		diff, _ := strictDiff(target)
		nonces := map[string]bool{}
		for i := range uint64(40) {
			kind := junkKind(i % uint64(junkKinds))
			s, err := makeJunk(kind, j, w, i)
			if err != nil {
				t.Fatal(err)
			}
			nonces[s.nonce] = true
			var h [32]byte
			if _, err := hex.Decode(h[:], []byte(s.result)); err != nil || len(s.nonce) != 8 {
				t.Fatalf("%s: result %q nonce %q", kind, s.result, s.nonce)
			}
			meets, block := cryptonote.CheckHash(&h, diff), cryptonote.CheckHash(&h, netDiff)
			want := map[junkKind][2]bool{junkWrongResult: {true, false}, junkBadJob: {true, false},
				junkFakeBlock: {true, true}, junkLowDiff: {diff == 1, false}}[kind]
			if meets != want[0] || block != want[1] {
				t.Errorf("target %s %s: meets diff %d %v, block %v; want %v", target, kind, diff, meets, block, want)
			}
			if (s.jobID == j.JobID) == (kind == junkBadJob) {
				t.Errorf("%s: job id %q", kind, s.jobID)
			}
		}
		if len(nonces) != 40 {
			t.Errorf("target %s: %d distinct nonces in 40 shares", target, len(nonces))
		}
	}
	if _, err := parseJunkKinds("mixed"); err != nil {
		t.Error(err)
	}
	src, err := parseSources("127.0.0.2, 127.2.0.0/30")
	if err != nil || fmt.Sprint(src) != "[127.0.0.2 127.2.0.1 127.2.0.2 127.2.0.3]" {
		t.Errorf("parseSources: %v, %v", src, err)
	}
}
