package e2epastella

import (
	"context"
	"testing"
	"time"

	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
)

// TestFrontendPastellaInChromium checks the web pages of a Pastella pool (8
// decimals, PAS) in Chromium at 1280 and 390 px (e2e.CheckFrontend), over
// the package's shared chain: its daemon gives the network figures, the
// seeded Redis the pool's history.
func TestFrontendPastellaInChromium(t *testing.T) {
	chain := testenv.SharedPastella(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e2e.CheckFrontend(t, ctx, e2e.FrontendPoolConfig("pastella", chain.Pool.Address, chain.Daemon.RPCPort))
}
