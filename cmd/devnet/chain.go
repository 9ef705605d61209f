package main

import (
	"context"
	"time"

	"rxpool/cryptonote"
)

// chain is a coin's side of a devnet: its daemon and two wallets, the
// pool's and the miner's, each behind its own wallet RPC process.
type chain interface {
	coin() *cryptonote.Coin
	poolAddress() string
	minerAddress() string
	// describe says where the daemon and the wallets listen.
	describe() string
	// configure writes the daemon's and the pool wallet's connection
	// settings into the pool configuration.
	configure(set func(section, key string, v any))
	// minerMode is rxminer's --mode on this chain.
	minerMode() string
	// received is what the miner's wallet holds (locked and unlocked), once
	// it has seen every block the daemon has.
	received(ctx context.Context) (uint64, error)
	// advance mines one block outside the pool, as the rest of a network
	// would.
	advance(ctx context.Context) error
	// mempool is the number of transactions waiting to be mined.
	mempool(ctx context.Context) (int, error)
	stop()
}

// coinSetup is what differs between the coins before a chain exists: the
// defaults of the flags that depend on the coin, and how to start it.
type coinSetup struct {
	dir, config string
	advance     time.Duration
	start       func(ctx context.Context, dir string, o options, say func(string, ...any)) (chain, error)
}

var coinSetups = map[string]coinSetup{
	"monero": {dir: ".devnet", config: "deploy/devnet/config.json", advance: 30 * time.Second, start: startMonero},
	// No outside blocks by default: on 2 cores every hash the devnet spent
	// on them would be one rxminer does not spend on pool blocks, which
	// mature each other just as well and are credited too.
	"pastella": {dir: ".devnet-pastella", config: "deploy/devnet/pastella.json", advance: 0, start: startPastella},
}
