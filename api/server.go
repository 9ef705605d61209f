// Package api is the pool's HTTP API (gin): public statistics for miners,
// health and Prometheus metrics for operators, miner settings, admin
// endpoints, aliases for the Node pool's paths, and the built frontend.
// Public responses come from a snapshot rebuilt every updateInterval and a
// short per-address cache, so request bursts do not multiply Redis load.
package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/httpx"
	"rxpool/internal/secret"
	"rxpool/storage"
	"rxpool/wallet"
)

// Config is what the API needs from the pool's configuration.
type Config struct {
	Listen         string
	UpdateInterval time.Duration
	CORSOrigins    []string
	AdminToken     secret.Secret // unset = admin endpoints off
	RateLimit      float64       // requests/s per client IP, 0 = unlimited
	OfflineAfter   time.Duration
	TrustedProxies []string
	Frontend       string // directory served at "/", "" = none
	Public         Public // shown in /stats
	PPLNSWindow    float64
	Depth          uint64
	// AllPorts are the stratum ports, hidden ones too, for the admin;
	// Public.Ports are the ones shown to miners.
	AllPorts []Port
	// UnconfirmedLimit: /health says degraded when a sent payout has
	// waited longer for its confirmations (0: 40 block times, the default
	// payments settings' limit; see cmd/pool apiConfig).
	UnconfirmedLimit time.Duration
	// Limits bound each request's headers and read time (zero fields:
	// httpx.DefaultLimits); bodies are capped at MaxBody.
	Limits httpx.Limits
}

// MaxBody is the largest request body read: the API's only body, a
// payout threshold, is under 200 bytes. Larger ones are answered 413.
const MaxBody = 64 << 10

// maxErrorText caps an error reply's text, which may quote what the client
// sent: a huge request must not buy a huge reply.
const maxErrorText = 256

// Deps are the services the API reads.
type Deps struct {
	Store   *storage.Store
	Coin    *cryptonote.Coin
	Daemon  daemon.Client   // the active daemon (a Failover), for network data
	Daemons []daemon.Client // each configured daemon, for /health
	Wallet  wallet.Wallet   // nil when this deployment has no payout wallet
	// Metrics serves /metrics; nil = no metrics endpoint.
	Metrics http.Handler
	// PortSessions gives connections per stratum port when the stratum
	// module runs in this process (admin /ports); nil otherwise.
	PortSessions func() map[int]int
	Log          logrus.FieldLogger
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	deps    Deps
	log     logrus.FieldLogger
	engine  *gin.Engine
	snap    atomic.Pointer[snapshot]
	miners  *cache[*cachedMiner]
	health  *cache[*Health]
	limiter *limiter
	slow    slowState // top miners and totals, rebuilt less often
	chartMu sync.Mutex
	lastAdd time.Time // the chart slot this process last recorded
	now     func() time.Time
}

// New builds the API; Run serves it.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Coin == nil || deps.Daemon == nil {
		return nil, errors.New("api: store, coin and daemon are required")
	}
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = 5 * time.Second
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 10 * time.Minute
	}
	log := deps.Log
	if log == nil {
		log = logrus.New()
	}
	s := &Server{
		cfg: cfg, deps: deps, log: log, now: time.Now,
		miners: newCache[*cachedMiner](cfg.UpdateInterval, 20_000),
		health: newCache[*Health](time.Second, 1),
	}
	if cfg.RateLimit > 0 {
		s.limiter = newLimiter(cfg.RateLimit)
	}
	if cfg.Frontend != "" {
		if st, err := os.Stat(filepath.Join(cfg.Frontend, "index.html")); err != nil || st.IsDir() {
			log.Warnf("api.frontend: %s has no index.html (run `make build`); the frontend is not served", cfg.Frontend)
			s.cfg.Frontend = ""
		}
	}
	var err error
	if s.engine, err = s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler is the API's http.Handler (tests serve it with httptest).
func (s *Server) Handler() http.Handler { return s.engine }

// Run rebuilds the snapshot every UpdateInterval and serves HTTP on the
// configured address until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go s.refreshLoop(ctx)
	s.log.Infof("api serving http://%s", ln.Addr())
	if err := httpx.ServeLimited(ctx, ln, s.engine, s.cfg.Limits); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

// refreshLoop rebuilds the snapshot until ctx ends. The first build runs
// at once so /stats has data as soon as the server answers.
func (s *Server) refreshLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.UpdateInterval)
	defer t.Stop()
	for {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warnf("api: stats snapshot: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) routes() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(gin.Recovery(), limitBody)
	// Only listed proxies may name the client; an empty list means the
	// socket's address is the client, whatever the headers say.
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api.trustedProxies: %w", err)
	}
	e.ForwardedByClientIP = len(s.cfg.TrustedProxies) > 0
	e.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	e.Use(s.cors)
	if s.deps.Metrics != nil {
		e.GET("/metrics", gin.WrapH(s.deps.Metrics))
	}
	// The API answers both at / (direct) and at /api (what the frontend
	// asks, so it works the same behind nginx and on the API port).
	for _, prefix := range []string{"", "/api"} {
		g := e.Group(prefix)
		g.GET("/health", s.getHealth) // not rate limited: monitors poll it
		pub := g.Group("", s.rateLimit)
		pub.GET("/stats", s.getStats)
		pub.GET("/workers", s.getWorkers)
		pub.GET("/blocks", s.getBlocks)
		pub.GET("/payments", s.getPayments)
		pub.GET("/top", s.getTop)
		pub.POST("/miner/threshold", s.setThreshold)
		// The Node pool's paths, for operators who keep its frontend.
		pub.GET("/stats_address", s.nodeStatsAddress)
		pub.GET("/get_payments", s.nodePayments)
		pub.GET("/get_blocks", s.nodeBlocks)
		pub.GET("/get_top10miners", s.nodeTop)
		adm := g.Group("/admin", s.rateLimit, s.admin)
		adm.GET("/stats", s.adminStats)
		adm.GET("/users", s.adminUsers)
		adm.GET("/payments", s.adminPayments)
		adm.GET("/ports", s.adminPorts)
	}
	e.NoRoute(s.noRoute)
	return e, nil
}

// cors answers with the configured origins; "*" allows any.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin != "" {
		for _, o := range s.cfg.CORSOrigins {
			if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
				c.Header("Access-Control-Allow-Origin", o)
				c.Header("Vary", "Origin")
				c.Header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				c.Header("Access-Control-Allow-Headers", "Content-Type, Authorization")
				break
			}
		}
	}
	if c.Request.Method == http.MethodOptions {
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

// admin lets a request through only with the configured bearer token,
// compared in constant time. Client addresses and forwarded headers play no
// part: a request from localhost is no more trusted than any other.
func (s *Server) admin(c *gin.Context) {
	if !s.cfg.AdminToken.IsSet() {
		fail(c, http.StatusNotFound, "admin endpoints are off (set api.adminToken)")
		return
	}
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	want := s.cfg.AdminToken.Reveal()
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(want)) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="rxpool admin"`)
		fail(c, http.StatusUnauthorized, "admin endpoints need Authorization: Bearer <api.adminToken>")
		return
	}
	c.Next()
}

// noRoute serves the frontend's files for other GETs, and a JSON 404.
func (s *Server) noRoute(c *gin.Context) {
	p := c.Request.URL.Path
	if s.cfg.Frontend != "" && (c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead) && !strings.HasPrefix(p, "/api/") {
		// Cleaned as an absolute path first, so ".." cannot leave the directory.
		name := filepath.Join(s.cfg.Frontend, filepath.FromSlash(path.Clean("/"+p)))
		if st, err := os.Stat(name); err == nil && !st.IsDir() {
			c.File(name)
			return
		}
		if p == "/" || !strings.Contains(filepath.Base(p), ".") {
			c.File(filepath.Join(s.cfg.Frontend, "index.html"))
			return
		}
	}
	// The path is not echoed: a 1 MB path would get a 1 MB reply.
	fail(c, http.StatusNotFound, "no such endpoint (see docs/api.md)")
}

// limitBody refuses a body declared larger than MaxBody at once, and caps
// the read of any other, so no handler buffers more than MaxBody.
func limitBody(c *gin.Context) {
	if c.Request.ContentLength > MaxBody {
		c.Header("Connection", "close") // the body is not read
		fail(c, http.StatusRequestEntityTooLarge, bodyTooLarge)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody)
	c.Next()
}

var bodyTooLarge = fmt.Sprintf("request body larger than %d bytes", MaxBody)

// tooLarge reports whether err is the body limit of limitBody.
func tooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// fail answers {"error": msg}, msg cut to maxErrorText bytes.
func fail(c *gin.Context, status int, msg string) {
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText], "") + "…"
	}
	c.AbortWithStatusJSON(status, gin.H{"error": msg})
}

// internal logs err and answers a 503: everything the API reads comes from
// Redis or the daemon, so an error means a dependency is not answering.
func (s *Server) internal(c *gin.Context, what string, err error) {
	s.log.Warnf("api: %s: %v", what, err)
	fail(c, http.StatusServiceUnavailable, what+": storage unavailable, try again shortly")
}

// pct is 100 × a / b, 0 when b is 0, rounded to 0.01.
func pct(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(10000*a/b) / 100
}
