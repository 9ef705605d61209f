// Command pool is rxpool's single binary: `pool -config FILE` runs the
// modules the configuration enables; `pool -config FILE check` validates a
// configuration and prints what it would run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/payments"
	"rxpool/storage"
	"rxpool/wallet"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.json", "configuration file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (for performance work)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pool [-config FILE] [check | audit | payments ... | bans ... | blocks ... | import nodepool ...]")
		fmt.Fprintln(stderr, "  (no command)  run the modules the config enables")
		fmt.Fprintln(stderr, "  check [-offline]  validate the config, print what would run, reach Redis, daemons, wallet")
		fmt.Fprintln(stderr, "  audit [-wallet=false] [-min-height H]  check the ledger invariants in Redis and reconcile the")
		fmt.Fprintln(stderr, "                payouts with the wallet's outgoing transfers; exit 1 on any violation")
		fmt.Fprintln(stderr, "  payments      list, show, resolve payment records; block or unblock addresses")
		fmt.Fprintln(stderr, "  bans          list the pool-wide bans; bans lift ADDRESS lifts one")
		fmt.Fprintln(stderr, "  blocks settle-lost HASH NOTE  record how a credited block that left the main chain was settled")
		fmt.Fprintln(stderr, "  import nodepool -from redis://HOST:PORT/DB [-prefix Pastella] [-dry-run] [-force]  take over the Node pool's books")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	switch fs.Arg(0) {
	case "check":
		cfs := flag.NewFlagSet("check", flag.ContinueOnError)
		cfs.SetOutput(stderr)
		offline := cfs.Bool("offline", false, "only validate the file; do not reach Redis, daemons or the wallet")
		if err := cfs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
		return check(cfg, *offline, stdout, stderr)
	case "audit":
		return audit(cfg, fs.Args()[1:], stdout, stderr)
	case "payments":
		return paymentsCommand(cfg, fs.Args()[1:], stdout, stderr)
	case "bans":
		return bansCommand(cfg, fs.Args()[1:], stdout, stderr)
	case "blocks":
		return blocksCommand(cfg, fs.Args()[1:], stdout, stderr)
	case "import":
		return importCommand(cfg, fs.Args()[1:], stdout, stderr)
	case "":
		log, err := cfg.Log.NewLogger()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				fmt.Fprintln(stderr, "cpuprofile:", err)
				return 1
			}
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		if err := serve(cfg, log); err != nil {
			log.Error(err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "pool: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
}

// audit prints the ledger audit and, when the wallet is configured and
// answers, its reconciliation with the wallet; any violation makes the exit
// status 1.
func audit(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	afs := flag.NewFlagSet("audit", flag.ContinueOnError)
	afs.SetOutput(stderr)
	withWallet := afs.Bool("wallet", true, "reconcile the payouts with the wallet's outgoing transfers (when walletApi is configured)")
	minHeight := afs.Uint64("min-height", 0, "reconcile only the wallet's transfers from this height on (0: all; set it to where the pool's wallet started)")
	if err := afs.Parse(args); err != nil || afs.NArg() > 0 {
		return 2
	}
	store := openStore(cfg, "audit", stderr)
	if store == nil {
		return 1
	}
	defer store.Close(context.Background())
	ctx := context.Background()
	rep, err := store.Audit(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "audit:", err)
		return 1
	}
	var reconciled string
	switch {
	case !*withWallet:
		reconciled = "not reconciled with the wallet (-wallet=false)"
	case cfg.WalletAPI.Port == 0:
		reconciled = "not reconciled with the wallet (no walletApi configured)"
	default:
		reconciled, err = reconcileWallet(ctx, cfg, store, rep, *minHeight, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "audit:", err)
			return 1
		}
	}
	fmt.Fprint(stdout, rep.String())
	fmt.Fprintln(stdout, reconciled)
	if !rep.OK() {
		fmt.Fprintln(stdout, "audit FAILED")
		return 1
	}
	fmt.Fprintln(stdout, "audit passed")
	return 0
}

// reconcileWallet adds the wallet checks to rep and says whether it could.
// A wallet that does not answer is reported, not an audit failure: the
// ledger checks stand on their own. A wallet that is not the pool's is an
// error: reconciling another wallet proves nothing.
func reconcileWallet(ctx context.Context, cfg *config.Config, store *storage.Store, rep *storage.AuditReport, minHeight uint64, stderr io.Writer) (string, error) {
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(logrus.WarnLevel)
	w, open, err := newWallet(cfg, log)
	if err != nil {
		return "", err
	}
	lister, ok := w.(wallet.OutgoingLister)
	if !ok {
		return fmt.Sprintf("not reconciled with the wallet (%s cannot list its outgoing transfers)", w.Name()), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = wallet.CheckAddress(ctx, w, cfg.PoolAddress)
	if err != nil && !errors.Is(err, wallet.ErrWrongWallet) && open(ctx) == nil {
		err = wallet.CheckAddress(ctx, w, cfg.PoolAddress)
	}
	n := 0
	if err == nil {
		n, err = payments.Reconcile(ctx, store, lister, rep, minHeight)
	} else if !errors.Is(err, wallet.ErrWrongWallet) {
		err = fmt.Errorf("%w: %w", payments.ErrWalletUnavailable, err)
	}
	switch {
	case errors.Is(err, payments.ErrWalletUnavailable):
		return fmt.Sprintf("NOT reconciled with the wallet: %s did not answer: %v", w.Name(), err), nil
	case err != nil:
		return "", err // the wrong wallet, or Redis
	}
	return fmt.Sprintf("reconciled with the wallet %s (%d outgoing transfers from height %d)", w.Name(), n, minHeight), nil
}

// openStore opens the configured Redis for an operator's command, logging
// warnings to stderr; nil once it has said why it cannot.
func openStore(cfg *config.Config, command string, stderr io.Writer) *storage.Store {
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(logrus.WarnLevel)
	store, err := storage.New(cfg.Redis, cfg.Coin, log)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", command, err)
		return nil
	}
	return store
}

func printSummary(w io.Writer, cfg *config.Config) {
	fmt.Fprintf(w, "config OK: coin %s, pool address %s (%s)\n", cfg.Coin.Name, cfg.PoolAddress, cfg.PoolAddr.Kind)
	fmt.Fprintf(w, "modules: %v\n", cfg.Modules())
	for _, p := range cfg.SortedPorts() {
		fmt.Fprintf(w, "port %d: diff %d, %q, tls=%v\n", p.Port, p.Diff, p.Desc, p.TLS)
	}
	for _, d := range cfg.DaemonList() {
		fmt.Fprintf(w, "daemon %s\n", d.URL())
	}
}
