package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Monerod is a private `monerod --regtest` on loopback. Its chain lives in
// DataDir and survives restarts (--keep-fakechain), so a test can build the
// chain fast at difficulty 1 and then restart at the difficulty it needs.
type Monerod struct {
	DataDir    string
	RPCPort    int
	P2PPort    int
	Difficulty uint64   // current --fixed-difficulty
	Env        []string // extra environment, e.g. SEEDHASH_EPOCH_BLOCKS=8
	proc       *process
}

// MonerodOptions configure StartMonerod.
type MonerodOptions struct {
	DataDir         string   // required
	FixedDifficulty uint64   // default 1
	Env             []string // e.g. SEEDHASH_EPOCH_BLOCKS / SEEDHASH_EPOCH_LAG
}

// StartMonerod starts a regtest daemon and waits until its RPC answers.
func StartMonerod(opts MonerodOptions) (*Monerod, error) {
	if opts.DataDir == "" {
		return nil, fmt.Errorf("monerod: DataDir is required")
	}
	if opts.FixedDifficulty == 0 {
		opts.FixedDifficulty = 1
	}
	m := &Monerod{DataDir: mustAbs(opts.DataDir), Difficulty: opts.FixedDifficulty, Env: opts.Env}
	return m, m.start()
}

func (m *Monerod) start() error {
	if err := os.MkdirAll(m.DataDir, 0o755); err != nil {
		return err
	}
	// Ports are kept across restarts so a wallet pointed at the daemon keeps
	// working.
	var err error
	if m.RPCPort == 0 {
		if m.RPCPort, err = FreePort(); err != nil {
			return err
		}
	}
	if m.P2PPort == 0 {
		if m.P2PPort, err = FreePort(); err != nil {
			return err
		}
	}
	args := []string{
		"--regtest", "--offline", "--keep-fakechain",
		"--fixed-difficulty", strconv.FormatUint(m.Difficulty, 10),
		"--no-igd", "--no-zmq", "--disable-dns-checkpoints", "--check-updates", "disabled",
		"--p2p-bind-ip", "127.0.0.1", "--p2p-bind-port", strconv.Itoa(m.P2PPort),
		"--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", strconv.Itoa(m.RPCPort),
		"--data-dir", m.DataDir, "--non-interactive", "--log-level", "0",
	}
	p, err := startProcess("monerod", filepath.Join(m.DataDir, "monerod.out"), args, m.Env)
	if err != nil {
		return err
	}
	m.proc = p
	err = p.waitUntil(60*time.Second, "RPC get_info", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := m.Height(ctx)
		return err
	})
	if err != nil {
		p.stop(0)
	}
	return err
}

// URL is the daemon's JSON-RPC endpoint.
func (m *Monerod) URL() string { return fmt.Sprintf("http://127.0.0.1:%d/json_rpc", m.RPCPort) }

// Address is host:port of the RPC server.
func (m *Monerod) Address() string { return fmt.Sprintf("127.0.0.1:%d", m.RPCPort) }

// Call makes a JSON-RPC call to the daemon.
func (m *Monerod) Call(ctx context.Context, method string, params, out any) error {
	return callJSONRPC(ctx, m.URL(), method, params, out)
}

// Height returns the chain height (number of blocks).
func (m *Monerod) Height(ctx context.Context) (uint64, error) {
	var info struct {
		Height uint64 `json:"height"`
		Status string `json:"status"`
	}
	if err := m.Call(ctx, "get_info", nil, &info); err != nil {
		return 0, err
	}
	if info.Status != "OK" {
		return 0, fmt.Errorf("get_info status %q", info.Status)
	}
	return info.Height, nil
}

// GenerateBlocks mines n blocks to address inside the daemon (light-mode
// RandomX; near-instant at difficulty 1) and returns their hashes. Long runs
// are split into chunks and report progress through logf when it is non-nil.
func (m *Monerod) GenerateBlocks(ctx context.Context, n int, address string, logf func(string, ...any)) ([]string, error) {
	const chunk = 50
	var hashes []string
	for done := 0; done < n; {
		k := min(chunk, n-done)
		var res struct {
			Blocks []string `json:"blocks"`
			Height uint64   `json:"height"`
		}
		err := m.Call(ctx, "generateblocks", map[string]any{
			"amount_of_blocks": k, "wallet_address": address, "starting_nonce": 0,
		}, &res)
		if err != nil {
			return hashes, fmt.Errorf("generateblocks (%d of %d done): %w", done, n, err)
		}
		hashes = append(hashes, res.Blocks...)
		done += k
		if logf != nil && n > chunk {
			logf("testenv: mined %d/%d blocks (height %d)", done, n, res.Height)
		}
	}
	return hashes, nil
}

// Restart stops the daemon and starts it again on the same ports with
// another fixed difficulty, keeping the chain.
func (m *Monerod) Restart(difficulty uint64) error {
	m.Stop()
	m.Difficulty = difficulty
	return m.start()
}

// Stop asks the daemon to stop (POST /stop_daemon) and kills it if it does
// not exit within 30 s.
func (m *Monerod) Stop() {
	if m.proc == nil || m.proc.exited() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/stop_daemon", m.RPCPort)
	_ = postJSON(ctx, url, []byte("{}"), func([]byte) error { return nil })
	m.proc.stop(30 * time.Second)
}

// Kill ends the daemon at once, as a crash would.
func (m *Monerod) Kill() {
	if m.proc != nil {
		m.proc.stop(0)
	}
}

// NewMonerod starts a regtest daemon for t, with its data dir in a temp dir,
// stopped at cleanup.
func NewMonerod(t testing.TB, opts MonerodOptions) *Monerod {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), "monerod")
	}
	m, err := StartMonerod(opts)
	t.Cleanup(func() {
		if m != nil {
			m.Stop()
		}
	})
	if err != nil {
		t.Fatalf("testenv: monerod: %v", err)
	}
	return m
}
