package stratum

import (
	"fmt"
	"strconv"
	"strings"

	"rxpool/cryptonote"
)

// Reward schemes a login can choose.
const (
	SchemePPLNS = "pplns"
	SchemeProp  = "prop"
	SchemeSolo  = "solo"
)

// Miner is who a session mines for, parsed from the login.
type Miner struct {
	Address   *cryptonote.Address
	Worker    string
	Scheme    string
	FixedDiff uint64 // 0 = vardiff / port difficulty
}

// loginRules are the parts of the configuration login parsing needs.
type loginRules struct {
	coin          *cryptonote.Coin
	defaultScheme string
	fixedDiff     bool
	separator     string
}

// maxWorkerName bounds the worker name, which ends up in storage keys and
// API output.
const maxWorkerName = 64

// parseLogin reads "[solo:|prop:|pplns:]ADDRESS[<sep>DIFF]" and the worker
// name (rig id if given, else the password, as xmrig users expect).
func (r *loginRules) parseLogin(login, pass, rigID string) (*Miner, error) {
	m := &Miner{Scheme: r.defaultScheme}
	s := strings.TrimSpace(login)
	if i := strings.IndexByte(s, ':'); i > 0 {
		switch strings.ToLower(s[:i]) {
		case SchemeSolo, SchemeProp, SchemePPLNS:
			m.Scheme = strings.ToLower(s[:i])
			s = s[i+1:]
		default:
			return nil, fmt.Errorf("unknown reward scheme %q (use solo:, prop: or pplns:)", s[:i])
		}
	}
	if r.separator != "" {
		if i := strings.LastIndex(s, r.separator); i > 0 {
			suffix := s[i+len(r.separator):]
			if d, err := strconv.ParseUint(suffix, 10, 64); err == nil {
				if !r.fixedDiff {
					return nil, fmt.Errorf("fixed difficulty %q is disabled on this pool", suffix)
				}
				if d == 0 {
					return nil, fmt.Errorf("fixed difficulty must be > 0")
				}
				m.FixedDiff = d
				s = s[:i]
			}
		}
	}
	addr, err := r.coin.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	m.Address = addr
	m.Worker = workerName(rigID, pass)
	return m, nil
}

// workerName picks and sanitises the worker name. Characters outside a
// conservative set are replaced, because worker names end up in storage
// keys, logs and HTML (the Node pool broke on a ':' in them).
func workerName(rigID, pass string) string {
	name := rigID
	if name == "" {
		name = pass
	}
	if name == "" || name == "x" {
		return "default"
	}
	if len(name) > maxWorkerName {
		name = name[:maxWorkerName]
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}
