package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildMu   sync.Mutex
	buildDir  string
	buildDone = map[string]string{}
)

// BuildBinary builds a command of this module (e.g. "rxpool/cmd/rxminer")
// once per test process and returns the path of the binary, so tests can
// run our programs the way an operator does.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildDone[pkg]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "rxbin")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d // removed with the OS temp dir; shared by every test of the process
	}
	out := filepath.Join(buildDir, path.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go build %s: %v\n%s", pkg, err, msg)
	}
	buildDone[pkg] = out
	return out
}

// Run runs a built binary to completion and returns its stdout; a failure
// carries the exit status and stderr. It is safe to call from goroutines.
func Run(bin string, args ...string) ([]byte, error) {
	out, err := exec.Command(bin, args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return out, fmt.Errorf("%s: %w\n%s", filepath.Base(bin), err, ee.Stderr)
	}
	return out, err
}
