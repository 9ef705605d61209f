package cryptonote

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// CryptoNote base58 is not Bitcoin's: the data is cut into 8-byte blocks,
// each encoded big-endian into exactly 11 characters (left-padded with '1'),
// and a final short block of n bytes into encodedBlockSizes[n] characters.
// Fixed-width blocks make the text length a function of the data length.

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

const (
	base58FullBlock        = 8
	base58FullEncodedBlock = 11
)

// encodedBlockSizes[n] is the encoded length of an n-byte block.
var encodedBlockSizes = [base58FullBlock + 1]int{0, 2, 3, 5, 6, 7, 9, 10, 11}

// base58Digit maps an ASCII byte to its digit value, or -1.
var base58Digit = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// Base58Error describes why a string is not valid CryptoNote base58.
type Base58Error struct {
	Pos    int    // 1-based character position of the problem, 0 if not positional
	Reason string // human-readable
}

func (e *Base58Error) Error() string { return e.Reason }

// Base58EncodedLen returns the text length of n bytes of data.
func Base58EncodedLen(n int) int {
	return n/base58FullBlock*base58FullEncodedBlock + encodedBlockSizes[n%base58FullBlock]
}

// base58DecodedLen returns the data length for an n-character text, or -1
// when no data length encodes to exactly n characters.
func base58DecodedLen(n int) int {
	full, rest := n/base58FullEncodedBlock, n%base58FullEncodedBlock
	for size, enc := range encodedBlockSizes {
		if enc == rest {
			return full*base58FullBlock + size
		}
	}
	return -1
}

// Base58Encode encodes data as CryptoNote base58.
func Base58Encode(data []byte) string {
	out := make([]byte, 0, Base58EncodedLen(len(data)))
	for len(data) > 0 {
		n := min(len(data), base58FullBlock)
		var buf [8]byte
		copy(buf[8-n:], data[:n])
		v := binary.BigEndian.Uint64(buf[:])
		width := encodedBlockSizes[n]
		start := len(out)
		for range width {
			out = append(out, base58Alphabet[0])
		}
		for i := len(out) - 1; v > 0 && i >= start; i-- {
			out[i] = base58Alphabet[v%58]
			v /= 58
		}
		data = data[n:]
	}
	return string(out)
}

// Base58Decode decodes CryptoNote base58 text. Errors are *Base58Error.
func Base58Decode(s string) ([]byte, error) {
	if pos, r := firstNonBase58(s); pos > 0 {
		return nil, &Base58Error{Pos: pos, Reason: fmt.Sprintf("invalid base58 character %q at position %d", r, pos)}
	}
	outLen := base58DecodedLen(len(s))
	if outLen < 0 {
		return nil, &Base58Error{Reason: fmt.Sprintf("invalid base58 length %d: no data encodes to that many characters", len(s))}
	}
	out := make([]byte, 0, outLen)
	for blockStart := 0; blockStart < len(s); blockStart += base58FullEncodedBlock {
		block := s[blockStart:min(blockStart+base58FullEncodedBlock, len(s))]
		size := base58DecodedLen(len(block))
		var v uint64
		for _, c := range []byte(block) {
			// v*58 + digit must stay below 2^64; 11 characters can reach 58^11 > 2^64.
			hi, lo := bits.Mul64(v, 58)
			var carry uint64
			lo, carry = bits.Add64(lo, uint64(base58Digit[c]), 0)
			if hi != 0 || carry != 0 {
				return nil, base58Overflow(blockStart, block)
			}
			v = lo
		}
		if size < base58FullBlock && v>>(8*size) != 0 {
			return nil, base58Overflow(blockStart, block)
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], v)
		out = append(out, buf[8-size:]...)
	}
	return out, nil
}

func base58Overflow(start int, block string) error {
	return &Base58Error{Pos: start + 1, Reason: fmt.Sprintf("invalid base58 block %q at position %d: value too large for its length", block, start+1)}
}

// firstNonBase58 returns the 1-based byte position and the rune of the first
// character outside the alphabet, or 0 if there is none.
func firstNonBase58(s string) (int, rune) {
	for i := 0; i < len(s); i++ {
		if base58Digit[s[i]] < 0 {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return i + 1, r
		}
	}
	return 0, 0
}
