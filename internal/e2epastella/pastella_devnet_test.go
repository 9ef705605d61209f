package e2epastella

import (
	"testing"

	"rxpool/internal/e2e"
)

// TestPastellaDevnetMoneyPath is TestDevnetMoneyPath on Pastella (`make
// devnet COIN=pastella`, headless): Redis, a private Pastellad, two
// Pastella-Wallet-API processes, the pool with every module and rxminer in
// fast mode, which finds every block of the chain (difficulty 1000, no
// blocks outside the pool). rxminer hashes on two threads: the chain needs
// a dozen blocks before the first payout, and one thread left a core idle
// whenever the other test binary waited. The first confirmed block is paid from its own
// coinbase, spendable at the depth the unlocker confirms it; the payouts
// still in the mempool at the end are mined through a stratum-only pool.
func TestPastellaDevnetMoneyPath(t *testing.T) {
	sum := e2e.RunDevnetUntilPaid(t, "pastella", "deploy/devnet/pastella.json", "-t", "2")
	// A block pays 4 PAS; the template's pool fee is 1 % (a block that
	// carries payouts also has their network fees).
	const perBlock = 400_000_000 - 4_000_000
	if sum.ExpectedCredit < sum.BlocksConfirmed*perBlock {
		t.Fatalf("%d confirmed blocks credited %d, less than %d each", sum.BlocksConfirmed, sum.ExpectedCredit, perBlock)
	}
}
