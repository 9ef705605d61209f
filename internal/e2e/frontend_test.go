package e2e

import (
	"context"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// TestFrontendInChromium checks the web pages of a Monero pool (12
// decimals, XMR) in Chromium at 1280 and 390 px (CheckFrontend): the pool
// binary with only the API module over a seeded Redis and a regtest monerod.
func TestFrontendInChromium(t *testing.T) {
	md := testenv.NewMonerod(t, testenv.MonerodOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pool := testenv.MoneroAddress(t, 0)
	if _, err := md.GenerateBlocks(ctx, 3, pool, t.Logf); err != nil {
		t.Fatal(err)
	}
	CheckFrontend(t, ctx, FrontendPoolConfig("monero", pool, md.RPCPort))
}
