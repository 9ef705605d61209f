// Package e2e runs rxpool's binaries end to end against the real programs
// (Redis, monerod, the wallets, rxminer). Its non-test files are the
// helpers its tests share with internal/e2epastella's: the pool binary,
// rxminer, and waits on logs, health, Redis and the ledger.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// PoolProc is the pool binary running with a test's configuration. It can
// be signalled, stopped and started again with the same configuration and
// log (stop/start), as an operator's service manager would.
type PoolProc struct {
	log    string // stdout and stderr of every run, appended
	Config string // the configuration file
	Bin    string
	args   []string // more arguments after -config FILE
	ctx    context.Context

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current run ended
	waitErr error         // the current run's exit, once exited is closed
}

// StartPool writes cfg, starts `pool -config FILE args...` and stops it
// (SIGINT) at cleanup, printing its log when the test failed.
func StartPool(t testing.TB, ctx context.Context, cfg string, args ...string) *PoolProc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pool.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &PoolProc{log: filepath.Join(dir, "pool.log"), Config: path, Bin: testenv.BuildBinary(t, "rxpool/cmd/pool"), args: args, ctx: ctx}
	p.start(t)
	t.Cleanup(func() {
		p.stop(os.Interrupt, time.Minute)
		if t.Failed() {
			out, _ := os.ReadFile(p.log)
			t.Logf("pool log:\n%s", out)
		}
	})
	return p
}

// start runs the pool (again), appending to its log. The previous run must
// have ended.
func (p *PoolProc) start(t testing.TB) {
	t.Helper()
	logFile, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(p.ctx, p.Bin, append([]string{"-config", p.Config}, p.args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited, p.waitErr = cmd, exited, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()
}

// done is closed when the current run of the pool has ended.
func (p *PoolProc) done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Running reports whether the current run is still going.
func (p *PoolProc) Running() bool {
	select {
	case <-p.done():
		return false
	default:
		return true
	}
}

// signal sends sig to the running pool.
func (p *PoolProc) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling the pool (%v): %v", sig, err)
	}
}

// stop sends sig and waits up to timeout for the pool to exit, then kills
// it. It returns the run's exit error (nil for status 0), or an error
// saying it had to be killed.
func (p *PoolProc) stop(sig os.Signal, timeout time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	select {
	case <-exited:
	default:
		_ = cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("the pool did not exit within %v of %v: killed", timeout, sig)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// pid is the running pool's process id.
func (p *PoolProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Output is everything the pool wrote to stdout and stderr so far.
func (p *PoolProc) Output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// WaitOK polls url until it answers 200; it fails at once if the pool
// exited.
func (p *PoolProc) WaitOK(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, "200 from "+url, func() error {
		if !p.Running() {
			t.Fatalf("the pool exited while waiting for %s", url)
		}
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// WaitFor polls ready until it succeeds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// artifactsDir is $RXPOOL_ARTIFACTS/sub, or artifacts/sub in the
// repository: kept after the run (profiles, screenshots).
func artifactsDir(b testing.TB, sub string) string {
	dir := os.Getenv("RXPOOL_ARTIFACTS")
	if dir == "" {
		root, err := filepath.Abs("../..")
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}
