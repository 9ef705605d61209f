// Command devnet runs rxpool for real on a private chain, in one command:
// a Redis, the coin's daemon, two wallets behind the coin's wallet RPC (the
// pool's and a miner's), the pool with every module, and rxminer mining to
// the miner's wallet through the pool. `make devnet` (-coin monero) runs
// monerod --regtest and monero-wallet-rpc, `make devnet COIN=pastella`
// Pastellad and Pastella-Wallet-API. It prints where everything is, then a
// status line while shares, blocks, unlocks and payments happen. State
// lives in one directory (.devnet, .devnet-pastella); a second run reuses
// the chain, the wallets and Redis. Ctrl-C stops everything it started.
//
// With -until-paid it runs headless until the miner's wallet has received
// a payout, then pauses mining, lets payments settle, stops the pool, has
// the payouts left in the mempool mined and checks the money: the miner
// wallet holds exactly what the pool recorded as paid to it, and `pool
// audit` passes (the end-to-end tests use this).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	coin       string
	dir        string
	template   string
	frontend   string
	poolBin    string
	minerBin   string
	threads    int
	difficulty uint64
	untilPaid  bool
	timeout    time.Duration
	jsonOut    bool
	advance    time.Duration
}

// isSet tells whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	self, _ := os.Executable()
	bin := filepath.Dir(self)
	var o options
	fs.StringVar(&o.coin, "coin", "monero", "the chain: monero (monerod --regtest) or pastella (Pastellad)")
	fs.StringVar(&o.dir, "dir", "", "state directory, created on the first run and reused after (default .devnet, for pastella .devnet-pastella)")
	fs.StringVar(&o.template, "config", "", "pool configuration template; devnet fills in addresses, ports and paths (default deploy/devnet/config.json, for pastella deploy/devnet/pastella.json)")
	fs.StringVar(&o.frontend, "frontend", "frontend/dist", "built frontend served by the API (make build)")
	fs.StringVar(&o.poolBin, "pool", filepath.Join(bin, "pool"), "pool binary")
	fs.StringVar(&o.minerBin, "rxminer", filepath.Join(bin, "rxminer"), "rxminer binary")
	fs.IntVar(&o.threads, "t", 1, "rxminer threads (0: do not start a miner)")
	fs.Uint64Var(&o.difficulty, "difficulty", 50, "network difficulty of the monero regtest chain (low, so the pool finds blocks every few seconds); a pastella chain starts at 1000 and has no fixed difficulty")
	fs.DurationVar(&o.advance, "advance", -1, "mine a block outside the pool this often, so found blocks mature even when nobody mines (0: never; default 30s for monero, never for pastella, where it costs a 2 GiB RandomX dataset and the miner's CPU)")
	fs.BoolVar(&o.untilPaid, "until-paid", false, "stop after the miner's wallet received a payout and check the money")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: never; -until-paid defaults to 15m)")
	fs.BoolVar(&o.jsonOut, "json", false, "with -until-paid, print the final summary as JSON on stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	setup, ok := coinSetups[o.coin]
	if !ok {
		fmt.Fprintf(stderr, "devnet: -coin %q: want monero or pastella\n", o.coin)
		return 2
	}
	if o.coin != "monero" && isSet(fs, "difficulty") {
		fmt.Fprintf(stderr, "devnet: -difficulty is for monero only: a %s chain sets its own\n", o.coin)
		return 2
	}
	if o.dir == "" {
		o.dir = setup.dir
	}
	if o.template == "" {
		o.template = setup.config
	}
	if o.advance < 0 {
		o.advance = setup.advance
	}
	if o.untilPaid && o.timeout == 0 {
		o.timeout = 15 * time.Minute
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "devnet: "+format+"\n", a...) }
	n, err := start(ctx, o, say)
	if n != nil {
		defer n.stop(say)
	}
	if err != nil {
		say("%v", err)
		return 1
	}
	n.banner(stderr)
	if !o.untilPaid {
		n.watch(ctx, say)
		say("stopping (state kept in %s)", o.dir)
		return 0
	}
	sum, err := n.untilPaid(ctx, say)
	if sum != nil && o.jsonOut {
		json.NewEncoder(stdout).Encode(sum)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no payout within %v: %w", o.timeout, err)
		}
		say("FAILED: %v", err)
		return 1
	}
	say("paid and checked: the miner wallet holds exactly what the pool paid it; the audit passed")
	return 0
}
