package main

import (
	"rxpool/config"
	"rxpool/payments"
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
