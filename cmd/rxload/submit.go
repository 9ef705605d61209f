package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/cryptonote"
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

// strictDiff is the highest share difficulty a stratum target can stand
// for. The pool sends floor(0xFFFFFFFF/diff) (8 hex digits) or
// floor((2^64-1)/diff) (16), so a hash meeting this bound with the pool's
// 256-bit test meets the job's real difficulty, whatever it is. xmrig's
// 64-bit test alone can pass a hash the pool then calls low difficulty.
func strictDiff(target string) (uint64, error) {
	raw, err := hex.DecodeString(target)
	if err != nil {
		return 0, err
	}
	switch len(raw) {
	case 4:
		if t := binary.LittleEndian.Uint32(raw); t != 0 {
			return 0xFFFFFFFF / uint64(t), nil
		}
	case 8:
		if t := binary.LittleEndian.Uint64(raw); t != 0 {
			return ^uint64(0) / t, nil
		}
	}
	return 0, fmt.Errorf("target %q: want 8 or 16 hex digits, not zero", target)
}

// nonceAt is the nonce for counter value i, as rxminer (and xmrig) write
// it: under nicehash the job's byte 42 stays the top byte.
func nonceAt(w *client.Work, i uint64) uint32 {
	if w.NiceHash {
		return uint32(i)&0x00FFFFFF | uint32(w.Blob[client.NonceOffset+3])<<24
	}
	return uint32(i)
}

// precompute finds cfg.shares valid shares, spread evenly over the
// sessions, each for the session's current job exactly as a miner hashes
// it: the job's blob (the pool's extra nonce is already in it, through the
// coinbase and merkle root) with the nonce at offset 39, hashed with
// RandomX keyed by the job's seed hash, kept if it meets the target.
func precompute(ctx context.Context, cfg *submitConfig, sessions []*subSession, res *SubmitResult, log *logger) error {
	p := &res.Precompute
	bySeed := map[[32]byte][]*subSession{}
	var seeds [][32]byte
	diffs, heights := map[uint64]bool{}, map[uint64]bool{}
	for _, s := range sessions {
		j := s.conn.Job()
		if j == nil {
			return fmt.Errorf("session %d has no job", s.idx)
		}
		w, err := client.DecodeJob(j)
		if err != nil {
			return fmt.Errorf("session %d: %w", s.idx, err)
		}
		if s.strict, err = strictDiff(j.Target); err != nil {
			return fmt.Errorf("session %d: %w", s.idx, err)
		}
		s.work = w
		diffs[s.strict], heights[j.Height] = true, true
		if bySeed[w.Seed] == nil {
			seeds = append(seeds, w.Seed)
		}
		bySeed[w.Seed] = append(bySeed[w.Seed], s)
	}
	p.JobDiffs, p.Heights = slices.Sorted(maps.Keys(diffs)), slices.Sorted(maps.Keys(heights))
	p.Seeds = len(seeds)
	// Session k of n gets shares/n, the first shares%n one more.
	need := map[*subSession]int{}
	for k, s := range sessions {
		need[s] = cfg.shares / len(sessions)
		if k < cfg.shares%len(sessions) {
			need[s]++
		}
	}
	var initT, hashT time.Duration
	for _, seed := range seeds {
		mem, err := newRXMem(ctx, seed, cfg.fast, cfg.largePages, cfg.initThreads, log)
		if err != nil {
			return err
		}
		initT += mem.initTime
		t0 := time.Now()
		hashes, err := hashShares(ctx, mem, cfg.threads, bySeed[seed], need)
		hashT += time.Since(t0)
		mem.close()
		p.Hashes += hashes
		if err != nil {
			return err
		}
	}
	for _, s := range sessions {
		p.Shares += len(s.shares)
	}
	p.InitSeconds, p.HashSeconds = initT.Seconds(), hashT.Seconds()
	if hashT > 0 {
		p.HashesPerS = float64(p.Hashes) / hashT.Seconds()
	}
	return nil
}

// hashShares fills s.shares for sessions (all on mem's seed) with need[s]
// shares each, on threads threads with one VM each. Tasks (one share of
// one session) are interleaved over the sessions and taken in turn; each
// session hands out its nonces from one counter, so no nonce repeats.
func hashShares(ctx context.Context, mem *rxMem, threads int, sessions []*subSession, need map[*subSession]int) (uint64, error) {
	var tasks []*subSession
	for left := true; left; {
		left = false
		for _, s := range sessions {
			if need[s] > 0 {
				tasks = append(tasks, s)
				need[s]--
				left = left || need[s] > 0
			}
		}
	}
	found := make([]share, len(tasks))
	var (
		next     atomic.Int64
		hashes   atomic.Uint64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	setErr := func(err error) { errOnce.Do(func() { firstErr = err }) }
	for range min(threads, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			vm, err := mem.newVM()
			if err != nil {
				setErr(err)
				return
			}
			defer vm.Close()
			var buf []byte
			for ctx.Err() == nil {
				t := int(next.Add(1) - 1)
				if t >= len(tasks) {
					return
				}
				s := tasks[t]
				w := s.work
				buf = append(buf[:0], w.Blob...)
				space := uint64(1) << 32
				if w.NiceHash {
					space = 1 << 24
				}
				for ctx.Err() == nil {
					i := s.nonce.Add(1) - 1
					if i >= space {
						setErr(fmt.Errorf("session %d: nonce space of job %s used up", s.idx, w.Job.JobID))
						return
					}
					binary.LittleEndian.PutUint32(buf[client.NonceOffset:], nonceAt(w, i))
					hash := vm.Hash(buf)
					hashes.Add(1)
					if client.MeetsTarget(&hash, w.Target64) && cryptonote.CheckHash(&hash, s.strict) {
						sh := share{sess: s, jobID: w.Job.JobID, hash: hash}
						copy(sh.nonce[:], buf[client.NonceOffset:])
						found[t] = sh
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	for _, sh := range found {
		if sh.sess != nil {
			sh.sess.shares = append(sh.sess.shares, sh)
		}
	}
	return hashes.Load(), firstErr
}

// tally counts the outcomes of the measured phase.
type tally struct {
	mu         sync.Mutex
	submitted  uint64
	accepted   uint64
	rejectedBy map[string]uint64
	errorsBy   map[string]uint64
	timeouts   uint64
	oldSent    uint64
	oldOK      uint64
	oldRejBy   map[string]uint64
	first      time.Time
	lastReply  time.Time
}

func (t *tally) sent() {
	t.mu.Lock()
	t.submitted++
	if t.first.IsZero() {
		t.first = time.Now()
	}
	t.mu.Unlock()
}

func (t *tally) result(err error, old bool, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.After(t.lastReply) {
		t.lastReply = at
	}
	if old {
		t.oldSent++
	}
	var pe *proto.Error
	switch {
	case err == nil:
		t.accepted++
		if old {
			t.oldOK++
		}
	case errors.As(err, &pe):
		t.rejectedBy[pe.Message]++
		if old {
			t.oldRejBy[pe.Message]++
		}
	case errors.Is(err, client.ErrTimeout):
		t.timeouts++
		t.errorsBy["timeout"]++
	default:
		t.errorsBy[errReason(err)]++
	}
}

// measure submits every precomputed share, paced at cfg.rate in total or,
// with rate max, by cfg.inflight workers per session that each wait for
// the reply before sending the next share.
func measure(ctx context.Context, cfg *submitConfig, sessions []*subSession, res *SubmitResult) {
	t := &tally{rejectedBy: map[string]uint64{}, errorsBy: map[string]uint64{}, oldRejBy: map[string]uint64{}}
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.duration > 0 {
		sendCtx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	submitOne := func(sh share) {
		old := sh.sess.currentJobID() != sh.jobID
		t.sent()
		err := sh.sess.conn.Submit(ctx, sh.jobID, sh.nonce, sh.hash)
		t.result(err, old, time.Now())
	}
	var total int
	for _, s := range sessions {
		total += len(s.shares)
	}
	var wg sync.WaitGroup
	start := time.Now()
	if cfg.rate > 0 {
		// Open loop: share i leaves at start + i/rate whatever the replies
		// do, so a slow pool shows up as latency, not as a lower rate.
		var order []share
		for k := 0; len(order) < total; k++ {
			for _, s := range sessions {
				if k < len(s.shares) {
					order = append(order, s.shares[k])
				}
			}
		}
	send:
		for i, sh := range order {
			due := start.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				timer := time.NewTimer(d)
				select {
				case <-timer.C:
				case <-sendCtx.Done():
					timer.Stop()
					break send
				}
			}
			if sendCtx.Err() != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				submitOne(sh)
			}()
		}
	} else {
		for _, s := range sessions {
			for range min(cfg.inflight, len(s.shares)) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for sendCtx.Err() == nil {
						i := int(s.next.Add(1) - 1)
						if i >= len(s.shares) {
							return
						}
						submitOne(s.shares[i])
					}
				}()
			}
		}
	}
	wg.Wait()

	m := &res.Measured
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.first.IsZero() {
		start = t.first
	}
	end := t.lastReply
	if end.Before(start) {
		end = time.Now()
	}
	m.Seconds = end.Sub(start).Seconds()
	m.Submitted, m.Accepted, m.Timeouts = t.submitted, t.accepted, t.timeouts
	m.Unsent = uint64(total) - t.submitted
	m.RejectedBy, m.ErrorsBy = t.rejectedBy, t.errorsBy
	for _, n := range t.rejectedBy {
		m.Rejected += n
	}
	for _, n := range t.errorsBy {
		m.Errors += n
	}
	if len(m.ErrorsBy) == 0 {
		m.ErrorsBy = nil
	}
	if m.Seconds > 0 {
		m.AcceptedPerS = float64(m.Accepted) / m.Seconds
		m.SubmittedPerS = float64(m.Submitted) / m.Seconds
	}
	m.OldJob.Submitted, m.OldJob.Accepted = t.oldSent, t.oldOK
	if len(t.oldRejBy) > 0 {
		m.OldJob.RejectedBy = t.oldRejBy
	}
}
