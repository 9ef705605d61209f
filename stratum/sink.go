package stratum

import (
	"context"
	"time"
)

// Share is an accepted share as storage records it.
type Share struct {
	Address    string
	Worker     string
	Scheme     string
	IP         string
	Difficulty uint64 // the job's difficulty: what the share is credited with
	HashDiff   uint64 // the difficulty the hash actually reached
	Height     uint64 // height of the block template the share was for
	Stale      bool   // for the previous tip, accepted within the grace window
	Time       time.Time
}

// Rejection is a share the pool refused, for per-miner statistics.
type Rejection struct {
	Address string
	Worker  string
	IP      string
	Outcome Outcome
	Reason  string // the error text sent to the miner (Outcome.Message)
	Invalid bool   // counts towards banning (Outcome.Invalid)
	Time    time.Time
	// Stranger: the address has no accepted share in this process. Count
	// it pool-wide, but keep nothing per miner: any valid address is free
	// to make, and per-miner keys for each would let a flood grow storage.
	Stranger bool
}

// Block is a block candidate: a share that met the network difficulty and
// was submitted to the daemon(s).
type Block struct {
	Height        uint64
	Hash          [32]byte
	PrevHash      [32]byte
	Address       string
	Worker        string
	Scheme        string
	NetDifficulty uint64
	ShareDiff     uint64
	// Reward is what the pool's own output receives in the block we built,
	// read from our template's miner transaction.
	Reward      uint64
	Time        time.Time
	SubmitError string // empty when a daemon accepted it
}

// Sink receives what the stratum server observes. Storage implements it.
// Share and Reject are called on the submit path and must not block on I/O
// (batch instead); Share returns an error when storage cannot take shares,
// so the miner is told instead of the share being silently lost.
type Sink interface {
	Share(*Share) error
	Reject(*Rejection)
	Block(context.Context, *Block) error
	// SetNetworkDifficulty is the network difficulty of each new block
	// template (storage sizes the PPLNS share log it keeps by it).
	SetNetworkDifficulty(uint64)
	// MinerConnected/MinerDisconnected bracket a logged-in session.
	MinerConnected(address, worker, ip string)
	MinerDisconnected(address, worker, ip string)
}
