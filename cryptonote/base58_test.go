package cryptonote

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestBase58KnownBlocks(t *testing.T) {
	// Single blocks worked out by hand: 0xff = 4·58 + 23 → "5Q".
	for _, tc := range []struct{ hex, text string }{
		{"", ""},
		{"00", "11"},
		{"39", "1z"},
		{"ff", "5Q"},
		{"0000", "111"},
		{"0039", "11z"},
		{"0100", "15R"},
		{"ffff", "LUv"},
		{"0000000000000000", "11111111111"},
		{"ffffffffffffffff", "jpXCZedGfVQ"},
		{"00000000000000000000", "11111111111111"},
	} {
		data := mustHex(t, tc.hex)
		if got := Base58Encode(data); got != tc.text {
			t.Errorf("encode %s = %q, want %q", tc.hex, got, tc.text)
		}
		back, err := Base58Decode(tc.text)
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("decode %q = %x, %v", tc.text, back, err)
		}
	}
}

func TestBase58RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 80; n++ {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		s := Base58Encode(data)
		if len(s) != Base58EncodedLen(n) {
			t.Fatalf("len %d: text %d chars, want %d", n, len(s), Base58EncodedLen(n))
		}
		back, err := Base58Decode(s)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
}

func TestBase58DecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		in, msg string
		pos     int
	}{
		{"1", "invalid base58 length 1", 0},
		{"1111", "invalid base58 length 4", 0},
		{"111111111110", "invalid base58 character '0' at position 12", 12},
		{"11O", "invalid base58 character 'O' at position 3", 3},
		{"zz", "value too large", 1},                      // 58²-1 > 255
		{"zzzzzzzzzzz", "value too large", 1},             // 58^11-1 > 2^64-1
		{"11111111111jpXCZedGfVR", "value too large", 12}, // 2^64 exactly
	} {
		_, err := Base58Decode(tc.in)
		var be *Base58Error
		if !errors.As(err, &be) || !bytes.Contains([]byte(be.Reason), []byte(tc.msg)) || be.Pos != tc.pos {
			t.Errorf("%q: got %v (%+v), want %q at %d", tc.in, err, be, tc.msg, tc.pos)
		}
	}
	if got, err := Base58Decode("jpXCZedGfVQ"); err != nil || hex.EncodeToString(got) != "ffffffffffffffff" {
		t.Errorf("max block: %x %v", got, err)
	}
}
