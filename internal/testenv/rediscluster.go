package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a private three-master Redis Cluster on loopback, so tests
// can prove that hash-tagged keys and scripts work on a cluster; with a
// replica per master (NewRedisClusterReplicated) tests can kill a master and
// watch its replica take over.
type RedisCluster struct {
	Dir         string
	replicas    int    // per master
	nodeTimeout string // cluster-node-timeout, ms
	addrs       []string
	procs       []*process
	args        [][]string // each node's redis-server arguments, to restart it
}

// clusterMasters is how many masters the test cluster has.
const clusterMasters = 3

// NewRedisCluster starts three `redis-server --cluster-enabled yes` masters
// on free loopback ports, joins them with `redis-cli --cluster create` and
// waits until every node reports cluster_state:ok. They are stopped at
// cleanup. A missing redis-server or redis-cli fails the test.
func NewRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	return newRedisCluster(t, 0, "5000")
}

// NewRedisClusterReplicated is NewRedisCluster with a replica per master
// (six nodes) and a cluster-node-timeout of 2 s, so a killed master's
// replica is promoted within a few seconds (KillMasterOf, WaitPromoted).
func NewRedisClusterReplicated(t testing.TB) *RedisCluster {
	t.Helper()
	return newRedisCluster(t, 1, "2000")
}

func newRedisCluster(t testing.TB, replicas int, nodeTimeout string) *RedisCluster {
	t.Helper()
	dir, err := shortTempDir("rxcluster")
	if err != nil {
		t.Fatalf("testenv: temp dir: %v", err)
	}
	c := &RedisCluster{Dir: dir, replicas: replicas, nodeTimeout: nodeTimeout}
	t.Cleanup(func() {
		c.stop()
		os.RemoveAll(dir)
	})
	if err := c.start(); err != nil {
		t.Fatalf("testenv: redis cluster: %v", err)
	}
	return c
}

func (c *RedisCluster) start() error {
	cli, err := LookBinary("redis-cli")
	if err != nil {
		return fmt.Errorf("%w (redis-cli comes with the Debian package redis-server)", err)
	}
	for i := 0; i < clusterMasters*(1+c.replicas); i++ {
		// cluster-port (Redis ≥ 7) names the bus port, which otherwise is
		// port+10000 and may be taken or out of range.
		port, err1 := FreePort()
		bus, err2 := FreePort()
		if err1 != nil || err2 != nil {
			return fmt.Errorf("free ports: %v %v", err1, err2)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		nodeDir := filepath.Join(c.Dir, strconv.Itoa(i))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			return err
		}
		args := []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(nodeDir, "nodes.conf"),
			"--cluster-node-timeout", c.nodeTimeout,
			"--dir", nodeDir, "--save", "", "--appendonly", "no",
			"--daemonize", "no", "--loglevel", "warning",
		}
		c.procs, c.addrs, c.args = append(c.procs, nil), append(c.addrs, addr), append(c.args, args)
		if err := c.startNode(i); err != nil {
			return err
		}
	}

	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.replicas), "--cluster-yes")
	create, err := startProcess("redis-cli", filepath.Join(c.Dir, "cluster-create.log"), args, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", cli, err)
	}
	select {
	case <-create.done:
	case <-time.After(30 * time.Second):
		create.stop(0)
	}
	if create.waitErr != nil || !create.exited() {
		return create.failure("redis-cli --cluster create failed")
	}

	for i, p := range c.procs {
		addr := c.addrs[i]
		err := p.waitUntil(20*time.Second, "cluster_state:ok and replication up", func() error {
			if err := expectReply(addr, "CLUSTER INFO", "cluster_state:ok"); err != nil {
				return err
			}
			return replicationUp(addr)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// replicationUp tells whether the node at addr is a master or a replica
// whose link to its master is up (a replica never synced cannot take over).
func replicationUp(addr string) error {
	if expectReply(addr, "INFO replication", "role:master") == nil {
		return nil
	}
	return expectReply(addr, "INFO replication", "master_link_status:up")
}

// expectReply sends one inline command over raw RESP and checks that the
// reply contains want. Raw RESP keeps start-up polling quiet (no go-redis
// dial errors in the test log).
func expectReply(addr, cmd, want string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return err
	}
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	reply := line
	if strings.HasPrefix(line, "$") { // bulk string: read its body
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil || n < 0 {
			return fmt.Errorf("%s answered %q", cmd, line)
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(rd, body); err != nil {
			return err
		}
		reply = string(body)
	}
	if !strings.Contains(reply, want) {
		return fmt.Errorf("%s answered %q, want %q", cmd, strings.TrimSpace(reply), want)
	}
	return nil
}

// startNode starts node i with its arguments and waits for its PING.
func (c *RedisCluster) startNode(i int) error {
	addr := c.addrs[i]
	p, err := startProcess("redis-server", filepath.Join(c.Dir, strconv.Itoa(i), "redis.log"), c.args[i], nil)
	if err != nil {
		return err
	}
	c.procs[i] = p
	return p.waitUntil(10*time.Second, "PING", func() error { return expectReply(addr, "PING", "+PONG") })
}

// Addrs are the nodes' host:port addresses (masters and replicas: a
// cluster client finds the roles itself).
func (c *RedisCluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Client returns a new go-redis cluster client; the caller closes it.
func (c *RedisCluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
}

// FlushAll empties every master, so tests sharing one cluster can start clean.
func (c *RedisCluster) FlushAll(ctx context.Context) error {
	cl := c.Client()
	defer cl.Close()
	return cl.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		return n.FlushAll(ctx).Err()
	})
}

func (c *RedisCluster) stop() {
	for _, p := range c.procs {
		p.terminate(5 * time.Second)
	}
}

// String names the cluster in failure messages.
func (c *RedisCluster) String() string { return "redis-cluster(" + strings.Join(c.addrs, ",") + ")" }

// MasterOf is the address of the master serving key's slot, as the live
// nodes see it.
func (c *RedisCluster) MasterOf(ctx context.Context, key string) (string, error) {
	var last error
	for i, addr := range c.addrs {
		if c.procs[i] == nil || c.procs[i].exited() {
			continue
		}
		m, err := masterOf(ctx, addr, key)
		if err == nil {
			return m, nil
		}
		last = err
	}
	return "", fmt.Errorf("no live node knows the master of %q: %v", key, last)
}

func masterOf(ctx context.Context, addr, key string) (string, error) {
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer cl.Close()
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", err
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			return s.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("%s serves no master for slot %d", addr, slot)
}

// KillMasterOf SIGKILLs the master serving key's slot (no shutdown, no
// last writes) and returns its address.
func (c *RedisCluster) KillMasterOf(ctx context.Context, key string) (string, error) {
	addr, err := c.MasterOf(ctx, key)
	if err != nil {
		return "", err
	}
	for i, a := range c.addrs {
		if a == addr {
			p := c.procs[i]
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			return addr, nil
		}
	}
	return "", fmt.Errorf("master %s of %q is not one of %v", addr, key, c.addrs)
}

// WaitPromoted waits until the live nodes agree that key's slot is served
// by a master other than old and that master says cluster_state:ok; it
// returns the new master's address.
func (c *RedisCluster) WaitPromoted(ctx context.Context, key, old string) (string, error) {
	for {
		m, err := c.MasterOf(ctx, key)
		if err == nil && m != old && expectReply(m, "CLUSTER INFO", "cluster_state:ok") == nil &&
			expectReply(m, "INFO replication", "role:master") == nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no replica promoted for %q (master %q, %v): %w", key, m, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Restart starts again a node that was killed; it rejoins the cluster (as
// a replica of the master that replaced it) with its nodes.conf.
func (c *RedisCluster) Restart(addr string) error {
	for i, a := range c.addrs {
		if a == addr {
			if !c.procs[i].exited() {
				return fmt.Errorf("node %s is running", addr)
			}
			if err := c.startNode(i); err != nil {
				return err
			}
			return c.procs[i].waitUntil(20*time.Second, "replication up", func() error { return replicationUp(addr) })
		}
	}
	return fmt.Errorf("no node %s", addr)
}
