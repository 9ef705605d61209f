package storage

import (
	"context"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// TestClusterPingAsksThePrefixMaster: on a cluster every script runs on the
// master of the {prefix} slot, so while it is dead no share can be
// recorded and Ping (what /health reports) must fail, though the two other
// masters answer; once its replica is promoted Ping follows it by itself,
// with no share written meanwhile to trigger a reload of the slot map.
func TestClusterPingAsksThePrefixMaster(t *testing.T) {
	c := testenv.NewRedisClusterReplicated(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newTestStore(t, Config{Cluster: ClusterConfig{Addrs: c.Addrs()}}, WithHealthInterval(200*time.Millisecond))
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	old, err := c.KillMasterOf(ctx, s.k.tag)
	if err != nil {
		t.Fatal(err)
	}
	// The replica is promoted only after cluster-node-timeout (2 s): until
	// then the slot has no master, whichever node a keyless PING reaches.
	for i := range 6 {
		if err := s.Ping(ctx); err == nil {
			t.Fatalf("Ping %d right after the %s master %s was killed: ok", i, s.k.tag, old)
		}
	}
	nm, err := c.WaitPromoted(ctx, s.k.tag, old)
	if err != nil {
		t.Fatal(err)
	}
	for {
		err := s.Ping(ctx)
		ok, _ := s.Healthy()
		if err == nil && ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Ping after %s was promoted in place of %s: %v (store healthy: %v)", nm, old, err, ok)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
