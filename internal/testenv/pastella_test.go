package testenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The harness itself on the real programs: a fresh chain serves templates;
// the shared chain's funding blocks, mined with our own hashing from a fresh
// chain (in this process, or once per `make unit` run by its first process,
// which the others copy), were accepted and pay the wallet they were mined
// to (4 PAS each, locked until 10 blocks deep); the chain survives a restart,
// and a node that never syncs says so.
func TestPastellaChainMinesAndPaysWallet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fresh := NewPastellad(t, PastelladOptions{})
	info, err := fresh.Info(ctx)
	if err != nil || info.Height != 1 || info.Difficulty != 1000 || !info.Synced {
		t.Fatalf("fresh chain: %+v, %v; want height 1, difficulty 1000, synced", info, err)
	}
	if _, err := fresh.Template(ctx, PastellaBurnAddress, 8); err != nil {
		t.Fatalf("fresh chain: template: %v", err)
	}

	chain := SharedPastella(t)
	d, w := chain.Daemon, chain.Pool
	if !strings.HasPrefix(w.Address, "PAS1") || len(w.Address) != 54 {
		t.Fatalf("wallet address %q", w.Address)
	}
	const blocks = PastellaFundBlocks
	if h, err := d.Height(ctx); err != nil || h != blocks+1 {
		t.Fatalf("shared chain height %d, %v; want %d (genesis and the funding blocks)", h, err, blocks+1)
	}
	total, unlocked, err := w.SyncedBalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A coinbase at index i unlocks when the chain holds i+10 blocks: with
	// 13 blocks (genesis + 12) the ones at 1, 2 and 3 are spendable.
	const reward = 400_000_000
	if total != blocks*reward || unlocked != 3*reward {
		t.Fatalf("balance total %d unlocked %d; want %d and %d", total, unlocked, blocks*reward, 3*reward)
	}

	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	if h, err := d.Height(ctx); err != nil || h != blocks+1 {
		t.Fatalf("height after restart %d, %v; want %d", h, err, blocks+1)
	}

	// The wallet is closed by a restart of its API, and opens again.
	w.Stop()
	if err := w.Restart(true); err != nil {
		t.Fatal(err)
	}
	if total2, _, err := w.SyncedBalance(ctx); err != nil || total2 != total {
		t.Fatalf("balance after reopen %d, %v; want %d", total2, err, total)
	}

	u := NewPastellad(t, PastelladOptions{DataDir: filepath.Join(t.TempDir(), "unsynced"), Unsynced: true})
	if _, err := u.Template(ctx, w.Address, 8); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("unsynced node: template error %v, want ErrNotSynced", err)
	}
}

// TestMain stops the shared Pastella chain (SharedPastella) after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	StopSharedPastella()
	os.Exit(code)
}

func TestMissingPastellaIsALoudError(t *testing.T) {
	t.Setenv(EnvPastellaBin, t.TempDir())
	_, err := FindPastella()
	if err == nil || !strings.Contains(err.Error(), EnvPastellaBin) {
		t.Fatalf("want an error naming %s, got %v", EnvPastellaBin, err)
	}
}
