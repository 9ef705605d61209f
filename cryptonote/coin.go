// Package cryptonote holds the CryptoNote data formats a pool needs: varints,
// block template parsing, hashing blobs, block ids, difficulty arithmetic and
// addresses, for every coin profile rxpool supports.
package cryptonote

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Network lists the address prefixes of one network of a coin. A zero prefix
// means the coin has no such address kind on that network.
type Network struct {
	Name       string // "mainnet", "testnet", "stagenet"
	Standard   uint64
	Integrated uint64
	Subaddress uint64
}

// Coin is a coin profile: the facts about a chain that the pool cannot learn
// from the daemon and that defaults in the configuration are derived from.
type Coin struct {
	Name          string // config value of "coin"
	Symbol        string
	Units         uint64 // atomic units per coin
	DecimalPlaces int
	UnlockDepth   uint64        // coinbase maturity in blocks
	BlockTime     time.Duration // target block time
	// MaxReserveSize is the largest reserve_size the daemon handles correctly.
	// Pastella computes reserved_offset assuming a one-byte length varint.
	MaxReserveSize int
	// MaxTxOutputs is the most outputs one payout transaction may have,
	// change included.
	MaxTxOutputs int
	// ViewKey tells whether addresses carry a view key after the spend key.
	ViewKey bool
	// Networks lists the address networks, mainnet first.
	Networks []Network
}

// Pastella is the Pastella profile (PastellaCore src/config/PastellaConfig.h):
// a transparent chain whose addresses encode a single public key.
var Pastella = &Coin{
	Name:           "pastella",
	Symbol:         "PAS",
	Units:          100_000_000,
	DecimalPlaces:  8,
	UnlockDepth:    10,
	BlockTime:      30 * time.Second,
	MaxReserveSize: 127,
	MaxTxOutputs:   90,
	ViewKey:        false,
	Networks: []Network{
		{Name: "mainnet", Standard: 0x198004},
	},
}

// Monero is the Monero profile. Regtest (fakechain) uses mainnet addresses.
var Monero = &Coin{
	Name:          "monero",
	Symbol:        "XMR",
	Units:         1_000_000_000_000,
	DecimalPlaces: 12,
	UnlockDepth:   60,
	BlockTime:     120 * time.Second,
	// monerod 0.18.0.0 (Debian) fails get_block_template with -5 "failed
	// to create block template" for every reserve_size from 128 up, although
	// the RPC documents 255.
	MaxReserveSize: 127,
	MaxTxOutputs:   16,
	ViewKey:        true,
	Networks: []Network{
		{Name: "mainnet", Standard: 18, Integrated: 19, Subaddress: 42},
		{Name: "testnet", Standard: 53, Integrated: 54, Subaddress: 63},
		{Name: "stagenet", Standard: 24, Integrated: 25, Subaddress: 36},
	},
}

var coins = map[string]*Coin{Pastella.Name: Pastella, Monero.Name: Monero}

// CoinByName returns the profile for a config "coin" value (case-insensitive).
func CoinByName(name string) (*Coin, error) {
	if c, ok := coins[strings.ToLower(name)]; ok {
		return c, nil
	}
	names := make([]string, 0, len(coins))
	for n := range coins {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown coin %q (supported: %s)", name, strings.Join(names, ", "))
}

// FormatAmount renders atomic units as a decimal coin amount, exactly.
func (c *Coin) FormatAmount(atomic uint64) string {
	whole := atomic / c.Units
	frac := atomic % c.Units
	if c.DecimalPlaces == 0 {
		return fmt.Sprintf("%d", whole)
	}
	return fmt.Sprintf("%d.%0*d", whole, c.DecimalPlaces, frac)
}
