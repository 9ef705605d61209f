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

	"github.com/redis/go-redis/v9"

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

// minedPhase is what one kind of miner did in BenchmarkPoolXmrig: its own
// counts summed over its processes, and the pool's for the same time.
type minedPhase struct {
	own            struct{ accepted, rejected, jobs uint64 }
	hashrate       float64 // own, summed over the processes
	pool           map[string]uint64
	tips, seconds  float64
	outsideBlocks  int
	generateMillis []int64
}

// BenchmarkPoolXmrig checks the load figures against the real client: the
// pool binary on a regtest monerod, first N real xmrig processes (light
// mode, one thread each), then as the reference N rxminer processes with
// the same settings, each phase for the same time while blocks are mined
// outside the pool every few seconds (so each miner gets new jobs while it
// hashes). It reports accepted shares/s by xmrig's own counters against
// rxminer's (ratio), each miner's own accepted count against the pool's,
// and what the pool refused or counted stale after new jobs.
//
//	go test ./internal/e2e/ -run '^$' -bench 'PoolXmrig' -benchtime 1x -timeout 30m -v
func BenchmarkPoolXmrig(b *testing.B) {
	const (
		n     = 2
		phase = 60 * time.Second
		// Low enough that monerod's own blocks (its light-mode hashing)
		// take seconds on a loaded machine; the miners find blocks too,
		// which are new tips all the same.
		netDiff   = 60
		shareDiff = 6 // ~5 shares/s from one light-mode thread
		tipEvery  = 3 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	e := newBenchEnv(b, netDiff)
	port := freePort(b)
	pool := StartPool(b, ctx, e.config(b, port, "light", 2, ""))
	waitLogB(b, pool, "stratum serving", 2*time.Minute)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: e.rds.Socket})
	defer rdb.Close()
	counters := func() map[string]uint64 {
		m, err := rdb.HGetAll(ctx, "monero:pool").Result()
		if err != nil {
			b.Fatal(err)
		}
		out := map[string]uint64{}
		for _, k := range []string{"accepted", "stale", "rejected", "invalid"} {
			out[k], _ = strconv.ParseUint(m[k], 10, 64)
		}
		return out
	}
	height := func() uint64 {
		h, err := e.md.Height(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	// run mines with start for the phase while a goroutine mines a block
	// outside the pool every tipEvery; start returns how to stop the
	// process hashing and then how to read its own counts.
	type ownCounts func() (accepted, rejected, jobs uint64, hashrate float64)
	run := func(name string, start func(i int, login string) (stop func(), counts ownCounts)) minedPhase {
		var r minedPhase
		before, h0 := counters(), height()
		tipsDone := make(chan struct{})
		tipCtx, stopTips := context.WithCancel(ctx)
		go func() {
			defer close(tipsDone)
			for {
				select {
				case <-tipCtx.Done():
					return
				case <-time.After(tipEvery):
				}
				t0 := time.Now()
				if _, err := e.md.GenerateBlocks(tipCtx, 1, testenv.MoneroAddress(b, 900), nil); err != nil {
					return // cancelled at the end of the phase
				}
				r.outsideBlocks++
				r.generateMillis = append(r.generateMillis, time.Since(t0).Milliseconds())
			}
		}()
		began := time.Now()
		var stops []func()
		var reads []ownCounts
		for i := range n {
			stop, read := start(i, fmt.Sprintf("%s.%d", testenv.MoneroAddress(b, 10+i), shareDiff))
			stops, reads = append(stops, stop), append(reads, read)
		}
		time.Sleep(time.Until(began.Add(phase)))
		for _, stop := range stops {
			stop()
		}
		r.seconds = time.Since(began).Seconds()
		for _, read := range reads {
			a, rj, j, hr := read()
			r.own.accepted += a
			r.own.rejected += rj
			r.own.jobs += j
			r.hashrate += hr
		}
		stopTips()
		<-tipsDone
		time.Sleep(3 * time.Second) // the pool flushes its share batches
		after := counters()
		r.pool = map[string]uint64{}
		for k, v := range after {
			r.pool[k] = v - before[k]
		}
		r.tips = float64(height() - h0)
		b.Logf("%s: %d processes, %.0f s: own accepted %d rejected %d jobs %d, %.1f H/s; pool %v; %v new tips (%d mined outside, generateblocks ms %v)",
			name, n, r.seconds, r.own.accepted, r.own.rejected, r.own.jobs, r.hashrate, r.pool, r.tips, r.outsideBlocks, r.generateMillis)
		return r
	}

	xm := run("xmrig", func(i int, login string) (func(), ownCounts) {
		x := testenv.StartXmrig(b, testenv.XmrigOptions{URL: addr, User: login, Pass: fmt.Sprintf("xmrig-%d", i)})
		var hr float64
		stop := func() {
			if s, err := x.Summary(ctx); err == nil {
				for _, v := range s.Hashrate.Total[:min(2, len(s.Hashrate.Total))] {
					if v != nil {
						hr = *v // the 60 s average if there is one, else 10 s
					}
				}
			}
			if err := x.Pause(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return stop, func() (uint64, uint64, uint64, float64) {
			time.Sleep(2 * time.Second) // submits in flight are answered
			s, err := x.Summary(ctx)
			if err != nil {
				b.Fatal(err)
			}
			x.Stop()
			return s.Connection.Accepted, s.Connection.Rejected, uint64(strings.Count(x.Output(), "new job from")), hr
		}
	})
	rx := run("rxminer", func(i int, login string) (func(), ownCounts) {
		cmd := exec.CommandContext(ctx, testenv.BuildBinary(b, "rxpool/cmd/rxminer"), "-o", addr, "-u", login, "-p", fmt.Sprintf("rxminer-%d", i),
			"-t", "1", "--mode", "light", "--json", "--report", "0", "--duration", phase.String())
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// It stops by itself after the phase (--duration).
		return func() {}, func() (uint64, uint64, uint64, float64) {
			if err := cmd.Wait(); err != nil {
				b.Fatalf("rxminer: %v\n%s", err, Tail(stderr.String(), 3000))
			}
			var s struct {
				MinerSummary
				Hashrate float64 `json:"hashrate"`
			}
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				b.Fatalf("rxminer summary: %v: %s", err, out.Bytes())
			}
			return s.Accepted, s.Rejected + s.Failed, s.Jobs, s.Hashrate
		}
	})

	perS := func(r minedPhase) float64 { return float64(r.own.accepted) / r.seconds }
	b.ReportMetric(perS(xm), "xmrig-accepted/s")
	b.ReportMetric(perS(rx), "rxminer-accepted/s")
	b.ReportMetric(perS(xm)/perS(rx), "ratio-accepted/s")
	b.ReportMetric(xm.hashrate/rx.hashrate, "ratio-hashrate")
	// Accepted shares against what the miner's own hashrate should find
	// at the share difficulty: work thrown away on a new job (or shares
	// refused as stale) shows as less than 1.
	found := func(r minedPhase) float64 { return float64(r.own.accepted) / (r.hashrate * r.seconds / shareDiff) }
	b.ReportMetric(found(xm), "xmrig-accepted/expected")
	b.ReportMetric(found(rx), "rxminer-accepted/expected")
	b.ReportMetric(float64(xm.pool["accepted"])/float64(xm.own.accepted), "xmrig-pool/own")
	b.ReportMetric(float64(rx.pool["accepted"])/float64(rx.own.accepted), "rxminer-pool/own")
	b.ReportMetric(float64(xm.pool["stale"])/float64(xm.pool["accepted"]), "xmrig-stale-frac")
	b.ReportMetric(float64(rx.pool["stale"])/float64(rx.pool["accepted"]), "rxminer-stale-frac")
	b.ReportMetric(float64(xm.pool["rejected"]+xm.pool["invalid"]), "xmrig-refused")
	b.ReportMetric(float64(rx.pool["rejected"]+rx.pool["invalid"]), "rxminer-refused")
	b.ReportMetric(float64(xm.own.jobs)/xm.tips/n, "xmrig-jobs/tip/miner")
	b.ReportMetric(float64(rx.own.jobs)/rx.tips/n, "rxminer-jobs/tip/miner")
}
