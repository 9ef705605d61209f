package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// TestDevnetMoneyPath runs `devnet -until-paid` (what `make devnet` runs,
// headless): Redis, monerod --regtest, the pool and miner wallets, the pool
// binary with every module and rxminer. It asserts the whole money path on
// those processes: shares → blocks found by the pool → unlocked at depth →
// the miner credited exactly (reward − pool fee of every confirmed block,
// finder reward included) → paid by the pool wallet → the miner's wallet
// holds exactly what the pool recorded as paid → `pool audit` passes.
func TestDevnetMoneyPath(t *testing.T) {
	runDevnetUntilPaid(t, "monero", "deploy/devnet/config.json")
}

// devnetSummary is the JSON summary `devnet -until-paid -json` prints.
type devnetSummary struct {
	BlocksFound, BlocksConfirmed, PaymentsSent uint64
	MinerCredited, ExpectedCredit, MinerPaid   uint64
	MinerFeesPaid, MinerWalletReceived         uint64
	MinerBalance                               int64
	AuditPassed                                bool
}

// runDevnetUntilPaid runs the devnet of coin with the pool configuration
// template (relative to the project root) in a fresh state directory until
// the miner's wallet has been paid, and checks the money in its summary.
func runDevnetUntilPaid(t *testing.T, coin, template string) devnetSummary {
	t.Helper()
	devnet := testenv.BuildBinary(t, "rxpool/cmd/devnet")
	testenv.BuildBinary(t, "rxpool/cmd/pool") // next to devnet, where it looks
	testenv.BuildBinary(t, "rxpool/cmd/rxminer")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "devnet")
	cmd := exec.CommandContext(ctx, devnet, "-coin", coin, "-dir", dir, "-until-paid", "-json", "-timeout", "15m",
		"-config", filepath.Join(root, template), "-frontend", filepath.Join(root, "frontend/dist"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("devnet:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("devnet -until-paid: %v\n%s", err, out)
	}
	var sum devnetSummary
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	for k, dst := range map[string]any{"blocks_found": &sum.BlocksFound, "blocks_confirmed": &sum.BlocksConfirmed,
		"payments_sent": &sum.PaymentsSent, "miner_credited": &sum.MinerCredited, "expected_credit": &sum.ExpectedCredit,
		"miner_paid": &sum.MinerPaid, "miner_fees_paid": &sum.MinerFeesPaid, "miner_wallet_received": &sum.MinerWalletReceived,
		"miner_balance": &sum.MinerBalance, "audit_passed": &sum.AuditPassed} {
		if err := json.Unmarshal(raw[k], dst); err != nil {
			t.Fatalf("summary field %s: %v (%s)", k, err, out)
		}
	}
	switch {
	case sum.BlocksFound == 0 || sum.BlocksConfirmed == 0 || sum.PaymentsSent == 0:
		t.Fatalf("no block found, unlocked or paid: %+v", sum)
	case sum.MinerCredited != sum.ExpectedCredit || sum.MinerCredited == 0:
		t.Fatalf("credited %d, confirmed blocks paid %d after fee", sum.MinerCredited, sum.ExpectedCredit)
	case sum.MinerWalletReceived != sum.MinerPaid || sum.MinerPaid == 0:
		t.Fatalf("the miner's wallet holds %d, the pool paid %d", sum.MinerWalletReceived, sum.MinerPaid)
	case uint64(sum.MinerBalance)+sum.MinerPaid+sum.MinerFeesPaid != sum.MinerCredited:
		t.Fatalf("balance %d + paid %d + fees %d ≠ credited %d", sum.MinerBalance, sum.MinerPaid, sum.MinerFeesPaid, sum.MinerCredited)
	case !sum.AuditPassed:
		t.Fatal("pool audit failed")
	}
	t.Logf("%+v", sum)
	return sum
}
