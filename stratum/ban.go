package stratum

import (
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// banList counts valid and invalid shares per IP and bans an IP whose
// invalid share ratio reaches the limit once CheckThreshold shares were
// seen. Only invalid work counts (wrong result, low difficulty, malformed
// nonce or result); stale and duplicate shares happen to honest miners.
type banList struct {
	cfg Banning
	log logrus.FieldLogger
	now func() time.Time

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

// banned reports whether ip is banned now. A ban for malice stands whether
// ratio banning is enabled or not, so the list is consulted either way.
func (b *banList) banned(ip string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[ip]
	if ok && b.now().After(t) {
		delete(b.until, ip)
		return false
	}
	return ok
}

// record counts one share and returns true when this share got ip banned.
func (b *banList) record(ip string, invalid bool) bool {
	if !b.cfg.Enabled {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.counts[ip]
	if c == nil {
		c = &banCount{}
		b.counts[ip] = c
	}
	if invalid {
		c.invalid++
	} else {
		c.valid++
	}
	total := c.valid + c.invalid
	if total < b.cfg.CheckThreshold {
		return false
	}
	pct := float64(c.invalid) * 100 / float64(total)
	delete(b.counts, ip) // judge the next CheckThreshold shares afresh
	if pct < b.cfg.InvalidPercent {
		return false
	}
	b.banLocked(ip, b.cfg.Time)
	// One line per ban in a fixed shape, for fail2ban: "Ban: <ip> ...".
	b.log.Warnf("Ban: %s sent %.0f%% invalid shares (%d of %d), banned for %s", ip, pct, c.invalid, total, b.cfg.Time)
	return true
}

// malice bans ip at once for proof of malice (Outcome.Malice), whether
// ratio banning is enabled or not.
func (b *banList) malice(ip string, o Outcome) {
	d := b.cfg.Time
	if d <= 0 {
		d = maliceBanDefault
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.banLocked(ip, d)
	b.log.Warnf("Ban: %s sent a share no miner sends (%s), banned for %s", ip, o.Label(), d)
}

func (b *banList) banLocked(ip string, d time.Duration) {
	now := b.now()
	if len(b.until) >= max(b.sweepNext, sweepAt) {
		for k, t := range b.until {
			if now.After(t) {
				delete(b.until, k)
			}
		}
		b.sweepNext = 2 * len(b.until)
	}
	b.until[ip] = now.Add(d)
}
