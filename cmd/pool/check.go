package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/storage"
	"rxpool/wallet"
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
		msg, err := checkWallet(ctx, cfg, log)
		report("wallet "+cfg.WalletAPI.URL(), err, msg)
	}
	if failed {
		fmt.Fprintln(stdout, "check FAILED: the modules above cannot run until the failures are fixed")
		return 1
	}
	fmt.Fprintln(stdout, "check passed")
	return 0
}

// checkWallet applies the payments module's wallet rule
// (wallet.CheckAddress) and reads the balance.
func checkWallet(ctx context.Context, cfg *config.Config, log logrus.FieldLogger) (string, error) {
	w, open, err := newWallet(cfg, log)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	// A wallet API with no wallet open yet (before the pool's first start,
	// after a restart) is opened as the payments module would.
	err = wallet.CheckAddress(ctx, w, cfg.PoolAddress)
	if err != nil && !errors.Is(err, wallet.ErrWrongWallet) && open(ctx) == nil {
		err = wallet.CheckAddress(ctx, w, cfg.PoolAddress)
	}
	if err != nil {
		if errors.Is(err, wallet.ErrWrongWallet) {
			err = fmt.Errorf("%w: payments would refuse to run", err)
		}
		return "", err
	}
	total, unlocked, err := w.Balance(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("balance %d, unlocked %d (atomic units)", total, unlocked), nil
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
