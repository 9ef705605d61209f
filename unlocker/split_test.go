package unlocker

import (
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"testing"
)

func TestSplitSharedSumsExactly(t *testing.T) {
	cases := []struct {
		name             string
		reward           uint64
		feeBP, finderBP  uint32
		weights          map[string]uint64
		want             map[string]uint64
		wantFee, wantFin uint64
	}{
		{"no fees, one miner", 1000, 0, 0, map[string]uint64{"A": 7}, map[string]uint64{"A": 1000}, 0, 0},
		{"guide fees, one miner", 400_000_000, 100, 100, map[string]uint64{"A": 1}, map[string]uint64{"A": 392_000_000}, 4_000_000, 4_000_000},
		// 100 split 3 ways: 33.33 each; the leftover unit goes to the
		// largest remainder, ties by address.
		{"thirds, tie by address", 100, 0, 0, map[string]uint64{"C": 1, "A": 1, "B": 1}, map[string]uint64{"A": 34, "B": 33, "C": 33}, 0, 0},
		{"largest remainder wins", 10, 0, 0, map[string]uint64{"A": 1, "B": 2}, map[string]uint64{"A": 3, "B": 7}, 0, 0},
		{"fees round down", 999, 150, 33, map[string]uint64{"A": 5, "B": 5}, map[string]uint64{"A": 491, "B": 491}, 14, 3},
		{"zero weight ignored", 50, 0, 0, map[string]uint64{"A": 0, "B": 4}, map[string]uint64{"B": 50}, 0, 0},
		{"huge reward and weights", math.MaxUint64, 100, 100, map[string]uint64{"A": math.MaxUint64 / 3, "B": math.MaxUint64 / 3},
			map[string]uint64{"A": 9038904596117680292, "B": 9038904596117680291}, 184467440737095516, 184467440737095516},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := SplitShared(tc.reward, tc.feeBP, tc.finderBP, tc.weights)
			if err != nil {
				t.Fatal(err)
			}
			if s.Fee != tc.wantFee || s.Finder != tc.wantFin || fmt.Sprint(s.Credits) != fmt.Sprint(tc.want) {
				t.Fatalf("split %+v, want fee %d finder %d credits %v", s, tc.wantFee, tc.wantFin, tc.want)
			}
			if s.Total() != tc.reward {
				t.Fatalf("total %d != reward %d", s.Total(), tc.reward)
			}
		})
	}
}

// TestSplitSharedRandom compares with exact rational arithmetic: every
// credit is within one unit of the exact share, never below its floor, and
// the sum is exact.
func TestSplitSharedRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		n := 1 + rng.Intn(40)
		weights := map[string]uint64{}
		for j := 0; j < n; j++ {
			weights[fmt.Sprintf("m%02d", j)] = uint64(rng.Int63n(1 << uint(1+rng.Intn(50))))
		}
		reward := uint64(rng.Int63())
		feeBP, finderBP := uint32(rng.Intn(500)), uint32(rng.Intn(300))
		s, err := SplitShared(reward, feeBP, finderBP, weights)
		if err == ErrNoParticipants {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.Total() != reward {
			t.Fatalf("case %d: total %d != reward %d", i, s.Total(), reward)
		}
		rest := new(big.Int).SetUint64(reward - s.Fee - s.Finder)
		var total uint64
		for _, w := range weights {
			total += w
		}
		for addr, w := range weights {
			exact := new(big.Int).Mul(rest, new(big.Int).SetUint64(w))
			floor := new(big.Int).Div(exact, new(big.Int).SetUint64(total))
			got := new(big.Int).SetUint64(s.Credits[addr])
			diff := new(big.Int).Sub(got, floor)
			if diff.Sign() < 0 || diff.Cmp(big.NewInt(1)) > 0 {
				t.Fatalf("case %d: %s got %s, exact floor %s", i, addr, got, floor)
			}
		}
	}
}

func TestSplitErrorsAndSolo(t *testing.T) {
	if _, err := SplitShared(100, 0, 0, map[string]uint64{"A": 0}); err != ErrNoParticipants {
		t.Fatalf("empty weights: %v", err)
	}
	if _, err := SplitShared(100, 9000, 1000, map[string]uint64{"A": 1}); err == nil {
		t.Fatal("fees of 100% accepted")
	}
	s, err := SplitSolo(35_184_338_534_400, 50, "F")
	if err != nil {
		t.Fatal(err)
	}
	if s.Fee != 175_921_692_672 || s.Credits["F"] != 35_008_416_841_728 || s.Finder != 0 || s.Total() != 35_184_338_534_400 {
		t.Fatalf("solo split %+v", s)
	}
}
