package e2e

// Benchmarks of the whole pool: the pool binary on a regtest monerod and a
// private Redis, loaded by cmd/rxload. Each reports figures as ratios
// against a reference measured in the same run; BENCHMARKS.md records them.
// Nothing here passes or fails on speed.
//
//	go test ./internal/e2e/ -run '^$' -bench 'Pool' -benchtime 1x -timeout 60m -v

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// rxloadJSON runs rxload and decodes its JSON result.
func rxloadJSON(b *testing.B, ctx context.Context, out any, args ...string) {
	b.Helper()
	cmd := exec.CommandContext(ctx, testenv.BuildBinary(b, "rxpool/cmd/rxload"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		b.Fatalf("rxload %s: %v\n%s\n%s", strings.Join(args, " "), err, raw, stderr.Bytes())
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.Fatalf("rxload %s: %v: %s", args[0], err, raw)
	}
}

// benchEnv is a regtest daemon, a Redis and the pool's configuration.
type benchEnv struct {
	md  *testenv.Monerod
	rds *testenv.Redis
	dir string
}

func newBenchEnv(b *testing.B, difficulty uint64) *benchEnv {
	return &benchEnv{md: testenv.NewMonerod(b, testenv.MonerodOptions{FixedDifficulty: difficulty}), rds: testenv.NewRedis(b), dir: b.TempDir()}
}

// config is a stratum-only pool on port with RandomX in mode.
func (e *benchEnv) config(b *testing.B, port int, mode string, workers int, extra string) string {
	return fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"ports":{"%d":{"diff":1,"desc":"bench"}},"varDiff":{"enabled":false,"minDiff":1},"fixedDiff":{"enabled":true},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","maxConnectionsPerIP":0,"minerTimeout":900,"loginTimeout":60},
		"banning":{"enabled":false},
		"randomx":{"mode":%q,"workers":%d,"queueSize":65536},
		"blockUnlocker":{"enabled":false},"payments":{"enabled":false},"api":{"enabled":false},
		"redis":{"socket":%q}%s}`, testenv.MoneroAddress(b, 0), e.md.RPCPort, port, mode, workers, e.rds.Socket, extra)
}

func freePort(b *testing.B) int {
	p, err := testenv.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// waitLogB waits for s in the pool's log.
func waitLogB(b *testing.B, p *PoolProc, s string, timeout time.Duration) {
	WaitFor(b, timeout, fmt.Sprintf("%q in the pool log", s), func() error {
		if strings.Contains(p.Output(), s) {
			return nil
		}
		if !p.Running() {
			b.Fatalf("the pool exited:\n%s", p.Output())
		}
		return fmt.Errorf("not yet")
	})
}

type submitResult struct {
	Precompute struct {
		Seconds    float64 `json:"seconds"`
		HashesPerS float64 `json:"hashes_per_s"`
	} `json:"precompute"`
	Measured struct {
		Seconds      float64           `json:"seconds"`
		Accepted     uint64            `json:"accepted"`
		AcceptedPerS float64           `json:"accepted_per_s"`
		Rejected     uint64            `json:"rejected"`
		RejectedBy   map[string]uint64 `json:"rejected_by"`
		Errors       uint64            `json:"errors"`
	} `json:"measured"`
	Latency struct {
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	} `json:"latency"`
}

// BenchmarkPoolThroughput: verified shares/s through the whole pool (TCP,
// JSON, RandomX verification, Redis) in light and fast mode, divided by raw
// librandomx hashes/s on the same two cores measured just before (the C
// loop of cmd/rxload reference); then submit latency at 50 % and 90 % of
// the capacity just measured; and the pool's CPU profile over the
// saturated phase, split into RandomX hashing and everything else.
func BenchmarkPoolThroughput(b *testing.B) {
	for _, tc := range []struct {
		mode   string
		shares int // saturated phase ≈ shares / capacity seconds
	}{{"light", 1500}, {"fast", 12000}} {
		b.Run(tc.mode, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
			defer cancel()
			var ref struct {
				HashesPerS float64 `json:"hashes_per_s"`
			}
			rxloadJSON(b, ctx, &ref, "reference", "-mode", tc.mode, "-t", "2", "-duration", "15s")

			e := newBenchEnv(b, 1_000_000_000_000) // no share is ever a block: one template throughout
			port := freePort(b)
			prof := filepath.Join(artifactsDir(b, "bench"), "pool-cpu-"+tc.mode+".prof")
			pool := StartPool(b, ctx, e.config(b, port, tc.mode, 2, ""), "-cpuprofile", prof)
			ready := "cache ready (light mode)"
			if tc.mode == "fast" {
				ready = "dataset ready: fast mode"
			}
			waitLogB(b, pool, ready, 5*time.Minute)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			login := testenv.MoneroAddress(b, 1)
			submit := func(shares int, rate string) submitResult {
				var r submitResult
				rxloadJSON(b, ctx, &r, "submit", "-o", addr, "-u", login, "-sessions", "16", "-shares", strconv.Itoa(shares),
					"-rate", rate, "-mode", tc.mode, "-t", "2", "-json")
				if r.Measured.Rejected > 0 || r.Measured.Errors > 0 {
					b.Logf("rejected %v, %d errors", r.Measured.RejectedBy, r.Measured.Errors)
				}
				return r
			}
			cpu0 := procCPU(b, pool.pid())
			sat := submit(tc.shares, "max")
			cpuSat := procCPU(b, pool.pid()) - cpu0
			capacity := sat.Measured.AcceptedPerS
			b.ReportMetric(ref.HashesPerS, "ref-hashes/s")
			b.ReportMetric(capacity, "verified-shares/s")
			b.ReportMetric(capacity/ref.HashesPerS, "ratio")
			b.ReportMetric(sat.Latency.P50, "sat-p50-ms")
			b.ReportMetric(sat.Latency.P99, "sat-p99-ms")
			// CPU the pool process spent per accepted share (all of it:
			// hashing, network, JSON, storage) against one reference hash.
			perShare := cpuSat.Seconds() / float64(sat.Measured.Accepted)
			b.ReportMetric(perShare*1000, "pool-cpu-ms/share")
			b.ReportMetric(perShare*ref.HashesPerS/2, "pool-cpu/ref-hash")
			for _, load := range []float64{0.5, 0.9} {
				n := max(200, int(capacity*load*20)) // about 20 s at that rate
				r := submit(n, strconv.FormatFloat(capacity*load, 'f', 1, 64))
				b.ReportMetric(r.Latency.P50, fmt.Sprintf("p50-ms@%.0f%%", load*100))
				b.ReportMetric(r.Latency.P99, fmt.Sprintf("p99-ms@%.0f%%", load*100))
			}
			if err := pool.stop(syscall.SIGTERM, time.Minute); err != nil {
				b.Fatal(err)
			}
			outside, total := profileSplit(b, prof)
			b.ReportMetric(100*outside/total, "pct-cpu-outside-randomx")
			b.Logf("%s: reference %.1f H/s, pool %.1f verified shares/s (%.3f), p50 %.1f ms p99 %.1f ms; CPU profile: %.1f%% of %.1fs outside RandomX; profile %s",
				tc.mode, ref.HashesPerS, capacity, capacity/ref.HashesPerS, sat.Latency.P50, sat.Latency.P99, 100*outside/total, total, prof)
		})
	}
}

// procCPU is a process's user + system CPU time (from /proc).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which may hold spaces: ") state ppid ...".
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((ut + st) / 100 * float64(time.Second)) // USER_HZ = 100 on Linux
}

// profileSplit returns the CPU seconds of a profile outside RandomX's C
// functions (hashing, cache and dataset builds), and in all.
func profileSplit(b *testing.B, prof string) (outside, total float64) {
	pool := testenv.BuildBinary(b, "rxpool/cmd/pool")
	// "Showing nodes accounting for 1.2s, 3.4% of 35.6s total": with every
	// node shown and a filter, the first figure is what passes the filter,
	// the last the whole profile.
	figure := regexp.MustCompile(`accounting for ([0-9.]+)(us|ms|s|min), [0-9.]+% of ([0-9.]+)(us|ms|s|min) total`)
	seconds := func(v, unit []byte) float64 {
		f, _ := strconv.ParseFloat(string(v), 64)
		return f * map[string]float64{"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60}[string(unit)]
	}
	top := func(args ...string) (passed, all float64) {
		out, err := exec.Command("go", append([]string{"tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0"}, append(args, pool, prof)...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("pprof: %v\n%s", err, out)
		}
		m := figure.FindSubmatch(out)
		if m == nil {
			b.Fatalf("pprof output not understood:\n%s", out)
		}
		return seconds(m[1], m[2]), seconds(m[3], m[4])
	}
	// Every cgo call of the pool is RandomX: samples under a cgo stub are
	// RandomX's C code (hashing, cache and dataset builds).
	outside, total = top("-ignore=_Cfunc_|runtime.cgocall")
	return outside, total
}

type idleResult struct {
	PoolRSS struct {
		BeforeKiB int64 `json:"before_kib"`
		AfterKiB  int64 `json:"after_kib"`
	} `json:"pool_rss"`
	Login struct {
		LoggedIn int     `json:"logged_in"`
		Failed   int     `json:"failed"`
		PerS     float64 `json:"logins_per_s"`
	} `json:"login"`
	Tips []struct {
		Armed       int     `json:"armed"`
		Received    int     `json:"received"`
		Missed      int     `json:"missed"`
		FirstToLast float64 `json:"first_to_last_ms"`
		Delay       struct {
			P50 float64 `json:"p50_ms"`
			P99 float64 `json:"p99_ms"`
		} `json:"delay_from_first"`
		FirstAfterNotify *float64 `json:"first_after_notify_ms"`
	} `json:"tips"`
}

// BenchmarkPoolIdleConnections holds logged-in idle sessions that only
// keep alive, from several loopback source addresses, and measures the
// pool's resident memory per connection (RSS after − before, the RandomX
// cache and everything else of an idle pool in "before") and how long a new
// block's jobs take to reach every connection (first session's receipt to
// the last's, over three tips; the tip is a block mined by monerod followed
// by SIGUSR1 to every pool process, their block-notify hook). Several pool
// processes share one port with SO_REUSEPORT and one Redis.
func BenchmarkPoolIdleConnections(b *testing.B) {
	for ci, tc := range []struct {
		name         string
		conns, pools int
		loadProcs    int
	}{
		{"10k-1pool", 10_000, 1, 1},
		{"19k-1pool", 19_000, 1, 2}, // one process's limit: 20,000 open files
		{"100k-6pools", 100_000, 6, 6},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			e := newBenchEnv(b, 1) // monerod mines the tips at once
			port := freePort(b)
			var pools []*PoolProc
			var pids []string
			metrics := make([]int, tc.pools)
			for i := range tc.pools {
				metrics[i] = freePort(b)
				cfg := e.config(b, port, "light", 1, fmt.Sprintf(`,"metrics":{"enabled":true,"port":%d}`, metrics[i]))
				p := StartPool(b, ctx, cfg)
				waitLogB(b, p, "stratum serving", 2*time.Minute)
				pools = append(pools, p)
				pids = append(pids, strconv.Itoa(p.pid()))
			}
			time.Sleep(3 * time.Second) // settle: first template, RandomX cache
			// The first pool's connections, at their most, for its RSS per
			// connection (rxload reads that pool's RSS before the first
			// connection and after all are logged in and idle).
			peak := make(chan float64, 1)
			stopWatch := make(chan struct{})
			go func() {
				var m float64
				for {
					if v, ok := scrapeQuiet(fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics[0]))[fmt.Sprintf(`rxpool_connections{port="%d"}`, port)]; ok {
						m = max(m, v)
					}
					select {
					case <-stopWatch:
						peak <- m
						return
					case <-time.After(500 * time.Millisecond):
					}
				}
			}()
			// A source address per 10,000 sockets (each has ~28,000 ephemeral
			// ports, some still in TIME_WAIT from an earlier case), in a
			// range of the case's own.
			var src []string
			for i := range (tc.conns + 9_999) / 10_000 {
				src = append(src, fmt.Sprintf("127.0.%d.%d", 10+ci, i+2))
			}
			rxload := testenv.BuildBinary(b, "rxpool/cmd/rxload")
			notify := fmt.Sprintf("%s -mine-block 127.0.0.1:%d -mine-address %s && kill -USR1 %s",
				rxload, e.md.RPCPort, testenv.MoneroAddress(b, 7), strings.Join(pids, " "))
			var r idleResult
			rxloadJSON(b, ctx, &r, "idle", "-o", fmt.Sprintf("127.0.0.1:%d", port), "-u", testenv.MoneroAddress(b, 2),
				"-n", strconv.Itoa(tc.conns), "-procs", strconv.Itoa(tc.loadProcs), "-src", strings.Join(src, ","),
				"-notify", notify, "-tips", "3", "-settle", "10s", "-pool-pid", pids[0], "-json")
			close(stopWatch)
			conns0 := <-peak
			before, after := r.PoolRSS.BeforeKiB, r.PoolRSS.AfterKiB
			if r.Login.LoggedIn != tc.conns {
				b.Errorf("%d of %d sessions logged in (%d failed)", r.Login.LoggedIn, tc.conns, r.Login.Failed)
			}
			b.ReportMetric(float64(r.Login.LoggedIn), "sessions")
			perConn := float64(after-before) / conns0
			b.ReportMetric(perConn, "KiB-rss/conn")
			b.ReportMetric(r.Login.PerS, "logins/s")
			var worst, p99 float64
			missed := 0
			for _, tip := range r.Tips {
				worst = max(worst, tip.FirstToLast)
				p99 = max(p99, tip.Delay.P99)
				missed += tip.Missed
			}
			b.ReportMetric(worst, "push-all-ms")
			b.ReportMetric(p99, "push-p99-ms")
			if missed > 0 {
				b.Errorf("%d sessions missed a tip", missed)
			}
			b.Logf("%s: %d sessions over %d pool process(es); the first pool held %.0f: RSS %d → %d KiB (%.2f KiB/conn); job push to all after the first: %.1f ms worst, p99 %.1f ms",
				tc.name, r.Login.LoggedIn, tc.pools, conns0, before, after, perConn, worst, p99)
		})
	}
}

// scrapeQuiet is Scrape without failing: series → value, empty on error.
func scrapeQuiet(url string) map[string]float64 {
	resp, err := http.Get(url)
	if err != nil {
		return map[string]float64{}
	}
	defer resp.Body.Close()
	m, _ := parseMetrics(resp.Body)
	return m
}
