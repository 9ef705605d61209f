package stratum

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// refusal is why a connection was turned away before its session began.
type refusal uint8

const (
	refusedBanned         refusal = iota // the address is banned
	refusedPerIP                         // stratum.maxConnectionsPerIP reached
	refusedFull                          // stratum.maxConnections reached
	refusedUntrustedProxy                // a PROXY protocol port's peer is no trusted proxy
	refusedProxyHeader                   // a trusted proxy's connection without a valid header
	refusedRate                          // stratum.connectionRate exceeded
	refusalCount
)

// Label is the refusal's value of the metrics label "reason": the outcome
// table's label where the refusal is also an answer to a miner.
func (r refusal) Label() string {
	switch r {
	case refusedBanned:
		return Banned.Label()
	case refusedPerIP:
		return TooManyConns.Label()
	case refusedUntrustedProxy:
		return "untrusted_proxy"
	case refusedProxyHeader:
		return "no_proxy_header"
	case refusedRate:
		return "connection_rate"
	}
	return "server_full"
}

// about is the log's explanation of a refusal that has no limit setting
// to name ("" for those that do: the server's detail says it).
func (r refusal) about() string {
	switch r {
	case refusedUntrustedProxy:
		return "not a trusted proxy of a PROXY protocol port, ports.<port>.trustedProxies"
	case refusedProxyHeader:
		return "no valid PROXY header from a trusted proxy"
	}
	return ""
}

// maxRefusalAddrs bounds the addresses one interval's summary names; a
// flood from more addresses is summed into one line.
const maxRefusalAddrs = 1000

type refusalKey struct {
	ip  string // "" for refusals that are not about an address (server full)
	why refusal
}

// refusals counts refused connections and logs them as one line per
// address, reason and interval: a flood of refused connections must not
// write a line each (4,001 attempts wrote 4,001 lines), filling disks and
// hiding real events.
type refusals struct {
	log    logrus.FieldLogger
	detail func(refusal) string // the limit in force, for the log line

	mu       sync.Mutex
	counts   map[refusalKey]uint64 // this interval
	overflow [refusalCount]uint64  // this interval, beyond maxRefusalAddrs addresses
	totals   [refusalCount]atomic.Uint64
}

func newRefusals(log logrus.FieldLogger, detail func(refusal) string) *refusals {
	return &refusals{log: log, detail: func(why refusal) string {
		if a := why.about(); a != "" {
			return a
		}
		return detail(why)
	}, counts: map[refusalKey]uint64{}}
}

func (r *refusals) add(ip string, why refusal) {
	r.totals[why].Add(1)
	k := refusalKey{ip, why}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.counts[k]; !ok && len(r.counts) >= maxRefusalAddrs {
		r.overflow[why]++
		return
	}
	r.counts[k]++
}

// flush logs what was refused since the last flush.
func (r *refusals) flush(interval time.Duration) {
	r.mu.Lock()
	counts, overflow := r.counts, r.overflow
	r.counts, r.overflow = map[refusalKey]uint64{}, [refusalCount]uint64{}
	r.mu.Unlock()
	for k, n := range counts {
		if k.ip == "" {
			r.log.Warnf("Refused %d connections in %s (%s)", n, interval, r.detail(k.why))
		} else {
			r.log.Warnf("Refused %d connections from %s in %s (%s)", n, k.ip, interval, r.detail(k.why))
		}
	}
	for why, n := range overflow {
		if n > 0 {
			r.log.Warnf("Refused %d connections from more than %d other addresses in %s (%s)", n, maxRefusalAddrs, interval, r.detail(refusal(why)))
		}
	}
}

// run flushes every interval until ctx ends, and once more then.
func (r *refusals) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flush(interval)
			return
		case <-t.C:
			r.flush(interval)
		}
	}
}

// Refused returns the connections refused since the start, by reason
// (the metrics label), every reason present.
func (s *Server) Refused() map[string]uint64 {
	out := make(map[string]uint64, refusalCount)
	for why := range refusalCount {
		out[why.Label()] = s.refused.totals[why].Load()
	}
	return out
}

// defaultMaxConns is the connection cap when none is configured: the
// process's file limit less headroom (a fifth, at least 256 descriptors)
// for Redis, the daemons, the wallet, the API and its clients, so a flood
// of miners' connections cannot starve them.
func defaultMaxConns() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1 << 20
	}
	lim := int(min(rl.Cur, 1<<30))
	if room := max(lim/5, 256); room < lim {
		return lim - room
	}
	return max(lim/2, 1)
}
