package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// idleConfig is the parsed command line of `rxload idle`.
type idleConfig struct {
	pool        string
	login       string
	pass        string
	rigID       string
	n           int
	src         []net.IP
	srcText     string
	procs       int
	keepalive   time.Duration
	poolPID     int
	notify      string
	tips        int
	tipTimeout  time.Duration
	settle      time.Duration
	concurrency int
	timeout     time.Duration
	jsonOut     bool

	child  bool // hidden: run as a worker process of a parent
	offset int  // hidden: the worker's first global session index
}

// reexecEnv is set in the environment of worker processes. The command
// ignores it; a test binary uses it to act as rxload.
const reexecEnv = "RXLOAD_CHILD"

func parseIdle(args []string, stderr io.Writer) (*idleConfig, error) {
	fs := newFlagSet("idle", "rxload idle -o HOST:PORT -u ADDRESS -n N [-src IP,IP,...] [-procs P] [-keepalive 60s] [-pool-pid PID] [-notify CMD] [-tips T] [-json]",
		stderr, "child", "offset")
	c := &idleConfig{}
	fs.StringVar(&c.pool, "o", "", "pool host:port")
	fs.StringVar(&c.login, "u", "", "login: wallet address (optionally with the pool's .DIFF suffix)")
	fs.StringVar(&c.pass, "p", "rxload-idle", "password (the pool's worker name)")
	fs.StringVar(&c.rigID, "rig-id", "", "rig id sent at login")
	fs.IntVar(&c.n, "n", 100, "idle sessions to hold, in total")
	fs.StringVar(&c.srcText, "src", "", "comma-separated local source addresses to spread the sockets over\n(e.g. 127.0.0.2,127.0.0.3: each has its own ~28k ephemeral ports; the pool's maxConnectionsPerIP counts each)")
	fs.IntVar(&c.procs, "procs", 1, "processes to spread the sessions over (each takes N/P; one process may open at most ulimit -Hn files)")
	fs.DurationVar(&c.keepalive, "keepalive", 60*time.Second, "send keepalived after this long without sending, as xmrig (0: never)")
	fs.IntVar(&c.poolPID, "pool-pid", 0, "the pool's process id: report its VmRSS per idle connection")
	fs.StringVar(&c.notify, "notify", "", "shell command that makes a new tip (e.g. mines a block and sends the pool SIGUSR1);\nwithout it each tip is waited for")
	fs.IntVar(&c.tips, "tips", 3, "new tips to measure the job push for (0: none)")
	fs.DurationVar(&c.tipTimeout, "tip-timeout", 0, "how long to wait for every session to get a tip (default 60s with -notify, 10m without)")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "idle time after the last login before the pool's RSS is read")
	fs.IntVar(&c.concurrency, "concurrency", 64, "dials and logins in flight per process")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "dial and login timeout")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&c.child, "child", false, "run as a worker process (commands on stdin, JSON reports on stdout)")
	fs.IntVar(&c.offset, "offset", 0, "global index of this worker's first session")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	for s := range strings.SplitSeq(c.srcText, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, usagef("-src: %q is not an IP address", s)
		}
		c.src = append(c.src, ip)
	}
	switch {
	case c.pool == "":
		return nil, usagef("no pool: give -o host:port")
	case c.login == "":
		return nil, usagef("no address: give -u ADDRESS")
	case c.n < 1 || c.procs < 1 || c.concurrency < 1:
		return nil, usagef("-n, -procs and -concurrency must be ≥ 1")
	case c.keepalive < 0 || c.tips < 0 || c.timeout <= 0 || c.settle < 0:
		return nil, usagef("-keepalive, -tips and -settle must be ≥ 0, -timeout > 0")
	}
	c.procs = min(c.procs, c.n)
	if c.tipTimeout == 0 {
		c.tipTimeout = 10 * time.Minute
		if c.notify != "" {
			c.tipTimeout = time.Minute
		}
	}
	return c, nil
}

// IdleResult is what `rxload idle -json` prints.
type IdleResult struct {
	Config struct {
		Pool        string   `json:"pool"`
		Login       string   `json:"login"`
		N           int      `json:"n"`
		Procs       int      `json:"procs"`
		Src         []string `json:"src,omitempty"`
		Keepalive   string   `json:"keepalive"`
		Notify      string   `json:"notify,omitempty"`
		Tips        int      `json:"tips"`
		Concurrency int      `json:"concurrency_per_proc"`
	} `json:"config"`
	Login struct {
		Attempted int            `json:"attempted"`
		LoggedIn  int            `json:"logged_in"`
		Failed    int            `json:"failed"`
		Failures  map[string]int `json:"failures,omitempty"`
		Seconds   float64        `json:"seconds"` // first dial → last login answered
		PerS      float64        `json:"logins_per_s"`
		Latency   Percentiles    `json:"latency"` // dial + login reply, per session
	} `json:"login"`
	PoolRSS *struct {
		PID        int     `json:"pid"`
		BeforeKiB  int64   `json:"before_kib"` // before the first connection
		AfterKiB   int64   `json:"after_kib"`  // all logged in and idle for settle
		KiBPerConn float64 `json:"kib_per_conn"`
		Settle     string  `json:"settle"`
	} `json:"pool_rss,omitempty"`
	Generator struct {
		RSSKiB     int64   `json:"rss_kib"` // all worker processes
		KiBPerConn float64 `json:"kib_per_conn"`
		Open       int     `json:"open_after_settle"`
	} `json:"generator"`
	Keepalive struct {
		Sent    uint64 `json:"sent"`
		Replies uint64 `json:"replies"`
		Errors  uint64 `json:"errors"`
	} `json:"keepalive"`
	OpenAtEnd         int               `json:"open_at_end"`
	Disconnects       uint64            `json:"disconnects"`
	DisconnectReasons map[string]uint64 `json:"disconnect_reasons,omitempty"`
	Pushes            uint64            `json:"job_pushes"` // job notifications received by all sessions
	Tips              []TipResult       `json:"tips"`
}

// TipResult is the job push measurement of one new tip.
type TipResult struct {
	Tip           int      `json:"tip"`
	Heights       []uint64 `json:"heights"` // the new heights the sessions got
	Armed         int      `json:"armed"`   // sessions open when the tip was armed
	Received      int      `json:"received"`
	Missed        int      `json:"missed"`
	NotifySeconds float64  `json:"notify_seconds,omitempty"`
	NotifyError   string   `json:"notify_error,omitempty"`
	// First receipt minus the notify command's return (negative when the
	// first job arrived before the command returned) and start.
	FirstAfterNotify      *float64 `json:"first_after_notify_ms,omitempty"`
	FirstAfterNotifyStart *float64 `json:"first_after_notify_start_ms,omitempty"`
	// Spread: the last session's receipt minus the first's, and the
	// distribution of every session's receipt minus the first.
	FirstToLast    float64     `json:"first_to_last_ms"`
	DelayFromFirst Percentiles `json:"delay_from_first"`
}

func runIdle(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseIdle(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	if cfg.child {
		return runWorker(ctx, cfg, stdin, stdout, log)
	}
	res, err := idleRun(ctx, cfg, log, stderr)
	if res != nil {
		if cfg.jsonOut {
			if perr := writeJSON(stdout, res); perr != nil && err == nil {
				err = perr
			}
		} else {
			printIdle(stdout, res)
		}
	}
	return err
}

func printIdle(w io.Writer, r *IdleResult) {
	fmt.Fprintf(w, "login: %d/%d in %.2f s = %.0f/s, p50 %.1f ms, p99 %.1f ms, failures %v\n",
		r.Login.LoggedIn, r.Login.Attempted, r.Login.Seconds, r.Login.PerS, r.Login.Latency.P50, r.Login.Latency.P99, r.Login.Failures)
	if p := r.PoolRSS; p != nil {
		fmt.Fprintf(w, "pool RSS: %d → %d KiB = %.1f KiB per idle connection\n", p.BeforeKiB, p.AfterKiB, p.KiBPerConn)
	}
	fmt.Fprintf(w, "generator RSS: %d KiB = %.1f KiB per connection; keepalives %d sent, %d replies; %d disconnects %v\n",
		r.Generator.RSSKiB, r.Generator.KiBPerConn, r.Keepalive.Sent, r.Keepalive.Replies, r.Disconnects, r.DisconnectReasons)
	for _, t := range r.Tips {
		first := "n/a"
		if t.FirstAfterNotify != nil {
			first = fmt.Sprintf("%.1f ms", *t.FirstAfterNotify)
		}
		fmt.Fprintf(w, "tip %d (height %v): %d/%d got it; notify→first %s; first→last %.1f ms (p50 %.1f, p99 %.1f)\n",
			t.Tip, t.Heights, t.Received, t.Armed, first, t.FirstToLast, t.DelayFromFirst.P50, t.DelayFromFirst.P99)
	}
}

// workerProc is the parent's handle on one worker.
type workerProc struct {
	idx, n, offset int
	in             io.WriteCloser
	msgs           chan *childMsg // closed when the worker's output ends
	done           chan struct{}  // closed when the worker has exited
	err            error          // its exit, once done is closed
}

func (p *workerProc) send(cmd string) error {
	_, err := io.WriteString(p.in, cmd+"\n")
	return err
}

var errExpectTimeout = errors.New("timed out")

// expect waits for the worker's next report of type typ (for tip, when
// non-zero) until deadline (none when zero). Reports of other types and
// older tips are dropped; "error" reports are logged.
func (p *workerProc) expect(ctx context.Context, typ string, tip int, deadline time.Time, log *logger) (*childMsg, error) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				<-p.done
				return nil, fmt.Errorf("worker %d ended before its %q report: %v", p.idx, typ, p.err)
			}
			if m.Type == "error" {
				log.printf("worker %d: %s", p.idx, m.Err)
				continue
			}
			if m.Type == typ && (tip == 0 || m.Tip == tip) {
				return m, nil
			}
		case <-timeout:
			return nil, errExpectTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readReports turns a worker's output lines into reports.
func (p *workerProc) readReports(out io.Reader, log *logger) {
	defer close(p.msgs)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 256<<20) // a tip report holds every session's receipt time
	for sc.Scan() {
		m := &childMsg{}
		if err := json.Unmarshal(sc.Bytes(), m); err != nil {
			log.printf("worker %d: %.200s", p.idx, sc.Text())
			continue
		}
		p.msgs <- m
	}
	if err := sc.Err(); err != nil {
		log.printf("worker %d output: %v", p.idx, err)
	}
}

// startWorkers starts cfg.procs workers holding N/P sessions each: child
// processes of this executable, or a goroutine when there is one.
func startWorkers(ctx context.Context, cfg *idleConfig, log *logger, stderr io.Writer) ([]*workerProc, error) {
	var procs []*workerProc
	off := 0
	for i := range cfg.procs {
		n := cfg.n / cfg.procs
		if i < cfg.n%cfg.procs {
			n++
		}
		p := &workerProc{idx: i, n: n, offset: off, msgs: make(chan *childMsg, 16), done: make(chan struct{})}
		off += n
		if cfg.procs == 1 {
			wcfg := *cfg
			wcfg.child, wcfg.n, wcfg.offset = true, n, p.offset
			cmdR, cmdW := io.Pipe()
			outR, outW := io.Pipe()
			p.in = cmdW
			go func() {
				p.err = runWorker(ctx, &wcfg, cmdR, outW, log)
				outW.Close()
				cmdR.Close()
				close(p.done)
			}()
			go p.readReports(outR, log)
			procs = append(procs, p)
			continue
		}
		exe, err := os.Executable()
		if err != nil {
			return procs, err
		}
		args := []string{"idle", "-child", "-o", cfg.pool, "-u", cfg.login, "-p", cfg.pass, "-rig-id", cfg.rigID,
			"-n", strconv.Itoa(n), "-offset", strconv.Itoa(p.offset), "-keepalive", cfg.keepalive.String(),
			"-concurrency", strconv.Itoa(cfg.concurrency), "-timeout", cfg.timeout.String()}
		if cfg.srcText != "" {
			args = append(args, "-src", cfg.srcText)
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = append(os.Environ(), reexecEnv+"=1")
		cmd.Stderr = stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return procs, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return procs, err
		}
		if err := cmd.Start(); err != nil {
			return procs, fmt.Errorf("starting worker %d: %w", i, err)
		}
		p.in = in
		go p.readReports(out, log)
		go func() {
			p.err = cmd.Wait()
			close(p.done)
		}()
		procs = append(procs, p)
	}
	return procs, nil
}

// stopWorkers tells every worker to quit, collects the final reports and
// waits for the workers to exit.
func stopWorkers(ctx context.Context, procs []*workerProc, log *logger) []*childMsg {
	var finals []*childMsg
	for _, p := range procs {
		_ = p.send("quit")
	}
	for _, p := range procs {
		m, err := p.expect(ctx, "final", 0, time.Now().Add(30*time.Second), log)
		if err != nil {
			log.printf("worker %d: final report: %v", p.idx, err)
		} else {
			finals = append(finals, m)
		}
		p.in.Close()
		for range p.msgs { // drain so the reader (and the worker) can end
		}
		<-p.done
	}
	return finals
}

// checkLimits refuses runs one process cannot hold and warns about
// source addresses running out of ephemeral ports.
func checkLimits(cfg *idleConfig, log *logger) error {
	per := (cfg.n + cfg.procs - 1) / cfg.procs
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(per)+64 > lim.Cur {
		return usagef("%d sessions per process but only %d open files allowed (ulimit -n, hard %d): raise -procs to at least %d",
			per, lim.Cur, lim.Max, (cfg.n+int(lim.Cur)-65)/(int(lim.Cur)-64))
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, _ := strconv.Atoi(f[0])
			hi, _ := strconv.Atoi(f[1])
			ports := hi - lo + 1
			srcs := max(1, len(cfg.src))
			if perSrc := (cfg.n + srcs - 1) / srcs; ports > 0 && perSrc > ports {
				log.printf("warning: %d sockets per source address but only %d ephemeral ports (%s): add -src addresses", perSrc, ports, strings.TrimSpace(string(b)))
			}
		}
	}
	return nil
}
