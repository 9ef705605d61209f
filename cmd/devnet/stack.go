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

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
)

// chainBlocks is the regtest history mined to the pool wallet before the
// pool starts: spendable coinbase outputs (60-block maturity) and enough
// ring members for its first payout (~110 blocks).
const chainBlocks = 130

// net is one running devnet.
type net struct {
	o           options
	dir         string
	redis       *testenv.Redis
	monerod     *testenv.Monerod
	poolWallet  *testenv.Wallet
	minerWallet *testenv.Wallet
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

// start brings the devnet up; on error the returned net (when not nil)
// must still be stopped.
func start(ctx context.Context, o options, say func(string, ...any)) (*net, error) {
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
	n := &net{o: o, dir: dir}
	say("state in %s", dir)
	if n.redis, err = testenv.StartPersistentRedis(filepath.Join(dir, "redis")); err != nil {
		return n, fmt.Errorf("redis: %w", err)
	}
	say("redis on unix:%s", n.redis.Socket)

	// monerod starts at difficulty 1 while the chain is being prepared, so
	// its own miner makes the history in seconds.
	mopts := testenv.MonerodOptions{DataDir: filepath.Join(dir, "monerod"), FixedDifficulty: 1}
	if n.monerod, err = testenv.StartMonerod(mopts); err != nil {
		return n, fmt.Errorf("monerod: %w", err)
	}
	say("monerod --regtest on 127.0.0.1:%d", n.monerod.RPCPort)
	wallets := filepath.Join(dir, "wallets")
	if n.poolWallet, err = testenv.StartWallet(n.monerod, wallets, "pool"); err != nil {
		return n, fmt.Errorf("pool wallet: %w", err)
	}
	if n.minerWallet, err = testenv.StartWallet(n.monerod, wallets, "miner"); err != nil {
		return n, fmt.Errorf("miner wallet: %w", err)
	}
	say("wallets: pool %s… (127.0.0.1:%d), miner %s… (127.0.0.1:%d)", n.poolWallet.Address[:12], n.poolWallet.Port, n.minerWallet.Address[:12], n.minerWallet.Port)
	h, err := n.monerod.Height(ctx)
	if err != nil {
		return n, err
	}
	if h < chainBlocks {
		say("preparing the chain: mining %d blocks to the pool wallet (first run only)", chainBlocks-h)
		if _, err := n.monerod.GenerateBlocks(ctx, int(chainBlocks-h), n.poolWallet.Address, say); err != nil {
			return n, fmt.Errorf("preparing the chain: %w", err)
		}
	}
	say("monerod: network difficulty %d from now on", o.difficulty)
	if err := n.monerod.Restart(o.difficulty); err != nil {
		return n, fmt.Errorf("monerod restart: %w", err)
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
	}
	if o.advance > 0 {
		actx, cancel := context.WithCancel(ctx)
		n.stopAdvance, n.advanceDone = cancel, make(chan struct{})
		go n.advanceChain(actx, say)
	}
	return n, nil
}

// startPool writes the pool config from the template and starts the pool.
func (n *net) startPool() error {
	raw, err := os.ReadFile(n.o.template)
	if err != nil {
		return fmt.Errorf("pool config template: %w", err)
	}
	if err := json.Unmarshal(raw, &n.cfg); err != nil {
		return fmt.Errorf("%s: %w", n.o.template, err)
	}
	set := func(section, key string, v any) {
		m, _ := n.cfg[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			n.cfg[section] = m
		}
		m[key] = v
	}
	frontend, _ := filepath.Abs(n.o.frontend)
	n.cfg["poolAddress"] = n.poolWallet.Address
	set("daemon", "port", n.monerod.RPCPort)
	set("walletApi", "port", n.poolWallet.Port)
	set("redis", "socket", n.redis.Socket)
	set("log", "file", filepath.Join(n.dir, "pool.log"))
	set("api", "frontend", frontend)
	api, _ := n.cfg["api"].(map[string]any)
	n.apiURL = fmt.Sprintf("http://127.0.0.1:%v", api["port"])
	out, _ := json.MarshalIndent(n.cfg, "", "  ")
	n.config = filepath.Join(n.dir, "pool.json")
	if err := os.WriteFile(n.config, out, 0o600); err != nil {
		return err
	}
	errLog, err := os.OpenFile(filepath.Join(n.dir, "pool.stderr"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n.pool = exec.Command(n.o.poolBin, "-config", n.config)
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
func (n *net) waitAPI(ctx context.Context, say func(string, ...any)) error {
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
func (n *net) stratumPort() string {
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

func (n *net) startMiner() error {
	logf, err := os.OpenFile(filepath.Join(n.dir, "rxminer.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n.miner = exec.Command(n.o.minerBin, "-o", "127.0.0.1:"+n.stratumPort(), "-u", n.minerWallet.Address, "-p", "devnet-rig",
		"-t", strconv.Itoa(n.o.threads), "--mode", "light", "--report", "30s", "--retry-pause", "2s")
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
func (n *net) advanceChain(ctx context.Context, say func(string, ...any)) {
	defer close(n.advanceDone)
	other, _ := testenv.MakeAddress(cryptonote.Monero, 999) // "the rest of the network"
	t := time.NewTicker(n.o.advance)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := n.monerod.GenerateBlocks(ctx, 1, other, nil); err != nil && ctx.Err() == nil {
			say("advancing the chain: %v", err)
		}
	}
}

// stopMiner stops rxminer and the chain advancer.
func (n *net) stopMiner() {
	if n.stopAdvance != nil {
		n.stopAdvance()
		<-n.advanceDone
		n.stopAdvance = nil
	}
	if n.miner != nil && n.miner.Process != nil {
		n.miner.Process.Signal(os.Interrupt)
		select {
		case <-n.minerDone:
		case <-time.After(10 * time.Second):
			n.miner.Process.Kill()
			<-n.minerDone
		}
		n.miner = nil
	}
}

// stopPool stops the pool gracefully (it flushes buffered shares).
func (n *net) stopPool() {
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
func (n *net) stop(say func(string, ...any)) {
	n.stopOnce.Do(func() {
		n.stopMiner()
		n.stopPool()
		for _, w := range []*testenv.Wallet{n.minerWallet, n.poolWallet} {
			if w != nil {
				w.Stop()
			}
		}
		if n.monerod != nil {
			n.monerod.Stop()
		}
		if n.redis != nil {
			n.redis.Stop()
		}
		say("stopped redis, monerod, wallets, pool and miner")
	})
}

// banner prints where everything is.
func (n *net) banner(w io.Writer) {
	port := n.stratumPort()
	fmt.Fprintf(w, `
rxpool devnet is running (Ctrl-C stops it; state in %s)

  web frontend     %s/
  API              %s/api/stats   health %s/health   metrics %s/metrics
  stratum          127.0.0.1:%s (and the other ports in %s)
  pool wallet      %s
  miner wallet     %s  (rxminer mines to it; payouts land here)
  logs             %s/pool.log, %s/rxminer.log

Mine with xmrig too, if you have it:
  xmrig -o 127.0.0.1:%s -u %s -p my-rig -a rx/0

`, n.dir, n.apiURL, n.apiURL, n.apiURL, n.apiURL, port, n.config, n.poolWallet.Address, n.minerWallet.Address, n.dir, n.dir, port, n.minerWallet.Address)
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
