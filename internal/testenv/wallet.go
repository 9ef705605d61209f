package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Wallet is a private monero-wallet-rpc with one freshly created wallet open.
type Wallet struct {
	Dir     string
	Port    int
	Name    string
	Address string // primary address of the open wallet
	daemon  *Monerod
	proc    *process
}

// StartWallet starts monero-wallet-rpc against d with its files in dir and
// creates (or, on a second run, opens) the wallet called name.
func StartWallet(d *Monerod, dir, name string) (*Wallet, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	w := &Wallet{Dir: mustAbs(dir), Port: port, Name: name, daemon: d}
	if err := w.launch(); err != nil {
		return nil, err
	}
	if err := w.openOrCreate(context.Background()); err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

// Restart starts the RPC server again after Stop, on the same port and
// wallet directory. With open it opens the wallet as StartWallet does;
// without, the server comes up with no wallet open, as
// `monero-wallet-rpc --wallet-dir` does after a restart, and the client
// must open the wallet itself.
func (w *Wallet) Restart(open bool) error {
	if w.proc != nil && !w.proc.exited() {
		return fmt.Errorf("monero-wallet-rpc on port %d is still running", w.Port)
	}
	if err := w.launch(); err != nil {
		return err
	}
	if open {
		if err := w.openOrCreate(context.Background()); err != nil {
			w.Stop()
			return err
		}
	}
	return nil
}

// launch starts monero-wallet-rpc on w.Port and waits until it answers.
func (w *Wallet) launch() error {
	args := []string{
		"--wallet-dir", w.Dir,
		"--disable-rpc-login", "--trusted-daemon", "--no-dns", "--non-interactive",
		"--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", strconv.Itoa(w.Port),
		"--daemon-address", w.daemon.Address(),
		"--shared-ringdb-dir", filepath.Join(w.Dir, "ringdb"),
		"--log-level", "0",
	}
	p, err := startProcess("monero-wallet-rpc", filepath.Join(w.Dir, "wallet-rpc.out"), args, nil)
	if err != nil {
		return err
	}
	w.proc = p
	err = p.waitUntil(60*time.Second, "RPC get_version", func() error {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return w.Call(c, "get_version", nil, nil)
	})
	if err != nil {
		p.stop(0)
	}
	return err
}

func (w *Wallet) openOrCreate(ctx context.Context) error {
	if _, statErr := os.Stat(filepath.Join(w.Dir, w.Name)); statErr == nil {
		if err := w.Call(ctx, "open_wallet", map[string]any{"filename": w.Name, "password": ""}, nil); err != nil {
			return err
		}
	} else if err := w.Call(ctx, "create_wallet", map[string]any{"filename": w.Name, "password": "", "language": "English"}, nil); err != nil {
		return err
	}
	var addr struct {
		Address string `json:"address"`
	}
	if err := w.Call(ctx, "get_address", map[string]any{"account_index": 0}, &addr); err != nil {
		return err
	}
	w.Address = addr.Address
	return nil
}

// URL is the wallet's JSON-RPC endpoint.
func (w *Wallet) URL() string { return fmt.Sprintf("http://127.0.0.1:%d/json_rpc", w.Port) }

// Call makes a JSON-RPC call to the wallet.
func (w *Wallet) Call(ctx context.Context, method string, params, out any) error {
	return callJSONRPC(ctx, w.URL(), method, params, out)
}

// Refresh syncs the wallet with the daemon. After a daemon restart the
// wallet needs a moment to reconnect (-38 "no connection to daemon"), so that
// error is retried for up to 30 s.
func (w *Wallet) Refresh(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := w.Call(ctx, "refresh", nil, nil)
		var rpcErr *RPCError
		if err == nil || !errors.As(err, &rpcErr) || rpcErr.Code != -38 || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Balance refreshes the wallet and returns its total and unlocked balance.
func (w *Wallet) Balance(ctx context.Context) (total, unlocked uint64, err error) {
	if err = w.Refresh(ctx); err != nil {
		return 0, 0, err
	}
	var b struct {
		Balance         uint64 `json:"balance"`
		UnlockedBalance uint64 `json:"unlocked_balance"`
	}
	if err = w.Call(ctx, "get_balance", map[string]any{"account_index": 0}, &b); err != nil {
		return 0, 0, err
	}
	return b.Balance, b.UnlockedBalance, nil
}

// Stop saves the wallet and stops the RPC server, killing it after 20 s.
func (w *Wallet) Stop() {
	if w.proc == nil || w.proc.exited() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = w.Call(ctx, "store", nil, nil)
	_ = w.Call(ctx, "stop_wallet", nil, nil)
	w.proc.stop(20 * time.Second)
}

// NewWallet starts a wallet RPC for t against d, stopped at cleanup.
func NewWallet(t testing.TB, d *Monerod, name string) *Wallet {
	t.Helper()
	w, err := StartWallet(d, filepath.Join(t.TempDir(), "wallet-"+name), name)
	if err != nil {
		t.Fatalf("testenv: monero-wallet-rpc: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// Regtest is a ready chain: a daemon, and a wallet holding spendable coinbase
// outputs with enough history for ring members.
type Regtest struct {
	Daemon *Monerod
	Wallet *Wallet
}

// RegtestOptions configure NewRegtest.
type RegtestOptions struct {
	// Blocks to mine to the wallet at difficulty 1 before the test starts.
	// A wallet needs ~110 blocks of history before its first transfer.
	Blocks int
	// Difficulty to run at once the chain is built (default 1).
	Difficulty uint64
	Env        []string
}

// NewRegtest builds a chain for t: daemon at difficulty 1, a wallet, Blocks
// blocks mined to the wallet, then the daemon restarted at Difficulty.
func NewRegtest(t testing.TB, opts RegtestOptions) *Regtest {
	t.Helper()
	d := NewMonerod(t, MonerodOptions{FixedDifficulty: 1, Env: opts.Env})
	w := NewWallet(t, d, "pool")
	if opts.Blocks > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		t.Logf("testenv: preparing regtest chain: mining %d blocks at difficulty 1", opts.Blocks)
		if _, err := d.GenerateBlocks(ctx, opts.Blocks, w.Address, t.Logf); err != nil {
			t.Fatalf("testenv: preparing chain: %v", err)
		}
	}
	if opts.Difficulty > 1 {
		if err := d.Restart(opts.Difficulty); err != nil {
			t.Fatalf("testenv: restarting monerod at difficulty %d: %v", opts.Difficulty, err)
		}
		// The wallet answers -38 "no connection to daemon" until it has
		// reconnected to the restarted daemon: wait for that here, so tests
		// start with a wallet that works.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for {
			err := w.Refresh(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("testenv: the wallet did not reconnect to the restarted daemon: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return &Regtest{Daemon: d, Wallet: w}
}
