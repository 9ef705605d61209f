package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// submitConfig is the parsed command line of `rxload submit`.
type submitConfig struct {
	pool        string
	address     string
	login       string // address, separator and fixed difficulty
	pass        string
	rigID       string
	fixedDiff   uint64
	sessions    int
	shares      int
	rate        float64 // shares/s in total; 0 = max
	rateText    string
	fast        bool
	threads     int
	initThreads int
	largePages  bool
	duration    time.Duration // cap on the measured phase; 0 = until every share is sent
	inflight    int           // per session, with -rate max
	timeout     time.Duration
	tls         bool
	jsonOut     bool
}

func parseSubmit(args []string, stderr io.Writer) (*submitConfig, error) {
	fs := newFlagSet("submit", "rxload submit -o HOST:PORT -u ADDRESS -sessions S -shares K -rate R|max -mode fast|light -t N [-duration D] [-json]", stderr)
	c := &submitConfig{}
	var (
		mode = fs.String("mode", "fast", "RandomX mode for precomputing: fast (2 GiB dataset) or light (256 MiB cache)")
		sep  = fs.String("sep", ".", "the pool's fixedDiff.addressSeparator")
	)
	fs.StringVar(&c.pool, "o", "", "pool host:port (stratum+ssl:// or -tls for TLS)")
	fs.StringVar(&c.address, "u", "", "wallet address to log in with (the fixed difficulty is appended)")
	fs.StringVar(&c.pass, "p", "rxload", "password (the pool's worker name)")
	fs.StringVar(&c.rigID, "rig-id", "", "rig id sent at login")
	fs.Uint64Var(&c.fixedDiff, "diff", 1, "fixed difficulty to log in with (ADDRESS<sep>DIFF); 0: none, take the port's")
	fs.IntVar(&c.sessions, "sessions", 1, "sessions (connections) to submit over")
	fs.IntVar(&c.shares, "shares", 100, "valid shares to precompute and submit, in total")
	fs.StringVar(&c.rateText, "rate", "max", "shares/s in total, or max: as fast as the pool answers with -inflight per session")
	fs.IntVar(&c.threads, "t", runtime.NumCPU(), "precompute threads")
	fs.IntVar(&c.initThreads, "init-threads", runtime.NumCPU(), "threads building a fast-mode dataset")
	fs.BoolVar(&c.largePages, "large-pages", false, "ask for huge pages (falls back without)")
	fs.DurationVar(&c.duration, "duration", 0, "stop sending after this long in the measured phase (0: until all are sent)")
	fs.IntVar(&c.inflight, "inflight", 8, "with -rate max: submits in flight per session")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "reply timeout per request")
	fs.BoolVar(&c.tls, "tls", false, "connect with TLS (no certificate check, as xmrig)")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	var err error
	if c.fast, err = parseMode(*mode); err != nil {
		return nil, err
	}
	if c.rateText != "max" {
		if c.rate, err = strconv.ParseFloat(c.rateText, 64); err != nil || c.rate <= 0 {
			return nil, usagef("-rate %q: want a positive number or max", c.rateText)
		}
	}
	switch {
	case c.pool == "":
		return nil, usagef("no pool: give -o host:port")
	case c.address == "":
		return nil, usagef("no address: give -u ADDRESS")
	case c.sessions < 1 || c.shares < 1 || c.threads < 1 || c.inflight < 1:
		return nil, usagef("-sessions, -shares, -t and -inflight must be ≥ 1")
	case c.duration < 0 || c.timeout <= 0:
		return nil, usagef("-duration must be ≥ 0 and -timeout > 0")
	}
	c.login = c.address
	if c.fixedDiff > 0 {
		c.login += *sep + strconv.FormatUint(c.fixedDiff, 10)
	}
	return c, nil
}

// share is one precomputed valid share.
type share struct {
	sess  *subSession
	jobID string
	nonce [4]byte
	hash  [32]byte
}

// Phases of a submit run, for counting the jobs the pool sends.
const (
	phaseLogin = iota
	phasePrecompute
	phaseMeasure
	phaseDone
	phases
)

// subSession is one logged-in connection of a submit run.
type subSession struct {
	idx   int
	conn  *client.Conn
	phase *atomic.Int32

	mu     sync.Mutex
	jobID  string // the current job
	height uint64

	jobs          [phases]atomic.Uint64 // jobs pushed after the login job, by phase
	heightChanges [phases]atomic.Uint64
	jobErrors     atomic.Uint64
	unsolicited   atomic.Uint64
	done          chan struct{} // the job reader ended

	// precompute
	work   *client.Work
	strict uint64 // the highest pool difficulty the job's target can stand for
	nonce  atomic.Uint64
	shares []share
	next   atomic.Int64 // -rate max: next share to send
}

// watch reads what the pool pushes on the session until it closes.
func (s *subSession) watch() {
	defer close(s.done)
	jobs, jerrs, other := s.conn.Jobs(), s.conn.JobErrors(), s.conn.Other()
	first := true // the login job, queued by Login: not a push
	for jobs != nil || jerrs != nil || other != nil {
		select {
		case j, ok := <-jobs:
			if !ok {
				jobs = nil
				continue
			}
			p := s.phase.Load()
			s.mu.Lock()
			if !first {
				s.jobs[p].Add(1)
				if j.Height != s.height {
					s.heightChanges[p].Add(1)
				}
			}
			first = false
			s.jobID, s.height = j.JobID, j.Height
			s.mu.Unlock()
		case _, ok := <-jerrs:
			if !ok {
				jerrs = nil
				continue
			}
			s.jobErrors.Add(1)
		case _, ok := <-other:
			if !ok {
				other = nil
				continue
			}
			s.unsolicited.Add(1)
		}
	}
}

func (s *subSession) currentJobID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobID
}

// SubmitResult is what `rxload submit -json` prints.
type SubmitResult struct {
	Config struct {
		Pool      string  `json:"pool"`
		Login     string  `json:"login"`
		Sessions  int     `json:"sessions"`
		Shares    int     `json:"shares"`
		Rate      string  `json:"rate"`
		RatePerS  float64 `json:"rate_per_s,omitempty"`
		Inflight  int     `json:"inflight_per_session,omitempty"`
		Mode      string  `json:"mode"`
		Threads   int     `json:"threads"`
		Duration  string  `json:"duration,omitempty"`
		Timeout   string  `json:"timeout"`
		FixedDiff uint64  `json:"fixed_diff"`
	} `json:"config"`
	Login struct {
		LoggedIn int            `json:"logged_in"`
		Failed   int            `json:"failed"`
		Failures map[string]int `json:"failures,omitempty"`
		Seconds  float64        `json:"seconds"`
	} `json:"login"`
	Precompute struct {
		Seconds     float64  `json:"seconds"`      // everything before the measured phase's first submit
		InitSeconds float64  `json:"init_seconds"` // RandomX cache/dataset builds
		HashSeconds float64  `json:"hash_seconds"`
		Hashes      uint64   `json:"hashes"`
		HashesPerS  float64  `json:"hashes_per_s"` // over hash_seconds: the generator's own reference
		Shares      int      `json:"shares"`
		Seeds       int      `json:"seeds"`
		JobDiffs    []uint64 `json:"job_difficulties"` // distinct difficulties of the jobs hashed for
		Heights     []uint64 `json:"heights"`
	} `json:"precompute"`
	Measured struct {
		Seconds       float64           `json:"seconds"` // first submit sent → last reply
		Submitted     uint64            `json:"submitted"`
		Unsent        uint64            `json:"unsent"` // -duration ran out or interrupted
		Accepted      uint64            `json:"accepted"`
		AcceptedPerS  float64           `json:"accepted_per_s"`
		SubmittedPerS float64           `json:"submitted_per_s"`
		Rejected      uint64            `json:"rejected"`
		RejectedBy    map[string]uint64 `json:"rejected_by"`
		Errors        uint64            `json:"errors"` // transport errors, timeouts included
		ErrorsBy      map[string]uint64 `json:"errors_by,omitempty"`
		Timeouts      uint64            `json:"timeouts"`
		// Shares whose job was no longer the session's current one when
		// sent (the pool pushed a job meanwhile), and what became of them.
		OldJob struct {
			Submitted  uint64            `json:"submitted"`
			Accepted   uint64            `json:"accepted"`
			RejectedBy map[string]uint64 `json:"rejected_by,omitempty"`
		} `json:"old_job"`
	} `json:"measured"`
	Latency Percentiles `json:"latency"`
	// Jobs the pool pushed after the login job, by phase; height changes
	// are new tips.
	JobsPushed struct {
		Precompute    uint64 `json:"during_precompute"`
		Measure       uint64 `json:"during_measure"`
		HeightChanges uint64 `json:"height_changes"`
		JobErrors     uint64 `json:"job_errors"`
		Unsolicited   uint64 `json:"unsolicited_lines"`
	} `json:"jobs_pushed"`
}

func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseSubmit(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	res, err := submitRun(ctx, cfg, log)
	if err != nil {
		return err
	}
	if cfg.jsonOut {
		return writeJSON(stdout, res)
	}
	m := &res.Measured
	fmt.Fprintf(stdout, "precompute: %d shares (%d hashes) in %.2f s (init %.2f s, %.1f H/s)\n",
		res.Precompute.Shares, res.Precompute.Hashes, res.Precompute.Seconds, res.Precompute.InitSeconds, res.Precompute.HashesPerS)
	fmt.Fprintf(stdout, "measured: %d submitted in %.2f s, %d accepted = %.1f shares/s, %d rejected %v, %d errors (%d timeouts), %d unsent\n",
		m.Submitted, m.Seconds, m.Accepted, m.AcceptedPerS, m.Rejected, m.RejectedBy, m.Errors, m.Timeouts, m.Unsent)
	fmt.Fprintf(stdout, "latency: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms over %d replies\n",
		res.Latency.P50, res.Latency.P90, res.Latency.P99, res.Latency.Max, res.Latency.Count)
	return nil
}

func submitRun(ctx context.Context, cfg *submitConfig, log *logger) (*SubmitResult, error) {
	res := &SubmitResult{}
	c := &res.Config
	c.Pool, c.Login, c.Sessions, c.Shares, c.Rate = cfg.pool, cfg.login, cfg.sessions, cfg.shares, cfg.rateText
	c.Mode, c.Threads, c.Timeout, c.FixedDiff = modeName(cfg.fast), cfg.threads, cfg.timeout.String(), cfg.fixedDiff
	if cfg.rate > 0 {
		c.RatePerS = cfg.rate
	} else {
		c.Inflight = cfg.inflight
	}
	if cfg.duration > 0 {
		c.Duration = cfg.duration.String()
	}

	lat := client.NewLatency() // only submits record into it
	var phase atomic.Int32
	sessions, failures, loginTime := loginAll(ctx, cfg, lat, &phase, log)
	defer func() {
		for _, s := range sessions {
			s.conn.Close()
			<-s.done
		}
	}()
	res.Login.LoggedIn, res.Login.Seconds = len(sessions), loginTime.Seconds()
	for _, n := range failures {
		res.Login.Failed += n
	}
	if len(failures) > 0 {
		res.Login.Failures = failures
	}
	if len(sessions) == 0 {
		return nil, fmt.Errorf("no session logged in: %v", failures)
	}
	log.printf("%d of %d sessions logged in in %.2f s", len(sessions), cfg.sessions, loginTime.Seconds())

	phase.Store(phasePrecompute)
	pre := time.Now()
	if err := precompute(ctx, cfg, sessions, res, log); err != nil {
		return nil, err
	}
	res.Precompute.Seconds = time.Since(pre).Seconds()
	log.printf("precomputed %d shares in %.2f s; submitting at rate %s", res.Precompute.Shares, res.Precompute.Seconds, cfg.rateText)

	phase.Store(phaseMeasure)
	measure(ctx, cfg, sessions, res)
	phase.Store(phaseDone)
	res.Latency = fromLatency(lat.Stats())
	for _, s := range sessions {
		jp := &res.JobsPushed
		jp.Precompute += s.jobs[phasePrecompute].Load()
		jp.Measure += s.jobs[phaseMeasure].Load()
		jp.HeightChanges += s.heightChanges[phasePrecompute].Load() + s.heightChanges[phaseMeasure].Load()
		jp.JobErrors += s.jobErrors.Load()
		jp.Unsolicited += s.unsolicited.Load()
	}
	m := &res.Measured
	log.printf("measured: %d accepted in %.2f s = %.1f shares/s, %d rejected, %d errors", m.Accepted, m.Seconds, m.AcceptedPerS, m.Rejected, m.Errors)
	return res, nil
}

// loginAll dials and logs in cfg.sessions sessions, 64 at a time. It
// returns those that logged in and the failures by reason.
func loginAll(ctx context.Context, cfg *submitConfig, lat *client.Latency, phase *atomic.Int32, log *logger) ([]*subSession, map[string]int, time.Duration) {
	opts := client.Options{TLS: cfg.tls, RequestTimeout: cfg.timeout, DialTimeout: cfg.timeout, Latency: lat,
		TolerateBadJobs: true, QueueSize: 256}
	params := client.LoginParams{Login: cfg.login, Pass: cfg.pass, RigID: cfg.rigID, Agent: agent(), Algo: []string{proto.Algo}}
	var (
		mu       sync.Mutex
		out      = make([]*subSession, cfg.sessions)
		failures = map[string]int{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 64)
	)
	start := time.Now()
	for i := range cfg.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fail := func(reason string) {
				mu.Lock()
				failures[reason]++
				mu.Unlock()
			}
			conn, err := client.Dial(ctx, cfg.pool, opts)
			if err != nil {
				fail("dial: " + errReason(err))
				return
			}
			if _, err := conn.Login(ctx, params); err != nil {
				conn.Close()
				var pe *proto.Error
				if errors.As(err, &pe) {
					fail("login: " + pe.Message)
				} else {
					fail("login: " + errReason(err))
				}
				return
			}
			s := &subSession{idx: i, conn: conn, phase: phase, done: make(chan struct{})}
			go s.watch()
			out[i] = s
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var ok []*subSession
	for _, s := range out {
		if s != nil {
			ok = append(ok, s)
		}
	}
	if len(failures) > 0 {
		log.printf("login failures: %v", failures)
	}
	return ok, failures, took
}

func agent() string {
	return fmt.Sprintf("rxload/1.0 (%s %s) %s", runtime.GOOS, runtime.GOARCH, runtime.Version())
}
