package testenv

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PastellaChain is a private Pastella chain whose pool wallet already holds
// spendable coinbase outputs, ready for a pool to mine on and pay from.
type PastellaChain struct {
	Daemon *Pastellad
	Pool   *PastellaWallet // the pool's wallet; blocks of the pool pay here
	Dir    string
}

// PastellaFundBlocks is how many blocks a new chain mines to its pool
// wallet: with 13 blocks in the chain the first 3 coinbases (12 PAS) are
// spendable, and 9 more unlock over the next blocks.
const PastellaFundBlocks = 12

// StartPastellaChain starts Pastellad and the pool's Wallet-API in dir and
// mines PastellaFundBlocks blocks to the pool wallet.
func StartPastellaChain(ctx context.Context, dir string, logf func(string, ...any)) (*PastellaChain, error) {
	c, err := startChainProcesses(dir)
	if err != nil {
		return nil, err
	}
	if _, err = c.Daemon.MineBlocks(ctx, PastellaFundBlocks, c.Pool.Address, logf); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.Pool.Synced(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// startChainProcesses starts the daemon and the pool wallet of the chain in
// dir: a new chain and wallet when dir is empty, else the ones there (on new
// ports).
func startChainProcesses(dir string) (*PastellaChain, error) {
	c := &PastellaChain{Dir: mustAbs(dir)}
	var err error
	if c.Daemon, err = StartPastellad(PastelladOptions{DataDir: filepath.Join(c.Dir, "pastellad")}); err != nil {
		return nil, err
	}
	if c.Pool, err = StartPastellaWallet(c.Daemon, filepath.Join(c.Dir, "wallets"), "pool"); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// NewWallet starts a Wallet-API with a new wallet (a miner's) for t on this
// chain, stopped at t's cleanup.
func (c *PastellaChain) NewWallet(t testing.TB, name string) *PastellaWallet {
	return NewPastellaWallet(t, c.Daemon, name)
}

// Stop stops the pool wallet and the daemon.
func (c *PastellaChain) Stop() {
	if c.Pool != nil {
		c.Pool.Stop()
	}
	if c.Daemon != nil {
		c.Daemon.Stop()
	}
}

var shared struct {
	mu    sync.Mutex
	chain *PastellaChain
	err   error
}

// SharedPastella returns the test process's Pastella chain, starting it on
// first use (about a minute: the RandomX dataset and the funding blocks; a
// run with EnvTestCache set mines the funding blocks once for all its
// processes and starts each process's chain from a copy in seconds).
// Tests of one package share it, so a package pays for one chain, not one
// per test. A test that stops or restarts its daemon or pool wallet must
// leave them running as it found them. The package's TestMain calls
// StopSharedPastella after m.Run.
func SharedPastella(t testing.TB) *PastellaChain {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.chain == nil && shared.err == nil {
		dir, err := os.MkdirTemp("", "rxpool-pastella-")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		t.Logf("testenv: starting the shared Pastella chain in %s", dir)
		shared.chain, shared.err = startSharedChain(ctx, dir, t.Logf)
	}
	if shared.err != nil {
		t.Fatalf("testenv: shared Pastella chain: %v", shared.err)
	}
	return shared.chain
}

// NewPastellaChain starts a chain of t's own, like the shared one (from the
// run's snapshot when EnvTestCache is set, in seconds), for a test that
// rewrites it (a reorg); stopped and removed at cleanup.
func NewPastellaChain(t testing.TB) *PastellaChain {
	t.Helper()
	dir, err := os.MkdirTemp("", "rxpool-pastella-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := startSharedChain(ctx, dir, t.Logf)
	t.Cleanup(func() {
		if c != nil {
			c.Stop()
		}
		_ = os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("testenv: Pastella chain: %v", err)
	}
	return c
}

// StopSharedPastella stops the shared chain, if one was started, and
// removes its files.
func StopSharedPastella() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.chain != nil {
		shared.chain.Stop()
		_ = os.RemoveAll(shared.chain.Dir)
		shared.chain = nil
	}
}
