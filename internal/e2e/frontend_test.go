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

// TestFrontendInChromium runs the pool binary with only the API module over
// a Redis seeded through storage and a regtest monerod, then has
// frontend/tests/browser.mjs (playwright-core driving Debian's chromium)
// open the dashboard, the getting-started page and a miner page and check
// that what the pages show equals what the API returns, that the charts
// drew data, and save screenshots.
func TestFrontendInChromium(t *testing.T) {
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
	artifacts := artifactsDir(t, "browser")

	rds := testenv.NewRedis(t)
	md := testenv.NewMonerod(t, testenv.MonerodOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"ports":{"3333":{"diff":5000,"desc":"CPU miners"},"5555":{"diff":100000,"desc":"Rigs over TLS","tls":true,"tlsCert":"x","tlsKey":"y"}},
		"stratum":{"enabled":false},"blockUnlocker":{"enabled":false,"poolFee":1,"finderReward":0.5,"depth":60},
		"payments":{"enabled":false,"minPayment":100000000},
		"redis":{"socket":%q,"prefix":"web"},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"frontend":%q,"rateLimit":0},
		"log":{"level":"info"}}`, testenv.MoneroAddress(t, 0), md.RPCPort, rds.Socket, port, dist)
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.GenerateBlocks(ctx, 3, cfg.PoolAddress, t.Logf); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	// The seeding Store stays open: it publishes rig1's connected session.
	store, err := storage.New(cfg.Redis, cfg.Coin, log, storage.WithHealthInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	data := seed.Pool(t, store, cfg.Coin, cfg.BlockUnlocker.PoolFeeBP(), cfg.BlockUnlocker.FinderRewardBP())

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
	for _, shot := range []string{"dashboard.png", "start.png", "miner.png", "miner-phone.png"} {
		if st, err := os.Stat(filepath.Join(artifacts, shot)); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot %s missing or blank: %v", shot, err)
		}
	}
	t.Logf("screenshots in %s", artifacts)
}
