package stratum

import (
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// banList counts valid and invalid shares per address group (addrGroup:
// an IPv4 address, an IPv6 /64) and bans a group whose invalid share ratio
// reaches the limit once CheckThreshold shares were seen. Every refused
// submit counts as invalid (wrong job, duplicate, expired, malformed, busy
// for a session without accepted work): an honest miner sends few, and an
// attacker must not find a kind of junk that is free. Proof of malice bans
// at once. Bans come from this process or, through the BanBoard, from the
// pool's other stratum processes (apply).
type banList struct {
	cfg Banning
	log logrus.FieldLogger
	now func() time.Time
	// onBan is told of every ban this process makes (not of those applied
	// from elsewhere), outside the lock: the server closes the group's
	// sessions and shares the ban. nil: nothing to tell.
	onBan func(group string, until time.Time)

	mu     sync.Mutex
	counts map[string]*banCount
	until  map[string]time.Time
	// sweepNext is the size of until at which it is next swept: twice what
	// the last sweep left, so sweeping costs O(1) a ban however many there are.
	sweepNext int
}

type banCount struct{ valid, invalid uint32 }

func newBanList(cfg Banning, log logrus.FieldLogger) *banList {
	return &banList{cfg: cfg, log: log, now: time.Now, counts: map[string]*banCount{}, until: map[string]time.Time{}}
}

// maliceBanDefault is the ban for proof of malice when no ban time is
// configured (the config's default banning.time).
const maliceBanDefault = 2 * time.Minute

// sweepAt is the least number of bans at which expired ones are swept, so
// short-lived bans from many addresses do not pile up.
const sweepAt = 4096

// maxCounted bounds the groups whose shares are being counted for a ratio
// ban, so a flood from many addresses cannot grow the map without end.
const maxCounted = 65536

// banned reports whether the address group g is banned now. A ban for malice stands
// whether ratio banning is enabled or not, so the list is consulted either
// way.
func (b *banList) banned(g string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[g]
	if ok && b.now().After(t) {
		delete(b.until, g)
		return false
	}
	return ok
}

// record counts one share and returns true when this share got group g banned.
func (b *banList) record(g string, invalid bool) bool {
	if !b.cfg.Enabled {
		return false
	}
	b.mu.Lock()
	c := b.counts[g]
	if c == nil {
		if len(b.counts) >= maxCounted {
			clear(b.counts) // a flood from more groups: start the judging afresh
		}
		c = &banCount{}
		b.counts[g] = c
	}
	if invalid {
		c.invalid++
	} else {
		c.valid++
	}
	total := c.valid + c.invalid
	if total < b.cfg.CheckThreshold {
		b.mu.Unlock()
		return false
	}
	pct := float64(c.invalid) * 100 / float64(total)
	delete(b.counts, g) // judge the next CheckThreshold shares afresh
	if pct < b.cfg.InvalidPercent {
		b.mu.Unlock()
		return false
	}
	until := b.banLocked(g, b.cfg.Time)
	b.mu.Unlock()
	// One line per ban in a fixed shape, for fail2ban: "Ban: <ip> ...".
	b.log.Warnf("Ban: %s sent %.0f%% invalid requests (%d of %d), banned for %s", g, pct, c.invalid, total, b.cfg.Time)
	b.told(g, until)
	return true
}

// malice bans group g at once for proof of malice (Outcome.Malice), whether
// ratio banning is enabled or not.
func (b *banList) malice(g string, o Outcome) {
	d := b.cfg.Time
	if d <= 0 {
		d = maliceBanDefault
	}
	b.mu.Lock()
	if t, ok := b.until[g]; ok && t.After(b.now()) {
		// Already banned: the address's other connections had shares in
		// verification; one ban, one log line.
		b.mu.Unlock()
		return
	}
	until := b.banLocked(g, d)
	b.mu.Unlock()
	b.log.Warnf("Ban: %s sent a share no miner sends (%s), banned for %s", g, o.Label(), d)
	b.told(g, until)
}

// strangerJunkMax is how many refused requests a session without an
// accepted share may send before its address is banned (with ratio banning
// on). An honest miner's first shares are valid: it does not send ten
// refused ones before its first accepted one. Without this an attacker
// rotating over many addresses got banning.checkThreshold cheap answers
// per address, ~16,000 a second, a core of the pool's CPU.
const strangerJunkMax = 10

// strangerJunk bans group g for a session's n-th refused request
// without an accepted share (n ≥ strangerJunkMax); it reports whether the
// group is banned now.
func (b *banList) strangerJunk(g string, n int) bool {
	if !b.cfg.Enabled || n < strangerJunkMax {
		return false
	}
	b.mu.Lock()
	if t, ok := b.until[g]; ok && t.After(b.now()) {
		b.mu.Unlock()
		return true
	}
	until := b.banLocked(g, b.cfg.Time)
	b.mu.Unlock()
	b.log.Warnf("Ban: %s sent %d refused requests on a connection without an accepted share, banned for %s", g, n, b.cfg.Time)
	b.told(g, until)
	return true
}

func (b *banList) told(g string, until time.Time) {
	if b.onBan != nil {
		b.onBan(g, until)
	}
}

// apply takes a ban made by another stratum process; it reports whether
// the group was not banned that long already (so its sessions are to be
// closed).
func (b *banList) apply(g string, until time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.until[g]; ok && !t.Before(until) {
		return false
	}
	if !until.After(b.now()) {
		return false
	}
	b.banAtLocked(g, until)
	return true
}

// lift ends g's ban and forgets its counts (the operator's `pool bans
// lift`); it reports whether g was banned.
func (b *banList) lift(g string) bool {
	b.mu.Lock()
	_, ok := b.until[g]
	delete(b.until, g)
	delete(b.counts, g)
	b.mu.Unlock()
	if ok {
		b.log.Warnf("Ban of %s lifted by the operator", g)
	}
	return ok
}

func (b *banList) banLocked(g string, d time.Duration) time.Time {
	until := b.now().Add(d)
	if t, ok := b.until[g]; ok && t.After(until) {
		return t // a longer ban stands
	}
	b.banAtLocked(g, until)
	return until
}

func (b *banList) banAtLocked(g string, until time.Time) {
	now := b.now()
	if len(b.until) >= max(b.sweepNext, sweepAt) {
		for k, t := range b.until {
			if now.After(t) {
				delete(b.until, k)
			}
		}
		b.sweepNext = 2 * len(b.until)
	}
	b.until[g] = until
}
