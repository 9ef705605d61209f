package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisClusterSpreadsKeysAndRunsTaggedScripts(t *testing.T) {
	c := NewRedisCluster(t)
	ctx := context.Background()
	if n := len(c.Addrs()); n != 3 {
		t.Fatalf("%d masters, want 3", n)
	}
	cl := c.Client()
	defer cl.Close()

	// Every slot is served and keys land on more than one master.
	info, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "cluster_slots_assigned:16384") || !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("cluster info:\n%s", info)
	}
	for i := 0; i < 100; i++ {
		if err := cl.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var used atomic.Int32 // ForEachMaster calls concurrently
	err = cl.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		if n.DBSize(ctx).Val() > 0 {
			used.Add(1)
		}
		return nil
	})
	if err != nil || used.Load() < 2 {
		t.Fatalf("100 keys on %d masters (%v), want them spread", used.Load(), err)
	}

	// A script over keys that share a hash tag runs; keys in different
	// slots are refused (what storage's tagging avoids).
	sc := redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('GET', KEYS[2])`)
	got, err := sc.Run(ctx, cl, []string{"{t}:a", "{t}:b"}, "v").Text()
	if err != nil || got != "v" {
		t.Fatalf("tagged script: %q, %v", got, err)
	}
	if err := sc.Run(ctx, cl, []string{"a", "b"}, "v").Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("untagged keys in different slots: want CROSSSLOT, got %v", err)
	}

	if err := c.FlushAll(ctx); err != nil {
		t.Fatal(err)
	}
	if v := cl.Exists(ctx, "{t}:a").Val(); v != 0 {
		t.Fatal("FlushAll left keys")
	}
}

// A replicated cluster has six nodes; killing the master of a key promotes
// its replica, which still has the key, and the killed node comes back as
// a replica.
func TestRedisClusterReplicatedPromotesReplica(t *testing.T) {
	c := NewRedisClusterReplicated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client()
	defer cl.Close()
	if info := cl.ClusterInfo(ctx).Val(); !strings.Contains(info, "cluster_known_nodes:6") {
		t.Fatalf("cluster info:\n%s", info)
	}
	if err := cl.Set(ctx, "{k}", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// WAIT: the replica has the key before its master dies.
	if n, err := cl.Wait(ctx, 1, 5000).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d replicas, %v", n, err)
	}
	old, err := c.KillMasterOf(ctx, "{k}")
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	m, err := c.WaitPromoted(ctx, "{k}", old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("master %s killed, %s promoted after %v", old, m, time.Since(killed).Round(time.Millisecond))
	// A new client: the old one follows at its next slot map refresh.
	cl2 := c.Client()
	defer cl2.Close()
	if v, err := cl2.Get(ctx, "{k}").Result(); err != nil || v != "v" {
		t.Fatalf("after the failover: %q, %v", v, err)
	}
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	if err := expectReply(old, "INFO replication", "role:slave"); err != nil {
		t.Fatalf("restarted node: %v", err)
	}
}
