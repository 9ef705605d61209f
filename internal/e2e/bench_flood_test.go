package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

// floodResult is the part of `rxload flood -json` the benchmark reads.
type floodResult struct {
	Seconds  float64 `json:"seconds"`
	Connects struct {
		Attempts uint64            `json:"attempts"`
		Sessions uint64            `json:"sessions"`
		Refused  uint64            `json:"refused"`
		By       map[string]uint64 `json:"refused_by"`
	} `json:"connects"`
	Closed struct {
		ByPool uint64            `json:"by_pool"`
		After  map[string]uint64 `json:"after"`
	} `json:"closed"`
	Sent      uint64                       `json:"sent"`
	SentPerS  float64                      `json:"sent_per_s"`
	Answered  uint64                       `json:"answered"`
	Accepted  uint64                       `json:"accepted"`
	AnswersBy map[string]map[string]uint64 `json:"answers_by_kind"`
}

// floodPhase is what the pool did while the honest miner ran at its rate
// beside one flood.
type floodPhase struct {
	honest submitResult
	flood  floodResult
	cpu    time.Duration // the flood generator's own CPU (it shares the machine)
	pool   poolDelta
}

// poolDelta is what the pool's metrics counted over a phase.
type poolDelta struct {
	seconds  float64
	cpu      time.Duration
	hashes   float64 // RandomX hashes the verifier computed
	accepted float64
	rejected map[string]float64 // by reason
	refused  map[string]float64 // connections, by reason
}

// junkHashes are the hashes not spent on an accepted share: junk that got
// as far as the verifier (the honest miner's shares are all valid).
func (d poolDelta) junkHashes() float64 { return d.hashes - d.accepted }

// BenchmarkPoolUnderFlood: an honest miner (rxload submit from 127.0.0.1,
// 4 sessions, at half of the pool's verified capacity measured just
// before) alone for ~20 s, then at the same rate beside a junk flood
// (rxload flood: 64 connections of mixed junk — made-up results meeting
// the target, fake block claims, low-difficulty results, wrong job ids —
// from 1,000 fresh addresses), in three cases:
//
//   - one-ip: the flood from one other address (127.0.0.2), starting once
//     the honest sessions have had shares accepted;
//   - many-ips: the same from a new address per connection (127.2.0.0/16,
//     an attacker rotating around per-IP bans);
//   - many-ips-newcomer: the many-address flood already running when the
//     honest miner logs in (a miner reconnecting during a flood, whose
//     sessions have no accepted work yet).
//
// It reports the honest accepted shares/s and submit p99 under each flood
// as a ratio to the baseline, and what the flood cost the pool: hashes
// spent on junk, refusals by reason. The pool runs light mode on 2
// workers with banning on (the shipped ban settings), the shipped per-IP
// limit and verification queue. Not a pass/fail test on time.
//
//	go test ./internal/e2e/ -run '^$' -bench 'PoolUnderFlood' -benchtime 1x -timeout 30m -v
func BenchmarkPoolUnderFlood(b *testing.B) {
	const phase = 20 * time.Second // the honest miner's measured time
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	e := newBenchEnv(b, 1_000_000_000_000) // no share is ever a block: one template throughout
	port, mport := freePort(b), freePort(b)
	pool := StartPool(b, ctx, floodPoolConfig(b, e.config(b, port, "light", 2, ""), mport))
	waitLogB(b, pool, "cache ready (light mode)", 5*time.Minute)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	rxload := testenv.BuildBinary(b, "rxpool/cmd/rxload")
	// honest runs rxload submit; submitting, if set, is called (on its own
	// goroutine) once the run's shares are precomputed and going out.
	honest := func(shares int, rate string, submitting func()) submitResult {
		cmd := exec.CommandContext(ctx, rxload, "submit", "-o", addr, "-u", testenv.MoneroAddress(b, 1), "-sessions", "4",
			"-shares", strconv.Itoa(shares), "-rate", rate, "-mode", "light", "-t", "2", "-json")
		var out bytes.Buffer
		var errLog strings.Builder
		cmd.Stdout = &out
		stderr, err := cmd.StderrPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errLog.WriteString(sc.Text() + "\n")
			if submitting != nil && strings.Contains(sc.Text(), "submitting at rate") {
				go submitting()
				submitting = nil
			}
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("rxload submit: %v\n%s", err, Tail(errLog.String(), 3000))
		}
		var r submitResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			b.Fatalf("rxload submit output: %v: %s", err, out.Bytes())
		}
		return r
	}
	// measured runs fn and returns what the pool counted meanwhile.
	measured := func(fn func()) poolDelta {
		m0, cpu0, t0 := scrapeQuiet(metricsURL), procCPU(b, pool.pid()), time.Now()
		fn()
		m1 := scrapeQuiet(metricsURL)
		return poolDelta{seconds: time.Since(t0).Seconds(), cpu: procCPU(b, pool.pid()) - cpu0,
			hashes:   m1["rxpool_verifier_hashes_total"] - m0["rxpool_verifier_hashes_total"],
			accepted: SumPrefix(m1, "rxpool_shares_accepted_total") - SumPrefix(m0, "rxpool_shares_accepted_total"),
			rejected: labelDelta(m0, m1, "rxpool_shares_rejected_total"),
			refused:  labelDelta(m0, m1, "rxpool_connections_refused_total")}
	}

	capacity := honest(200, "max", nil).Measured.AcceptedPerS
	rate := capacity / 2
	shares := max(100, int(rate*phase.Seconds()))
	rateText := strconv.FormatFloat(rate, 'f', 1, 64)
	var base submitResult
	baseDelta := measured(func() { base = honest(shares, rateText, nil) })
	b.Logf("capacity %.1f verified shares/s; honest miner at %s/s: baseline %.2f accepted/s, p50 %.1f ms, p99 %.1f ms, rejected %v; pool: %s",
		capacity, rateText, base.Measured.AcceptedPerS, base.Latency.P50, base.Latency.P99, base.Measured.RejectedBy, baseDelta)
	b.ReportMetric(capacity, "verified-shares/s")
	b.ReportMetric(base.Measured.AcceptedPerS, "base-accepted/s")
	b.ReportMetric(base.Latency.P99, "base-p99-ms")

	for _, fc := range []struct {
		name, src string
		newcomer  bool // the flood starts before the honest miner logs in
	}{
		{"one-ip", "127.0.0.2", false},
		{"many-ips", "127.2.0.0/16", false},
		{"many-ips-newcomer", "127.3.0.0/16", true},
	} {
		var fp floodPhase
		fp.pool = measured(func() {
			flood := func() (*floodProc, error) {
				return startFlood(ctx, rxload, "-o", addr, "-u", testenv.MoneroAddress(b, 3), "-addresses", "1000",
					"-src", fc.src, "-conns", "64", "-kind", "mixed", "-duration", "0", "-json")
			}
			if fc.newcomer {
				f, err := flood()
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(5 * time.Second) // the flood under way before the honest miner logs in
				fp.honest = honest(shares, rateText, nil)
				fp.flood, fp.cpu = f.stop(b)
				return
			}
			started := make(chan *floodProc, 1)
			var err error
			fp.honest = honest(shares, rateText, func() {
				time.Sleep(time.Second) // every honest session has had a share accepted
				var f *floodProc
				f, err = flood()
				started <- f
			})
			f := <-started
			if err != nil {
				b.Fatal(err)
			}
			fp.flood, fp.cpu = f.stop(b)
		})
		h, f := fp.honest, fp.flood
		accRatio := h.Measured.AcceptedPerS / base.Measured.AcceptedPerS
		p99Ratio := h.Latency.P99 / base.Latency.P99
		b.ReportMetric(accRatio, fc.name+"-accepted-ratio")
		b.ReportMetric(p99Ratio, fc.name+"-p99-ratio")
		b.ReportMetric(fp.pool.junkHashes()/f.Seconds, fc.name+"-junk-hashes/s")
		b.ReportMetric(f.SentPerS, fc.name+"-junk-sent/s")
		b.Logf("%s flood (%s): honest %.2f accepted/s (ratio %.3f), p50 %.1f ms, p99 %.1f ms (ratio %.2f), rejected %v, errors %d",
			fc.name, fc.src, h.Measured.AcceptedPerS, accRatio, h.Latency.P50, h.Latency.P99, p99Ratio, h.Measured.RejectedBy, h.Measured.Errors)
		b.Logf("%s flood: %.0f s, %d junk sent (%.0f/s), %d answered, %d accepted; %d connection attempts, %d sessions, %d refused %v; %d closed by the pool after %v; answers %v; generator CPU %.1f s",
			fc.name, f.Seconds, f.Sent, f.SentPerS, f.Answered, f.Accepted, f.Connects.Attempts, f.Connects.Sessions, f.Connects.Refused,
			f.Connects.By, f.Closed.ByPool, f.Closed.After, f.AnswersBy, fp.cpu.Seconds())
		b.Logf("%s flood: pool %s; %.0f hashes on junk", fc.name, fp.pool, fp.pool.junkHashes())
	}
}

// floodProc is a running `rxload flood`.
type floodProc struct {
	cmd         *exec.Cmd
	out, stderr bytes.Buffer
}

// startFlood starts `rxload flood args...` (from any goroutine).
func startFlood(ctx context.Context, rxload string, args ...string) (*floodProc, error) {
	f := &floodProc{cmd: exec.CommandContext(ctx, rxload, append([]string{"flood"}, args...)...)}
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.stderr
	return f, f.cmd.Start()
}

// stop interrupts the flood, which reports what it did and exits, and
// returns its report and the CPU it used.
func (f *floodProc) stop(b *testing.B) (floodResult, time.Duration) {
	_ = f.cmd.Process.Signal(os.Interrupt)
	if err := f.cmd.Wait(); err != nil {
		b.Fatalf("rxload flood: %v\n%s", err, Tail(f.stderr.String(), 3000))
	}
	var r floodResult
	if err := json.Unmarshal(f.out.Bytes(), &r); err != nil {
		b.Fatalf("rxload flood output: %v: %s", err, f.out.Bytes())
	}
	return r, f.cmd.ProcessState.UserTime() + f.cmd.ProcessState.SystemTime()
}

func (d poolDelta) String() string {
	return fmt.Sprintf("%.0f s, CPU %.1f s, %.0f hashes, %.0f accepted, rejected %v, connections refused %v",
		d.seconds, d.cpu.Seconds(), d.hashes, d.accepted, d.rejected, d.refused)
}

// floodPoolConfig is the benchmarks' pool configuration as a public pool
// would run it against a flood: banning on with the shipped settings, the
// shipped per-IP connection limit and verification queue, and metrics.
func floodPoolConfig(b *testing.B, cfg string, metricsPort int) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(cfg), &m); err != nil {
		b.Fatal(err)
	}
	m["banning"] = map[string]any{"enabled": true, "time": 120, "invalidPercent": 80, "checkThreshold": 30}
	m["metrics"] = map[string]any{"enabled": true, "bindIp": "127.0.0.1", "port": metricsPort}
	delete(m["stratum"].(map[string]any), "maxConnectionsPerIP")
	delete(m["randomx"].(map[string]any), "queueSize")
	out, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return string(out)
}

// labelDelta is the growth of every series of a labelled counter from m0
// to m1, by the series' labels, leaving out those that did not grow.
func labelDelta(m0, m1 map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for _, k := range slices.Sorted(maps.Keys(m1)) {
		if labels, ok := strings.CutPrefix(k, name+"{"); ok {
			if d := m1[k] - m0[k]; d > 0 {
				out[strings.TrimSuffix(labels, "}")] = d
			}
		}
	}
	return out
}
