package cryptonote

import "errors"

// CryptoNote varints are LEB128: 7 bits per byte, low group first, the high
// bit set on every byte but the last.

// MaxVarintLen is the longest varint encoding of a uint64.
const MaxVarintLen = 10

// Varint decoding errors. ReadVarint returns them unwrapped so callers can
// compare with errors.Is.
var (
	ErrVarintTruncated    = errors.New("varint truncated: input ends inside the number")
	ErrVarintOverflow     = errors.New("varint overflows 64 bits")
	ErrVarintNonCanonical = errors.New("varint has a non-canonical encoding (trailing zero group)")
)

// AppendVarint appends the varint encoding of v to dst.
func AppendVarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// VarintLen is the number of bytes AppendVarint writes for v.
func VarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// ReadVarint decodes the varint at the start of b and returns the value and
// the number of bytes it used. Like the Monero and Pastella daemons it rejects
// encodings with a redundant trailing zero group: the daemons would serialise
// such a value differently, so a blob containing one cannot round-trip.
func ReadVarint(b []byte) (v uint64, n int, err error) {
	var shift uint
	for i, c := range b {
		if i == MaxVarintLen-1 && c > 1 {
			return 0, 0, ErrVarintOverflow
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0, ErrVarintNonCanonical
			}
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, ErrVarintTruncated
}
