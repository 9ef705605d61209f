package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/api"
	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/httpx"
	"rxpool/metrics"
	"rxpool/randomx"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/unlocker"
)

// newDaemon builds the daemon client for the configured coin: a failover
// over the configured daemons (one daemon is a failover of one).
func newDaemon(cfg *config.Config, log logrus.FieldLogger) *daemon.Failover {
	var clients []daemon.Client
	for _, d := range cfg.DaemonList() {
		timeout := d.Timeout.Duration()
		if cfg.Coin == cryptonote.Pastella {
			clients = append(clients, daemon.NewPastella(d.Name, d.URL(), timeout, log))
		} else {
			clients = append(clients, daemon.NewMonero(d.Name, d.URL(), timeout, log))
		}
	}
	return daemon.NewFailover(clients, 10*time.Second, log)
}

// serve runs the enabled modules until SIGINT/SIGTERM, then shuts them down
// in order: stratum stops taking shares, storage flushes what it buffered.
func serve(cfg *config.Config, log *logrus.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	m := metrics.New()
	// Every daemon and wallet call made under ctx reports its latency.
	ctx = httpx.WithObserver(ctx, m.RPCObserver())

	run := cfg.Modules() // validation ensures at least one

	storage.RouteRedisLogs(log.WithField("module", "storage"))
	store, err := storage.New(cfg.Redis, cfg.Coin, log.WithField("module", "storage"), storage.WithPPLNSWindow(cfg.PPLNS.Window))
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := store.Close(cctx); err != nil {
			log.Errorf("storage: final flush: %v", err)
		}
	}()
	d := newDaemon(cfg, log.WithField("module", "daemon"))
	d.Run(ctx)

	var wg sync.WaitGroup
	defer wg.Wait()
	// serving is the stratum server once it listens: SIGUSR1 and the API's
	// port counts reach it through this.
	var serving atomic.Pointer[stratum.Server]
	go handleSignals(ctx, log, &serving)
	log.Infof("rxpool running: coin %s, modules %v", cfg.Coin.Name, run)
	if cfg.BlockUnlocker.Enabled {
		u := cfg.BlockUnlocker
		ul := unlocker.New(unlocker.Config{
			Interval: u.Interval.Duration(), Depth: u.Depth,
			FeeBP: u.PoolFeeBP(), SoloFeeBP: u.SoloFeeBP(), FinderBP: u.FinderRewardBP(),
			FeeAddress: u.FeeAddress, ExactReward: cfg.Coin.ViewKey,
		}, store, d, log.WithField("module", "unlocker"))
		wg.Add(1)
		go func() { defer wg.Done(); ul.Run(ctx) }()
	}
	if cfg.Payments.Enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runPayments(ctx, cfg, store, log); err != nil {
				log.Errorf("payments: %v", err)
			}
		}()
	}
	if mc := cfg.Metrics; mc.Enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveMetrics(ctx, net.JoinHostPort(mc.BindIP, strconv.Itoa(mc.Port)), m, log); err != nil {
				log.Error(err)
				stop()
			}
		}()
	}
	if cfg.API.Enabled {
		srvAPI, err := newAPI(cfg, store, d, &serving, m, log)
		if err != nil {
			stop()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srvAPI.Run(ctx); err != nil {
				log.Error(err)
				stop()
			}
		}()
	}
	if cfg.Stratum.Enabled {
		if err := runStratum(ctx, cfg, d, store, m, log, &serving); err != nil {
			stop()
			return err
		}
	} else {
		<-ctx.Done()
	}
	log.Info("rxpool stopping")
	return nil
}

// newAPI builds the HTTP API over the store and daemon(s); the wallet is
// checked by /health and shown to the admin when this deployment pays.
func newAPI(cfg *config.Config, store *storage.Store, d *daemon.Failover, serving *atomic.Pointer[stratum.Server], m *metrics.Metrics, log *logrus.Logger) (*api.Server, error) {
	deps := api.Deps{Store: store, Coin: cfg.Coin, Daemon: d, Daemons: d.Clients(), Metrics: m.Handler(), Log: log.WithField("module", "api")}
	if cfg.Payments.Enabled {
		w, _, err := newWallet(cfg, log.WithField("module", "api"))
		if err != nil {
			return nil, err
		}
		deps.Wallet = w
	}
	if cfg.Stratum.Enabled {
		deps.PortSessions = func() map[int]int {
			if s := serving.Load(); s != nil {
				return s.PortSessions()
			}
			return map[int]int{}
		}
	}
	a, err := api.New(apiConfig(cfg), deps)
	if err != nil {
		return nil, err
	}
	m.WatchPool(func() (metrics.PoolGauges, bool) { return poolGauges(a) })
	return a, nil
}

// serveMetrics serves /metrics alone on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, m *metrics.Metrics, log logrus.FieldLogger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	log.Infof("metrics serving http://%s/metrics", ln.Addr())
	if err := httpx.Serve(ctx, ln, mux); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// poolGauges reads the pool-wide figures of the API's newest snapshot.
func poolGauges(a *api.Server) (metrics.PoolGauges, bool) {
	st, ok := a.Snapshot()
	if !ok {
		return metrics.PoolGauges{}, false
	}
	ps, halted, _ := a.PaymentState()
	p := st.Pool
	return metrics.PoolGauges{
		Hashrate: p.Hashrate, Miners: p.Miners, Workers: p.Workers, Connections: p.Connections,
		BlocksFound: uint64(p.BlocksFound), BlocksPending: uint64(p.BlocksPending),
		BlocksConfirmed: p.BlocksConfirmed, BlocksOrphaned: p.BlocksOrphaned,
		PaymentsSent: ps.Sent, PaymentsFailed: ps.Failed, PaymentsHalted: uint64(halted),
		PayoutsUnconfirmed: ps.Unconfirmed, PayoutsConfirmed: ps.Confirmed, PayoutsDropped: ps.Dropped, OldestUnconfirmed: ps.OldestUnconfirmed,
		NetworkHeight: st.Network.Height, NetworkDifficulty: st.Network.Difficulty,
	}, true
}

// runStratum serves miners until ctx ends; it publishes the server in
// serving once it listens.
func runStratum(ctx context.Context, cfg *config.Config, d daemon.Client, store *storage.Store, m *metrics.Metrics, log *logrus.Logger, serving *atomic.Pointer[stratum.Server]) error {
	mode, err := randomx.ParseMode(cfg.RandomX.Mode)
	if err != nil {
		return err
	}
	workers := cfg.RandomX.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	verifier := randomx.NewVerifier(randomx.VerifierConfig{
		Workers: workers, QueueSize: cfg.RandomX.QueueSize, Mode: mode,
		LargePages: cfg.RandomX.LargePages, DatasetThreads: cfg.RandomX.DatasetThreads,
		Observer: m.VerifierObserver(),
	}, log)
	defer verifier.Close()
	m.WatchVerifier(verifier.Stats)

	scfg, err := stratumConfig(cfg)
	if err != nil {
		return err
	}
	if cfg.InstanceID == 0 {
		// Distinct from every other stratum process on this Redis, so their
		// extra nonces never collide.
		if scfg.InstanceID, err = store.NextInstanceID(ctx); err != nil {
			return err
		}
	}
	log.Infof("stratum instance id %d", scfg.InstanceID)
	// Bans and per-address limits hold in every stratum process of the pool.
	scfg.BanBoard, scfg.ConnBoard = store, store
	srv, err := stratum.NewServer(*scfg, d, verifier, m.Sink(store), log.WithField("module", "stratum"))
	if err != nil {
		return err
	}
	m.WatchStratum(srv.PortSessions)
	m.WatchRefused(srv.Refused)
	if err := srv.Listen(ctx); err != nil {
		return err
	}
	serving.Store(srv)
	log.Infof("stratum serving %d ports", len(srv.Addrs()))
	return srv.Run(ctx)
}

// handleSignals: SIGUSR1 is the block-notify hook (a new block exists, check
// now); SIGHUP reopens the log file after logrotate moved it.
func handleSignals(ctx context.Context, log *logrus.Logger, serving *atomic.Pointer[stratum.Server]) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				if p := serving.Load(); p != nil {
					p.Refresh()
				}
			case syscall.SIGHUP:
				if err := config.ReopenLog(log); err != nil {
					log.Errorf("reopening log file: %v", err)
				} else {
					log.Info("log file reopened (SIGHUP)")
				}
			}
		}
	}
}
