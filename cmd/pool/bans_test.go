package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
)

// TestBansListAndLift: `pool bans` lists the pool-wide bans in force (not
// the expired ones), `pool bans lift` lifts one by any address of its
// group, and a bad address is refused.
func TestBansListAndLift(t *testing.T) {
	rds := testenv.NewRedis(t)
	st, err := storage.New(config.RedisConfig{Socket: rds.Socket}, cryptonote.Monero, logrus.New())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	ctx := t.Context()
	for g, until := range map[string]time.Time{
		"192.0.2.9":         time.Now().Add(time.Hour),
		"2001:db8:1:2::/64": time.Now().Add(time.Hour),
		"192.0.2.10":        time.Now().Add(-time.Second),
	} {
		if err := st.PublishBan(ctx, stratum.BanNotice{Group: g, Until: until}); err != nil {
			t.Fatal(err)
		}
	}
	pool := poolCLI(t, fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"port":18081},
		"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q}}`, testenv.MoneroAddress(t, 1), rds.Socket))
	out := pool(0, "bans")
	if !strings.Contains(out, "192.0.2.9\t") || !strings.Contains(out, "2001:db8:1:2::/64\t") ||
		strings.Contains(out, "192.0.2.10") || !strings.Contains(out, "2 banned") {
		t.Fatalf("pool bans:\n%s", out)
	}
	if out := pool(0, "bans", "lift", "2001:db8:1:2:abcd::7"); !strings.Contains(out, "2001:db8:1:2::/64 lifted") {
		t.Fatalf("lift:\n%s", out)
	}
	if out := pool(0, "bans"); strings.Contains(out, "2001:db8") || !strings.Contains(out, "1 banned") {
		t.Fatalf("after the lift:\n%s", out)
	}
	pool(2, "bans", "lift", "not-an-address")
}
