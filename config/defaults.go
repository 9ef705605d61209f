package config

import (
	"time"

	"rxpool/cryptonote"
	"rxpool/randomx"
	"rxpool/storage"
	"rxpool/stratum"
)

// The defaults: what a configuration file may leave out, per coin.

// coinPaymentDefaults holds the payment amounts that depend on the coin and
// cannot be derived from its profile.
var coinPaymentDefaults = map[*cryptonote.Coin]struct{ minPayment, denomination, transferFee uint64 }{
	// The guide's values; 1000 is Pastella's MINIMUM_FEE, the flat fee the
	// Wallet-API charges per transaction.
	cryptonote.Pastella: {minPayment: 100_000, denomination: 1_000, transferFee: 1_000},
	// 0.01 XMR minimum, 0.0001 XMR rounding and fee estimate.
	cryptonote.Monero: {minPayment: 10_000_000_000, denomination: 100_000_000, transferFee: 100_000_000},
}

// payoutConfirmations is how deep a payout transaction must be before it
// counts as confirmed: ordinary outputs unlock after 10 blocks on both coins
// (the coinbase depth, blockUnlocker.depth, differs).
const payoutConfirmations = 10

// Defaults returns the configuration used for every key the file leaves out,
// for the given coin profile. It is not valid by itself: the pool address, a
// daemon and the stratum ports have no defaults.
func Defaults(coin *cryptonote.Coin) *Config {
	pd, ok := coinPaymentDefaults[coin]
	if !ok { // a new profile without entries: derive something sane
		pd.minPayment, pd.denomination, pd.transferFee = coin.Units/100, coin.Units/100_000, coin.Units/100_000
	}
	return &Config{
		Coin:                 coin,
		CoinName:             coin.Name,
		Symbol:               coin.Symbol,
		CoinUnits:            coin.Units,
		CoinDecimalPlaces:    coin.DecimalPlaces,
		CoinDifficultyTarget: int(coin.BlockTime / time.Second),
		CNAlgorithm:          "randomx",
		IsRandomX:            true,
		Log:                  LogConfig{Level: "info", Format: LogText},
		WalletAPI:            WalletAPIConfig{Host: "127.0.0.1", Timeout: 30_000},
		Stratum: StratumConfig{
			Enabled:                 true,
			BindIP:                  "0.0.0.0",
			BlockRefreshInterval:    1000,
			TemplateRefreshInterval: 10,
			MinerTimeout:            600,
			LoginTimeout:            10,
			MaxLineLength:           10240,
			MaxConnectionsPerIP:     1000,
			ConnectionRate:          20,
			ConnectionBurst:         200,
			ShareGraceWindow:        5,
		},
		VarDiff: VarDiffConfig{
			Enabled: true, MinDiff: 100, MaxDiff: 100_000_000,
			TargetTime: 30, RetargetTime: 15, VariancePercent: 30, MaxJump: 50,
		},
		FixedDiff: FixedDiffConfig{Enabled: true, AddressSeparator: "."},
		Banning:   BanningConfig{Enabled: true, Time: 120, InvalidPercent: 80, CheckThreshold: 30}, // on, unlike the Node pool: junk costs a hash each
		RandomX:   RandomXConfig{Mode: string(randomx.ModeAuto), QueueSize: 1024},
		Payments: PaymentsConfig{
			Interval:      300,
			MinPayment:    pd.minPayment,
			Denomination:  pd.denomination,
			TransferFee:   pd.transferFee,
			MaxAddresses:  15,
			Scheme:        stratum.SchemePPLNS,
			Confirmations: payoutConfirmations,
			DropGrace:     Seconds(payoutConfirmations * coin.BlockTime / time.Second),
		},
		BlockUnlocker: BlockUnlockerConfig{
			Enabled: true, Interval: 30, Depth: coin.UnlockDepth,
			PoolFee: 1, SoloFee: 1, FinderReward: 1,
		},
		PPLNS: PPLNSConfig{Window: 2},
		// The prefix is the lower-case profile name, unlike the Node pool's
		// "Pastella:", so the two never write into each other's keys.
		Redis:   RedisConfig{Host: "127.0.0.1", Port: 6379, Prefix: coin.Name, MaxWorkersPerAddress: storage.DefaultMaxWorkers},
		Metrics: MetricsConfig{BindIP: "127.0.0.1", Port: 9117},
		API: APIConfig{
			Enabled: true, BindIP: "0.0.0.0", Port: 8117, UpdateInterval: 5,
			CORSOrigins: []string{"*"}, RateLimit: 20, OfflineAfter: 600, TrustedProxies: []string{},
		},
	}
}
