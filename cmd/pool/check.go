package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/storage"
)

// checkTimeout bounds each reachability check of `pool check`.
const checkTimeout = 10 * time.Second

// check prints what the configuration would run, then reaches every
// service it names (Redis, each daemon, the wallet when payments are on)
// and prints what works and what does not. It returns the exit status: 1
// when anything the enabled modules need is unreachable.
func check(cfg *config.Config, offline bool, stdout, stderr io.Writer) int {
	printSummary(stdout, cfg)
	if offline {
		return 0
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	ctx := context.Background()
	failed := false
	report := func(what string, err error, ok string) {
		if err != nil {
			failed = true
			fmt.Fprintf(stdout, "FAIL %s: %v\n", what, err)
			return
		}
		fmt.Fprintf(stdout, "ok   %s: %s\n", what, ok)
	}

	store, err := storage.New(cfg.Redis, cfg.Coin, log)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		err = store.Ping(cctx)
		cancel()
		store.Close(ctx)
	}
	report("redis "+redisTarget(cfg.Redis), err, "answers, scripts loaded")

	d := newDaemon(cfg, log)
	for _, c := range d.Clients() {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		info, err := c.Info(cctx)
		msg := ""
		if err == nil {
			msg = fmt.Sprintf("height %d, difficulty %d, synced %v", info.Height, info.Difficulty, info.Synced)
			if _, err = c.GetBlockTemplate(cctx, cfg.PoolAddress, cfg.Coin.MaxReserveSize); err == nil {
				msg += ", block template for the pool address ok"
			}
		}
		cancel()
		report("daemon "+c.Name(), err, msg)
	}

	if cfg.Payments.Enabled {
		w, open, err := newWallet(cfg, log)
		msg := ""
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			var addr string
			// A wallet API with no wallet open yet (before the pool's first
			// start, after a restart) is opened as the payments module would.
			if addr, err = w.PrimaryAddress(cctx); err != nil {
				if oerr := open(cctx); oerr == nil {
					addr, err = w.PrimaryAddress(cctx)
				}
			}
			if err == nil {
				var total, unlocked uint64
				if total, unlocked, err = w.Balance(cctx); err == nil {
					msg = fmt.Sprintf("balance %d, unlocked %d (atomic units)", total, unlocked)
				}
				if err == nil && addr != cfg.PoolAddress {
					err = fmt.Errorf("its address %s is not poolAddress: payments would refuse to run", addr)
				}
			}
			cancel()
		}
		report("wallet "+cfg.WalletAPI.URL(), err, msg)
	}
	if failed {
		fmt.Fprintln(stdout, "check FAILED: the modules above cannot run until the failures are fixed")
		return 1
	}
	fmt.Fprintln(stdout, "check passed")
	return 0
}

func redisTarget(r config.RedisConfig) string {
	switch {
	case r.Socket != "":
		return "unix:" + r.Socket
	case len(r.Cluster.Addrs) > 0:
		return fmt.Sprintf("cluster %v", r.Cluster.Addrs)
	case len(r.Sentinel.Addrs) > 0:
		return fmt.Sprintf("sentinel %s %v", r.Sentinel.MasterName, r.Sentinel.Addrs)
	}
	return fmt.Sprintf("%s:%d", r.Host, r.Port)
}
