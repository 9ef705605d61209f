package stratum

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"time"
)

// ConnBoard shares the open connections per address group among the pool's
// stratum processes (storage keeps them in Redis, expiring within
// seconds), so stratum.maxConnectionsPerIP holds pool-wide: several
// processes on one port each counting only their own let an address open
// the limit once per process.
type ConnBoard interface {
	// PublishConns replaces what process said last time with counts.
	PublishConns(ctx context.Context, process string, counts map[string]int) error
	// OtherConns sums the counts of every live process but process.
	OtherConns(ctx context.Context, process string) (map[string]int, error)
}

// connSyncInterval is how often the counts are exchanged; within it the
// limit may be passed by the connections another process accepts.
const connSyncInterval = time.Second

// newProcessID names this server on the boards.
func newProcessID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sharedFrom is the least number of connections of a group that a process
// publishes: a group with a single connection is most miners and can pass
// the limit by at most one per process, so it is not worth a Redis field
// each, unless the limit itself is that small.
func (s *Server) sharedFrom() int {
	if s.cfg.MaxConnsPerIP <= 2 {
		return 1
	}
	return 2
}

// syncConns publishes this process's counts and reads the others' until
// ctx ends; on errors the limit holds per process, and it says so once a
// minute at most.
func (s *Server) syncConns(ctx context.Context) {
	board := s.cfg.ConnBoard
	var lastWarn time.Time
	t := time.NewTicker(connSyncInterval)
	defer t.Stop()
	for {
		s.mu.Lock()
		mine := make(map[string]int)
		for g, n := range s.perIP {
			if n >= s.sharedFrom() {
				mine[g] = n
			}
		}
		s.mu.Unlock()
		call, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := board.PublishConns(call, s.process, mine)
		var others map[string]int
		if err == nil {
			others, err = board.OtherConns(call, s.process)
		}
		cancel()
		if err != nil {
			if now := time.Now(); now.Sub(lastWarn) >= time.Minute && ctx.Err() == nil {
				s.log.Warnf("stratum: sharing connection counts: %v (stratum.maxConnectionsPerIP holds per process meanwhile; repeats not logged for a minute)", err)
				lastWarn = now
			}
			others = nil
		}
		s.mu.Lock()
		s.remote = maps.Clone(others)
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
