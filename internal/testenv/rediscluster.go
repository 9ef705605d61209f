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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a private three-master Redis Cluster on loopback, so tests
// can prove that hash-tagged keys and scripts work on a cluster.
type RedisCluster struct {
	Dir   string
	addrs []string
	procs []*process
}

// clusterMasters is how many masters the test cluster has.
const clusterMasters = 3

// NewRedisCluster starts three `redis-server --cluster-enabled yes` masters
// on free loopback ports, joins them with `redis-cli --cluster create` and
// waits until every node reports cluster_state:ok. They are stopped at
// cleanup. A missing redis-server or redis-cli fails the test.
func NewRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	dir, err := shortTempDir("rxcluster")
	if err != nil {
		t.Fatalf("testenv: temp dir: %v", err)
	}
	c := &RedisCluster{Dir: dir}
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
	for i := 0; i < clusterMasters; i++ {
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
			"--cluster-node-timeout", "5000",
			"--dir", nodeDir, "--save", "", "--appendonly", "no",
			"--daemonize", "no", "--loglevel", "warning",
		}
		p, err := startProcess("redis-server", filepath.Join(nodeDir, "redis.log"), args, nil)
		if err != nil {
			return err
		}
		c.procs = append(c.procs, p)
		c.addrs = append(c.addrs, addr)
		if err := p.waitUntil(10*time.Second, "PING", func() error { return expectReply(addr, "PING", "+PONG") }); err != nil {
			return err
		}
	}

	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
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
		err := p.waitUntil(20*time.Second, "cluster_state:ok", func() error {
			return expectReply(addr, "CLUSTER INFO", "cluster_state:ok")
		})
		if err != nil {
			return err
		}
	}
	return nil
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

// Addrs are the masters' host:port addresses.
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
