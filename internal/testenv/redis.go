package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server listening only on a unix socket, so test
// packages can run in parallel without fighting over TCP ports.
type Redis struct {
	Socket  string // unix socket path
	Dir     string // working directory (socket, log)
	proc    *process
	persist bool // append-only file on
}

// StartRedis starts redis-server in dir (created if needed) with persistence
// off and waits until it answers PING.
func StartRedis(dir string) (*Redis, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Redis{Socket: filepath.Join(dir, "redis.sock"), Dir: dir}
	return r, r.Start()
}

// StartPersistentRedis is StartRedis with an append-only file in dir,
// fsynced before every write is acknowledged (appendfsync always), so a
// second start finds the data again (the devnet keeps its state) and a
// crash (Kill) loses no acknowledged write.
func StartPersistentRedis(dir string) (*Redis, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Redis{Socket: filepath.Join(dir, "redis.sock"), Dir: dir, persist: true}
	return r, r.Start()
}

// Start (re)starts the server on the same socket; tests use it to bring
// Redis back after Stop.
func (r *Redis) Start() error {
	args := []string{
		"--port", "0",
		"--unixsocket", r.Socket,
		"--unixsocketperm", "700",
		"--dir", r.Dir,
		"--save", "",
		"--appendonly", map[bool]string{false: "no", true: "yes"}[r.persist],
		"--daemonize", "no",
		"--loglevel", "warning",
	}
	if r.persist {
		// The single-Redis guarantee: what a client was told is written is
		// on disk.
		args = append(args, "--appendfsync", "always")
	}
	p, err := startProcess("redis-server", filepath.Join(r.Dir, "redis.log"), args, nil)
	if err != nil {
		return err
	}
	r.proc = p
	err = p.waitUntil(10*time.Second, "PING", r.ping)
	if err != nil {
		p.stop(0)
	}
	return err
}

// ping speaks raw RESP so waiting for start-up does not fill the test log
// with go-redis dial errors.
func (r *Redis) ping() error {
	conn, err := net.DialTimeout("unix", r.Socket, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 16)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}

// Client returns a new go-redis client for the server; the caller closes it.
func (r *Redis) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Network: "unix", Addr: r.Socket})
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 5 s).
func (r *Redis) Stop() {
	if r.proc != nil {
		r.proc.terminate(5 * time.Second)
	}
}

// Kill SIGKILLs the server and waits until it is gone: a crash, with no
// shutdown and no last fsync. Start brings it back on the same socket and
// directory, from its append-only file when it is persistent.
func (r *Redis) Kill() error {
	if r.proc == nil || r.proc.exited() {
		return fmt.Errorf("%s is not running", r)
	}
	r.proc.stop(0) // kills the process group at once and waits for the exit
	return nil
}

// NewRedis starts a private Redis for t and stops it at cleanup. It fails
// the test loudly when redis-server is missing or does not start.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	return newRedis(t, StartRedis)
}

// NewPersistentRedis is NewRedis with StartPersistentRedis: an append-only
// file fsynced before each acknowledgement, which a test can Kill the
// server over and Start it again from.
func NewPersistentRedis(t testing.TB) *Redis {
	t.Helper()
	return newRedis(t, StartPersistentRedis)
}

func newRedis(t testing.TB, start func(dir string) (*Redis, error)) *Redis {
	t.Helper()
	dir, err := shortTempDir("rxredis")
	if err != nil {
		t.Fatalf("testenv: temp dir: %v", err)
	}
	r, err := start(dir)
	t.Cleanup(func() {
		if r != nil {
			r.Stop()
		}
		os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("testenv: redis-server: %v", err)
	}
	return r
}

// String names the server in failure messages.
func (r *Redis) String() string { return fmt.Sprintf("redis(unix:%s)", r.Socket) }
