package stratum

import "sync"

// knownMinersMax bounds the addresses remembered as having accepted work:
// about 100 bytes each, a few MB at most. Only an accepted share adds one,
// and each costs its sender a real hash at the port's difficulty.
const knownMinersMax = 1 << 16

// knownMiners is the set of addresses with an accepted share in this
// process, bounded: past the limit the oldest entry is forgotten (it comes
// back with its miner's next accepted share). Rejections of addresses not
// in it are counted but keep nothing per miner in storage (Rejection.Stranger),
// so an attacker spraying fresh addresses cannot grow Redis.
//
// It is per address rather than per session: an honest miner that
// reconnects keeps its statistics, and storage keys are per address anyway.
// What an address cannot earn for another connection (addresses are public)
// is decided per session (submission.earned).
type knownMiners struct {
	mu   sync.Mutex
	max  int
	set  map[string]struct{}
	ring []string // insertion order, for eviction
	next int      // the ring slot to overwrite once full
}

func newKnownMiners(max int) *knownMiners {
	return &knownMiners{max: max, set: map[string]struct{}{}}
}

func (k *knownMiners) add(addr string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.set[addr]; ok {
		return
	}
	if len(k.ring) < k.max {
		k.ring = append(k.ring, addr)
	} else {
		delete(k.set, k.ring[k.next])
		k.ring[k.next] = addr
		k.next = (k.next + 1) % k.max
	}
	k.set[addr] = struct{}{}
}

func (k *knownMiners) has(addr string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.set[addr]
	return ok
}
