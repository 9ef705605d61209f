package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PastellaWallet is a private Pastella-Wallet-API with one wallet file open.
// The API holds one wallet at a time, so every wallet of a test has its
// own API process. It runs in Dir, where its wallet files are.
type PastellaWallet struct {
	Dir      string
	Port     int
	APIKey   string // --rpc-password, sent as X-API-KEY
	File     string // wallet file name, relative to Dir
	Password string
	Address  string // primary address
	daemon   *Pastellad
	proc     *process
}

// StartPastellaWallet starts a Wallet-API in dir against d and creates the
// wallet file name there (or, when the file exists, opens it).
func StartPastellaWallet(d *Pastellad, dir, name string) (*PastellaWallet, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	w := &PastellaWallet{Dir: mustAbs(dir), Port: port, APIKey: "rxpool-test-key-" + name,
		File: name + ".wallet", Password: "pw-" + name, daemon: d}
	if err := w.Restart(true); err != nil {
		return nil, err
	}
	return w, nil
}

// Restart starts the API again after Stop or Kill, on the same port and
// directory. With open it opens (or first creates) the wallet; without, the
// API comes up with no wallet open, as it always does after a restart.
func (w *PastellaWallet) Restart(open bool) error {
	if w.proc != nil && !w.proc.exited() {
		return fmt.Errorf("Pastella-Wallet-API on port %d is still running", w.Port)
	}
	args := []string{"--port", strconv.Itoa(w.Port), "--rpc-bind-ip", "127.0.0.1", "--rpc-password", w.APIKey,
		"--scan-coinbase-transactions", "--no-console", "--log-level", "2"}
	p, err := w.daemon.progs.startIn(w.Dir, w.daemon.progs.WalletAPI, filepath.Join(w.Dir, "wallet-api-"+w.File+".out"), args)
	if err != nil {
		return err
	}
	w.proc = p
	// With no wallet open the API answers 403 to wallet calls: it is up.
	err = p.waitUntil(60*time.Second, "GET /status", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		status, _, err := w.Do(ctx, http.MethodGet, "/status", nil)
		if err == nil && status != http.StatusOK && status != http.StatusForbidden {
			err = fmt.Errorf("HTTP %d", status)
		}
		return err
	})
	if err != nil {
		p.stop(0)
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

// OpenBody is the body of POST /wallet/open and /wallet/create for this
// wallet, pointed at the harness daemon.
func (w *PastellaWallet) OpenBody() map[string]any {
	return map[string]any{"filename": w.File, "password": w.Password,
		"daemonHost": "127.0.0.1", "daemonPort": w.daemon.RPCPort}
}

func (w *PastellaWallet) openOrCreate(ctx context.Context) error {
	path := "/wallet/create"
	if _, err := os.Stat(filepath.Join(w.Dir, w.File)); err == nil {
		path = "/wallet/open"
	}
	status, body, err := w.Do(ctx, http.MethodPost, path, w.OpenBody())
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d: %s", path, status, body)
	}
	var addr struct {
		Address string `json:"address"`
	}
	if err := w.Get(ctx, "/addresses/primary", &addr); err != nil {
		return err
	}
	w.Address = addr.Address
	return nil
}

// URL is the API's base URL.
func (w *PastellaWallet) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", w.Port) }

// Do sends one request with the API key and returns the status and body.
func (w *PastellaWallet) Do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, w.URL()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-API-KEY", w.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := rpcClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// Get is Do for a GET that must answer 200 with JSON, decoded into out.
func (w *PastellaWallet) Get(ctx context.Context, path string, out any) error {
	status, raw, err := w.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, status, raw)
	}
	return json.Unmarshal(raw, out)
}

// Balance returns the wallet's total (unlocked + locked) and unlocked
// balance as the API reports it now.
func (w *PastellaWallet) Balance(ctx context.Context) (total, unlocked uint64, err error) {
	var b struct{ Locked, Unlocked uint64 }
	if err := w.Get(ctx, "/balance", &b); err != nil {
		return 0, 0, err
	}
	return b.Locked + b.Unlocked, b.Unlocked, nil
}

// Synced waits until the wallet has scanned the daemon's whole chain, so a
// balance read after it includes every block mined before the call.
func (w *PastellaWallet) Synced(ctx context.Context) error {
	want, err := w.daemon.Height(ctx)
	if err != nil {
		return err
	}
	for {
		var s struct {
			WalletBlockCount      uint64 `json:"walletBlockCount"`
			LocalDaemonBlockCount uint64 `json:"localDaemonBlockCount"`
		}
		err := w.Get(ctx, "/status", &s)
		// The API's block counts are one lower than the daemon's height.
		if err == nil && s.WalletBlockCount+1 >= want && s.LocalDaemonBlockCount+1 >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wallet %s not synced to height %d (%+v, %v): %w", w.File, want, s, err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// SyncedBalance is Balance after Synced.
func (w *PastellaWallet) SyncedBalance(ctx context.Context) (total, unlocked uint64, err error) {
	if err := w.Synced(ctx); err != nil {
		return 0, 0, err
	}
	return w.Balance(ctx)
}

// Stop closes the wallet (saving it) and stops the API, killing it if it
// has not exited 20 s after SIGTERM, or at once when the wallet was closed:
// the API then has nothing left to save, and a freshly started one takes
// about 20 s to act on SIGTERM (waiting for that cost every test seconds).
func (w *PastellaWallet) Stop() {
	if w.proc == nil || w.proc.exited() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	grace := 20 * time.Second
	if status, _, err := w.Do(ctx, http.MethodDelete, "/wallet", nil); err == nil && status == http.StatusOK {
		grace = 100 * time.Millisecond
	}
	w.proc.terminate(grace)
}

// Running reports whether the API process is alive.
func (w *PastellaWallet) Running() bool { return w.proc != nil && !w.proc.exited() }

// Kill ends the API at once, as a crash would; the wallet file keeps what
// it last saved.
func (w *PastellaWallet) Kill() {
	if w.proc != nil {
		w.proc.stop(0)
	}
}

// NewPastellaWallet starts a Wallet-API with a new wallet for t against d,
// stopped at cleanup.
func NewPastellaWallet(t testing.TB, d *Pastellad, name string) *PastellaWallet {
	t.Helper()
	w, err := StartPastellaWallet(d, filepath.Join(t.TempDir(), "wallet-"+name), name)
	if err != nil {
		t.Fatalf("testenv: Pastella-Wallet-API: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}
