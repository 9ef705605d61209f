package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"rxpool/api"
	"rxpool/config"
	"rxpool/payments"
	"rxpool/stratum"
	"rxpool/stratum/proto"
)

// This file maps the JSON configuration (package config) onto the plain
// Config each server package owns, so those packages do not import config.

// paymentsConfig takes the payout settings from the pool configuration.
func paymentsConfig(cfg *config.Config) payments.Config {
	p := cfg.Payments
	return payments.Config{
		Interval: p.Interval.Duration(), MinPayment: p.MinPayment, MaxPayment: p.MaxPayment,
		Denomination: p.Denomination, TransferFee: p.TransferFee, DynamicTransferFee: p.DynamicTransferFee,
		MinerPayFee: p.MinerPayFee, MaxAddresses: p.MaxAddresses, MaxTransactionAmount: p.MaxTransactionAmount,
		PoolAddress: cfg.PoolAddress, Coin: cfg.Coin,
		RelayGrace:    cfg.WalletAPI.Timeout.Duration() + payments.DefaultRelayGrace,
		Confirmations: p.Confirmations, DropGrace: p.DropGrace.Duration(),
	}
}

// stratumConfig takes the stratum server's settings from the pool
// configuration and loads the TLS certificates of its ports. An InstanceID
// of 0 stays 0: runStratum takes one from Redis then.
func stratumConfig(c *config.Config) (*stratum.Config, error) {
	sc := &stratum.Config{
		PoolAddress:     c.PoolAddr,
		InstanceID:      c.InstanceID,
		BindIP:          c.Stratum.BindIP,
		FixedDiff:       c.FixedDiff.Enabled,
		Separator:       c.FixedDiff.AddressSeparator,
		DefaultScheme:   c.Payments.Scheme,
		LoginTimeout:    c.Stratum.LoginTimeout.Duration(),
		MinerTimeout:    c.Stratum.MinerTimeout.Duration(),
		MaxLineLength:   c.Stratum.MaxLineLength,
		MaxConnsPerIP:   c.Stratum.MaxConnectionsPerIP,
		MaxConns:        c.Stratum.MaxConnections,
		ConnRate:        c.Stratum.ConnectionRate,
		ConnBurst:       c.Stratum.ConnectionBurst,
		GraceWindow:     c.Stratum.ShareGraceWindow.Duration(),
		BlockRefresh:    c.Stratum.BlockRefreshInterval.Duration(),
		TemplateRefresh: c.Stratum.TemplateRefreshInterval.Duration(),
		VarDiff: stratum.VarDiff{
			Enabled: c.VarDiff.Enabled, Min: c.VarDiff.MinDiff, Max: c.VarDiff.MaxDiff,
			TargetTime: c.VarDiff.TargetTime.Duration(), RetargetTime: c.VarDiff.RetargetTime.Duration(),
			Variance: c.VarDiff.VariancePercent / 100, MaxJump: c.VarDiff.MaxJump / 100,
		},
		Banning: stratum.Banning{
			Enabled: c.Banning.Enabled, Time: c.Banning.Time.Duration(),
			InvalidPercent: c.Banning.InvalidPercent, CheckThreshold: c.Banning.CheckThreshold,
		},
	}
	for _, p := range c.SortedPorts() {
		port := stratum.Port{Port: p.Port, Diff: p.Diff, Desc: p.Desc, ProxyProtocol: p.ProxyProtocol, NiceHash: p.NiceHash}
		trusted, err := config.ParseIPRanges(p.TrustedProxies)
		if err != nil {
			return nil, fmt.Errorf("ports.%d.trustedProxies%w", p.Port, err)
		}
		port.TrustedProxies = trusted
		if p.TLS {
			cert, err := tls.LoadX509KeyPair(p.TLSCert, p.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("ports.%d: loading TLS certificate: %w", p.Port, err)
			}
			port.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		sc.Ports = append(sc.Ports, port)
	}
	return sc, nil
}

// apiConfig takes the API's settings, and what /stats shows of the pool's,
// from the pool configuration.
func apiConfig(cfg *config.Config) api.Config {
	a, p, u, c := cfg.API, cfg.Payments, cfg.BlockUnlocker, cfg.Coin
	pub := api.Public{
		Coin: c.Name, Symbol: c.Symbol, Units: c.Units, Decimals: c.DecimalPlaces, Algo: proto.Algo,
		BlockTime: int(c.BlockTime / time.Second), PoolFee: u.PoolFee, SoloFee: u.SoloFee,
		FinderReward: u.FinderReward, Depth: u.Depth, PPLNSWindow: cfg.PPLNS.Window,
		PaymentInterval: int64(p.Interval), MinPayment: p.MinPayment, MaxPayment: p.MaxPayment,
		Denomination: p.Denomination, TransferFee: p.TransferFee, FixedDiffSeparator: cfg.FixedDiff.AddressSeparator,
		SoloPrefix: stratum.SchemeSolo + ":", OfflineAfter: int64(a.OfflineAfter), Ports: []api.Port{},
	}
	var all []api.Port
	for _, pc := range cfg.SortedPorts() {
		p := api.Port{Port: pc.Port, Diff: pc.Diff, Desc: pc.Desc, TLS: pc.TLS}
		all = append(all, p)
		if !pc.Hidden {
			pub.Ports = append(pub.Ports, p)
		}
	}
	return api.Config{AllPorts: all,
		Listen:         net.JoinHostPort(a.BindIP, strconv.Itoa(a.Port)),
		UpdateInterval: a.UpdateInterval.Duration(), CORSOrigins: a.CORSOrigins, AdminToken: a.AdminToken,
		RateLimit: a.RateLimit, OfflineAfter: a.OfflineAfter.Duration(), TrustedProxies: a.TrustedProxies,
		Frontend: a.Frontend, Public: pub, PPLNSWindow: cfg.PPLNS.Window, Depth: u.Depth,
		UnconfirmedLimit: unconfirmedLimit(p, c.BlockTime),
	}
}

// unconfirmedLimit is how long a sent payout may wait for its confirmations
// before /health says degraded: the confirmations' block times, plus three
// drop graces for a transaction the chain lost for a while (a reorg, a node
// restart) before it is dropped and paid again, which also covers a
// payments run or two in between.
func unconfirmedLimit(p config.PaymentsConfig, blockTime time.Duration) time.Duration {
	return time.Duration(p.Confirmations)*blockTime + 3*p.DropGrace.Duration()
}
