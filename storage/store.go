package storage

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/stratum"
)

var (
	// ErrUnavailable is returned by Share while Redis is known to be down.
	ErrUnavailable = errors.New("storage: redis unavailable")
	// ErrBacklog is returned by Share when too many shares wait for Redis.
	ErrBacklog = errors.New("storage: share backlog full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("storage: closed")
)

// Store implements stratum.Sink and every Redis operation of the pool.
type Store struct {
	rdb      redis.UniversalClient
	log      logrus.FieldLogger
	opt      options
	k        keys
	instance string // tells apart Stores sharing one Redis (share batches, online miners)
	now      func() time.Time

	netDiff atomic.Uint64 // latest known network difficulty, sizes PPLNS trimming

	mu      sync.Mutex // guards buf, rejects, online
	buf     []stratum.Share
	rejects []stratum.Rejection
	online  map[string]int // "address:worker" → sessions
	onDirty bool

	// flushMu serialises batch writes, so batch sequence numbers are applied
	// in order and a block candidate sees every earlier batch and no later one.
	flushMu sync.Mutex
	seq     uint64
	retry   []*batch       // numbered batches not yet written, oldest first
	unacked unackedBatches // written, not yet on enough replicas (unacked.go)
	// expired remembers when this Store last set a statistics key's TTL;
	// it is emptied every hour, which also bounds its size.
	expired       map[string]int64
	expiredPruned int64

	healthy atomic.Bool
	lastErr atomic.Pointer[error]
	closed  atomic.Bool
	kick    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
}

var _ stratum.Sink = (*Store)(nil)

type options struct {
	window         float64
	keepFactor     float64
	batchSize      int
	flushInterval  time.Duration
	maxBuffered    int
	healthInterval time.Duration
	heartbeat      time.Duration
	maxWorkers     int              // Config.MaxWorkersPerAddress
	dur            durability       // replica acknowledgements (durable.go)
	now            func() time.Time // tests set a fixed clock
}

// Option changes a Store default.
type Option func(*options)

// WithPPLNSWindow sets N as a multiple of the network difficulty
// (config pplns.window; default 2).
func WithPPLNSWindow(f float64) Option { return func(o *options) { o.window = f } }

// WithKeepFactor sets how many PPLNS windows of weight the share log keeps
// (default 2), so a block still finds a full window when the network
// difficulty rose since the shares were trimmed.
func WithKeepFactor(f float64) Option { return func(o *options) { o.keepFactor = f } }

// WithBatch sets the share batch size (default 1000) and the longest a share
// waits in the buffer (default 100 ms).
func WithBatch(size int, interval time.Duration) Option {
	return func(o *options) { o.batchSize, o.flushInterval = size, interval }
}

// WithHealthInterval sets how often Redis is pinged (default 1 s).
func WithHealthInterval(d time.Duration) Option { return func(o *options) { o.healthInterval = d } }

// New connects to the Redis described by cfg (cluster, sentinel, unix socket
// or TCP, in that order of precedence), loads the scripts and starts the
// batch writer. The prefix defaults to the coin name.
func New(cfg Config, coin *cryptonote.Coin, log logrus.FieldLogger, opts ...Option) (*Store, error) {
	prefix := cfg.Prefix
	if prefix == "" && coin != nil {
		prefix = coin.Name
	}
	if prefix == "" || strings.ContainsAny(prefix, "{} ") {
		return nil, fmt.Errorf("storage: invalid key prefix %q", prefix)
	}
	maxWorkers := func(o *options) { o.maxWorkers = cfg.MaxWorkersPerAddress }
	return newStore(newClient(cfg), prefix, log, append([]Option{maxWorkers, durabilityFromConfig(cfg)}, opts...)...)
}

func newStore(rdb redis.UniversalClient, prefix string, log logrus.FieldLogger, opts ...Option) (*Store, error) {
	o := options{
		window: 2, keepFactor: 2, batchSize: 1000, flushInterval: 100 * time.Millisecond,
		healthInterval: time.Second, heartbeat: 10 * time.Second, now: time.Now,
		dur: durability{want: -1},
	}
	for _, f := range opts {
		f(&o)
	}
	if o.maxWorkers == 0 {
		o.maxWorkers = DefaultMaxWorkers
	}
	if o.window <= 0 || o.keepFactor < 1 || o.batchSize < 1 || o.flushInterval <= 0 || o.maxWorkers < 0 {
		rdb.Close()
		return nil, fmt.Errorf("storage: invalid options (window %v, keep factor %v, batch %d, interval %v, max workers %d)",
			o.window, o.keepFactor, o.batchSize, o.flushInterval, o.maxWorkers)
	}
	if o.maxBuffered == 0 {
		o.maxBuffered = 200 * o.batchSize
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &Store{
		rdb: rdb, log: log, opt: o, k: newKeys(prefix), instance: hex.EncodeToString(id[:]),
		now: o.now, online: map[string]int{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.loadScripts(ctx); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("storage: redis: %w", err)
	}
	if err := s.setupDurability(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	s.healthy.Store(true)
	s.wg.Add(2)
	go s.flushLoop()
	go s.healthLoop()
	return s, nil
}

func newClient(cfg Config) redis.UniversalClient {
	o := &redis.UniversalOptions{
		Addrs: []string{cfg.Addr()}, Password: cfg.Password.Reveal(), DB: cfg.DB, PoolSize: cfg.PoolSize,
		// Fail fast: a failed flush is retried by storage itself, and the
		// stratum side must learn within a second or two that shares are
		// not being recorded.
		DialTimeout: 2 * time.Second, DialerRetries: 2, MaxRetries: 2,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, ContextTimeoutEnabled: true,
	}
	if cfg.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.Host}
	}
	switch {
	case len(cfg.Cluster.Addrs) > 0:
		o.Addrs, o.TLSConfig = cfg.Cluster.Addrs, clusterTLS(o.TLSConfig)
		return redis.NewClusterClient(o.Cluster())
	case cfg.Sentinel.MasterName != "":
		o.Addrs, o.MasterName, o.TLSConfig = cfg.Sentinel.Addrs, cfg.Sentinel.MasterName, clusterTLS(o.TLSConfig)
		return redis.NewFailoverClient(o.Failover())
	}
	so := o.Simple()
	if cfg.Socket != "" {
		so.Network, so.Addr, so.TLSConfig = "unix", cfg.Socket, nil
	}
	return redis.NewClient(so)
}

// clusterTLS drops the ServerName taken from redis.host: with several nodes
// go-redis verifies each against its own address.
func clusterTLS(c *tls.Config) *tls.Config {
	if c != nil {
		c.ServerName = ""
	}
	return c
}

// Client is the underlying Redis client, for health reporting and tests.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Prefix is the key prefix in use.
func (s *Store) Prefix() string { return s.k.prefix }

// Ping checks that Redis answers. On a cluster it asks the master of the
// {prefix} slot, where every script runs: a keyless PING reaches a random
// node, so /health said ok while that master was dead and every share was
// refused. A failed ping reloads the slot map, so Ping follows a promoted
// replica even when no write fails meanwhile.
func (s *Store) Ping(ctx context.Context) error {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return s.rdb.Ping(ctx).Err()
	}
	node, err := cc.MasterForKey(ctx, s.k.tag)
	if err == nil {
		err = node.Ping(ctx).Err()
	}
	if err != nil {
		cc.ReloadState(ctx)
	}
	return err
}

// Healthy reports whether the last flush or health check reached Redis, and
// the last error when not.
func (s *Store) Healthy() (bool, error) {
	if s.healthy.Load() {
		return true, nil
	}
	if e := s.lastErr.Load(); e != nil {
		return false, *e
	}
	return false, ErrUnavailable
}

func (s *Store) setHealth(err error) {
	if err == nil {
		if !s.healthy.Swap(true) {
			s.log.Info("storage: redis is reachable again")
		}
		return
	}
	s.lastErr.Store(&err)
	if s.healthy.Swap(false) {
		s.log.Errorf("storage: redis unavailable, refusing shares until it is back: %v", err)
	}
}

// SetNetworkDifficulty tells storage the network difficulty of the current
// block template; it sizes how much of the PPLNS share log is kept. Block
// candidates update it too.
func (s *Store) SetNetworkDifficulty(d uint64) {
	if d > 0 {
		s.netDiff.Store(d)
	}
}

// healthLoop pings Redis so an outage is noticed even without shares, and
// retries a failed batch once Redis answers again.
func (s *Store) healthLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.healthInterval)
	defer t.Stop()
	lastBeat := time.Time{}
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.opt.healthInterval+2*time.Second)
		// Only a flush (of the backlog, or of nothing) marks storage healthy
		// again, so a ping cannot hide a batch that keeps failing.
		err := s.Ping(ctx)
		if err != nil {
			s.setHealth(err)
		} else if !s.healthy.Load() {
			err = s.Flush(ctx)
		}
		if err == nil && (s.onlineDirty() || time.Since(lastBeat) >= s.opt.heartbeat) {
			if err := s.writeOnline(ctx); err != nil {
				s.log.Warnf("storage: writing connected miners: %v", err)
			} else {
				lastBeat = time.Now()
			}
		}
		cancel()
	}
}

// Close flushes the buffered shares (until ctx ends), removes this process's
// connected-miner entry and closes the client. Shares offered afterwards
// are refused with ErrClosed.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	var err error
	for {
		if err = s.Flush(ctx); err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		s.flushMu.Lock()
		n := 0
		for _, b := range s.retry {
			n += len(b.shares)
		}
		s.flushMu.Unlock()
		err = fmt.Errorf("storage: %d shares not written at close: %w", n, err)
	}
	s.closeUnacked(ctx) // says how many written batches replicas may lack
	s.removeOnline(ctx)
	return errors.Join(err, s.rdb.Close())
}
