package cryptonote

import (
	"errors"
	"math"
	"testing"
)

func TestVarint(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<14 - 1, 1 << 14, 1772132400, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		enc := AppendVarint(nil, v)
		if len(enc) != VarintLen(v) {
			t.Fatalf("%d: %d bytes, VarintLen %d", v, len(enc), VarintLen(v))
		}
		got, n, err := ReadVarint(append(enc, 0xaa))
		if err != nil || got != v || n != len(enc) {
			t.Fatalf("%d: read %d, %d bytes, %v", v, got, n, err)
		}
	}
	if enc := AppendVarint(nil, 300); enc[0] != 0xac || enc[1] != 0x02 {
		t.Fatalf("300 = %x", enc)
	}
	for _, tc := range []struct {
		in  []byte
		err error
	}{
		{nil, ErrVarintTruncated},
		{[]byte{0x80}, ErrVarintTruncated},
		{[]byte{0x80, 0x00}, ErrVarintNonCanonical},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrVarintOverflow},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}, ErrVarintOverflow},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, ErrVarintNonCanonical},
	} {
		if _, _, err := ReadVarint(tc.in); !errors.Is(err, tc.err) {
			t.Errorf("%x: %v, want %v", tc.in, err, tc.err)
		}
	}
}
