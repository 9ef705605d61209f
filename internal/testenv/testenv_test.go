package testenv

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRedisIsPrivateAndRestartable(t *testing.T) {
	r := NewRedis(t)
	ctx := context.Background()
	c := r.Client()
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := c.Get(ctx, "k").Val(); got != "v" {
		t.Fatalf("GET k = %q, want v", got)
	}

	// A second server is a different instance.
	r2 := NewRedis(t)
	c2 := r2.Client()
	defer c2.Close()
	if n := c2.Exists(ctx, "k").Val(); n != 0 {
		t.Fatalf("second redis sees the first one's key")
	}

	// Stop makes it unreachable; Start brings it back on the same socket.
	r.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Stop")
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
}

func TestMissingBinaryIsALoudError(t *testing.T) {
	_, err := LookBinary("monerod-that-does-not-exist")
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("want an error pointing at make deps, got %v", err)
	}
}

func TestRegtestChainSurvivesRestartAndPaysWallet(t *testing.T) {
	rt := NewRegtest(t, RegtestOptions{Blocks: 12, Difficulty: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	h, err := rt.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h != 13 { // genesis + 12
		t.Fatalf("height after restart = %d, want 13 (chain must be kept)", h)
	}
	var tmpl struct {
		Difficulty uint64 `json:"difficulty"`
	}
	if err := rt.Daemon.Call(ctx, "get_block_template", map[string]any{
		"wallet_address": rt.Wallet.Address, "reserve_size": 8,
	}, &tmpl); err != nil {
		t.Fatal(err)
	}
	if tmpl.Difficulty != 3 {
		t.Fatalf("template difficulty = %d, want 3", tmpl.Difficulty)
	}
	total, unlocked, err := rt.Wallet.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 {
		t.Fatal("wallet sees no coinbase outputs from the blocks mined to it")
	}
	if unlocked != 0 {
		t.Fatalf("coinbase outputs unlocked after 12 blocks (unlocked=%d); maturity is 60", unlocked)
	}
}
