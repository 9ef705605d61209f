package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/daemon"
	"rxpool/randomx"
	"rxpool/stratum"
)

// newDaemon builds the daemon client for the configured coin: one daemon,
// or a failover over the list.
func newDaemon(cfg *config.Config, log logrus.FieldLogger) *daemon.Failover {
	var clients []daemon.Client
	for _, d := range cfg.DaemonList() {
		timeout := d.Timeout.Duration()
		if cfg.Coin.Name == "pastella" {
			clients = append(clients, daemon.NewPastella(d.Name, d.URL(), timeout, log))
		} else {
			clients = append(clients, daemon.NewMonero(d.Name, d.URL(), timeout, log))
		}
	}
	return daemon.NewFailover(clients, 10*time.Second, log)
}

// serve runs the enabled modules until SIGINT/SIGTERM.
func serve(cfg *config.Config, log *logrus.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if !cfg.Stratum.Enabled {
		return fmt.Errorf("no module this build can run is enabled (enabled: %v); stratum is the only module implemented so far", cfg.Modules())
	}
	for _, m := range cfg.Modules() {
		if m != config.ModuleStratum {
			log.Warnf("module %s is enabled but not part of this build yet; it does not run", m)
		}
	}
	d := newDaemon(cfg, log.WithField("module", "daemon"))
	d.Run(ctx)

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
	}, log)
	defer verifier.Close()

	scfg, err := stratum.ConfigFrom(cfg)
	if err != nil {
		return err
	}
	// Storage arrives with the accounting work; until then shares are kept
	// in memory only, and the log says so.
	log.Warn("no storage module in this build: shares and block candidates are only logged and kept in memory")
	srv, err := stratum.NewServer(*scfg, d, verifier, stratum.NewMemorySink(), log.WithField("module", "stratum"))
	if err != nil {
		return err
	}
	if err := srv.Listen(ctx); err != nil {
		return err
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				switch s {
				case syscall.SIGUSR1: // block-notify hook: a new block exists
					srv.Refresh()
				case syscall.SIGHUP: // logrotate moved the file
					if err := config.ReopenLog(log); err != nil {
						log.Errorf("reopening log file: %v", err)
					}
				}
			}
		}
	}()
	log.Infof("rxpool running: coin %s, modules %v", cfg.Coin.Name, cfg.Modules())
	err = srv.Run(ctx)
	log.Info("rxpool stopped")
	return err
}
