package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// The wording of each kind of rule, shared by every section's checks.

// checks collects problems; the helpers below keep the wording of the same
// rule identical everywhere.
type checks struct{ errs []error }

func (ch *checks) add(path, format string, args ...any) {
	ch.errs = append(ch.errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

type number interface {
	~int | ~uint32 | ~uint64 | ~float64
}

func positive[T number](ch *checks, path string, v T) {
	if v <= 0 {
		ch.add(path, "must be > 0")
	}
}

func nonNegative[T number](ch *checks, path string, v T, zero string) {
	if v < 0 {
		ch.add(path, "must be ≥ 0 (0 = %s), got %v", zero, v)
	}
}

func between[T number](ch *checks, path string, v, lo, hi T) {
	if v < lo || v > hi {
		ch.add(path, "must be %v..%v, got %v", lo, hi, v)
	}
}

func mustEqual[T comparable](ch *checks, path string, got, want T, why string) {
	if got != want {
		ch.add(path, "must be %s (%s), got %s", show(want), why, show(got))
	}
}

// show quotes strings and prints everything else plainly (%#v would print
// unsigned integers in hex).
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func (ch *checks) oneOf(path, v string, options ...string) {
	for _, o := range options {
		if v == o {
			return
		}
	}
	ch.add(path, "must be one of %q, got %q", options, v)
}

func (ch *checks) port(path string, p int) {
	switch {
	case p == 0:
		ch.add(path, "required")
	case p < 1 || p > 65535:
		ch.add(path, "must be 1..65535, got %d", p)
	}
}

func (ch *checks) host(path, h string) {
	switch {
	case h == "":
		ch.add(path, "required")
	case strings.Contains(h, "://"), strings.ContainsAny(h, "/ \t[]"),
		strings.Contains(h, ":") && net.ParseIP(h) == nil:
		ch.add(path, "must be a host name or IP address, without scheme, port or path, got %q", h)
	}
}

func (ch *checks) hostPort(path, addr string) {
	h, p, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || h == "" || port < 1 || port > 65535 {
		ch.add(path, "must be host:port, got %q", addr)
	}
}

func (ch *checks) bindIP(path, ip string) {
	if net.ParseIP(ip) == nil {
		ch.add(path, `must be an IP address ("0.0.0.0"; "::" for IPv4 and IPv6), got %q`, ip)
	}
}

// percent checks a fee-like percentage: 0 ≤ v < 100 with whole basis points,
// so that money arithmetic can use integers. It reports whether v is valid.
func (ch *checks) percent(path string, v float64) bool {
	switch {
	case v < 0 || v >= 100:
		ch.add(path, "must be ≥ 0 and < 100, got %v", v)
	case math.Abs(v*100-math.Round(v*100)) > 1e-6:
		ch.add(path, "at most 2 decimal places (whole basis points), got %v", v)
	default:
		return true
	}
	return false
}

// openPercent checks a percentage that must lie strictly between 0 and 100.
func (ch *checks) openPercent(path string, v float64) {
	if v <= 0 || v >= 100 {
		ch.add(path, "must be > 0 and < 100, got %v", v)
	}
}

// basisPoints converts a percent validated by percent() exactly.
func basisPoints(pct float64) uint32 { return uint32(math.Round(pct * 100)) }

// ParseIPRange parses an IP address ("10.0.0.1", a one-address range) or a
// CIDR range ("10.0.0.0/8"). IPv4-mapped IPv6 forms become IPv4, as the
// kernel reports such peers on a dual-stack socket.
func ParseIPRange(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be an IP address or a CIDR range such as 10.0.0.0/8, got %q", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// ParseIPRanges parses a list of ParseIPRange's forms.
func ParseIPRanges(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		p, err := ParseIPRange(s)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}

// ipRanges checks a list of addresses and CIDR ranges (trusted proxies).
func (ch *checks) ipRanges(path string, list []string) {
	for i, s := range list {
		if _, err := ParseIPRange(s); err != nil {
			ch.add(fmt.Sprintf("%s[%d]", path, i), "%v", err)
		}
	}
}
