package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisSentinel is a private Sentinel deployment on loopback: one master,
// one replica and three sentinels (quorum 2), so tests can kill the master
// and watch a replica be promoted, as in production.
type RedisSentinel struct {
	Dir       string
	name      string
	sentinels []*sentinelNode

	mu       sync.Mutex
	nodes    map[string]*redisNode // by address, killed ones included
	killedAt map[string]time.Time

	withProxy bool              // the replica follows the master through proxy
	proxy     *ReplicationProxy // nil without
}

type redisNode struct {
	addr, dir string
	port      int
	proc      *process
}

type sentinelNode struct {
	addr string
	proc *process
}

const (
	sentinelQuorum = 2
	sentinelCount  = 3
	// sentinelDownAfter is how long a silent master takes to be declared
	// down: short so a failover test takes seconds, long enough that a busy
	// 2-core CI machine does not trigger one by itself. Not 1000 ms: after
	// switching to a new master a sentinel may send its first PING about a
	// second later (it reconnects once a second), and the others' fresh
	// "down" votes from the failover just made then give it quorum for a
	// second, needless failover (seen 1 in 6 at 1000 ms).
	sentinelDownAfter = 2000 * time.Millisecond
	// sentinelFailoverTimeout bounds a stuck failover before another
	// sentinel retries it.
	sentinelFailoverTimeout = 5 * time.Second
	// sentinelProxyFailoverTimeout, with a replication proxy: Sentinel
	// points a replica that follows another address than the master's back
	// at the master (+fix-slave-config) once failover-timeout has passed,
	// which would bypass the proxy during the test.
	sentinelProxyFailoverTimeout = 5 * time.Minute
)

// NewRedisSentinel starts a master and a replica (append-only file,
// appendfsync always) and three sentinels watching the master as "rxpool",
// all on free loopback ports, and waits until every sentinel sees the
// replica and the two other sentinels. Everything is stopped at cleanup; the
// directory with the logs is kept when the test failed. A missing
// redis-server fails the test.
func NewRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	return newRedisSentinel(t, false)
}

// NewRedisSentinelWithProxy is NewRedisSentinel with the replica following
// the master through a ReplicationProxy (replicaof the proxy's address), so
// a test can make the replica miss writes the master applied: freeze the
// proxy, write, SIGKILL the master, Cut the proxy, and the replica Sentinel
// promotes lacks them. Keep the freeze short (a second or two): Sentinel
// does not promote a replica whose link was down too long.
func NewRedisSentinelWithProxy(t testing.TB) (*RedisSentinel, *ReplicationProxy) {
	t.Helper()
	s := newRedisSentinel(t, true)
	return s, s.proxy
}

func newRedisSentinel(t testing.TB, withProxy bool) *RedisSentinel {
	t.Helper()
	dir, err := shortTempDir("rxsentinel")
	if err != nil {
		t.Fatalf("testenv: temp dir: %v", err)
	}
	s := &RedisSentinel{Dir: dir, name: "rxpool", nodes: map[string]*redisNode{}, killedAt: map[string]time.Time{}, withProxy: withProxy}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("testenv: redis sentinel logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	if err := s.start(); err != nil {
		t.Fatalf("testenv: redis sentinel: %v", err)
	}
	return s
}

func (s *RedisSentinel) start() error {
	master, err := s.startNode("node0", "")
	if err != nil {
		return err
	}
	follow := master.addr
	if s.withProxy {
		if s.proxy, err = NewReplicationProxy(master.addr); err != nil {
			return err
		}
		follow = s.proxy.Addr
	}
	if _, err := s.startNode("node1", follow); err != nil {
		return err
	}
	replica := ""
	for a := range s.nodes {
		if a != master.addr {
			replica = a
		}
	}
	if err := s.waitReplicaOnline(master.addr, replica); err != nil {
		return err
	}
	for i := 0; i < sentinelCount; i++ {
		if err := s.startSentinel(i, master.port); err != nil {
			return err
		}
	}
	for _, sn := range s.sentinels {
		err := sn.proc.waitUntil(30*time.Second, "sentinel sees the replica and the other sentinels", func() error {
			return s.sentinelReady(sn.addr)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// startNode starts redis-server in s.Dir/name on a new port, as a replica
// of replicaOf when it is not "".
func (s *RedisSentinel) startNode(name, replicaOf string) (*redisNode, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	n := &redisNode{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: filepath.Join(s.Dir, name), port: port}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, err
	}
	if err := s.runNode(n, replicaOf); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.nodes[n.addr] = n
	s.mu.Unlock()
	return n, nil
}

func (s *RedisSentinel) runNode(n *redisNode, replicaOf string) error {
	args := []string{
		"--port", strconv.Itoa(n.port), "--bind", "127.0.0.1",
		"--dir", n.dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always",
		// Redis 7 waits 5 s before a diskless full sync for more replicas
		// to join; a replica still waiting would have nothing to promote.
		"--repl-diskless-sync-delay", "0",
		"--daemonize", "no", "--loglevel", "notice",
	}
	if replicaOf != "" {
		host, port, _ := net.SplitHostPort(replicaOf)
		args = append(args, "--replicaof", host, port)
	}
	p, err := startProcess("redis-server", filepath.Join(n.dir, "redis.log"), args, nil)
	if err != nil {
		return err
	}
	if err := p.waitUntil(10*time.Second, "PING", func() error { return expectReply(n.addr, "PING", "+PONG") }); err != nil {
		p.stop(0)
		return err
	}
	n.proc = p
	return nil
}

// waitReplicaOnline waits until master reports the replica at addr as
// online: connected_slaves counts a replica still waiting for its first
// full sync, which holds none of the data yet.
func (s *RedisSentinel) waitReplicaOnline(master, addr string) error {
	s.mu.Lock()
	mp := s.nodes[master]
	s.mu.Unlock()
	if mp == nil {
		return fmt.Errorf("master %s is not a node of this deployment", master)
	}
	_, port, _ := net.SplitHostPort(addr)
	return mp.proc.waitUntil(20*time.Second, "replica "+addr+" in sync", func() error {
		return expectReply(master, "INFO replication", "ip=127.0.0.1,port="+port+",state=online")
	})
}

// sentinelBinary is redis-sentinel, or redis-server in sentinel mode where
// the redis-sentinel link is not installed (it is the same program).
func sentinelBinary() (name string, extra []string, err error) {
	if _, err := exec.LookPath("redis-sentinel"); err == nil {
		return "redis-sentinel", nil, nil
	}
	if _, err := LookBinary("redis-server"); err != nil {
		return "", nil, fmt.Errorf("%w (neither redis-sentinel nor redis-server found)", err)
	}
	return "redis-server", []string{"--sentinel"}, nil
}

func (s *RedisSentinel) startSentinel(i, masterPort int) error {
	bin, extra, err := sentinelBinary()
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	dir := filepath.Join(s.Dir, fmt.Sprintf("sentinel%d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	failoverTimeout := sentinelFailoverTimeout
	if s.withProxy {
		failoverTimeout = sentinelProxyFailoverTimeout
	}
	// Sentinel rewrites its configuration file (known replicas and
	// sentinels, epochs), so each gets its own.
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s 127.0.0.1 %d %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, port, dir, s.name, masterPort, sentinelQuorum,
		s.name, sentinelDownAfter.Milliseconds(), s.name, failoverTimeout.Milliseconds(), s.name)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	args := append([]string{conf}, extra...)
	args = append(args, "--daemonize", "no", "--loglevel", "notice")
	p, err := startProcess(bin, filepath.Join(dir, "sentinel.log"), args, nil)
	if err != nil {
		return err
	}
	sn := &sentinelNode{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), proc: p}
	s.sentinels = append(s.sentinels, sn)
	return p.waitUntil(10*time.Second, "PING", func() error { return expectReply(sn.addr, "PING", "+PONG") })
}

// sentinelReady tells whether the sentinel at addr knows the replica and
// the other sentinels, so a failover can be authorised and has a target.
func (s *RedisSentinel) sentinelReady(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer sc.Close()
	m, err := sc.Master(ctx, s.name).Result()
	if err != nil {
		return err
	}
	if m["num-slaves"] != "1" || m["num-other-sentinels"] != strconv.Itoa(sentinelCount-1) {
		return fmt.Errorf("sentinel sees %s replicas and %s other sentinels", m["num-slaves"], m["num-other-sentinels"])
	}
	return nil
}

// Addrs are the sentinels' host:port addresses (redis.sentinel.addrs).
func (s *RedisSentinel) Addrs() []string {
	out := make([]string, len(s.sentinels))
	for i, sn := range s.sentinels {
		out[i] = sn.addr
	}
	return out
}

// MasterName is the name the sentinels monitor the master as.
func (s *RedisSentinel) MasterName() string { return s.name }

// Master asks the sentinels, in turn, for the current master's address;
// "" when none answers.
func (s *RedisSentinel) Master() string {
	for _, sn := range s.sentinels {
		if a, err := s.masterFrom(sn.addr); err == nil {
			return a
		}
	}
	return ""
}

func (s *RedisSentinel) masterFrom(addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(ctx, s.name).Result()
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("sentinel answered %q", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// Replica is the address of a running node other than the current master
// ("" when there is none).
func (s *RedisSentinel) Replica() string {
	master := s.Master()
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, n := range s.nodes {
		if a != master && n.proc != nil && !n.proc.exited() {
			return a
		}
	}
	return ""
}

// Client returns a go-redis failover client for the deployment; the caller
// closes it.
func (s *RedisSentinel) Client() *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.name, SentinelAddrs: s.Addrs()})
}

// KillMaster SIGKILLs the current master's process (no shutdown, no last
// fsync: a crash) and returns its address.
func (s *RedisSentinel) KillMaster() (old string, err error) {
	old = s.Master()
	if old == "" {
		return "", errors.New("no sentinel names a master")
	}
	s.mu.Lock()
	n := s.nodes[old]
	s.mu.Unlock()
	if n == nil || n.proc == nil || n.proc.exited() {
		return old, fmt.Errorf("master %s is not a running node of this deployment", old)
	}
	s.mu.Lock()
	s.killedAt[old] = time.Now()
	s.mu.Unlock()
	_ = syscall.Kill(-n.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-n.proc.done
	return old, nil
}

// WaitFailover waits until every sentinel names a master other than old
// and that node says it is a master. took is measured from KillMaster (from
// the call when old was not killed through it).
func (s *RedisSentinel) WaitFailover(ctx context.Context, old string) (newMaster string, took time.Duration, err error) {
	s.mu.Lock()
	from, ok := s.killedAt[old]
	s.mu.Unlock()
	if !ok {
		from = time.Now()
	}
	var last error
	for {
		if newMaster, last = s.promoted(old); last == nil {
			return newMaster, time.Since(from), nil
		}
		select {
		case <-ctx.Done():
			return "", time.Since(from), fmt.Errorf("no failover from %s: %w (last: %v)", old, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *RedisSentinel) promoted(old string) (string, error) {
	var m string
	for _, sn := range s.sentinels {
		a, err := s.masterFrom(sn.addr)
		if err != nil {
			return "", fmt.Errorf("sentinel %s: %w", sn.addr, err)
		}
		if a == old {
			return "", fmt.Errorf("sentinel %s still names %s", sn.addr, old)
		}
		if m != "" && a != m {
			return "", fmt.Errorf("sentinels disagree: %s and %s", m, a)
		}
		m = a
	}
	return m, expectReply(m, "INFO replication", "role:master")
}

// Restart starts a killed node again on its address and data directory, as
// a replica of the current master (as Sentinel would reconfigure it), and
// waits until the master counts it among its replicas.
func (s *RedisSentinel) Restart(addr string) error {
	s.mu.Lock()
	n := s.nodes[addr]
	s.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%s is not a node of this deployment", addr)
	}
	if n.proc != nil && !n.proc.exited() {
		return fmt.Errorf("%s is still running", addr)
	}
	master := s.Master()
	if master == "" || master == addr {
		return fmt.Errorf("no other master to rejoin (sentinels name %q)", master)
	}
	if err := s.runNode(n, master); err != nil {
		return err
	}
	return s.waitReplicaOnline(master, addr)
}

func (s *RedisSentinel) stop() {
	for _, sn := range s.sentinels { // first, so they do not fail over while nodes stop
		sn.proc.terminate(5 * time.Second)
	}
	if s.proxy != nil {
		s.proxy.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		if n.proc != nil {
			n.proc.terminate(5 * time.Second)
		}
	}
}

// String names the deployment in failure messages.
func (s *RedisSentinel) String() string {
	return "redis-sentinel(" + s.name + "@" + strings.Join(s.Addrs(), ",") + ")"
}
