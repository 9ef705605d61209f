// Command pool is rxpool's single binary. `pool -config FILE check` validates
// a configuration and prints what it would run; the modules themselves
// (stratum, api, unlocker, payments) arrive with their packages.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"rxpool/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.json", "configuration file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pool [-config FILE] check")
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
		printSummary(stdout, cfg)
		return 0
	case "":
		fmt.Fprintln(stderr, errors.New("pool: this build has no runnable modules yet; use `pool -config FILE check`"))
		return 2
	default:
		fmt.Fprintf(stderr, "pool: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
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
