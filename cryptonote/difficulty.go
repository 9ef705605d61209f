package cryptonote

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/bits"
	"strings"
)

// A PoW hash is compared as a little-endian 256-bit integer H (word 3 most
// significant). A hash meets difficulty D iff H·D ≤ 2^256−1, which is the
// same as floor((2^256−1)/H) ≥ D. H = 0 never occurs for a real RandomX
// output, so it is treated as a broken result and meets no difficulty.

func hashWords(h *[32]byte) (w [4]uint64) {
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(h[8*i:])
	}
	return w
}

func isZero(w *[4]uint64) bool { return w[0]|w[1]|w[2]|w[3] == 0 }

// CheckHash reports whether hash meets difficulty diff (H·diff ≤ 2^256−1).
// It does not allocate. A difficulty of 0 is met by every non-zero hash.
func CheckHash(hash *[32]byte, diff uint64) bool {
	w := hashWords(hash)
	if isZero(&w) {
		return false
	}
	// Fast reject, as monerod does: the top word alone overflows.
	if hi, _ := bits.Mul64(w[3], diff); hi != 0 {
		return false
	}
	var carry uint64
	for i := range w {
		hi, lo := bits.Mul64(w[i], diff)
		var c uint64
		_, c = bits.Add64(lo, carry, 0)
		carry = hi + c
	}
	return carry == 0
}

// WideDifficulty is a 128-bit difficulty, the type of Monero's network
// difficulty (wide_difficulty in RPC results).
type WideDifficulty struct{ Hi, Lo uint64 }

// ParseWideDifficulty parses a hex difficulty such as Monero's
// wide_difficulty "0x1a2b…" (the 0x prefix is optional).
func ParseWideDifficulty(s string) (WideDifficulty, error) {
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if digits == "" {
		return WideDifficulty{}, fmt.Errorf("wide difficulty %q: no hex digits", s)
	}
	digits = strings.TrimLeft(digits, "0")
	if len(digits) > 32 {
		return WideDifficulty{}, fmt.Errorf("wide difficulty %q: more than 128 bits", s)
	}
	padded := strings.Repeat("0", 32-len(digits)) + digits
	raw, err := hex.DecodeString(padded)
	if err != nil {
		return WideDifficulty{}, fmt.Errorf("wide difficulty %q: not hex", s)
	}
	return WideDifficulty{Hi: binary.BigEndian.Uint64(raw[:8]), Lo: binary.BigEndian.Uint64(raw[8:])}, nil
}

// String formats d like Monero does: "0x" and lowercase hex without
// leading zeros.
func (d WideDifficulty) String() string {
	if d.Hi == 0 {
		return fmt.Sprintf("0x%x", d.Lo)
	}
	return fmt.Sprintf("0x%x%016x", d.Hi, d.Lo)
}

// Uint64 returns d and whether it fits in 64 bits.
func (d WideDifficulty) Uint64() (uint64, bool) { return d.Lo, d.Hi == 0 }

// Big returns d as a big.Int.
func (d WideDifficulty) Big() *big.Int {
	v := new(big.Int).SetUint64(d.Hi)
	return v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(d.Lo))
}

// CheckHashWide is CheckHash for a 128-bit difficulty: H·d must fit in
// 256 bits. It does not allocate.
func CheckHashWide(hash *[32]byte, d WideDifficulty) bool {
	if d.Hi == 0 {
		return CheckHash(hash, d.Lo)
	}
	w := hashWords(hash)
	if isZero(&w) {
		return false
	}
	// d ≥ 2^64, so H·d < 2^256 needs H < 2^192: the top word must be zero.
	if w[3] != 0 {
		return false
	}
	// H·d = H·Lo + (H·Hi)<<64; accumulate 64-bit columns 0..4 and require
	// everything from column 4 up to be zero.
	var p [6]uint64
	for i := 0; i < 3; i++ {
		addProduct(p[i:], w[i], d.Lo)
		addProduct(p[i+1:], w[i], d.Hi)
	}
	return p[4] == 0 && p[5] == 0
}

// addProduct adds a·b into the little-endian words of acc, propagating
// the carry through the words that follow.
func addProduct(acc []uint64, a, b uint64) {
	hi, lo := bits.Mul64(a, b)
	var c uint64
	acc[0], c = bits.Add64(acc[0], lo, 0)
	acc[1], c = bits.Add64(acc[1], hi, c)
	for i := 2; c != 0 && i < len(acc); i++ {
		acc[i], c = bits.Add64(acc[i], 0, c)
	}
}

// HashDifficulty is floor((2^256−1)/H), the difficulty a hash achieves,
// saturated at 2^64−1 (any H < 2^192). It returns 0 for H = 0. It does not
// allocate.
func HashDifficulty(hash *[32]byte) uint64 {
	w := hashWords(hash)
	if isZero(&w) {
		return 0
	}
	if w[3] == 0 {
		return ^uint64(0)
	}
	// One quotient word: normalise so the divisor's top bit is set, take
	// the two-word estimate (at most 2 too large, Knuth 4.3.1), correct it.
	s := uint(bits.LeadingZeros64(w[3]))
	top := w[3] << s
	if s > 0 {
		top |= w[2] >> (64 - s)
	}
	q, _ := bits.Div64(uint64(1)<<s-1, ^uint64(0), top)
	for q > 0 && !CheckHash(hash, q) {
		q--
	}
	return q
}

// maxHash is 2^256−1.
var maxHash = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// HashDifficultyBig is floor((2^256−1)/H) without saturation; 0 for H = 0.
func HashDifficultyBig(hash *[32]byte) *big.Int {
	var be [32]byte
	for i := range be {
		be[i] = hash[31-i]
	}
	h := new(big.Int).SetBytes(be[:])
	if h.Sign() == 0 {
		return h
	}
	return h.Quo(maxHash, h)
}

// TargetHex is the stratum "target" for share difficulty diff, as xmrig
// reads it: below 2^32 the 4-byte little-endian floor((2^256−1)/diff)>>224
// (= floor((2^32−1)/diff)); from 2^32 on the 8-byte little-endian
// floor((2^64−1)/diff). Either way xmrig's effective difficulty is ≥ diff,
// so every share it sends meets diff. A diff of 0 is treated as 1.
func TargetHex(diff uint64) string {
	diff = max(diff, 1)
	if diff < 1<<32 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(0xffffffff/diff))
		return hex.EncodeToString(b[:])
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], ^uint64(0)/diff)
	return hex.EncodeToString(b[:])
}
