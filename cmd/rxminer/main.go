// Command rxminer is a small CPU miner for the xmrig CryptoNote stratum
// protocol that hashes with real RandomX (rx/0) through rxpool's binding.
// It exists to test and demonstrate the pool: it reports accepted and
// rejected shares (by message), hashrate and submit latency, can open many
// sessions, and can send bad shares of a chosen kind on purpose.
//
//	rxminer -o 127.0.0.1:3333 -u ADDRESS -p worker -t 2 --duration 60s --json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config is the parsed command line.
type config struct {
	session   sessionConfig
	threads   int
	sessions  int
	fast      bool
	duration  time.Duration
	maxShares uint64
	jsonOut   bool
	report    time.Duration
}

// listFlag collects a repeatable flag whose values may be comma lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("rxminer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c         config
		pools     listFlag
		loginList = fs.String("u", "x", "login: wallet address, optionally solo:/prop: prefix and .DIFF suffix; a comma list mines\n"+
			"for several logins in one process (one RandomX dataset): session i logs in as login i mod n")
		mode      = fs.String("mode", "light", "RandomX mode: light (256 MiB, fast start) or fast (2 GiB dataset, ~8x the hashrate)")
		bad       = fs.String("bad", "", "send bad shares of this kind: "+joinKinds())
		useTLS    = fs.Bool("tls", false, "connect with TLS (no certificate check, as xmrig)")
		timeout   = fs.Duration("timeout", client.DefaultRequestTimeout, "reply timeout per request")
		agent     = fs.String("agent", fmt.Sprintf("rxminer/1.0 (%s %s) %s", runtime.GOOS, runtime.GOARCH, runtime.Version()), "agent sent at login")
		maxShares = fs.Uint("max-shares", 0, "stop after this many submissions were answered (0: no limit)")
	)
	fs.Var(&pools, "o", "pool host:port (stratum+ssl:// for TLS); repeat or comma-separate for failover")
	fs.StringVar(&c.session.login.Pass, "p", "x", "password (the pool's worker name)")
	fs.StringVar(&c.session.login.RigID, "rig-id", "", "rig id sent at login")
	fs.IntVar(&c.threads, "t", runtime.NumCPU(), "hash threads in all (spread over the sessions)")
	fs.IntVar(&c.sessions, "sessions", 1, "parallel logins (unless given: one per -u login)")
	fs.StringVar(&c.session.dial.TLSFingerprint, "tls-fingerprint", "", "pin the pool certificate's SHA-256 (64 hex)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	fs.BoolVar(&c.session.keepalive, "keepalive", false, "send keepalived even when the pool does not list the extension")
	fs.DurationVar(&c.session.keepaliveEvery, "keepalive-interval", 60*time.Second, "idle time before a keepalived")
	fs.Float64Var(&c.session.badRate, "bad-rate", 0.1, "fraction of found shares turned bad with --bad")
	fs.DurationVar(&c.session.staleAfter, "stale-after", 3*time.Second, "--bad stale: send a held share this long after its job was replaced")
	fs.DurationVar(&c.session.retryPause, "retry-pause", 5*time.Second, "pause before reconnecting")
	fs.IntVar(&c.session.retries, "retries", 0, "consecutive failed connects/logins before a session gives up (0: never)")
	fs.BoolVar(&c.jsonOut, "json", false, "print the final summary as one JSON object on stdout")
	fs.DurationVar(&c.report, "report", 5*time.Second, "progress report interval on stderr (0: none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rxminer -o HOST:PORT [-u LOGIN] [-p PASS] [flags]\n\n"+
			"--bad kinds (each found share turns bad with probability --bad-rate):\n"+
			"  malformed  a truncated JSON submit line is sent instead\n"+
			"  badnonce   the share is sent with a nonce that is not 8 hex digits\n"+
			"  badresult  the share is sent with a result that does not match its hash\n"+
			"  lowdiff    the share is dropped and the next hash missing the target is sent\n"+
			"  stale      the share is held and sent once its job was replaced --stale-after ago\n"+
			"  duplicate  the share is sent and, once accepted, sent again\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.session.pools = pools
	// A repeated -u replaces the earlier one, as before lists existed.
	var logins listFlag
	_ = logins.Set(*loginList)
	if len(logins) == 0 {
		logins = listFlag{"x"}
	}
	c.session.logins = logins
	if !flagGiven(fs, "sessions") {
		c.sessions = len(logins)
	}
	c.session.login.Agent = *agent
	c.session.login.Algo = []string{proto.Algo}
	c.session.bad = badKind(*bad)
	c.session.dial.TLS = *useTLS
	c.session.dial.RequestTimeout = *timeout
	c.maxShares = uint64(*maxShares)
	c.fast = *mode == "fast"
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case len(pools) == 0:
		return nil, errors.New("no pool: give -o host:port")
	case *mode != "light" && *mode != "fast":
		return nil, fmt.Errorf("--mode %q: want light or fast", *mode)
	case c.session.bad != badNone && !slices.Contains(badKinds, c.session.bad):
		return nil, fmt.Errorf("--bad %q: want one of %s", *bad, joinKinds())
	case c.session.badRate < 0 || c.session.badRate > 1:
		return nil, fmt.Errorf("--bad-rate %v: want 0..1", c.session.badRate)
	case c.threads < 0 || c.sessions < 1:
		return nil, errors.New("-t must be ≥ 0 and --sessions ≥ 1")
	case c.sessions < len(logins):
		return nil, fmt.Errorf("%d logins need at least as many --sessions, not %d", len(logins), c.sessions)
	case c.session.keepaliveEvery <= 0 || c.session.retryPause < 0:
		return nil, errors.New("--keepalive-interval must be > 0 and --retry-pause ≥ 0")
	}
	return &c, nil
}

// flagGiven reports whether the command line set the flag.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func joinKinds() string {
	s := make([]string, len(badKinds))
	for i, k := range badKinds {
		s[i] = string(k)
	}
	return strings.Join(s, "|")
}

// run is main without the process: exit code 0 when the run ended as asked
// (time, share limit, signal), 1 when every session gave up or hashing
// failed, 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "rxminer:", err)
		}
		return 2
	}
	return mine(ctx, cfg, stdout, stderr)
}

// lockedWriter serialises progress and log lines from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "rxminer: "+format+"\n", args...)
}

func mine(ctx context.Context, cfg *config, stdout, stderr io.Writer) int {
	log := &lockedWriter{w: stderr}
	cfg.session.logf = log.printf
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}

	eng := newRXEngine(cfg.fast, runtime.NumCPU(), log.printf)
	defer eng.close()
	t := newTally(cfg.maxShares)
	cfg.session.dial.Latency = t.lat
	go func() {
		select {
		case <-t.limit:
			cancel()
		case <-ctx.Done():
		}
	}()

	mode := map[bool]string{false: "light", true: "fast"}[cfg.fast]
	log.printf("%d session(s), %d thread(s), %s mode, pools %v", cfg.sessions, cfg.threads, mode, cfg.session.pools)
	if cfg.sessions > cfg.threads {
		log.printf("%d session(s) have no hash thread: they log in and take jobs only", cfg.sessions-cfg.threads)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for i := range cfg.sessions {
		threads := cfg.threads / cfg.sessions
		if i < cfg.threads%cfg.sessions {
			threads++
		}
		sctx, scancel := context.WithCancel(ctx)
		h := newHasher(eng, threads, &t.hashes)
		s := newSession(i, &cfg.session, t, h)
		var once sync.Once // a session fails once, by its hashing or its connection
		fail := func(err error) {
			log.printf("%v", err)
			t.setErr(err)
			once.Do(func() {
				mu.Lock()
				failed++
				mu.Unlock()
			})
			scancel()
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := h.run(sctx); err != nil {
				fail(fmt.Errorf("session %d: hashing: %w", i, err))
			}
		}()
		go func() {
			defer wg.Done()
			defer scancel()
			if err := s.run(sctx); err != nil {
				fail(err)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	report(cfg.report, t, done, log)

	s := t.summary()
	s.Sessions, s.Threads, s.Mode, s.SeedChanges = cfg.sessions, cfg.threads, mode, eng.seedChanges()
	if err := s.print(stdout, cfg.jsonOut); err != nil {
		fmt.Fprintln(stderr, "rxminer:", err)
	}
	if failed == cfg.sessions {
		return 1
	}
	return 0
}

// report prints a progress line every interval until done closes.
func report(interval time.Duration, t *tally, done <-chan struct{}, log *lockedWriter) {
	if interval <= 0 {
		<-done
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastT, lastH := time.Now(), uint64(0)
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			s := t.summary()
			rate := float64(s.Hashes-lastH) / now.Sub(lastT).Seconds()
			lastT, lastH = now, s.Hashes
			log.printf("%s", s.line(rate))
		}
	}
}
