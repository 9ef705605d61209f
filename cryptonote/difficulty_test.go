package cryptonote

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

var two256 = new(big.Int).Lsh(big.NewInt(1), 256)

func hashInt(h *[32]byte) *big.Int {
	var be [32]byte
	for i := range be {
		be[i] = h[31-i]
	}
	return new(big.Int).SetBytes(be[:])
}

// randomHash returns hashes of every magnitude, including the edges.
func randomHash(r *rand.Rand) (h [32]byte) {
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint64(h[8*i:], r.Uint64())
	}
	switch r.IntN(5) {
	case 0: // shrink to a random bit length
		n := r.IntN(257)
		v := hashInt(&h)
		v.Rsh(v, uint(256-n))
		h = [32]byte{}
		be := v.FillBytes(make([]byte, 32))
		for i := range h {
			h[i] = be[31-i]
		}
	case 1:
		for i := range h {
			h[i] = 0xff
		}
	case 2:
		h = [32]byte{}
		h[r.IntN(32)] = 1
	}
	return h
}

func randomDiff(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return r.Uint64N(1000) + 1
	case 1:
		return math.MaxUint64 - r.Uint64N(3)
	}
	return r.Uint64() >> r.IntN(64)
}

// fitsReference is H·d ≤ 2^256−1 with H = 0 refused, in big integers.
func fitsReference(h *[32]byte, d *big.Int) bool {
	hv := hashInt(h)
	return hv.Sign() != 0 && new(big.Int).Mul(hv, d).Cmp(two256) < 0
}

func TestCheckHashAgainstBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		h, d := randomHash(r), randomDiff(r)
		if got, want := CheckHash(&h, d), fitsReference(&h, new(big.Int).SetUint64(d)); got != want {
			t.Fatalf("CheckHash(%x, %d) = %v, want %v", h, d, got, want)
		}
		wd := WideDifficulty{Hi: r.Uint64() >> r.IntN(64), Lo: r.Uint64()}
		if r.IntN(4) == 0 {
			wd.Hi = 0
		}
		if got, want := CheckHashWide(&h, wd), fitsReference(&h, wd.Big()); got != want {
			t.Fatalf("CheckHashWide(%x, %s) = %v, want %v", h, wd, got, want)
		}
		want := HashDifficultyBig(&h)
		if hashInt(&h).Sign() != 0 && want.Cmp(new(big.Int).Quo(new(big.Int).Sub(two256, big.NewInt(1)), hashInt(&h))) != 0 {
			t.Fatal("HashDifficultyBig")
		}
		if want.IsUint64() {
			if got := HashDifficulty(&h); got != want.Uint64() {
				t.Fatalf("HashDifficulty(%x) = %d, want %s", h, got, want)
			}
		} else if HashDifficulty(&h) != math.MaxUint64 {
			t.Fatalf("HashDifficulty(%x) should saturate", h)
		}
		// The two views of a share agree: hash meets d iff its difficulty ≥ d.
		if CheckHash(&h, d) != (want.Cmp(new(big.Int).SetUint64(d)) >= 0 && want.Sign() > 0) {
			t.Fatalf("CheckHash and HashDifficultyBig disagree for %x, %d", h, d)
		}
	}
}

func TestZeroHash(t *testing.T) {
	var z [32]byte
	if CheckHash(&z, 1) || CheckHashWide(&z, WideDifficulty{Hi: 1}) || HashDifficulty(&z) != 0 || HashDifficultyBig(&z).Sign() != 0 {
		t.Fatal("a zero hash must meet no difficulty")
	}
	one := [32]byte{1}
	if !CheckHash(&one, math.MaxUint64) || HashDifficulty(&one) != math.MaxUint64 {
		t.Fatal("H=1 meets every 64-bit difficulty")
	}
}

func TestParseWideDifficulty(t *testing.T) {
	for in, want := range map[string]WideDifficulty{
		"0x1":                                 {0, 1},
		"0x0":                                 {0, 0},
		"ff":                                  {0, 255},
		"0x10000000000000000":                 {1, 0},
		"0xffffffffffffffffffffffffffffffff":  {math.MaxUint64, math.MaxUint64},
		"0x000000000000000000000000000000001": {0, 1},
	} {
		got, err := ParseWideDifficulty(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
		again, err := ParseWideDifficulty(got.String())
		if err != nil || again != got {
			t.Errorf("%q: String %q does not round-trip", in, got.String())
		}
	}
	for _, bad := range []string{"", "0x", "0x1g", "0x1ffffffffffffffffffffffffffffffff", "-1"} {
		if _, err := ParseWideDifficulty(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if d, _ := ParseWideDifficulty("0x1"); d.String() != "0x1" {
		t.Error(d.String())
	}
	if v, ok := (WideDifficulty{0, 7}).Uint64(); !ok || v != 7 {
		t.Error("Uint64")
	}
	if _, ok := (WideDifficulty{1, 7}).Uint64(); ok {
		t.Error("Uint64 of a wide value")
	}
}

// xmrigTarget64 decodes a stratum target the way xmrig's Job::setTarget
// does (protocol.md §1.12).
func xmrigTarget64(t *testing.T, target string) uint64 {
	raw, err := hex.DecodeString(target)
	if err != nil {
		t.Fatal(err)
	}
	switch len(raw) {
	case 4:
		t32 := uint64(binary.LittleEndian.Uint32(raw))
		return math.MaxUint64 / (0xFFFFFFFF / t32)
	case 8:
		return binary.LittleEndian.Uint64(raw)
	}
	t.Fatalf("xmrig rejects target %q", target)
	return 0
}

func TestTargetHex(t *testing.T) {
	if got := TargetHex(10000); got != "b88d0600" {
		t.Fatalf("TargetHex(10000) = %s", got)
	}
	if got := xmrigTarget64(t, "b88d0600"); got != 1844674407370955 || math.MaxUint64/got != 10000 {
		t.Fatalf("xmrig reads b88d0600 as %d", got)
	}
	for d, want := range map[uint64]string{0: "ffffffff", 1: "ffffffff", 1<<32 - 1: "01000000", 1 << 32: "ffffffff00000000", math.MaxUint64: "0100000000000000"} {
		if got := TargetHex(d); got != want {
			t.Errorf("TargetHex(%d) = %s, want %s", d, got, want)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	diffs := []uint64{1, 2, 3, 100, 1000, 10000, 1<<31 + 1, 1<<32 - 1, 1 << 32, 1<<32 + 1, math.MaxUint64}
	for i := 0; i < 5000; i++ {
		diffs = append(diffs, randomDiff(r))
	}
	for _, d := range diffs {
		target := TargetHex(d)
		t64 := xmrigTarget64(t, target)
		eff := math.MaxUint64 / t64
		if eff < d || (d > 1 && eff/2 > d) {
			t.Fatalf("diff %d: target %s gives xmrig difficulty %d", d, target, eff)
		}
		// The weakest hash xmrig submits: LE64(hash[24..32]) = target64−1
		// and every lower bit set. It must still meet d.
		var h [32]byte
		for i := 0; i < 24; i++ {
			h[i] = 0xff
		}
		binary.LittleEndian.PutUint64(h[24:], t64-1)
		if !CheckHash(&h, d) {
			t.Fatalf("diff %d: a share xmrig accepts with target %s fails CheckHash", d, target)
		}
	}
}

func TestSeedHeight(t *testing.T) {
	for _, tc := range []struct{ h, seed, next uint64 }{
		{0, 0, 0}, {1, 0, 0}, {2048, 0, 0}, {2112, 0, 2048}, {2113, 2048, 2048},
		{4160, 2048, 4096}, {4161, 4096, 4096}, {3_000_000, 2_998_272, 2_998_272},
	} {
		if got := SeedHeight(tc.h, DefaultSeedEpochBlocks, DefaultSeedEpochLag); got != tc.seed {
			t.Errorf("SeedHeight(%d) = %d, want %d", tc.h, got, tc.seed)
		}
		if got := NextSeedHeight(tc.h, DefaultSeedEpochBlocks, DefaultSeedEpochLag); got != tc.next {
			t.Errorf("NextSeedHeight(%d) = %d, want %d", tc.h, got, tc.next)
		}
	}
	// Small test epochs (SEEDHASH_EPOCH_BLOCKS=8, LAG=4): key changes when
	// h % 8 == 4 + 1.
	for h, want := range map[uint64]uint64{12: 0, 13: 8, 20: 8, 21: 16} {
		if got := SeedHeight(h, 8, 4); got != want {
			t.Errorf("SeedHeight(%d, 8, 4) = %d, want %d", h, got, want)
		}
	}
	if SeedHeight(100, 0, 0) != 0 || NextSeedHeight(math.MaxUint64, 2048, 64) == 0 {
		t.Error("edge cases")
	}
}

func BenchmarkCheckHash(b *testing.B) {
	h := [32]byte{31: 0x01}
	binary.LittleEndian.PutUint64(h[24:], 1<<40)
	b.ReportAllocs()
	ok := 0
	for b.Loop() {
		if CheckHash(&h, 10000) {
			ok++
		}
	}
	_ = ok
}
