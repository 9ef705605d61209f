package api

import (
	"time"

	"rxpool/storage"
)

// JSON shapes of the API (docs/api.md). Amounts are integers in atomic
// units, times unix milliseconds (0 = never), hashrates H/s.

// Hashrates are hashrates over the standard windows.
type Hashrates struct {
	M10 float64 `json:"10m"`
	H1  float64 `json:"1h"`
	H6  float64 `json:"6h"`
	H24 float64 `json:"24h"`
}

func hashrates(m map[time.Duration]float64) Hashrates {
	return Hashrates{M10: m[10*time.Minute], H1: m[time.Hour], H6: m[6*time.Hour], H24: m[24*time.Hour]}
}

// Shares are share counters.
type Shares struct {
	Accepted uint64 `json:"accepted"`
	Stale    uint64 `json:"stale"`
	Invalid  uint64 `json:"invalid"`
	Rejected uint64 `json:"rejected"`
	Hashes   uint64 `json:"hashes"`
}

func shares(c storage.Counters) Shares {
	return Shares{Accepted: c.Accepted, Stale: c.Stale, Invalid: c.Invalid, Rejected: c.Rejected, Hashes: c.Hashes}
}

// Stats is GET /stats.
type Stats struct {
	Updated  int64     `json:"updated"`
	Pool     Pool      `json:"pool"`
	Network  Network   `json:"network"`
	Config   Public    `json:"config"`
	Blocks   []Block   `json:"blocks"`
	Payments []Payment `json:"payments"`
	Charts   Charts    `json:"charts"`
}

// Pool is the pool part of /stats.
type Pool struct {
	Hashrate         float64            `json:"hashrate"`
	Hashrates        Hashrates          `json:"hashrates"`
	HashrateByScheme map[string]float64 `json:"hashrateByScheme"`
	Miners           int                `json:"miners"`
	Workers          int                `json:"workers"`
	Connections      int                `json:"connections"`
	ActiveMiners     int64              `json:"activeMiners"`
	Shares           Shares             `json:"shares"`
	BlocksFound      int64              `json:"blocksFound"`
	BlocksPending    int64              `json:"blocksPending"`
	BlocksConfirmed  uint64             `json:"blocksConfirmed"`
	BlocksOrphaned   uint64             `json:"blocksOrphaned"`
	LastBlockFound   int64              `json:"lastBlockFound"`
	PPLNSWindow      Window             `json:"pplnsWindow"`
	Effort           map[string]float64 `json:"effort"`
	PaymentsSent     int64              `json:"paymentsSent"`
	TotalPaid        uint64             `json:"totalPaid"`
}

// Window is how full the PPLNS window is, in share weight.
type Window struct {
	Size    uint64  `json:"size"`
	Filled  uint64  `json:"filled"`
	Percent float64 `json:"percent"`
}

// Network is the chain as the daemon sees it.
type Network struct {
	OK         bool      `json:"ok"`
	Height     uint64    `json:"height"`
	Difficulty uint64    `json:"difficulty"`
	LastBlock  LastBlock `json:"lastBlock"`
}

// LastBlock is the chain's newest block.
type LastBlock struct {
	Height uint64 `json:"height"`
	Hash   string `json:"hash"`
	Time   int64  `json:"time"`
	Reward uint64 `json:"reward"`
}

// Public is the part of the configuration miners need.
type Public struct {
	Coin               string  `json:"coin"`
	Symbol             string  `json:"symbol"`
	Units              uint64  `json:"units"`
	Decimals           int     `json:"decimals"`
	Algo               string  `json:"algo"`
	BlockTime          int     `json:"blockTime"`
	PoolFee            float64 `json:"poolFee"`
	SoloFee            float64 `json:"soloFee"`
	FinderReward       float64 `json:"finderReward"`
	Depth              uint64  `json:"depth"`
	PPLNSWindow        float64 `json:"pplnsWindow"`
	PaymentInterval    int64   `json:"paymentInterval"`
	MinPayment         uint64  `json:"minPayment"`
	MaxPayment         uint64  `json:"maxPayment"`
	Denomination       uint64  `json:"denomination"`
	TransferFee        uint64  `json:"transferFee"`
	Ports              []Port  `json:"ports"`
	FixedDiffSeparator string  `json:"fixedDiffSeparator"`
	SoloPrefix         string  `json:"soloPrefix"`
	OfflineAfter       int64   `json:"offlineAfter"`
}

// Port is a stratum port.
type Port struct {
	Port int    `json:"port"`
	Diff uint64 `json:"diff"`
	Desc string `json:"desc"`
	TLS  bool   `json:"tls"`
}

// Block is a block the pool found.
type Block struct {
	Height        uint64  `json:"height"`
	Hash          string  `json:"hash"`
	Time          int64   `json:"time"`
	Scheme        string  `json:"scheme"`
	Finder        string  `json:"finder"`
	Worker        string  `json:"worker"`
	Status        string  `json:"status"`
	Reward        uint64  `json:"reward"`
	Difficulty    uint64  `json:"difficulty"`
	ShareDiff     uint64  `json:"shareDiff"`
	Effort        float64 `json:"effort"`
	Confirmations uint64  `json:"confirmations"`
	Depth         uint64  `json:"depth"`
}

// Payment is a payout transaction.
type Payment struct {
	ID           uint64 `json:"id"`
	Time         int64  `json:"time"`
	TxHash       string `json:"txHash"`
	Amount       uint64 `json:"amount"`
	Fee          uint64 `json:"fee"`
	Destinations int    `json:"destinations"`
	// Imported: taken over from another pool's books (`pool import`),
	// paid by it before the switch; it has no payment record (ID 0).
	Imported bool `json:"imported,omitempty"`
	// State: sent (waiting for payments.confirmations) or confirmed; a
	// dropped payout is not listed (it is paid again). Absent when imported.
	State string `json:"state,omitempty"`
}

// MinerPayment is one payout to a miner.
type MinerPayment struct {
	ID     uint64 `json:"id"`
	Time   int64  `json:"time"`
	TxHash string `json:"txHash"`
	Amount uint64 `json:"amount"` // received
	Fee    uint64 `json:"fee"`    // the miner's part of the network fee
	// Imported: paid by the pool rxpool took over from (see Payment).
	Imported bool   `json:"imported,omitempty"`
	State    string `json:"state,omitempty"` // as in Payment
}

// Charts are series of [time ms, value] pairs, oldest first.
type Charts struct {
	Hashrate   [][2]float64 `json:"hashrate"`
	Miners     [][2]float64 `json:"miners,omitempty"`
	Workers    [][2]float64 `json:"workers,omitempty"`
	Difficulty [][2]float64 `json:"difficulty,omitempty"`
	// WorkerHashrate: on a miner's page, the hashrate of each of its
	// workers (the 16 with the most hashes in 24 h), by name.
	WorkerHashrate map[string][][2]float64 `json:"workerHashrate,omitempty"`
}

// Miner is GET /stats?address=.
type Miner struct {
	Address         string         `json:"address"`
	Updated         int64          `json:"updated"`
	Balance         int64          `json:"balance"`
	Immature        uint64         `json:"immature"`
	PendingPayment  uint64         `json:"pendingPayment"`
	Paid            uint64         `json:"paid"`
	FeesPaid        uint64         `json:"feesPaid"`
	Threshold       uint64         `json:"threshold"`
	ThresholdCustom bool           `json:"thresholdCustom"`
	Hashrate        float64        `json:"hashrate"`
	Hashrates       Hashrates      `json:"hashrates"`
	LastShare       int64          `json:"lastShare"`
	Shares          Shares         `json:"shares"`
	WorkersOnline   int            `json:"workersOnline"`
	WorkersOffline  int            `json:"workersOffline"`
	Workers         []Worker       `json:"workers"`
	Payments        []MinerPayment `json:"payments"`
	PaymentsTotal   int64          `json:"paymentsTotal"`
	Blocks          []MinerBlock   `json:"blocks"`
	Charts          Charts         `json:"charts"`
}

// Worker is one worker (rig) of a miner.
type Worker struct {
	Name        string    `json:"name"`
	Hashrate    float64   `json:"hashrate"`
	Hashrates   Hashrates `json:"hashrates"`
	LastShare   int64     `json:"lastShare"`
	Accepted    uint64    `json:"accepted"`
	Stale       uint64    `json:"stale"`
	Invalid     uint64    `json:"invalid"`
	Rejected    uint64    `json:"rejected"`
	Hashes      uint64    `json:"hashes"`
	Connections int       `json:"connections"`
	Offline     bool      `json:"offline"`
}

// MinerBlock is a miner's part in a block.
type MinerBlock struct {
	Height    uint64  `json:"height"`
	Hash      string  `json:"hash"`
	Time      int64   `json:"time"`
	Status    string  `json:"status"`
	Scheme    string  `json:"scheme"`
	Share     float64 `json:"share"`
	Amount    uint64  `json:"amount"`
	Estimated bool    `json:"estimated"`
}

// Workers is GET /workers?address=.
type Workers struct {
	Address      string   `json:"address"`
	OfflineAfter int64    `json:"offlineAfter"`
	Workers      []Worker `json:"workers"`
}

// Page is the paging part of a list.
type Page struct {
	Page  int   `json:"page"`
	Limit int   `json:"limit"`
	Total int64 `json:"total"`
	Pages int64 `json:"pages"`
}

// Top is GET /top.
type Top struct {
	By     string     `json:"by"`
	Miners []TopMiner `json:"miners"`
}

// TopMiner is one line of /top.
type TopMiner struct {
	Address   string  `json:"address"`
	Hashrate  float64 `json:"hashrate"`
	Hashes    uint64  `json:"hashes"`
	LastShare int64   `json:"lastShare"`
}

// Health is GET /health.
type Health struct {
	Status         string  `json:"status"` // ok | degraded | unhealthy
	Redis          Check   `json:"redis"`
	Daemons        []Check `json:"daemons"`
	Wallet         *Check  `json:"wallet,omitempty"`
	PaymentsHalted int     `json:"paymentsHalted"`
	// PaymentsPaused: why payments pause, while they do (too few replicas
	// acknowledge the payment journal: redis.minReplicaAcks).
	PaymentsPaused string `json:"paymentsPaused,omitempty"`
	// Sent payouts waiting for their confirmations, and the age of the
	// oldest of them (0 when none).
	UnconfirmedPayouts       uint64   `json:"unconfirmedPayouts"`
	OldestUnconfirmedSeconds float64  `json:"oldestUnconfirmedSeconds"`
	Reasons                  []string `json:"reasons,omitempty"` // why degraded
}

// Check is one dependency's reachability.
type Check struct {
	Name      string  `json:"name"`
	OK        bool    `json:"ok"`
	LatencyMs float64 `json:"latencyMs"`
	Height    uint64  `json:"height,omitempty"`
	Error     string  `json:"error,omitempty"`
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
