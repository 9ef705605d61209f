package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"rxpool/cryptonote"
)

// Where the Pastella programs are found. The defaults are the copies the
// project is given beside its checkout; an operator points the same code
// at their own build through the environment.
const (
	// EnvPastellaBin names a directory holding Pastellad and
	// Pastella-Wallet-API (default: ../shared/pastella/bin from the
	// project root).
	EnvPastellaBin = "RXPOOL_PASTELLA_BIN"
	// EnvPastellaGuard names the loopback guard preloaded into every
	// Pastella program (default: ../shared/pastella/netguard.so). Pastellad
	// resolves and dials its public seed nodes at start-up, before any flag
	// applies; the guard makes every connection outside loopback fail.
	EnvPastellaGuard = "RXPOOL_PASTELLA_GUARD"
)

// PastellaPrograms are the absolute paths of the Pastella programs and of
// the guard they run under.
type PastellaPrograms struct {
	Daemon    string // Pastellad
	WalletAPI string // Pastella-Wallet-API
	Guard     string // netguard.so, preloaded into both
}

// FindPastella locates the Pastella programs: $RXPOOL_PASTELLA_BIN and
// $RXPOOL_PASTELLA_GUARD, else ../shared/pastella beside the project root
// (the directory holding go.mod, searched upwards from the working
// directory). Anything missing is an error that says where it looked.
func FindPastella() (*PastellaPrograms, error) {
	binDir, guard := os.Getenv(EnvPastellaBin), os.Getenv(EnvPastellaGuard)
	if binDir == "" || guard == "" {
		root, err := ProjectRoot()
		if err != nil {
			return nil, err
		}
		shared := filepath.Join(filepath.Dir(root), "shared", "pastella")
		if binDir == "" {
			binDir = filepath.Join(shared, "bin")
		}
		if guard == "" {
			guard = filepath.Join(shared, "netguard.so")
		}
	}
	p := &PastellaPrograms{
		Daemon:    mustAbs(filepath.Join(binDir, "Pastellad")),
		WalletAPI: mustAbs(filepath.Join(binDir, "Pastella-Wallet-API")),
		Guard:     mustAbs(guard),
	}
	for _, f := range []struct{ path, env string }{{p.Daemon, EnvPastellaBin}, {p.WalletAPI, EnvPastellaBin}, {p.Guard, EnvPastellaGuard}} {
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("pastella: %s is missing (set %s, or put PastellaCore's programs in ../shared/pastella): %w",
				f.path, f.env, err)
		}
	}
	return p, nil
}

// ProjectRoot returns the directory of rxpool's go.mod, searching upwards
// from the working directory.
func ProjectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module rxpool")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no rxpool go.mod in %s or above it", dir)
		}
	}
}

// start runs one of the programs under the guard.
func (p *PastellaPrograms) start(bin, logPath string, args []string) (*process, error) {
	return p.startIn("", bin, logPath, args)
}

// startIn is start with working directory dir.
func (p *PastellaPrograms) startIn(dir, bin, logPath string, args []string) (*process, error) {
	return startProgramIn(dir, filepath.Base(bin), bin, logPath, args, []string{"LD_PRELOAD=" + p.Guard})
}

// Pastellad is a private single-node Pastella chain on loopback. The node
// is its own only peer (--add-exclusive-node to its P2P port): the
// handshake's sync data marks it synchronized before the self-connection is
// dropped, and without that handshake it answers getblocktemplate and
// submitblock with "Daemon must be synced". Its chain lives in DataDir and
// survives restarts; ports are kept across restarts.
type Pastellad struct {
	DataDir  string
	RPCPort  int
	P2PPort  int
	Unsynced bool // peer with a dead port instead of itself: the node never syncs
	// Peers are the P2P ports of other daemons it dials besides itself
	// (RestartPeered): two nodes mining apart and then peered make a reorg.
	Peers []int
	progs *PastellaPrograms
	proc  *process
}

// PastelladOptions configure StartPastellad.
type PastelladOptions struct {
	DataDir string // required
	// Unsynced starts a node that never completes a handshake, so it
	// answers "Daemon must be synced" to templates and blocks.
	Unsynced bool
}

// StartPastellad starts Pastellad and waits until its RPC answers and,
// unless opts.Unsynced, until it serves block templates.
func StartPastellad(opts PastelladOptions) (*Pastellad, error) {
	if opts.DataDir == "" {
		return nil, fmt.Errorf("pastellad: DataDir is required")
	}
	progs, err := FindPastella()
	if err != nil {
		return nil, err
	}
	d := &Pastellad{DataDir: mustAbs(opts.DataDir), Unsynced: opts.Unsynced, progs: progs}
	return d, d.start()
}

func (d *Pastellad) start() error {
	if err := os.MkdirAll(d.DataDir, 0o755); err != nil {
		return err
	}
	var err error
	for _, port := range []*int{&d.RPCPort, &d.P2PPort} {
		if *port == 0 {
			if *port, err = FreePort(); err != nil {
				return err
			}
		}
	}
	peer := d.P2PPort
	if d.Unsynced {
		if peer, err = FreePort(); err != nil { // nobody listens there
			return err
		}
	}
	args := []string{
		"--data-dir", d.DataDir,
		"--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", strconv.Itoa(d.RPCPort),
		"--p2p-bind-ip", "127.0.0.1", "--p2p-bind-port", strconv.Itoa(d.P2PPort),
		"--allow-local-ip", "--hide-my-port",
		"--no-console", "--log-level", "2", "--log-file", filepath.Join(d.DataDir, "pastellad.log"),
	}
	for _, p := range append([]int{peer}, d.Peers...) {
		args = append(args, "--add-exclusive-node", "127.0.0.1:"+strconv.Itoa(p))
	}
	p, err := d.progs.start(d.progs.Daemon, filepath.Join(d.DataDir, "pastellad.out"), args)
	if err != nil {
		return err
	}
	d.proc = p
	what, ready := "GET /info", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := d.Info(ctx)
		return err
	}
	if !d.Unsynced {
		what, ready = "getblocktemplate", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := d.Template(ctx, PastellaBurnAddress, 8)
			return err
		}
	}
	if err := p.waitUntil(60*time.Second, what, ready); err != nil {
		p.stop(0)
		return err
	}
	return nil
}

// PastellaBurnAddress is a valid Pastella address that no test wallet
// holds (MakeAddress's key 999). Blocks mined "outside the pool" go there.
var PastellaBurnAddress = func() string {
	a, err := MakeAddress(cryptonote.Pastella, 999)
	if err != nil {
		panic(err)
	}
	return a
}()

// URL is the daemon's base URL ("http://127.0.0.1:PORT").
func (d *Pastellad) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", d.RPCPort) }

// Address is host:port of the RPC server.
func (d *Pastellad) Address() string { return fmt.Sprintf("127.0.0.1:%d", d.RPCPort) }

// Call makes a JSON-RPC call (POST /json_rpc).
func (d *Pastellad) Call(ctx context.Context, method string, params, out any) error {
	return callJSONRPC(ctx, d.URL()+"/json_rpc", method, params, out)
}

// PastellaInfo is the part of GET /info the tests read.
type PastellaInfo struct {
	Height     uint64 `json:"height"` // block count: top index + 1
	Difficulty uint64 `json:"difficulty"`
	Synced     bool   `json:"synced"`
	Status     string `json:"status"`
}

// Info calls GET /info.
func (d *Pastellad) Info(ctx context.Context) (*PastellaInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL()+"/info", nil)
	if err != nil {
		return nil, err
	}
	resp, err := rpcClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var info PastellaInfo
	if err := json.Unmarshal(raw, &info); err != nil || info.Status != "OK" {
		return nil, fmt.Errorf("GET /info: HTTP %d %q (%v)", resp.StatusCode, raw, err)
	}
	return &info, nil
}

// Height returns the block count (GET /info height).
func (d *Pastellad) Height(ctx context.Context) (uint64, error) {
	info, err := d.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.Height, nil
}

// ErrNotSynced is the "Daemon must be synced" reply (HTTP 200, status
// "Failed") to getblocktemplate and submitblock.
var ErrNotSynced = errors.New("pastellad: daemon must be synced")

// PastellaTemplate is a getblocktemplate result.
type PastellaTemplate struct {
	Blob           string `json:"blocktemplate_blob"`
	Difficulty     uint64 `json:"difficulty"`
	Height         uint64 `json:"height"`
	ReservedOffset int    `json:"reserved_offset"`
	SeedHash       string `json:"seed_hash"`
	NextSeedHash   string `json:"next_seed_hash"`
}

// Template calls getblocktemplate.
func (d *Pastellad) Template(ctx context.Context, address string, reserveSize int) (*PastellaTemplate, error) {
	var t PastellaTemplate
	err := d.callChecked(ctx, "getblocktemplate", map[string]any{"wallet_address": address, "reserve_size": reserveSize}, &t)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// SubmitBlock calls submitblock with a full block blob (hex).
func (d *Pastellad) SubmitBlock(ctx context.Context, blobHex string) error {
	return d.callChecked(ctx, "submitblock", []string{blobHex}, nil)
}

// callChecked is Call that also turns Pastellad's {"status":"Failed"}
// envelope into an error (ErrNotSynced for the sync refusal).
func (d *Pastellad) callChecked(ctx context.Context, method string, params, out any) error {
	var failed struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	return postJSON(ctx, d.URL()+"/json_rpc", mustJSON(map[string]any{"jsonrpc": "2.0", "id": "0", "method": method, "params": params}),
		func(b []byte) error {
			if json.Unmarshal(b, &failed) == nil && failed.Status == "Failed" {
				if strings.Contains(failed.Error, "must be synced") {
					return fmt.Errorf("%s: %w", method, ErrNotSynced)
				}
				return fmt.Errorf("%s: %s", method, failed.Error)
			}
			return decodeRPC(method, b, out)
		})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// WaitHeight waits until the chain has at least h blocks.
func (d *Pastellad) WaitHeight(ctx context.Context, h uint64) error {
	for {
		got, err := d.Height(ctx)
		if err == nil && got >= h {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pastellad: height %d (%v) not reached: %w", got, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Restart stops the daemon (politely) and starts it again on the same ports
// and chain. unsynced selects whether it comes back unable to sync.
func (d *Pastellad) Restart(unsynced bool) error {
	d.Stop()
	d.Unsynced = unsynced
	return d.start()
}

// RestartPeered restarts the daemon (synced) with others as its peers
// besides itself; with none, it is alone again. Peered, the node with the
// chain of less work switches to the other's, as it would on the network.
func (d *Pastellad) RestartPeered(others ...*Pastellad) error {
	d.Stop()
	d.Unsynced, d.Peers = false, nil
	for _, o := range others {
		d.Peers = append(d.Peers, o.P2PPort)
	}
	return d.start()
}

// TopHash is the hash of the daemon's top block.
func (d *Pastellad) TopHash(ctx context.Context) (string, error) {
	var r struct {
		BlockHeader struct {
			Hash string `json:"hash"`
		} `json:"block_header"`
	}
	if err := d.Call(ctx, "getlastblockheader", map[string]any{}, &r); err != nil {
		return "", err
	}
	return r.BlockHeader.Hash, nil
}

// Stop sends SIGTERM (Pastellad saves its state and exits) and kills the
// daemon if it has not exited within 30 s. The harness's idle keep-alive
// connections are closed first: Pastellad's RPC server waits for open
// connections to time out (30 s) before it exits.
func (d *Pastellad) Stop() {
	rpcClient.CloseIdleConnections()
	if d.proc != nil {
		d.proc.terminate(30 * time.Second)
	}
}

// Kill ends the daemon at once, as a crash would.
func (d *Pastellad) Kill() {
	if d.proc != nil {
		d.proc.stop(0)
	}
}

// Running reports whether the daemon process is alive.
func (d *Pastellad) Running() bool { return d.proc != nil && !d.proc.exited() }

// NewPastellad starts a daemon for t on a fresh chain in a temp dir,
// stopped at cleanup. A missing program fails the test.
func NewPastellad(t testing.TB, opts PastelladOptions) *Pastellad {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), "pastellad")
	}
	d, err := StartPastellad(opts)
	t.Cleanup(func() {
		if d != nil {
			d.Stop()
		}
	})
	if err != nil {
		t.Fatalf("testenv: Pastellad: %v", err)
	}
	return d
}
