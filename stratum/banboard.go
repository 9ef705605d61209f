package stratum

import (
	"context"
	"time"
)

// BanBoard shares bans among the pool's stratum processes (storage keeps
// them in Redis, bounded and expiring), so a ban holds whichever process
// the kernel hands an attacker's next connection to. A process publishes
// the bans it makes and reads the others' every BanSyncInterval.
type BanBoard interface {
	// PublishBan records a ban for the other processes.
	PublishBan(ctx context.Context, b BanNotice) error
	// BansAfter returns the bans recorded after cursor ("" = all kept) and
	// the cursor to pass next time.
	BansAfter(ctx context.Context, cursor string) ([]BanNotice, string, error)
}

// BanNotice is one ban: an address group (an IPv4 address or an IPv6 /64,
// as "2001:db8::/64") banned until a time; a zero Until lifts the group's
// ban (`pool bans lift`). A process reads its own back; applying it again
// changes nothing.
type BanNotice struct {
	Group string
	Until time.Time
}

// banSyncInterval is how often the other processes' bans are read: a
// banned attacker gets at most this long on another process.
const banSyncInterval = time.Second

// banned is banList's onBan: a ban ends every session of the group at
// once (each after answering the request it is handling), not only the
// one that earned it, and is shared with the other processes.
func (s *Server) banned(group string, until time.Time) {
	s.endGroup(group)
	if s.cfg.BanBoard == nil {
		return
	}
	select {
	case s.banOut <- BanNotice{Group: group, Until: until}:
	default:
		// The board is slow or down and hundreds of bans wait: this one
		// holds here; the others learn of the group at its next ban.
	}
}

// endGroup stops every session of group after its current request.
func (s *Server) endGroup(group string) {
	s.mu.Lock()
	list := make([]*session, 0, len(s.groups[group]))
	for sess := range s.groups[group] {
		list = append(list, sess)
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.stopReading()
	}
}

// syncBans publishes this process's bans and applies the others' until
// ctx ends. Board errors are logged once a minute at most: a Redis outage
// must not flood the log, and bans keep working within each process.
func (s *Server) syncBans(ctx context.Context) {
	board := s.cfg.BanBoard
	cursor := ""
	var lastWarn time.Time
	warn := func(what string, err error) {
		if now := time.Now(); now.Sub(lastWarn) >= time.Minute {
			s.log.Warnf("stratum: %s the pool-wide ban list: %v (bans still hold in this process; repeats not logged for a minute)", what, err)
			lastWarn = now
		}
	}
	t := time.NewTicker(banSyncInterval)
	defer t.Stop()
	for {
		call, cancel := context.WithTimeout(ctx, 5*time.Second)
		bans, next, err := board.BansAfter(call, cursor)
		cancel()
		if err != nil {
			warn("reading", err)
		} else {
			cursor = next
			for _, b := range bans {
				switch {
				case b.Until.IsZero():
					s.bans.lift(b.Group)
				case s.bans.apply(b.Group, b.Until):
					s.endGroup(b.Group)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case b := <-s.banOut:
			call, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := board.PublishBan(call, b); err != nil {
				warn("writing to", err)
			}
			cancel()
		case <-t.C:
		}
	}
}
