// Command devnet runs rxpool for real on a private Monero regtest chain, in
// one command (`make devnet`): a Redis, monerod --regtest, two
// monero-wallet-rpc wallets (the pool's and a miner's), the pool with every
// module, and rxminer mining to the miner's wallet through the pool. It
// prints where everything is, then a status line while shares, blocks,
// unlocks and payments happen. State lives in one directory (.devnet by
// default); a second run reuses the chain, the wallets and Redis. Ctrl-C
// stops everything it started.
//
// With -until-paid it runs headless until the miner's wallet has received
// a payout, then stops mining, lets payments settle, stops the pool and
// checks the money: the miner wallet holds exactly what the pool recorded
// as paid to it, and `pool audit` passes (the end-to-end test uses this).
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

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	self, _ := os.Executable()
	bin := filepath.Dir(self)
	var o options
	fs.StringVar(&o.dir, "dir", ".devnet", "state directory (created on the first run, reused after)")
	fs.StringVar(&o.template, "config", "deploy/devnet/config.json", "pool configuration template; devnet fills in addresses, ports and paths")
	fs.StringVar(&o.frontend, "frontend", "frontend/dist", "built frontend served by the API (make build)")
	fs.StringVar(&o.poolBin, "pool", filepath.Join(bin, "pool"), "pool binary")
	fs.StringVar(&o.minerBin, "rxminer", filepath.Join(bin, "rxminer"), "rxminer binary")
	fs.IntVar(&o.threads, "t", 1, "rxminer threads (0: do not start a miner)")
	fs.Uint64Var(&o.difficulty, "difficulty", 50, "network difficulty of the regtest chain (low, so the pool finds blocks every few seconds)")
	fs.DurationVar(&o.advance, "advance", 30*time.Second, "mine a block outside the pool this often, so found blocks mature even when nobody mines (0: never)")
	fs.BoolVar(&o.untilPaid, "until-paid", false, "stop after the miner's wallet received a payout and check the money")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: never; -until-paid defaults to 15m)")
	fs.BoolVar(&o.jsonOut, "json", false, "with -until-paid, print the final summary as JSON on stdout")
	if err := fs.Parse(args); err != nil {
		return 2
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
