package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisSentinelFailover kills the master and checks that a sentinel
// promotes the replica, that a go-redis failover client writes to the new
// master, and that the old node comes back as a replica with that write.
func TestRedisSentinelFailover(t *testing.T) {
	s := NewRedisSentinel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rdb := s.Client()
	defer rdb.Close()
	if err := rdb.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The write is on the replica before the kill (WAIT), so it must survive.
	if n, err := rdb.Wait(ctx, 1, 5000).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1: %d replicas, %v", n, err)
	}

	old, err := s.KillMaster()
	if err != nil {
		t.Fatal(err)
	}
	newMaster, took, err := s.WaitFailover(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("master %s killed; sentinels promoted %s after %v", old, newMaster, took)
	if newMaster == old {
		t.Fatalf("new master %s is the killed one", newMaster)
	}

	// The client finds the new master by itself (its first tries may hit
	// the dead address until the sentinels answer with the new one).
	var werr error
	for i := 0; i < 50; i++ {
		if werr = rdb.Set(ctx, "after", "2", 0).Err(); werr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if werr != nil {
		t.Fatalf("write after failover: %v", werr)
	}
	direct := redis.NewClient(&redis.Options{Addr: newMaster})
	defer direct.Close()
	for k, want := range map[string]string{"before": "1", "after": "2"} {
		if got, err := direct.Get(ctx, k).Result(); err != nil || got != want {
			t.Fatalf("new master %s: %s = %q, %v; want %q", newMaster, k, got, err, want)
		}
	}

	if err := s.Restart(old); err != nil {
		t.Fatal(err)
	}
	back := redis.NewClient(&redis.Options{Addr: old})
	defer back.Close()
	info, err := back.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "role:slave") {
		t.Fatalf("restarted %s: %v\n%s", old, err, info)
	}
	if got := s.Master(); got != newMaster {
		t.Fatalf("after restart sentinels name %s, want %s", got, newMaster)
	}
}
