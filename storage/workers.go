package storage

import (
	"sort"
	"strconv"
	"strings"
)

// DefaultMaxWorkers is the default of redis.maxWorkersPerAddress: the most
// workers whose statistics are kept per address. Anyone may log in under
// any address with any worker name, so without a cap a victim's worker
// list (and its API reply) would grow with every name an attacker makes up.
const DefaultMaxWorkers = 256

// noShareBand lowers the rank of a worker without an accepted share below
// every worker with one (unix times are below 2^32 until 2106).
const noShareBand = 1 << 32

// workerRank is a worker's place in the address's worker index: its last
// accepted share (unix s); without one, its last rejection less
// noShareBand. The lowest rank is dropped first, so names that only sent
// junk go before the address's mining rigs, and among those the longest
// idle goes first.
func workerRank(unix int64, accepted bool) int64 {
	if accepted {
		return unix
	}
	return unix - noShareBand
}

// workerNames lists the workers of a workers hash, at most max of them,
// the most recent shares kept: a hash written before the cap existed may
// hold more until its address shares again.
func workerNames(m map[string]string, max int) []string {
	last := map[string]int64{}
	for f, v := range m {
		i := strings.LastIndexByte(f, ':')
		if i <= 0 {
			continue
		}
		t := int64(-1)
		if f[i+1:] == fLast {
			t, _ = strconv.ParseInt(v, 10, 64)
		}
		if old, ok := last[f[:i]]; !ok || t > old {
			last[f[:i]] = t
		}
	}
	names := make([]string, 0, len(last))
	for n := range last {
		names = append(names, n)
	}
	if len(names) > max {
		sort.Slice(names, func(i, j int) bool {
			a, b := names[i], names[j]
			return last[a] > last[b] || last[a] == last[b] && a < b
		})
		names = names[:max]
	}
	return names
}
