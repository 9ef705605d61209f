package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"rxpool/stratum/client"
)

// floodConfig is the parsed command line of `rxload flood`.
type floodConfig struct {
	pool      string
	addrs     []string // logins rotate over these (fixed difficulty appended)
	fresh     int      // of them, made up here
	sep       string
	fixedDiff uint64
	pass      string
	src       []net.IP
	srcText   []string
	conns     int
	inflight  int
	duration  time.Duration
	kinds     []junkKind
	kindText  string
	backoff   time.Duration
	timeout   time.Duration
	jsonOut   bool
}

const floodSynopsis = "rxload flood -o HOST:PORT -u ADDRESS[,...] [-addresses N] -src IP[,...] -conns N -duration D [-kind wrong-result|low-diff|fake-block|bad-job|mixed] [-json]"

func parseFlood(args []string, stderr io.Writer) (*floodConfig, error) {
	fs := newFlagSet("flood", floodSynopsis, stderr)
	c := &floodConfig{}
	var users, srcs string
	fs.StringVar(&c.pool, "o", "", "pool host:port")
	fs.StringVar(&users, "u", "", "comma-separated wallet addresses to log in with, in turn")
	fs.IntVar(&c.fresh, "addresses", 0, "also make this many fresh valid addresses of the first address's coin and network")
	fs.StringVar(&c.sep, "sep", ".", "the pool's fixedDiff.addressSeparator")
	fs.Uint64Var(&c.fixedDiff, "diff", 1000, "fixed difficulty to log in with (ADDRESS<sep>DIFF), so low-diff junk exists; 0: the port's")
	fs.StringVar(&c.pass, "p", "rxload-flood", "password (the pool's worker name)")
	fs.StringVar(&srcs, "src", "", "comma-separated local source addresses or IPv4 prefixes (127.2.0.0/16), used in turn\nfor each new connection (e.g. 127.0.0.2, so an honest miner on 127.0.0.1 is another IP to the pool;\na prefix stands for an attacker with many addresses)")
	fs.IntVar(&c.conns, "conns", 64, "connections kept open at once (each reconnects when the pool closes or refuses it)")
	fs.IntVar(&c.inflight, "inflight", 2, "junk submits in flight per connection: each sends the next when answered")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long to flood (0: until interrupted)")
	fs.StringVar(&c.kindText, "kind", "wrong-result", "junk to send: wrong-result, low-diff, fake-block, bad-job, or mixed (each in turn)")
	fs.DurationVar(&c.backoff, "backoff", 50*time.Millisecond, "wait after a refused connection or failed login before the next attempt")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Second, "dial, login and reply timeout")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	var err error
	if c.kinds, err = parseJunkKinds(c.kindText); err != nil {
		return nil, err
	}
	if c.src, err = parseSources(srcs); err != nil {
		return nil, err
	}
	if srcs != "" {
		c.srcText = strings.Split(srcs, ",")
	}
	for s := range strings.SplitSeq(users, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.addrs = append(c.addrs, s)
		}
	}
	switch {
	case c.pool == "":
		return nil, usagef("no pool: give -o host:port")
	case len(c.addrs) == 0:
		return nil, usagef("no address: give -u ADDRESS[,...]")
	case c.conns < 1 || c.inflight < 1 || c.fresh < 0:
		return nil, usagef("-conns and -inflight must be ≥ 1, -addresses ≥ 0")
	case c.duration < 0 || c.backoff < 0 || c.timeout <= 0:
		return nil, usagef("-duration and -backoff must be ≥ 0, -timeout > 0")
	}
	if c.fresh > 0 {
		like, err := coinOf(c.addrs[0])
		if err != nil {
			return nil, usagef("-addresses needs -u's first address to be a valid one: %v", err)
		}
		more, err := freshAddresses(like, c.fresh)
		if err != nil {
			return nil, err
		}
		c.addrs = append(c.addrs, more...)
	}
	return c, nil
}

// maxSources bounds the source addresses a -src prefix expands to.
const maxSources = 1 << 16

// parseSources reads -src: addresses, and IPv4 prefixes expanded to their
// host addresses (the network address left out).
func parseSources(text string) ([]net.IP, error) {
	var out []net.IP
	for s := range strings.SplitSeq(text, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, usagef("-src: %q is not an IP address", s)
			}
			out = append(out, ip)
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil || n.IP.To4() == nil {
			return nil, usagef("-src: %q is not an IPv4 prefix", s)
		}
		ones, bits := n.Mask.Size()
		if bits-ones > 16 || bits-ones < 1 {
			return nil, usagef("-src: %q: want a prefix of 2 to %d addresses", s, maxSources)
		}
		base := binary.BigEndian.Uint32(n.IP.To4())
		for h := uint32(1); h < 1<<(bits-ones) && len(out) < maxSources; h++ {
			out = append(out, binary.BigEndian.AppendUint32(nil, base+h))
		}
	}
	return out, nil
}

// login is the login string of address number k (in turn).
func (c *floodConfig) login(k uint64) string {
	a := c.addrs[k%uint64(len(c.addrs))]
	if c.fixedDiff > 0 {
		a += c.sep + strconv.FormatUint(c.fixedDiff, 10)
	}
	return a
}

// FloodResult is what `rxload flood -json` prints: what was sent and how
// the pool answered.
type FloodResult struct {
	Config struct {
		Pool      string   `json:"pool"`
		Kind      string   `json:"kind"`
		Conns     int      `json:"conns"`
		Inflight  int      `json:"inflight_per_conn"`
		Src       []string `json:"src,omitempty"` // as given
		Sources   int      `json:"sources"`       // addresses they stand for
		Addresses int      `json:"addresses"`
		Fresh     int      `json:"fresh_addresses"`
		FixedDiff uint64   `json:"fixed_diff"`
		Duration  string   `json:"duration"`
	} `json:"config"`
	Seconds float64 `json:"seconds"`
	// Connection attempts and what became of them: a session (logged in),
	// or refused (by the pool's reason: banned, too many connections, a
	// login error; or the dial's error).
	Connects struct {
		Attempts uint64            `json:"attempts"`
		Sessions uint64            `json:"sessions"`
		Refused  uint64            `json:"refused"`
		By       map[string]uint64 `json:"refused_by,omitempty"`
	} `json:"connects"`
	// Sessions the pool closed, by its last answer before closing.
	Closed struct {
		ByPool uint64            `json:"by_pool"`
		After  map[string]uint64 `json:"after,omitempty"`
	} `json:"closed"`
	Sent       uint64                       `json:"sent"`
	SentPerS   float64                      `json:"sent_per_s"`
	Answered   uint64                       `json:"answered"` // replies, accepted or not
	AnsPerS    float64                      `json:"answered_per_s"`
	Accepted   uint64                       `json:"accepted"` // junk the pool took: should be 0
	SentBy     map[string]uint64            `json:"sent_by_kind"`
	AnswersBy  map[string]map[string]uint64 `json:"answers_by_kind"` // kind → answer (pool message, "accepted", or "error: …")
	Latency    Percentiles                  `json:"latency"`         // submit → reply of answered junk
	Unanswered uint64                       `json:"unanswered"`      // lost with their connection, or timed out
}

func runFlood(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlood(args, stderr)
	if err != nil {
		return err
	}
	res := floodRun(ctx, cfg, newLogger(stderr))
	if cfg.jsonOut {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "flood %s: %d sent in %.1f s (%.0f/s), %d answered, %d accepted; answers %v\n",
		res.Config.Kind, res.Sent, res.Seconds, res.SentPerS, res.Answered, res.Accepted, res.AnswersBy)
	fmt.Fprintf(stdout, "connects: %d attempts, %d sessions, %d refused %v; %d closed by the pool %v\n",
		res.Connects.Attempts, res.Connects.Sessions, res.Connects.Refused, res.Connects.By, res.Closed.ByPool, res.Closed.After)
	return nil
}

// floodRun floods until cfg.duration ends or ctx is cancelled (an
// interrupt ends the flood normally: the result is still reported).
func floodRun(ctx context.Context, cfg *floodConfig, log *logger) *FloodResult {
	res := &FloodResult{}
	c := &res.Config
	c.Pool, c.Kind, c.Conns, c.Inflight, c.Addresses, c.Fresh, c.FixedDiff = cfg.pool, cfg.kindText, cfg.conns, cfg.inflight, len(cfg.addrs), cfg.fresh, cfg.fixedDiff
	c.Duration = cfg.duration.String()
	c.Src, c.Sources = cfg.srcText, len(cfg.src)
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	f := newFlooder(cfg)
	start := time.Now()
	stopProgress := make(chan struct{})
	go f.progress(stopProgress, log, start)
	var wg sync.WaitGroup
	for i := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.connLoop(ctx, i)
		}()
	}
	wg.Wait()
	close(stopProgress)
	res.Seconds = time.Since(start).Seconds()
	f.report(res)
	log.printf("flood ended: %d sent, %d answered in %.1f s; %d sessions, %d refused %v, %d closed by the pool",
		res.Sent, res.Answered, res.Seconds, res.Connects.Sessions, res.Connects.Refused, res.Connects.By, res.Closed.ByPool)
	return res
}

// progress logs the counts every 5 s.
func (f *flooder) progress(stop <-chan struct{}, log *logger, start time.Time) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		f.mu.Lock()
		log.printf("%.0f s: %d sent, %d answered, %d sessions, %d refused, %d closed by the pool",
			time.Since(start).Seconds(), f.sent, f.answered, f.sessions, f.refused, f.closedByPool)
		f.mu.Unlock()
	}
}

// options are the stratum client options of every flood connection:
// one latency collector for all.
func (f *flooder) options() client.Options {
	return client.Options{RequestTimeout: f.cfg.timeout, DialTimeout: f.cfg.timeout, TolerateBadJobs: true,
		Latency: f.lat, QueueSize: 16}
}
