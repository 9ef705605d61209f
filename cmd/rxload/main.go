// Command rxload is the pool's load generator. It measures how close the
// pool comes to what the hardware can do, in three modes, and what a
// flood of junk costs it in a fourth:
//
//	rxload reference -mode fast|light -t N -duration 10s [-seed HEX]
//	    raw RandomX hashes/s on N threads, one VM per thread, a fresh nonce
//	    per hash: the "hardware limit" the pool's verified shares/s is
//	    divided by.
//	rxload submit -o HOST:PORT -u ADDRESS -sessions S -shares K -rate R|max -mode fast -t N [-duration D] [-json]
//	    logs S sessions in, precomputes K valid shares for their jobs, then
//	    submits them at R/s (or as fast as the pool answers) and measures
//	    accepted shares/s, rejections by reason and submit→reply latency.
//	rxload idle -o HOST:PORT -u ADDRESS -n N [-src 127.0.0.2,...] [-procs P] [-keepalive 60s] [-pool-pid PID] [-notify CMD] [-json]
//	    holds N idle logged-in sessions (spread over source addresses and
//	    child processes), reports the login rate, the pool's RSS per
//	    connection and how fast a new tip reaches every session.
//	rxload flood -o HOST:PORT -u ADDRESS[,...] [-addresses N] -src IP[,...] -conns N -duration D [-kind K] [-json]
//	    keeps N connections sending junk shares (a made-up result meeting
//	    the target, a fake block claim, a low-difficulty result, a wrong
//	    job id, or each in turn) as fast as the pool answers, reconnecting
//	    when it closes or refuses them, and reports how the pool answered:
//	    the attacker beside an honest submit run.
//
// Every mode prints one JSON object on stdout (idle, submit and flood print a
// short text summary instead without -json). Progress goes to stderr.
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
	"strings"
	"sync"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  rxload reference -mode fast|light -t N -duration 10s [-seed HEX]
  rxload submit -o HOST:PORT -u ADDRESS -sessions S -shares K -rate R|max -mode fast|light -t N [-duration D] [-json]
  rxload idle -o HOST:PORT -u ADDRESS -n N [-src IP,IP,...] [-procs P] [-keepalive 60s] [-pool-pid PID] [-notify CMD] [-tips T] [-json]
  rxload flood -o HOST:PORT -u ADDRESS[,...] [-addresses N] -src IP[,...] -conns N -duration D [-kind wrong-result|low-diff|fake-block|bad-job|mixed] [-json]

"rxload MODE -h" lists the flags of a mode.
`

// run is main without the process: exit code 0 when the measurement ran,
// 1 when it could not (nothing logged in, hashing failed), 2 for bad flags.
// stdin is only read by idle-mode child processes (commands from the
// parent).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "reference":
		err = runReference(ctx, args[1:], stdout, stderr)
	case "submit":
		err = runSubmit(ctx, args[1:], stdout, stderr)
	case "idle":
		err = runIdle(ctx, args[1:], stdin, stdout, stderr)
	case "flood":
		err = runFlood(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		if strings.HasPrefix(args[0], "-") {
			// Hidden helpers (e.g. -mine-block for -notify commands).
			err = runHelper(ctx, args, stdout, stderr)
			break
		}
		fmt.Fprintf(stderr, "rxload: unknown mode %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)):
		fmt.Fprintln(stderr, "rxload:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "rxload:", err)
		return 1
	}
}

// usageError is a bad command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// newFlagSet is a FlagSet whose usage lists only the flags not in hidden.
func newFlagSet(name, synopsis string, stderr io.Writer, hidden ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("rxload "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags:\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			for _, h := range hidden {
				if f.Name == h {
					return
				}
			}
			name, use := flag.UnquoteUsage(f)
			if name != "" {
				name = " " + name
			}
			fmt.Fprintf(stderr, "  -%s%s\n    \t%s", f.Name, name, strings.ReplaceAll(use, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	return fs
}

// parseFlags parses args and refuses positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// writeJSON prints v as one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// logger writes progress lines to stderr from any goroutine.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(w io.Writer) *logger { return &logger{w: w} }

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "rxload: "+format+"\n", args...)
}
