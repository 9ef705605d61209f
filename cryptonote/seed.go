package cryptonote

// RandomX seed epochs (Monero rx-slow-hash.c, copied by PastellaCore): the
// key for height h is the id of the block at SeedHeight(h), which moves
// every epochBlocks blocks, lag blocks after the epoch boundary so that
// miners can prepare the new dataset in advance.
const (
	DefaultSeedEpochBlocks = 2048
	DefaultSeedEpochLag    = 64
)

// SeedHeight returns the height of the block whose id keys RandomX at
// height h. epochBlocks must be a power of two, as the daemons require; 0
// means no epochs (always the genesis block).
func SeedHeight(h, epochBlocks, lag uint64) uint64 {
	if epochBlocks == 0 || h <= epochBlocks+lag {
		return 0
	}
	return (h - lag - 1) &^ (epochBlocks - 1)
}

// NextSeedHeight is the seed height Monero announces as next_seed_hash:
// the seed that will be in force lag blocks from now.
func NextSeedHeight(h, epochBlocks, lag uint64) uint64 {
	return SeedHeight(min(h, ^uint64(0)-lag)+lag, epochBlocks, lag)
}
