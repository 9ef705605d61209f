package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/seed"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

// One Redis and one regtest monerod serve every test of the package; each
// test has its own key prefix.
var (
	redisSrv  *testenv.Redis
	monerod   *testenv.Monerod
	prefixSeq atomic.Int64
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rxapi")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if redisSrv, err = testenv.StartRedis(filepath.Join(dir, "redis")); err != nil {
			fmt.Fprintln(os.Stderr, "api tests need redis-server:", err)
			return 1
		}
		defer redisSrv.Stop()
		if monerod, err = testenv.StartMonerod(testenv.MonerodOptions{DataDir: filepath.Join(dir, "monerod")}); err != nil {
			fmt.Fprintln(os.Stderr, "api tests need monerod:", err)
			return 1
		}
		defer monerod.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A few blocks so the chain has a last block with a reward.
		if _, err := monerod.GenerateBlocks(ctx, 3, poolAddr, func(string, ...any) {}); err != nil {
			fmt.Fprintln(os.Stderr, "generating blocks:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// poolAddr is a fixed Monero mainnet address (regtest uses mainnet ones).
const poolAddr = "48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se"

const adminToken = "0123456789abcdef0123456789abcdef"

// The fees of the tested pool: the unlocker's basis points, which /stats
// shows as percentages.
const (
	poolFeeBP uint32 = 100
	finderBP  uint32 = 50
)

// env is one API over a fresh prefix of the shared Redis.
type env struct {
	t     testing.TB
	cfg   Config
	coin  *cryptonote.Coin
	store *storage.Store
	api   *Server
	http  *httptest.Server
}

// envConfig is what a test may change before the API starts.
type envConfig struct {
	Config
	daemonURL string
}

// testConfig is a Monero pool with two public ports (one TLS) and a hidden
// one, the fees above, a minimum payment of 1e8 and the configuration
// defaults for everything else.
func testConfig(c *cryptonote.Coin) Config {
	ports := []Port{{3333, 5000, "Low end", false}, {5555, 50000, "High end", true}, {7777, 1000, "Hidden", false}}
	return Config{
		Listen: "127.0.0.1:0", UpdateInterval: 5 * time.Second, CORSOrigins: []string{"*"},
		AdminToken: adminToken, OfflineAfter: 10 * time.Minute, TrustedProxies: []string{},
		PPLNSWindow: 2, Depth: 60, AllPorts: ports,
		Public: Public{
			Coin: c.Name, Symbol: c.Symbol, Units: c.Units, Decimals: c.DecimalPlaces, Algo: "rx/0",
			BlockTime: int(c.BlockTime / time.Second), PoolFee: float64(poolFeeBP) / 100, SoloFee: 1,
			FinderReward: float64(finderBP) / 100, Depth: 60, PPLNSWindow: 2, PaymentInterval: 300,
			MinPayment: 100_000_000, Denomination: 100_000_000, TransferFee: 100_000_000,
			FixedDiffSeparator: ".", SoloPrefix: "solo:", OfflineAfter: 600, Ports: ports[:2],
		},
	}
}

// newEnv builds a Store and the API (edit may change its configuration).
func newEnv(t testing.TB, edit func(*envConfig)) *env {
	t.Helper()
	coin := cryptonote.Monero
	ec := envConfig{Config: testConfig(coin), daemonURL: fmt.Sprintf("http://127.0.0.1:%d", monerod.RPCPort)}
	if edit != nil {
		edit(&ec)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	rc := storage.Config{Socket: redisSrv.Socket, Prefix: fmt.Sprintf("api%d", prefixSeq.Add(1))}
	store, err := storage.New(rc, coin, log, storage.WithBatch(10_000, time.Hour), storage.WithHealthInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	d := daemon.NewMonero("monerod", ec.daemonURL, 5*time.Second, log)
	srv, err := New(ec.Config, Deps{Store: store, Coin: coin, Daemon: d, Daemons: []daemon.Client{d}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, cfg: ec.Config, coin: coin, store: store, api: srv, http: hs}
}

// seed writes the known pool history (internal/seed) with this pool's fees.
func (e *env) seed() *seed.Data {
	e.t.Helper()
	return seed.Pool(e.t, e.store, e.coin, poolFeeBP, finderBP)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// refresh rebuilds the snapshot and drops cached miners, as the next tick
// would.
func (e *env) refresh() {
	e.t.Helper()
	e.api.slow.mu.Lock()
	e.api.slow.at = time.Time{}
	e.api.slow.mu.Unlock()
	e.api.miners = newCache[*cachedMiner](e.api.cfg.UpdateInterval, 100)
	if err := e.api.Refresh(ctxT(e.t)); err != nil {
		e.t.Fatal(err)
	}
}

// do sends a request and decodes the JSON reply into out (when not nil),
// failing unless the status is want.
func (e *env) do(method, path, body string, header http.Header, want int, out any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && out != nil {
		e.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

func (e *env) get(path string, want int, out any) {
	e.t.Helper()
	e.do("GET", path, "", nil, want, out)
}

// wantError checks a 4xx/5xx reply is {"error": "..."} containing text.
func (e *env) wantError(method, path, body string, status int, text string) {
	e.t.Helper()
	var r struct{ Error string }
	e.do(method, path, body, nil, status, &r)
	if !strings.Contains(r.Error, text) {
		e.t.Fatalf("%s %s: error %q does not contain %q", method, path, r.Error, text)
	}
}

func addr(t *testing.T, k int) string { return testenv.Address(t, cryptonote.Monero, k) }
