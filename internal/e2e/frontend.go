package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/internal/seed"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

// FrontendShots are the screenshots CheckFrontend requires: the pages a new
// miner reads first, at a desktop and a phone width.
var FrontendShots = []string{
	"dashboard-1280.png", "start-1280.png", "miner-1280.png",
	"dashboard-390.png", "start-390.png", "miner-390.png",
}

// FrontendConfig makes the pool's configuration for CheckFrontend: the
// coin's daemon and ports are the caller's; the Redis socket, the API port
// and the built frontend's directory are CheckFrontend's.
type FrontendConfig func(redisSocket string, apiPort int, dist string) string

// FrontendPoolConfig is a pool of coin with only the API module, on the
// daemon at 127.0.0.1:daemonPort, with a plain and a TLS port (the
// getting-started page shows both, and the TLS flag in the command);
// unlocker and payments are off, their fees and minimum payment shown.
func FrontendPoolConfig(coin, poolAddress string, daemonPort int) FrontendConfig {
	return func(redisSocket string, apiPort int, dist string) string {
		return fmt.Sprintf(`{"coin":%q,"poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"ports":{"3333":{"diff":5000,"desc":"CPU miners"},"5555":{"diff":100000,"desc":"Rigs over TLS","tls":true,"tlsCert":"x","tlsKey":"y"}},
		"stratum":{"enabled":false},"blockUnlocker":{"enabled":false,"poolFee":1,"finderReward":0.5,"depth":60},
		"payments":{"enabled":false,"minPayment":100000000},
		"redis":{"socket":%q,"prefix":"web"},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"frontend":%q,"rateLimit":0},
		"log":{"level":"info"}}`, coin, poolAddress, daemonPort, redisSocket, apiPort, dist)
	}
}

// CheckFrontend runs the pool binary (the API module serving frontend/dist)
// with the configuration cfg makes, over a Redis seeded through storage
// with seed.Pool's history, then has frontend/tests/browser.mjs
// (playwright-core driving Debian's chromium) check the pages at 1280 and
// 390 px against the API: the values, amounts on one line, chart windows,
// no sideways scrolling. Screenshots go to artifacts/browser/<coin> (or
// $RXPOOL_ARTIFACTS/browser/<coin>), whose path it returns.
func CheckFrontend(t *testing.T, ctx context.Context, cfg FrontendConfig) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(root, "frontend", "dist")
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		t.Fatalf("the frontend is not built (%v): run `make build`", err)
	}
	for _, bin := range []string{"node", "chromium"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: run `make deps`", bin)
		}
	}
	rds := testenv.NewRedis(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	raw := cfg(rds.Socket, port, dist)
	c, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	artifacts := artifactsDir(t, filepath.Join("browser", c.Coin.Name))

	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	// The seeding Store stays open: it publishes rig1's connected session.
	store, err := storage.New(c.Redis, c.Coin, log, storage.WithHealthInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	data := seed.Pool(t, store, c.Coin, c.BlockUnlocker.PoolFeeBP(), c.BlockUnlocker.FinderRewardBP())

	pool := StartPool(t, ctx, raw)
	base := fmt.Sprintf("http://127.0.0.1:%d/", port)
	pool.WaitOK(t, base+"api/stats", 30*time.Second)

	chromium, _ := exec.LookPath("chromium")
	cmd := exec.CommandContext(ctx, "node", "tests/browser.mjs", "--url", base, "--address", data.A, "--out", artifacts, "--chromium", chromium)
	cmd.Dir = filepath.Join(root, "frontend")
	out, err := cmd.CombinedOutput()
	t.Logf("browser.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser checks failed: %v", err)
	}
	for _, shot := range FrontendShots {
		if st, err := os.Stat(filepath.Join(artifacts, shot)); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot %s missing or blank: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", artifacts)
	return artifacts
}
