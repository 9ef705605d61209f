// Package config reads rxpool's JSON configuration into typed structs,
// fills in coin-dependent defaults and validates the result.
//
// The keys follow the Pastella operator guide (config.json.example of the
// Node.js pool) so an operator's existing file mostly carries over; keys of
// the Node pool that rxpool does not use are reported, not ignored, so no
// setting silently does nothing. docs/configuration.md documents every key.
//
// The configuration is returned as a value to pass explicitly; the package
// keeps no global state.
package config

import (
	"net"
	"strconv"
	"time"

	"rxpool/cryptonote"
	"rxpool/storage"
)

// Seconds is a duration given in whole seconds in the file.
type Seconds uint32

// Duration converts to a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

// Millis is a duration given in milliseconds in the file (used where the
// Node pool used milliseconds, so copied values keep their meaning).
type Millis uint32

// Duration converts to a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// Module names, as returned by (*Config).Modules.
const (
	ModuleStratum       = "stratum"
	ModuleAPI           = "api"
	ModuleBlockUnlocker = "blockUnlocker"
	ModulePayments      = "payments"
)

// Config is the whole configuration. Parse and Load return it filled with
// defaults and validated.
type Config struct {
	// Coin is the profile selected by CoinName; Parse and Validate set it.
	Coin *cryptonote.Coin `json:"-"`
	// PoolAddr is PoolAddress decoded; Validate sets it.
	PoolAddr *cryptonote.Address `json:"-"`

	CoinName    string `json:"coin"`
	Symbol      string `json:"symbol"`
	PoolHost    string `json:"poolHost"`
	PoolAddress string `json:"poolAddress"`

	// Coin facts kept from the Node pool's file. They cannot be changed (the
	// profile decides them), so they are only checked against it.
	CoinUnits            uint64 `json:"coinUnits"`
	CoinDecimalPlaces    int    `json:"coinDecimalPlaces"`
	CoinDifficultyTarget int    `json:"coinDifficultyTarget"`
	CNAlgorithm          string `json:"cnAlgorithm"`
	IsRandomX            bool   `json:"isRandomX"`
	CNVariant            int    `json:"cnVariant"`
	CNHalfVariant        int    `json:"cnHalfVariant"`
	CNBlobType           int    `json:"cnBlobType"`

	// InstanceID tells apart stratum processes sharing one Redis: it goes into
	// the extra nonce so their block templates never collide. 0 = derive one
	// at start-up from a counter in Redis.
	InstanceID uint32 `json:"instanceId"`

	Log LogConfig `json:"log"`

	// Daemon is the guide's single daemon; Daemons is a failover list. Use
	// one or the other; DaemonList returns whichever is set.
	Daemon  *DaemonConfig  `json:"daemon"`
	Daemons []DaemonConfig `json:"daemons"`

	WalletAPI WalletAPIConfig `json:"walletApi"`
	Stratum   StratumConfig   `json:"stratum"`
	// Ports is keyed by port number as a string, as in the guide. Use
	// SortedPorts for a list with the numbers parsed.
	Ports         map[string]PortConfig `json:"ports"`
	VarDiff       VarDiffConfig         `json:"varDiff"`
	FixedDiff     FixedDiffConfig       `json:"fixedDiff"`
	Banning       BanningConfig         `json:"banning"`
	RandomX       RandomXConfig         `json:"randomx"`
	Payments      PaymentsConfig        `json:"payments"`
	BlockUnlocker BlockUnlockerConfig   `json:"blockUnlocker"`
	PPLNS         PPLNSConfig           `json:"pplns"`
	Redis         RedisConfig           `json:"redis"`
	API           APIConfig             `json:"api"`
	Metrics       MetricsConfig         `json:"metrics"`
}

// LogConfig selects the log level, format and destination.
type LogConfig struct {
	Level  string `json:"level"`  // a logrus level: trace, debug, info, warn, error, fatal, panic
	Format string `json:"format"` // "text" or "json"
	File   string `json:"file"`   // path appended to; "" = stderr
}

// DaemonConfig is one coin daemon's RPC endpoint.
type DaemonConfig struct {
	Name    string `json:"name"` // for logs; default "host:port"
	Host    string `json:"host"`
	Port    int    `json:"port"`
	Timeout Millis `json:"timeout"`
}

// setDefaults is called by the decoder on every new daemon entry, so that
// each element of "daemons" gets defaults, not only the first.
func (d *DaemonConfig) setDefaults() {
	d.Host = "127.0.0.1"
	d.Timeout = 10_000
}

// URL is the daemon's base URL, e.g. "http://127.0.0.1:21001"; append the
// RPC path ("/json_rpc", "/info").
func (d DaemonConfig) URL() string { return httpURL(d.Host, d.Port) }

// WalletAPIConfig is the wallet used for payouts: Pastella-Wallet-API (REST,
// X-API-KEY) or monero-wallet-rpc (JSON-RPC, optional digest auth).
type WalletAPIConfig struct {
	Host           string `json:"host"`
	Port           int    `json:"port"`
	APIKey         Secret `json:"apiKey"`
	WalletFile     string `json:"walletFile"`
	WalletPassword Secret `json:"walletPassword"`
	RPCUser        string `json:"rpcUser"`
	RPCPassword    Secret `json:"rpcPassword"`
	Timeout        Millis `json:"timeout"`
}

// URL is the wallet's base URL, e.g. "http://127.0.0.1:21002".
func (w WalletAPIConfig) URL() string { return httpURL(w.Host, w.Port) }

func httpURL(host string, port int) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// StratumConfig configures the miner-facing server.
type StratumConfig struct {
	Enabled bool   `json:"enabled"`
	BindIP  string `json:"bindIp"` // "::" listens on IPv4 and IPv6
	// BlockRefreshInterval is how often the daemon is polled for a new tip.
	BlockRefreshInterval Millis `json:"blockRefreshInterval"`
	// TemplateRefreshInterval forces a new template on an unchanged tip so
	// newly arrived transactions (the pool's own payouts too) get mined.
	TemplateRefreshInterval Seconds `json:"templateRefreshInterval"`
	MinerTimeout            Seconds `json:"minerTimeout"` // idle connections are dropped after this
	LoginTimeout            Seconds `json:"loginTimeout"` // a connection must log in within this
	MaxLineLength           int     `json:"maxLineLength"`
	MaxConnectionsPerIP     int     `json:"maxConnectionsPerIP"` // 0 = unlimited
	// MaxConnections caps the process's open stratum connections, below its
	// file limit so Redis, the daemons and the API keep descriptors. 0 =
	// the file limit less a fifth (at least 256).
	MaxConnections int `json:"maxConnections"`
	// ConnectionRate and ConnectionBurst are a token bucket of new
	// connections per address (an IPv4 address, an IPv6 /64): on average
	// ConnectionRate a second, ConnectionBurst at once. 0 = unlimited.
	ConnectionRate  float64 `json:"connectionRate"`
	ConnectionBurst int     `json:"connectionBurst"`
	// ShareGraceWindow keeps accepting shares for the previous tip this long
	// after a new one, so in-flight work is not rejected.
	ShareGraceWindow Seconds `json:"shareGraceWindow"`
}

// PortConfig is one stratum listening port.
type PortConfig struct {
	Port          int    `json:"-"` // set by SortedPorts from the map key
	Diff          uint64 `json:"diff"`
	Desc          string `json:"desc"`
	TLS           bool   `json:"tls"`
	TLSCert       string `json:"tlsCert"`
	TLSKey        string `json:"tlsKey"`
	ProxyProtocol bool   `json:"proxyProtocol"` // expect a PROXY protocol v1/v2 header
	// TrustedProxies are the load balancers (IPs or CIDRs) allowed to
	// connect to a proxyProtocol port, each connection with a header;
	// anyone else is refused, so no client can forge its address. Required
	// with proxyProtocol.
	TrustedProxies []string `json:"trustedProxies"`
	Hidden         bool     `json:"hidden"` // not listed by the API
	// NiceHash reserves the nonce's top byte per connection (rented
	// hashrate, one upstream connection per rig); see docs/configuration.md.
	NiceHash bool `json:"nicehash"`
}

// VarDiffConfig configures per-miner difficulty retargeting.
type VarDiffConfig struct {
	Enabled         bool    `json:"enabled"`
	MinDiff         uint64  `json:"minDiff"`
	MaxDiff         uint64  `json:"maxDiff"`
	TargetTime      Seconds `json:"targetTime"`      // wanted time between shares
	RetargetTime    Seconds `json:"retargetTime"`    // how often to retarget
	VariancePercent float64 `json:"variancePercent"` // tolerated deviation from targetTime
	MaxJump         float64 `json:"maxJump"`         // largest change per retarget, percent
}

// FixedDiffConfig lets a miner pick a difficulty with "ADDRESS<sep>DIFF".
type FixedDiffConfig struct {
	Enabled          bool   `json:"enabled"`
	AddressSeparator string `json:"addressSeparator"`
}

// BanningConfig bans IPs that send mostly invalid shares.
type BanningConfig struct {
	Enabled        bool    `json:"enabled"`
	Time           Seconds `json:"time"`
	InvalidPercent float64 `json:"invalidPercent"`
	CheckThreshold uint32  `json:"checkThreshold"` // shares seen before judging
}

// RandomXConfig configures share verification.
type RandomXConfig struct {
	Mode           string `json:"mode"`
	Workers        int    `json:"workers"` // 0 = one per CPU core
	QueueSize      int    `json:"queueSize"`
	LargePages     bool   `json:"largePages"`
	DatasetThreads int    `json:"datasetThreads"` // 0 = one per CPU core
}

// PaymentsConfig configures the payout processor. Amounts are atomic units.
type PaymentsConfig struct {
	Enabled              bool    `json:"enabled"`
	Interval             Seconds `json:"interval"`
	MinPayment           uint64  `json:"minPayment"`
	MaxPayment           uint64  `json:"maxPayment"` // 0 = no cap
	Denomination         uint64  `json:"denomination"`
	TransferFee          uint64  `json:"transferFee"`
	DynamicTransferFee   bool    `json:"dynamicTransferFee"`
	MinerPayFee          bool    `json:"minerPayFee"`
	MaxAddresses         int     `json:"maxAddresses"`
	MaxTransactionAmount uint64  `json:"maxTransactionAmount"` // 0 = no cap
	Scheme               string  `json:"scheme"`
	Priority             int     `json:"priority"` // monero-wallet-rpc transfer priority
	// Confirmations: a sent payout counts as confirmed this many blocks
	// deep; DropGrace: how long its transaction may be failed or unknown
	// to the wallet and daemon before it counts as dropped and is paid again.
	Confirmations uint64  `json:"confirmations"`
	DropGrace     Seconds `json:"dropGrace"`
}

// BlockUnlockerConfig configures block confirmation and reward crediting.
// Fees are percents as written; the BP methods give exact basis points for
// money arithmetic.
type BlockUnlockerConfig struct {
	Enabled      bool    `json:"enabled"`
	Interval     Seconds `json:"interval"`
	Depth        uint64  `json:"depth"`
	PoolFee      float64 `json:"poolFee"`
	SoloFee      float64 `json:"soloFee"`
	FinderReward float64 `json:"finderReward"`
	// FeeAddress, when set, receives the pool fee as a payable balance;
	// otherwise the fee stays in the pool wallet, recorded in the ledger.
	FeeAddress string `json:"feeAddress"`
}

// PoolFeeBP is PoolFee in basis points (1% = 100).
func (b BlockUnlockerConfig) PoolFeeBP() uint32 { return basisPoints(b.PoolFee) }

// SoloFeeBP is SoloFee in basis points.
func (b BlockUnlockerConfig) SoloFeeBP() uint32 { return basisPoints(b.SoloFee) }

// FinderRewardBP is FinderReward in basis points.
func (b BlockUnlockerConfig) FinderRewardBP() uint32 { return basisPoints(b.FinderReward) }

// PPLNSConfig sizes the PPLNS window.
type PPLNSConfig struct {
	// Window is N as a multiple of the network difficulty of the block.
	Window float64 `json:"window"`
}

// RedisConfig is the "redis" section: storage's own Config, so the
// section is defined once, beside the code that connects.
type RedisConfig = storage.Config

// RedisSentinelConfig names a Sentinel-managed master.
type RedisSentinelConfig = storage.SentinelConfig

// RedisClusterConfig lists Redis Cluster seed nodes.
type RedisClusterConfig = storage.ClusterConfig

// APIConfig configures the HTTP API.
type APIConfig struct {
	Enabled        bool     `json:"enabled"`
	BindIP         string   `json:"bindIp"`
	Port           int      `json:"port"`
	UpdateInterval Seconds  `json:"updateInterval"`
	CORSOrigins    []string `json:"corsOrigins"`
	AdminToken     Secret   `json:"adminToken"` // "" = admin endpoints off
	RateLimit      float64  `json:"rateLimit"`  // requests/s per IP, 0 = unlimited
	OfflineAfter   Seconds  `json:"offlineAfter"`
	// TrustedProxies are the reverse proxies (IPs or CIDRs, e.g. nginx on
	// 127.0.0.1) whose X-Forwarded-For / X-Real-IP names the client. Only
	// rate limits and miner settings use the client IP; admin access never.
	TrustedProxies []string `json:"trustedProxies"`
	// Frontend is the directory of the built web frontend served at "/";
	// "" serves none (nginx serves it in production).
	Frontend string `json:"frontend"`
}

// MetricsConfig is a listener serving only Prometheus /metrics, for
// processes without the API module (a stratum-only process has the share
// and verifier metrics no other process has). With the API module on,
// /metrics is also served on the API port.
type MetricsConfig struct {
	Enabled bool   `json:"enabled"`
	BindIP  string `json:"bindIp"`
	Port    int    `json:"port"`
}
