package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// samplePassword is the placeholder requirepass of deploy/redis.
const samplePassword = "CHANGE-ME-long-random-password"

// startDaemon starts a long-running program with its output in logPath and
// kills it at cleanup.
func startDaemon(t *testing.T, logPath, name string, args ...string) {
	t.Helper()
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	})
}

// waitFor polls check until it succeeds or 20 s pass, then fails with the
// program's log.
func waitFor(t *testing.T, what, logPath string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("%s: %v\n--- %s ---\n%s", what, err, logPath, b)
}

// startSampleRedis runs redis-server on deploy/redis/redis.conf itself,
// with only where it listens and writes overridden on the command line
// (which Redis applies after the file), as a replica of replicaOf when set.
func startSampleRedis(t *testing.T, bin, replicaOf string) (addr string, rdb *redis.Client) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	addr = "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(dir, "redis.log")
	args := []string{
		mustAbs(t, filepath.Join("redis", "redis.conf")),
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--pidfile", filepath.Join(dir, "redis.pid"), "--logfile", logPath, "--daemonize", "no",
	}
	if replicaOf != "" {
		host, p, _ := strings.Cut(replicaOf, ":")
		args = append(args, "--replicaof", host, p)
	}
	startDaemon(t, filepath.Join(dir, "stdout.log"), bin, args...)
	rdb = redis.NewClient(&redis.Options{Addr: addr, Password: samplePassword, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	waitFor(t, "redis-server with deploy/redis/redis.conf", logPath, func() error {
		return rdb.Ping(context.Background()).Err()
	})
	return addr, rdb
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func redisServer(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (Debian package redis-server): run `make deps`: %v", err)
	}
	return p
}

// TestRedisSampleConfigs starts a master and a replica on redis.conf and a
// sentinel on a copy of sentinel.conf (Sentinel rewrites its file), each
// pointed at loopback and a scratch directory, and checks that the real
// programs accept the files and hold the settings the pool relies on: a
// password, an fsynced append-only file, no eviction, a replica that
// authenticates with masterauth, a sentinel that authenticates with
// auth-pass and finds the replica.
func TestRedisSampleConfigs(t *testing.T) {
	bin := redisServer(t)
	ctx := context.Background()
	master, mrdb := startSampleRedis(t, bin, "")

	// The password is required.
	anon := redis.NewClient(&redis.Options{Addr: master, MaxRetries: -1})
	defer anon.Close()
	if err := anon.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("write without the password: %v, want NOAUTH", err)
	}
	want := map[string]string{
		"appendonly": "yes", "appendfsync": "always", "no-appendfsync-on-rewrite": "no",
		"maxmemory-policy": "noeviction", "protected-mode": "yes", "replica-read-only": "yes",
		"repl-diskless-sync-delay": "0", "masterauth": samplePassword,
	}
	for k, v := range want {
		got, err := mrdb.ConfigGet(ctx, k).Result()
		if err != nil || got[k] != v {
			t.Errorf("redis.conf: %s = %q (%v), want %q", k, got[k], err, v)
		}
	}
	if err := mrdb.Set(ctx, "rxpool-deploy-test", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// A replica on the same file syncs with masterauth.
	replica, rrdb := startSampleRedis(t, bin, master)
	_, rport, _ := strings.Cut(replica, ":")
	waitFor(t, "replica in sync", "", func() error {
		info, err := mrdb.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "port="+rport+",state=online") {
			return fmt.Errorf("master's replication info:\n%s", info)
		}
		return nil
	})
	if v, err := rrdb.Get(ctx, "rxpool-deploy-test").Result(); err != nil || v != "1" {
		t.Fatalf("replica: %q, %v", v, err)
	}

	// A sentinel on a copy of sentinel.conf, monitoring this master.
	dir := t.TempDir()
	conf := readFile(t, filepath.Join("redis", "sentinel.conf"))
	conf = mustReplace(t, "sentinel.conf", conf, "sentinel monitor rxpool 10.0.0.11 6379 2",
		"sentinel monitor rxpool "+strings.Replace(master, ":", " ", 1)+" 2")
	confPath := filepath.Join(dir, "sentinel.conf")
	writeFile(t, confPath, conf)
	sport := freePort(t)
	logPath := filepath.Join(dir, "sentinel.log")
	startDaemon(t, filepath.Join(dir, "stdout.log"), bin, confPath, "--sentinel",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(sport), "--dir", dir,
		"--pidfile", filepath.Join(dir, "sentinel.pid"), "--logfile", logPath, "--daemonize", "no")
	sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(sport), MaxRetries: -1})
	defer sc.Close()
	waitFor(t, "sentinel with deploy/redis/sentinel.conf sees the master and its replica", logPath, func() error {
		m, err := sc.Master(ctx, "rxpool").Result()
		if err != nil {
			return err
		}
		if m["flags"] != "master" || m["quorum"] != "2" || m["num-slaves"] != "1" ||
			m["down-after-milliseconds"] != "5000" || m["failover-timeout"] != "60000" {
			return fmt.Errorf("SENTINEL MASTER rxpool: %v", m)
		}
		return nil
	})
	// Sentinel could rewrite the copy: the configuration is one it keeps.
	if b := readFile(t, confPath); !strings.Contains(b, "sentinel monitor rxpool") {
		t.Fatalf("sentinel rewrote its configuration without the master:\n%s", b)
	}
}
