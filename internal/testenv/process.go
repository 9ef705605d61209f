// Package testenv starts the real programs rxpool talks to (redis-server,
// monerod --regtest, monero-wallet-rpc) for tests, each private to the test
// that asked for it, and stops them at cleanup. A missing binary or a program
// that does not come up is a loud test failure, never a skip.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// debianPackage names the package that `make deps` installs for a binary,
// so a failure message tells the reader what to do.
var debianPackage = map[string]string{
	"redis-server":      "redis-server",
	"redis-cli":         "redis-server",
	"monerod":           "monero",
	"monero-wallet-rpc": "monero",
}

// LookBinary finds a program on PATH or says which package provides it.
func LookBinary(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := debianPackage[name]
		if pkg == "" {
			pkg = name
		}
		return "", fmt.Errorf("%s not found on PATH: run `make deps` (installs the Debian package %s)", name, pkg)
	}
	return p, nil
}

// process is one child program with its output captured to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// spawnRequests feeds the spawner goroutine. Children are started from one
// OS thread that never exits because Pdeathsig fires when the *thread* that
// forked a child dies, and Go may retire threads; this way a crashed or killed
// test binary still takes its children down, while a normal exit stops them
// through cleanup.
var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

type spawnRequest struct {
	cmd   *exec.Cmd
	reply chan error
}

func spawner() {
	runtime.LockOSThread() // never unlocked: this thread lives as long as the process
	for req := range spawnRequests {
		req.reply <- req.cmd.Start()
	}
}

func startProcess(name, logPath string, args []string, env []string) (*process, error) {
	bin, err := LookBinary(name)
	if err != nil {
		return nil, err
	}
	return startProgram(name, bin, logPath, args, env)
}

// startProgram starts the program at path bin (name is for messages).
func startProgram(name, bin, logPath string, args []string, env []string) (*process, error) {
	return startProgramIn("", name, bin, logPath, args, env)
}

// startProgramIn is startProgram with working directory dir ("" = ours).
func startProgramIn(dir, name, bin, logPath string, args []string, env []string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}

	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go spawner()
	})
	reply := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, reply: reply}
	if err := <-reply; err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has already ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop waits up to grace for a process asked to stop politely, then kills
// its whole process group.
func (p *process) stop(grace time.Duration) {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and waits, escalating to SIGKILL.
func (p *process) terminate(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.stop(grace)
}

// logTail returns the end of the process log for error messages.
func (p *process) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	const max = 2000
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(bytes.TrimSpace(data))
}

// failure builds an error that carries the process log, which is where the
// reason a program did not come up actually is.
func (p *process) failure(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p.exited() {
		msg += fmt.Sprintf(" (%s exited: %v)", p.name, p.waitErr)
	}
	return fmt.Errorf("%s\n--- %s log (%s) ---\n%s", msg, p.name, p.logPath, p.logTail())
}

// waitUntil polls ready until it succeeds, the process dies or timeout.
func (p *process) waitUntil(timeout time.Duration, what string, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return p.failure("%s did not come up", p.name)
		}
		if last = ready(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p.failure("%s: %s not ready after %s: %v", p.name, what, timeout, last)
}

// shortTempDir makes a directory with a short path: unix socket paths are
// limited to 107 bytes and t.TempDir() paths embed the (long) test name.
func shortTempDir(prefix string) (string, error) {
	return os.MkdirTemp("", prefix)
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
