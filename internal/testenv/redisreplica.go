package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisReplica is a redis-server replicating a master, on a loopback TCP
// port and a unix socket. Tests pause it (SIGSTOP: connected but silent, so
// the master's WAIT times out) or stop it, to see what the pool does while
// its writes reach no replica.
type RedisReplica struct {
	Socket string
	Addr   string // 127.0.0.1:port
	Dir    string
	master string // host:port
	proc   *process
	paused bool
}

// ListenTCP makes r listen on a free loopback TCP port as well as its unix
// socket (Redis 7 changes bind and port at run time), so that a replica can
// follow it: replication speaks TCP only. It returns host:port.
func (r *Redis) ListenTCP() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	c := r.Client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ConfigSet(ctx, "bind", "127.0.0.1").Err(); err != nil {
		return "", fmt.Errorf("CONFIG SET bind: %w", err)
	}
	if err := c.ConfigSet(ctx, "port", strconv.Itoa(port)).Err(); err != nil {
		return "", fmt.Errorf("CONFIG SET port: %w", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// NewRedisWithReplica starts a private Redis (as NewRedis) that also
// listens on loopback TCP, and one replica of it in sync; both are stopped
// at cleanup.
func NewRedisWithReplica(t testing.TB) (*Redis, *RedisReplica) {
	t.Helper()
	master := NewRedis(t)
	addr, err := master.ListenTCP()
	if err != nil {
		t.Fatalf("testenv: redis master on TCP: %v", err)
	}
	return master, NewRedisReplica(t, addr)
}

// NewRedisReplica starts a replica of the master at host:port and waits
// until it is in sync; it is stopped at cleanup.
func NewRedisReplica(t testing.TB, master string) *RedisReplica {
	t.Helper()
	dir, err := shortTempDir("rxreplica")
	if err != nil {
		t.Fatalf("testenv: temp dir: %v", err)
	}
	r := &RedisReplica{Socket: filepath.Join(dir, "redis.sock"), Dir: dir, master: master}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("testenv: redis replica log kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	if err := r.Start(); err != nil {
		t.Fatalf("testenv: redis replica: %v", err)
	}
	return r
}

// Start (re)starts the replica and waits until its link to the master is
// up and the initial sync is done.
func (r *RedisReplica) Start() error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	host, mport, err := net.SplitHostPort(r.master)
	if err != nil {
		return err
	}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--unixsocket", r.Socket, "--unixsocketperm", "700",
		"--dir", r.Dir, "--save", "", "--appendonly", "no",
		"--replicaof", host, mport,
		"--daemonize", "no", "--loglevel", "notice",
	}
	p, err := startProcess("redis-server", filepath.Join(r.Dir, "redis.log"), args, nil)
	if err != nil {
		return err
	}
	r.proc, r.paused = p, false
	err = p.waitUntil(20*time.Second, "replica in sync", func() error {
		return expectReply(r.Addr, "INFO replication", "master_link_status:up")
	})
	if err != nil {
		p.stop(0)
	}
	return err
}

// Pause freezes the replica (SIGSTOP): the master still counts it
// connected, but it acknowledges nothing until Resume.
func (r *RedisReplica) Pause() error {
	if err := r.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	r.paused = true
	return nil
}

// Resume lets a paused replica go on (SIGCONT).
func (r *RedisReplica) Resume() error {
	if err := r.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	r.paused = false
	return nil
}

// Stop shuts the replica down (resumed first if paused, so SIGTERM is heard).
func (r *RedisReplica) Stop() {
	if r.proc == nil || r.proc.exited() {
		return
	}
	if r.paused {
		_ = r.Resume()
	}
	r.proc.terminate(5 * time.Second)
}

// Client returns a new go-redis client for the replica (read-only); the
// caller closes it.
func (r *RedisReplica) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Network: "unix", Addr: r.Socket})
}

// String names the replica in failure messages.
func (r *RedisReplica) String() string {
	return fmt.Sprintf("redis-replica(%s of %s)", r.Addr, r.master)
}
