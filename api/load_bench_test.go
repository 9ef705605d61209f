package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/stratum"
	"rxpool/unlocker"
)

// BenchmarkAPILoad measures requests/s and latency percentiles of the API
// with 10,000 miners' statistics in Redis (three workers each, a share a
// minute for the last hour, two credited blocks with every miner in their
// weights), against a reference measured in the same run: the same /stats
// bytes written by a bare net/http handler, i.e. the cost of HTTP on
// loopback with this client, without anything of ours.
//
//	go test -run '^$' -bench APILoad -benchtime 5s ./api/
func BenchmarkAPILoad(b *testing.B) {
	e, addrs := loadEnv(b)
	var snap []byte
	func() {
		resp, err := http.Get(e.http.URL + "/api/stats")
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		snap, _ = io.ReadAll(resp.Body)
	}()
	ref := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(snap)
	}))
	defer ref.Close()
	b.Logf("/stats is %d bytes with 10,000 miners", len(snap))

	for _, tc := range []struct {
		name string
		url  func(r *rand.Rand) string
	}{
		{"reference-static", func(*rand.Rand) string { return ref.URL + "/stats" }},
		{"stats", func(*rand.Rand) string { return e.http.URL + "/api/stats" }},
		// One address: served from the per-address cache after the first.
		{"stats-address-cached", func(*rand.Rand) string { return e.http.URL + "/api/stats?address=" + addrs[0] }},
		// Random addresses among 10,000: nearly every request reads Redis.
		{"stats-address-random", func(r *rand.Rand) string { return e.http.URL + "/api/stats?address=" + addrs[r.IntN(len(addrs))] }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e.api.miners = newCache[*cachedMiner](e.api.cfg.UpdateInterval, 20_000)
			var mu sync.Mutex
			var lat []time.Duration
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			start := time.Now()
			b.SetParallelism(16) // 16 × GOMAXPROCS concurrent clients
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 1))
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					resp, err := client.Get(tc.url(r))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			slices.Sort(lat)
			if len(lat) == 0 {
				return
			}
			pctl := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			b.ReportMetric(pctl(0.5), "p50-ms")
			b.ReportMetric(pctl(0.99), "p99-ms")
		})
	}
}

var (
	loadOnce  sync.Once
	loadE     *env
	loadAddrs []string
)

// loadEnv seeds the 10,000-miner pool once per benchmark binary.
func loadEnv(b *testing.B) (*env, []string) {
	loadOnce.Do(func() { loadE, loadAddrs = seedLoad(b) })
	if loadE == nil {
		b.Fatal("seeding failed")
	}
	return loadE, loadAddrs
}

func seedLoad(b *testing.B) (*env, []string) {
	e := newEnv(b, nil)
	ctx := context.Background()
	const miners = 10_000
	addrs := make([]string, miners)
	for i := range addrs {
		addrs[i] = testenv.Address(b, e.coin, 100+i)
	}
	now := time.Now()
	start := time.Now()
	for m := 0; m < 60; m++ { // a share per miner-worker per minute for an hour
		batch := make([]stratum.Share, 0, miners)
		for i, a := range addrs {
			batch = append(batch, stratum.Share{Address: a, Worker: fmt.Sprintf("rig%d", (i+m)%3), Scheme: "pplns", IP: "10.0.0.1",
				Difficulty: 50_000, Time: now.Add(-time.Duration(59-m) * time.Minute)})
		}
		if err := e.store.WriteShares(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ { // two blocks credited to every miner
		h := [32]byte{byte(i + 1), 0xbe}
		blk := &stratum.Block{Height: uint64(10 + i), Hash: h, PrevHash: [32]byte{byte(i)}, Address: addrs[i], Worker: "rig0",
			Scheme: "pplns", NetDifficulty: 1_000_000_000, ShareDiff: 1_000_000_000, Reward: 600_000_000_000, Time: now}
		if err := e.store.Block(ctx, blk); err != nil {
			b.Fatal(err)
		}
		hash := hex.EncodeToString(h[:])
		w, err := e.store.BlockWeights(ctx, hash)
		if err != nil {
			b.Fatal(err)
		}
		sp, err := unlocker.SplitShared(blk.Reward, poolFeeBP, finderBP, w)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.store.CreditBlock(ctx, hash, sp.Credits, sp.Fee, "", blk.Address, sp.Finder, blk.Reward); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d miners (%d shares) in %v", miners, 60*miners, time.Since(start).Round(time.Millisecond))
	for i, a := range addrs[:300] { // connected sessions
		e.store.MinerConnected(a, fmt.Sprintf("rig%d", i%3), "10.0.0.1")
	}
	if err := e.api.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	acc, _ := e.store.Accounts(ctx)
	b.Logf("%d accounts with a balance", len(acc))
	return e, addrs
}
