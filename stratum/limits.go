package stratum

import (
	"net/netip"
	"sync"
	"time"
)

// AddrGroup is addrGroup for the operator's commands (`pool bans lift`).
func AddrGroup(ip string) string { return addrGroup(ip) }

// addrGroup is the unit that limits and bans apply to: an IPv4 address, or
// an IPv6 address's /64, since one host is routinely given a whole /64 and
// can connect from a new address every time. An IPv4-mapped IPv6 address
// is its IPv4 address.
func addrGroup(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip // not an address (a test's pipe): itself
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// connRate is a token bucket of new connections per address group: on
// average rate a second, burst at once. It bounds how fast one address
// can make the pool accept, read and log connections, which the cap on
// concurrent connections alone does not (open, close, repeat).
type connRate struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	// sweepNext is the size at which full buckets are next dropped: twice
	// what the last sweep left, so sweeping costs O(1) a connection.
	sweepNext int
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newConnRate returns nil (no limit) for rate 0; burst 0 is ten times rate.
func newConnRate(rate float64, burst int) *connRate {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if b <= 0 {
		b = 10 * rate
	}
	return &connRate{rate: rate, burst: max(b, 1), now: time.Now, buckets: map[string]*bucket{}}
}

// rateSweepAt is the least number of buckets at which full ones are
// dropped (a full bucket is the same as none).
const rateSweepAt = 4096

// allow takes a token of group's bucket; false when there is none.
func (r *connRate) allow(group string) bool {
	if r == nil {
		return true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buckets) >= max(r.sweepNext, rateSweepAt) {
		for k, b := range r.buckets {
			if r.refill(b, now) >= r.burst {
				delete(r.buckets, k)
			}
		}
		r.sweepNext = 2 * len(r.buckets)
	}
	b := r.buckets[group]
	if b == nil {
		b = &bucket{tokens: r.burst, at: now}
		r.buckets[group] = b
	}
	if r.refill(b, now) < 1 {
		return false
	}
	b.tokens--
	return true
}

func (r *connRate) refill(b *bucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(r.burst, b.tokens+d.Seconds()*r.rate)
		b.at = now
	}
	return b.tokens
}

// strangerBudget bounds the shares of sessions without accepted work that
// are in verification at once: strangerSlots pool-wide, strangerGroupSlots
// per address group, so one address flooding from many connections cannot
// take every slot from honest newcomers.
type strangerBudget struct {
	mu      sync.Mutex
	total   int
	byGroup map[string]int
}

// strangerGroupSlots is the share of strangerSlots one address group may
// hold; each connection has at most one share in verification anyway.
const strangerGroupSlots = 4

func newStrangerBudget() *strangerBudget { return &strangerBudget{byGroup: map[string]int{}} }

// take reserves a slot for group; ok false when none is free, own true
// when that is because group holds all of its own.
func (b *strangerBudget) take(group string) (ok, own bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byGroup[group] >= strangerGroupSlots {
		return false, true
	}
	if b.total >= strangerSlots {
		return false, false
	}
	b.total++
	b.byGroup[group]++
	return true, false
}

// give returns a slot take reserved.
func (b *strangerBudget) give(group string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total--
	if b.byGroup[group]--; b.byGroup[group] <= 0 {
		delete(b.byGroup, group)
	}
}
