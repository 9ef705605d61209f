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

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/daemon"
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

// env is one API over a fresh prefix of the shared Redis.
type env struct {
	t     testing.TB
	cfg   *config.Config
	store *storage.Store
	api   *Server
	http  *httptest.Server
}

// newEnv builds the pool config (edit may change it), a Store and the API.
func newEnv(t testing.TB, edit func(*config.Config)) *env {
	t.Helper()
	raw := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"ports":{"3333":{"diff":5000,"desc":"Low end"},"5555":{"diff":50000,"desc":"High end","tls":true,"tlsCert":"c","tlsKey":"k"},
		         "7777":{"diff":1000,"desc":"Hidden","hidden":true}},
		"payments":{"minPayment":100000000},
		"blockUnlocker":{"poolFee":1,"finderReward":0.5,"depth":60},
		"redis":{"socket":%q,"prefix":"api%d"},
		"api":{"adminToken":%q,"rateLimit":0}}`, poolAddr, monerod.RPCPort, redisSrv.Socket, prefixSeq.Add(1), adminToken)
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	store, err := storage.New(cfg.Redis, cfg.Coin, log, storage.WithBatch(10_000, time.Hour), storage.WithHealthInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	d := daemon.NewMonero("monerod", cfg.DaemonList()[0].URL(), 5*time.Second, log)
	srv, err := New(ConfigFrom(cfg), Deps{Store: store, Coin: cfg.Coin, Daemon: d, Daemons: []daemon.Client{d}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, cfg: cfg, store: store, api: srv, http: hs}
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
