package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// poolProc is the pool binary running with a test's configuration.
type poolProc struct {
	log    string
	exited chan struct{}
}

// startPool writes cfg, starts `pool -config` and stops it (SIGINT) at
// cleanup, printing its log when the test failed.
func startPool(t *testing.T, ctx context.Context, cfg string) *poolProc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pool.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &poolProc{log: filepath.Join(dir, "pool.log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, testenv.BuildBinary(t, "rxpool/cmd/pool"), "-config", path)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-p.exited
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(p.log)
			t.Logf("pool log:\n%s", out)
		}
	})
	return p
}

// waitOK polls url until it answers 200; it fails at once if the pool
// exited.
func (p *poolProc) waitOK(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "200 from "+url, func() error {
		select {
		case <-p.exited:
			t.Fatalf("the pool exited while waiting for %s", url)
		default:
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

// waitFor polls ready until it succeeds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, ready func() error) {
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
