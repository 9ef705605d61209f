// Package stratum is the pool's miner-facing side: difficulty-tiered TCP
// (and TLS) ports speaking xmrig's CryptoNote stratum, the job manager that
// turns daemon templates into per-miner jobs, share verification, vardiff,
// bans, and block submission.
package stratum

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"rxpool/cryptonote"
)

// Port is one listening port.
type Port struct {
	Port          int // 0 picks a free port (tests)
	Diff          uint64
	Desc          string
	TLS           *tls.Config // nil for plain TCP
	ProxyProtocol bool
	NiceHash      bool // reserve the nonce's top byte per connection
	nonces        *nonceBytes

	// TrustedProxies are the load balancers a ProxyProtocol port accepts
	// connections from, each with a header (proxy.go); empty: loopback.
	TrustedProxies []netip.Prefix
}

// Banning bans IPs that send mostly invalid shares.
type Banning struct {
	Enabled        bool
	Time           time.Duration
	InvalidPercent float64
	CheckThreshold uint32
}

// Config is everything the stratum server needs, already validated.
type Config struct {
	PoolAddress   *cryptonote.Address
	InstanceID    uint32
	BindIP        string
	Ports         []Port
	VarDiff       VarDiff
	FixedDiff     bool
	Separator     string
	DefaultScheme string
	LoginTimeout  time.Duration
	MinerTimeout  time.Duration
	WriteTimeout  time.Duration
	MaxLineLength int
	MaxConnsPerIP int
	// MaxConns caps open connections over all ports; beyond it a new one
	// is closed at once. 0 = derived from the file limit (defaultMaxConns).
	MaxConns int
	// RefusalLogInterval is how often refused connections are summarised
	// in the log (default 10 s).
	RefusalLogInterval time.Duration
	GraceWindow        time.Duration
	BlockRefresh       time.Duration
	TemplateRefresh    time.Duration
	Banning            Banning
	// ConnRate and ConnBurst are a token bucket of new connections per
	// address group (addrGroup); ConnRate 0 = unlimited.
	ConnRate  float64
	ConnBurst int
	// BanBoard shares bans with the pool's other stratum processes, and
	// ConnBoard the connections per address; nil keeps them in this
	// process.
	BanBoard  BanBoard
	ConnBoard ConnBoard
	// ShutdownGrace is how long Run waits at shutdown for requests being
	// handled (a share in verification) to be answered before it closes
	// the connections anyway (default 5 s).
	ShutdownGrace time.Duration
}

func (c *Config) setDefaults() {
	if c.LoginTimeout == 0 {
		c.LoginTimeout = 10 * time.Second
	}
	if c.MinerTimeout == 0 {
		c.MinerTimeout = 10 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = 10 * 1024
	}
	if c.BlockRefresh == 0 {
		c.BlockRefresh = time.Second
	}
	if c.TemplateRefresh == 0 {
		c.TemplateRefresh = 10 * time.Second
	}
	if c.DefaultScheme == "" {
		c.DefaultScheme = SchemePPLNS
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 5 * time.Second
	}
	if c.MaxConns == 0 {
		c.MaxConns = defaultMaxConns()
	}
	if c.RefusalLogInterval == 0 {
		c.RefusalLogInterval = 10 * time.Second
	}
}

// Server is the stratum server: its listeners, sessions and job manager.
type Server struct {
	cfg     Config
	log     logrus.FieldLogger
	sink    Sink
	jobs    *jobManager
	shares  *sharePipeline
	rules   loginRules
	bans    *banList
	rate    *connRate
	banOut  chan BanNotice // bans to publish (syncBans)
	process string         // this server's name on the ConnBoard
	// open counts accepted connections until their goroutine ends, for
	// MaxConns; refused counts and summarises the ones turned away.
	open    atomic.Int64
	refused *refusals

	mu        sync.Mutex
	sessions  map[*session]struct{}
	perIP     map[string]int                   // admitted connections by address group
	remote    map[string]int                   // the other processes' (syncConns)
	groups    map[string]map[*session]struct{} // sessions by address group, for bans
	draining  bool                             // shutting down: no new sessions
	listeners []net.Listener
	ctx       context.Context // Run's: ends when the server is asked to stop
	wg        sync.WaitGroup
}

// NewServer prepares a server; Run starts it.
func NewServer(cfg Config, d Daemon, h Hasher, sink Sink, log logrus.FieldLogger) (*Server, error) {
	cfg.setDefaults()
	if cfg.PoolAddress == nil {
		return nil, errors.New("stratum: pool address is required")
	}
	if len(cfg.Ports) == 0 {
		return nil, errors.New("stratum: no ports configured")
	}
	cfg.Ports = slices.Clone(cfg.Ports)
	for i := range cfg.Ports {
		if cfg.Ports[i].NiceHash {
			cfg.Ports[i].nonces = &nonceBytes{}
		}
	}
	s := &Server{
		cfg: cfg, log: log, sink: sink,
		rules: loginRules{
			coin: cfg.PoolAddress.Coin, defaultScheme: cfg.DefaultScheme,
			fixedDiff: cfg.FixedDiff, separator: cfg.Separator,
		},
		bans:     newBanList(cfg.Banning, log),
		rate:     newConnRate(cfg.ConnRate, cfg.ConnBurst),
		banOut:   make(chan BanNotice, 256),
		process:  newProcessID(),
		sessions: map[*session]struct{}{},
		perIP:    map[string]int{},
		groups:   map[string]map[*session]struct{}{},
	}
	s.bans.onBan = s.banned
	jobLog := log.WithField("module", "jobs")
	s.refused = newRefusals(log, s.refusalDetail)
	s.jobs = newJobManager(d, h, sink.SetNetworkDifficulty, jobLog, cfg.PoolAddress, cfg.InstanceID, cfg.BlockRefresh, cfg.TemplateRefresh)
	s.jobs.onTemplate = s.broadcast
	s.shares = &sharePipeline{
		hasher: h, sink: sink, bans: s.bans, grace: cfg.GraceWindow, log: log,
		blocks: &blockSubmitter{daemon: d, sink: sink, log: jobLog, refresh: s.jobs.Trigger},
	}
	return s, nil
}

// Listen asks the daemon for a first block template, then opens every
// port, template or not: a daemon that is down or not synced yet (Pastellad
// answers "Daemon must be synced") is retried by Run, and a miner logging
// in meanwhile waits for its job (see loginJobWait). Run serves the ports.
func (s *Server) Listen(ctx context.Context) error {
	s.jobs.poll(ctx)
	// No TCP keepalive probes: every 15 s per socket (Go's default) is
	// thousands of timers and packets a second with many idle miners, and a
	// silent peer is closed by the read deadline (minerTimeout) anyway.
	lc := net.ListenConfig{Control: reusePort, KeepAlive: -1}
	for _, p := range s.cfg.Ports {
		addr := net.JoinHostPort(s.cfg.BindIP, strconv.Itoa(p.Port))
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("stratum: listen on %s: %w", addr, err)
		}
		if p.ProxyProtocol {
			l = s.proxyListener(l, p.TrustedProxies)
		}
		if p.TLS != nil {
			l = tls.NewListener(l, p.TLS)
		}
		s.log.Infof("stratum port %s: difficulty %d, %q, tls=%v, proxy protocol=%v, nicehash=%v", l.Addr(), p.Diff, p.Desc, p.TLS != nil, p.ProxyProtocol, p.NiceHash)
		s.listeners = append(s.listeners, l)
	}
	s.log.Infof("stratum: at most %d connections at once (stratum.maxConnections), %d per address", s.cfg.MaxConns, s.cfg.MaxConnsPerIP)
	return nil
}

// reusePort sets SO_REUSEPORT so several stratum processes can share the
// same ports on one machine, the kernel spreading connections among them.
func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Addrs returns the listening addresses, in config order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Refresh asks for an immediate template check, e.g. from a block-notify
// hook (SIGUSR1).
func (s *Server) Refresh() { s.jobs.Trigger() }

// Run serves until ctx ends, then shuts down gracefully: the listeners
// close, every session stops reading new requests, the requests being
// handled are answered (a share in verification is verified, recorded and
// answered), and then the connections close. A session still busy after
// ShutdownGrace has its verification cancelled and its connection closed.
// Run returns once every session and block submission in flight is done.
// Listen must have succeeded.
func (s *Server) Run(ctx context.Context) error {
	// work bounds share verification. It outlives ctx by up to
	// ShutdownGrace, so a share being verified when the server is stopped
	// is still answered (and recorded) rather than refused as busy.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	s.ctx = ctx
	s.shares.begin(ctx, work)
	go s.jobs.run(ctx)
	go s.refused.run(ctx, s.cfg.RefusalLogInterval)
	if s.cfg.BanBoard != nil {
		go s.syncBans(ctx)
	}
	if s.cfg.ConnBoard != nil && s.cfg.MaxConnsPerIP > 0 {
		go s.syncConns(ctx)
	}
	for i, l := range s.listeners {
		s.wg.Add(1)
		go s.accept(l, s.cfg.Ports[i])
	}
	if s.cfg.VarDiff.Enabled && s.cfg.VarDiff.RetargetTime > 0 {
		go s.retargetLoop(ctx)
	}
	<-ctx.Done()
	s.closeListeners()
	s.mu.Lock()
	s.draining = true
	for sess := range s.sessions {
		sess.stopReading()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownGrace):
		s.log.Warnf("stratum: %d connections still busy %v after shutdown began; closing them", s.SessionCount(), s.cfg.ShutdownGrace)
		stopWork()
		s.mu.Lock()
		for sess := range s.sessions {
			sess.conn.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.shares.blocks.wait()
	return nil
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
}

func (s *Server) accept(l net.Listener, p Port) {
	defer s.wg.Done()
	var lastWarn time.Time
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. out of file descriptors: say so once a minute, not every
			// 50 ms while it lasts.
			if now := time.Now(); now.Sub(lastWarn) >= time.Minute {
				s.log.Warnf("accept on %s: %v (repeats are not logged for a minute)", l.Addr(), err)
				lastWarn = now
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		// Checked before anything is read: at the cap the pool spends
		// nothing on the connection, not even its PROXY header.
		if s.open.Add(1) > int64(s.cfg.MaxConns) {
			s.open.Add(-1)
			conn.Close()
			s.refused.add("", refusedFull)
			continue
		}
		s.wg.Add(1)
		go s.serve(conn, p)
	}
}

// serve runs one connection: admission checks, then the session.
func (s *Server) serve(conn net.Conn, p Port) {
	defer s.wg.Done()
	defer s.open.Add(-1)
	if !proxyHeaderOK(conn) {
		conn.Close()
		return
	}
	ip := remoteIP(conn)
	group := addrGroup(ip)
	if o := s.admit(ip, group); o != 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = conn.Write(appendErr(nil, nil, o.Message()))
		conn.Close()
		return
	}
	sess := newSession(s, conn, p, ip, group)
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		conn.Close()
		s.release(group, nil)
		return
	}
	s.sessions[sess] = struct{}{}
	if s.groups[group] == nil {
		s.groups[group] = map[*session]struct{}{}
	}
	s.groups[group][sess] = struct{}{}
	s.mu.Unlock()
	// A ban made between admit and here would have missed this session.
	if s.bans.banned(group) {
		sess.stopReading()
	}
	sess.run()
	s.release(group, sess)
}

// broadcast pushes a new job to every logged-in miner. Sessions are served
// by a few goroutines in parallel so one slow socket does not hold up the
// rest (each write has its own deadline).
func (s *Server) broadcast(t *blockTemplate, newTip bool) {
	list := s.sessionList()
	start := time.Now()
	const workers = 16
	var wg sync.WaitGroup
	next := make(chan *session, workers)
	for range min(workers, len(list)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sess := range next {
				sess.pushJob()
			}
		}()
	}
	for _, sess := range list {
		next <- sess
	}
	close(next)
	wg.Wait()
	if newTip {
		s.log.Debugf("pushed height %d jobs to %d connections in %s", t.height, len(list), time.Since(start))
	}
}

// retargetLoop gives vardiff a chance on sessions that send no shares.
func (s *Server) retargetLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.VarDiff.RetargetTime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, sess := range s.sessionList() {
				sess.retarget(now)
			}
		}
	}
}

func (s *Server) sessionList() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		list = append(list, sess)
	}
	return list
}

// SessionCount returns the number of open connections.
func (s *Server) SessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// PortSessions returns the open connections per configured port number,
// every configured port present (0 when idle) so a metric does not vanish.
func (s *Server) PortSessions() map[int]int {
	out := make(map[int]int, len(s.cfg.Ports))
	for _, p := range s.cfg.Ports {
		out[p.Port] = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for sess := range s.sessions {
		out[sess.port.Port]++
	}
	return out
}
