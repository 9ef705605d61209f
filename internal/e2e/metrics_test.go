package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// TestPoolBinaryServesMetrics runs the pool binary with the stratum and API
// modules on regtest, has rxminer send good and low-difficulty shares, and
// reads /metrics and /health as Prometheus and a monitor would.
func TestPoolBinaryServesMetrics(t *testing.T) {
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: 1_000_000_000}) // no block is found
	rds := testenv.NewRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ports := make([]int, 3)
	for i := range ports {
		p, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	stratumPort, apiPort, metricsPort := ports[0], ports[1], ports[2]
	cfg := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"ports":{"%d":{"diff":1,"desc":"test"}},"varDiff":{"minDiff":1},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":500},
		"randomx":{"mode":"light","workers":1},
		"blockUnlocker":{"enabled":false},"payments":{"enabled":false},
		"redis":{"socket":%q},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0},
		"metrics":{"enabled":true,"bindIp":"127.0.0.1","port":%d}}`,
		testenv.MoneroAddress(t, 0), md.RPCPort, stratumPort, rds.Socket, apiPort, metricsPort)
	pool := StartPool(t, ctx, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	pool.WaitOK(t, base+"/health", time.Minute)

	miner := testenv.BuildBinary(t, "rxpool/cmd/rxminer")
	addr := fmt.Sprintf("127.0.0.1:%d", stratumPort)
	common := []string{"-o", addr, "-t", "1", "--mode", "light", "--duration", "3m", "--report", "0"}
	if out, err := testenv.Run(miner, append(common, "-u", testenv.MoneroAddress(t, 1), "-p", "good", "--max-shares", "3")...); err != nil {
		t.Fatalf("good miner: %v\n%s", err, out)
	}
	// Every share this one finds goes out with a result that is not its hash:
	// proof of malice, so the first is answered and the connection closed
	// (and 127.0.0.1 banned; nothing connects to stratum after it).
	if out, err := testenv.Run(miner, append(common, "-u", testenv.MoneroAddress(t, 2), "-p", "bad", "--max-shares", "1",
		"--bad", "badresult", "--bad-rate", "1")...); err != nil {
		t.Fatalf("bad-result miner: %v\n%s", err, out)
	}

	var m map[string]float64
	WaitFor(t, 30*time.Second, "the pool figures in /metrics", func() error {
		m = Scrape(t, base+"/metrics")
		if m["rxpool_pool_miners"] < 0 || m[`rxpool_shares_accepted_total{scheme="pplns"}`] < 3 {
			return fmt.Errorf("not yet: accepted %v", m[`rxpool_shares_accepted_total{scheme="pplns"}`])
		}
		if _, ok := m["rxpool_pool_hashrate"]; !ok || m["rxpool_pool_hashrate"] <= 0 {
			return fmt.Errorf("pool hashrate %v", m["rxpool_pool_hashrate"])
		}
		return nil
	})
	for series, want := range map[string]float64{
		`rxpool_shares_rejected_total{reason="wrong_result"}`:                                  1,
		`rxpool_verify_seconds_count{mode="light",priority="false"}`:                           4,
		fmt.Sprintf(`rxpool_connections{port="%d"}`, stratumPort):                              0, // the miners have left
		`rxpool_blocks{status="confirmed"}`:                                                    0,
		`rxpool_network_difficulty`:                                                            1_000_000_000,
		`rxpool_verifier_queue_depth`:                                                          0,
		`rxpool_rpc_errors_total{method="get_block_template",name="regtest",service="daemon"}`: -1, // absent: no error
	} {
		got, ok := m[series]
		switch {
		case want < 0 && ok:
			t.Errorf("%s = %v, want absent", series, got)
		case want >= 0 && !ok:
			t.Errorf("%s missing", series)
		case series == `rxpool_verify_seconds_count{mode="light",priority="false"}` && got < want:
			t.Errorf("%s = %v, want ≥ %v", series, got, want)
		case want >= 0 && series != `rxpool_verify_seconds_count{mode="light",priority="false"}` && got != want:
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// The metrics-only listener serves the same registry.
	alone := Scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if alone[`rxpool_shares_accepted_total{scheme="pplns"}`] != m[`rxpool_shares_accepted_total{scheme="pplns"}`] {
		t.Errorf("metrics listener: accepted %v, API port %v", alone[`rxpool_shares_accepted_total{scheme="pplns"}`], m[`rxpool_shares_accepted_total{scheme="pplns"}`])
	}
	if n := SumPrefix(m, `rxpool_rpc_seconds_count{method="get_block_template"`); n < 1 {
		t.Errorf("no get_block_template call observed: %v", n)
	}
}
