package stratum

// Admission of a new connection: bans, the connection rate and the
// per-address limit (limits.go, connboard.go), and its release.

import (
	"fmt"
	"net"
)

// release forgets sess (nil: none was made) and gives back the per-group
// connection slot admit took.
func (s *Server) release(group string, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess != nil {
		delete(s.sessions, sess)
		if delete(s.groups[group], sess); len(s.groups[group]) == 0 {
			delete(s.groups, group)
		}
	}
	if s.perIP[group]--; s.perIP[group] <= 0 {
		delete(s.perIP, group)
	}
}

// admit applies bans, the rate of new connections and the limit of open
// ones per address group; it returns why the connection is refused (0:
// admitted). Refusals are counted per IP, as the log names them.
func (s *Server) admit(ip, group string) Outcome {
	if s.bans.banned(group) {
		s.refused.add(ip, refusedBanned)
		return Banned
	}
	if !s.rate.allow(group) {
		s.refused.add(ip, refusedRate)
		return TooManyConns
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[group]+s.remote[group] >= s.cfg.MaxConnsPerIP {
		s.refused.add(ip, refusedPerIP)
		return TooManyConns
	}
	s.perIP[group]++
	return 0
}

// refusalDetail says why connections were refused, with the limit.
func (s *Server) refusalDetail(why refusal) string {
	switch why {
	case refusedPerIP:
		return fmt.Sprintf("too many connections from one address, stratum.maxConnectionsPerIP %d", s.cfg.MaxConnsPerIP)
	case refusedFull:
		return fmt.Sprintf("server full, stratum.maxConnections %d", s.cfg.MaxConns)
	case refusedRate:
		return fmt.Sprintf("new connections too fast from one address, stratum.connectionRate %g/s (burst %g)", s.rate.rate, s.rate.burst)
	default:
		return "banned address"
	}
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
