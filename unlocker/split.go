// Package unlocker confirms or orphans block candidates once they are deep
// enough and splits each confirmed block's reward among its participants.
package unlocker

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
)

// Split is how one block's reward is divided. Credits holds what each
// participant receives (the finder's bonus is separate), and
// Fee + Finder + ΣCredits == the reward, to the atomic unit.
type Split struct {
	Fee     uint64
	Finder  uint64
	Credits map[string]uint64
}

// Total returns Fee + Finder + ΣCredits.
func (s *Split) Total() uint64 {
	t := s.Fee + s.Finder
	for _, c := range s.Credits {
		t += c
	}
	return t
}

// ErrNoParticipants means a block has no weights to split by.
var ErrNoParticipants = errors.New("block has no participants with weight")

// mulDiv returns floor(a*b/c) and (a*b) mod c without overflow; it needs
// b <= c (so the quotient fits in 64 bits).
func mulDiv(a, b, c uint64) (q, r uint64) {
	hi, lo := bits.Mul64(a, b)
	return bits.Div64(hi, lo, c)
}

// basisPoints returns floor(amount × bp / 10000).
func basisPoints(amount uint64, bp uint32) uint64 {
	q, _ := mulDiv(amount, uint64(bp), 10_000)
	return q
}

// SplitShared divides a PPLNS or PROP block: fee = floor(R × feeBP /
// 10000), finder = floor(R × finderBP / 10000), and the rest in proportion
// to weights by the largest-remainder method: everyone gets the floor of
// their exact share, and the few units left over go one each to the largest
// remainders, ties broken by address, so the credits sum to the rest exactly
// and the result does not depend on map order.
func SplitShared(reward uint64, feeBP, finderBP uint32, weights map[string]uint64) (*Split, error) {
	if feeBP+finderBP >= 10_000 {
		return nil, fmt.Errorf("fee %d bp + finder reward %d bp leave nothing for the miners", feeBP, finderBP)
	}
	var total uint64
	for addr, w := range weights {
		if w == 0 {
			continue
		}
		var carry uint64
		total, carry = bits.Add64(total, w, 0)
		if carry != 0 {
			return nil, fmt.Errorf("total weight overflows at %s", addr)
		}
	}
	if total == 0 {
		return nil, ErrNoParticipants
	}
	s := &Split{Fee: basisPoints(reward, feeBP), Finder: basisPoints(reward, finderBP), Credits: map[string]uint64{}}
	rest := reward - s.Fee - s.Finder

	type part struct {
		addr string
		rem  uint64
	}
	parts := make([]part, 0, len(weights))
	var given uint64
	for addr, w := range weights {
		if w == 0 {
			continue
		}
		q, r := mulDiv(rest, w, total)
		s.Credits[addr] = q
		given += q
		parts = append(parts, part{addr, r})
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].rem != parts[j].rem {
			return parts[i].rem > parts[j].rem
		}
		return parts[i].addr < parts[j].addr
	})
	// Σ floors falls short of rest by less than the number of parts.
	for i := uint64(0); i < rest-given; i++ {
		s.Credits[parts[i].addr]++
	}
	return s, nil
}

// SplitSolo divides a SOLO block: the pool takes floor(R × feeBP / 10000)
// and the finder gets everything else.
func SplitSolo(reward uint64, feeBP uint32, finder string) (*Split, error) {
	if feeBP > 10_000 {
		return nil, fmt.Errorf("solo fee %d bp is over 100%%", feeBP)
	}
	fee := basisPoints(reward, feeBP)
	return &Split{Fee: fee, Credits: map[string]uint64{finder: reward - fee}}, nil
}
