package main

import (
	"crypto/tls"
	"fmt"

	"rxpool/config"
	"rxpool/payments"
	"rxpool/stratum"
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
		RelayGrace: cfg.WalletAPI.Timeout.Duration() + payments.DefaultRelayGrace,
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
