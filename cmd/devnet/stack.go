package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"rxpool/internal/testenv"
)

// devnet is one running devnet (named so it does not shadow package net).
type devnet struct {
	o           options
	dir         string
	redis       *testenv.Redis
	chain       chain
	config      string // the pool config written for this run
	cfg         map[string]any
	pool        *exec.Cmd
	poolExited  chan struct{}
	miner       *exec.Cmd
	minerDone   chan struct{}
	stopAdvance context.CancelFunc
	advanceDone chan struct{}
	apiURL      string
	stopOnce    sync.Once
}

// start brings the devnet up; on error the returned devnet (when not nil)
// must still be stopped.
func start(ctx context.Context, o options, say func(string, ...any)) (*devnet, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, b := range []string{o.poolBin, o.minerBin} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%s is missing: run `make build` (or `make devnet`)", b)
		}
	}
	n := &devnet{o: o, dir: dir}
	say("%s devnet, state in %s", o.coin, dir)
	if n.redis, err = testenv.StartPersistentRedis(filepath.Join(dir, "redis")); err != nil {
		return n, fmt.Errorf("redis: %w", err)
	}
	say("redis on unix:%s", n.redis.Socket)
	if n.chain, err = coinSetups[o.coin].start(ctx, dir, o, say); err != nil {
		return n, err
	}
	if err := n.startPool(); err != nil {
		return n, err
	}
	if err := n.waitAPI(ctx, say); err != nil {
		return n, err
	}
	if o.threads > 0 {
		if err := n.startMiner(); err != nil {
			return n, err
		}
		if n.chain.minerMode() == "fast" {
			say("rxminer builds its 2 GiB RandomX dataset before its first share (about 30 s on 2 idle cores)")
		}
	}
	if o.advance > 0 {
		actx, cancel := context.WithCancel(ctx)
		n.stopAdvance, n.advanceDone = cancel, make(chan struct{})
		go n.advanceChain(actx, say)
	}
	return n, nil
}

// startPool writes the pool config from the template and starts the pool.
func (n *devnet) startPool() error {
	raw, err := os.ReadFile(n.o.template)
	if err != nil {
		return fmt.Errorf("pool config template: %w", err)
	}
	if err := json.Unmarshal(raw, &n.cfg); err != nil {
		return fmt.Errorf("%s: %w", n.o.template, err)
	}
	set := func(section, key string, v any) { setKey(n.cfg, section, key, v) }
	frontend, _ := filepath.Abs(n.o.frontend)
	n.cfg["poolAddress"] = n.chain.poolAddress()
	n.chain.configure(set)
	set("redis", "socket", n.redis.Socket)
	set("log", "file", filepath.Join(n.dir, "pool.log"))
	set("api", "frontend", frontend)
	api, _ := n.cfg["api"].(map[string]any)
	n.apiURL = fmt.Sprintf("http://127.0.0.1:%v", api["port"])
	n.config = filepath.Join(n.dir, "pool.json")
	return n.launchPool(n.cfg, n.config)
}

// setKey sets cfg[section][key], adding the section if it is missing.
func setKey(cfg map[string]any, section, key string, v any) {
	m, _ := cfg[section].(map[string]any)
	if m == nil {
		m = map[string]any{}
		cfg[section] = m
	}
	m[key] = v
}

// launchPool writes cfg to path and starts the pool with it.
func (n *devnet) launchPool(cfg map[string]any, path string) error {
	out, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return err
	}
	errLog, err := os.OpenFile(filepath.Join(n.dir, "pool.stderr"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n.pool = exec.Command(n.o.poolBin, "-config", path)
	n.pool.Stdout, n.pool.Stderr = errLog, errLog
	n.pool.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches it through us, in order
	if err := n.pool.Start(); err != nil {
		return fmt.Errorf("starting the pool: %w", err)
	}
	n.poolExited = make(chan struct{})
	go func() { n.pool.Wait(); errLog.Close(); close(n.poolExited) }()
	return nil
}

// waitAPI waits until the pool's API answers /api/stats.
func (n *devnet) waitAPI(ctx context.Context, say func(string, ...any)) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var s struct{}
		if err := getJSON(ctx, n.apiURL+"/api/stats", &s); err == nil {
			return nil
		}
		select {
		case <-n.poolExited:
			return fmt.Errorf("the pool exited at start-up; see %s and %s:\n%s", filepath.Join(n.dir, "pool.log"),
				filepath.Join(n.dir, "pool.stderr"), tail(filepath.Join(n.dir, "pool.stderr"), 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pool's API did not answer within 2 minutes; see %s", filepath.Join(n.dir, "pool.log"))
		}
	}
}

// stratumPort is the lowest configured stratum port.
func (n *devnet) stratumPort() string {
	ports, _ := n.cfg["ports"].(map[string]any)
	best := ""
	for p := range ports {
		if a, _ := strconv.Atoi(p); best == "" || a < mustAtoi(best) {
			best = p
		}
	}
	return best
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

func (n *devnet) startMiner() error {
	logf, err := os.OpenFile(filepath.Join(n.dir, "rxminer.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n.miner = exec.Command(n.o.minerBin, "-o", "127.0.0.1:"+n.stratumPort(), "-u", n.chain.minerAddress(), "-p", "devnet-rig",
		"-t", strconv.Itoa(n.o.threads), "--mode", n.chain.minerMode(), "--report", "30s", "--retry-pause", "2s")
	n.miner.Stdout, n.miner.Stderr = logf, logf
	n.miner.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.miner.Start(); err != nil {
		return fmt.Errorf("starting rxminer: %w", err)
	}
	n.minerDone = make(chan struct{})
	go func() { n.miner.Wait(); logf.Close(); close(n.minerDone) }()
	return nil
}

// advanceChain mines a block outside the pool every o.advance, like the
// rest of a network would, so found blocks mature even with no miner.
func (n *devnet) advanceChain(ctx context.Context, say func(string, ...any)) {
	defer close(n.advanceDone)
	t := time.NewTicker(n.o.advance)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.chain.advance(ctx); err != nil && ctx.Err() == nil {
			say("advancing the chain: %v", err)
		}
	}
}

// pauseMiner stops the chain advancer and freezes rxminer (SIGSTOP), which
// keeps its RandomX memory for the block mineMempool may need.
func (n *devnet) pauseMiner() {
	n.stopAdvancing()
	if n.miner != nil && n.miner.Process != nil {
		n.miner.Process.Signal(syscall.SIGSTOP)
	}
}

func (n *devnet) resumeMiner() {
	if n.miner != nil && n.miner.Process != nil {
		n.miner.Process.Signal(syscall.SIGCONT)
	}
}

func (n *devnet) stopAdvancing() {
	if n.stopAdvance != nil {
		n.stopAdvance()
		<-n.advanceDone
		n.stopAdvance = nil
	}
}

// stopMiner stops rxminer (paused or not) and the chain advancer.
func (n *devnet) stopMiner() {
	n.stopAdvancing()
	if n.miner != nil && n.miner.Process != nil {
		n.miner.Process.Signal(os.Interrupt)
		n.resumeMiner() // a stopped process acts on SIGINT once continued
		select {
		case <-n.minerDone:
		case <-time.After(10 * time.Second):
			n.miner.Process.Kill()
			<-n.minerDone
		}
		n.miner = nil
	}
}

// mineMempool gets the payouts still in the mempool into a block once the
// pool has stopped. The paused rxminer mines it through a pool that runs
// only stratum, so nothing more is credited or paid and no RandomX memory
// is built for it (Pastellad has no generateblocks: a block outside the
// pool would cost a 2 GiB dataset here). The block is the pool's, pending
// for good. Without rxminer the chain mines it outside the pool.
func (n *devnet) mineMempool(ctx context.Context, say func(string, ...any)) error {
	waiting, err := n.chain.mempool(ctx)
	if err != nil || waiting == 0 {
		return err
	}
	if n.miner == nil {
		say("mining the %d transaction(s) in the mempool into a block outside the pool", waiting)
		return n.chain.advance(ctx)
	}
	say("mining the %d transaction(s) in the mempool through a stratum-only pool", waiting)
	var cfg map[string]any
	raw, _ := json.Marshal(n.cfg)
	json.Unmarshal(raw, &cfg) // a deep copy
	for _, module := range []string{"blockUnlocker", "payments", "api"} {
		setKey(cfg, module, "enabled", false)
	}
	if err := n.launchPool(cfg, filepath.Join(n.dir, "pool-stratum-only.json")); err != nil {
		return err
	}
	defer n.stopPool()
	n.resumeMiner()
	for {
		if waiting, err = n.chain.mempool(ctx); err == nil && waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.poolExited:
			return fmt.Errorf("the stratum-only pool exited; see %s/pool.log and %s/pool.stderr", n.dir, n.dir)
		case <-time.After(time.Second):
		}
	}
}

// stopPool stops the pool gracefully (it flushes buffered shares).
func (n *devnet) stopPool() {
	if n.pool == nil || n.pool.Process == nil {
		return
	}
	n.pool.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.poolExited:
	case <-time.After(60 * time.Second):
		n.pool.Process.Kill()
		<-n.poolExited
	}
	n.pool = nil
}

// stop stops everything that was started, in reverse order.
func (n *devnet) stop(say func(string, ...any)) {
	n.stopOnce.Do(func() {
		n.stopMiner()
		n.stopPool()
		if n.chain != nil {
			n.chain.stop()
		}
		if n.redis != nil {
			n.redis.Stop()
		}
		say("stopped redis, the daemon, the wallets, the pool and the miner")
	})
}

// banner prints where everything is.
func (n *devnet) banner(w io.Writer) {
	port := n.stratumPort()
	fmt.Fprintf(w, `
rxpool %s devnet is running (Ctrl-C stops it; state in %s)

  web frontend     %s/
  API              %s/api/stats   health %s/health   metrics %s/metrics
  stratum          127.0.0.1:%s (and the other ports in %s)
  pool wallet      %s
  miner wallet     %s  (rxminer mines to it; payouts land here)
  chain            %s
  logs             %s/pool.log, %s/rxminer.log

Mine with xmrig too, if you have it:
  xmrig -o 127.0.0.1:%s -u %s -p my-rig -a rx/0

`, n.o.coin, n.dir, n.apiURL, n.apiURL, n.apiURL, n.apiURL, port, n.config, n.chain.poolAddress(), n.chain.minerAddress(),
		n.chain.describe(), n.dir, n.dir, port, n.chain.minerAddress())
}

// tail returns the last lines of a file.
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	end := len(b)
	for i := len(b) - 1; i >= 0 && lines >= 0; i-- {
		if b[i] == '\n' {
			lines--
			if lines < 0 {
				return string(b[i+1 : end])
			}
		}
	}
	return string(b)
}
