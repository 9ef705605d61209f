package e2e

import (
	"testing"
)

// TestDevnetMoneyPath runs `devnet -until-paid` (what `make devnet` runs,
// headless): Redis, monerod --regtest, the pool and miner wallets, the pool
// binary with every module and rxminer. It asserts the whole money path on
// those processes: shares → blocks found by the pool → unlocked at depth →
// the miner credited exactly (reward − pool fee of every confirmed block,
// finder reward included) → paid by the pool wallet → the miner's wallet
// holds exactly what the pool recorded as paid → `pool audit` passes.
func TestDevnetMoneyPath(t *testing.T) {
	// The rest of the network mines a block every 5 s (the devnet's default
	// is 30 s), so blocks mature and the payout confirms in minutes.
	RunDevnetUntilPaid(t, "monero", "deploy/devnet/config.json", "-advance", "5s")
}
