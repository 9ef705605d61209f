package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

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
