// Command pool is rxpool's single binary: `pool -config FILE` runs the
// modules the configuration enables; `pool -config FILE check` validates a
// configuration and prints what it would run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/storage"
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
		fmt.Fprintln(stderr, "usage: pool [-config FILE] [check | audit | payments ... | bans ... | import nodepool ...]")
		fmt.Fprintln(stderr, "  (no command)  run the modules the config enables")
		fmt.Fprintln(stderr, "  check [-offline]  validate the config, print what would run, reach Redis, daemons, wallet")
		fmt.Fprintln(stderr, "  audit         check the ledger invariants in Redis; exit 1 on any violation")
		fmt.Fprintln(stderr, "  payments      list, show, resolve payment records; block or unblock addresses")
		fmt.Fprintln(stderr, "  bans          list the pool-wide bans; bans lift ADDRESS lifts one")
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
		return audit(cfg, stdout, stderr)
	case "payments":
		return paymentsCommand(cfg, fs.Args()[1:], stdout, stderr)
	case "bans":
		return bansCommand(cfg, fs.Args()[1:], stdout, stderr)
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

// audit prints the ledger audit; any violation makes the exit status 1.
func audit(cfg *config.Config, stdout, stderr io.Writer) int {
	store := openStore(cfg, "audit", stderr)
	if store == nil {
		return 1
	}
	defer store.Close(context.Background())
	rep, err := store.Audit(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "audit:", err)
		return 1
	}
	fmt.Fprint(stdout, rep.String())
	if !rep.OK() {
		fmt.Fprintln(stdout, "audit FAILED")
		return 1
	}
	fmt.Fprintln(stdout, "audit passed")
	return 0
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
