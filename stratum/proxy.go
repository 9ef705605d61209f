package stratum

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"

	proxyproto "github.com/pires/go-proxyproto"
)

// A PROXY protocol port trusts the header only from its load balancers
// (Port.TrustedProxies): a client that reached the port directly could
// otherwise write its own header and pick the address that bans and
// per-IP limits see, dodging them or getting another address banned.
// Such a port therefore refuses every connection from anywhere else,
// before reading a byte, and every connection from a trusted proxy that
// does not start with a valid header.

// loopbackProxies is what a ProxyProtocol port trusts when its
// TrustedProxies is empty: a load balancer on the same host.
var loopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

var errProxyHeader = errors.New("stratum: no valid PROXY header from the trusted proxy")

// proxyListener wraps l for a ProxyProtocol port trusting the given
// proxies (nil: loopbackProxies).
func (s *Server) proxyListener(l net.Listener, trusted []netip.Prefix) net.Listener {
	if len(trusted) == 0 {
		trusted = loopbackProxies
	}
	pl := &proxyproto.Listener{
		Listener:          l,
		ReadHeaderTimeout: s.cfg.LoginTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			ip, ok := addrIP(o.Upstream)
			if ok && trustedAddr(trusted, ip) {
				return proxyproto.REQUIRE, nil
			}
			s.refused.add(hostOf(o.Upstream), refusedUntrustedProxy)
			// ErrInvalidUpstream: go-proxyproto closes the connection and
			// accepts the next one.
			return proxyproto.REJECT, proxyproto.ErrInvalidUpstream
		},
		ValidateHeader: validateProxyHeader,
	}
	s.log.Infof("stratum port %s: PROXY protocol, connections only from %v, each with a header", l.Addr(), trusted)
	return &headerListener{Listener: pl, refuse: s.refused.add}
}

// validateProxyHeader takes a header that names a TCP client, or LOCAL
// (the proxy's own connection, e.g. a health check, which then counts as
// the proxy's address); anything else has no address to ban or limit.
func validateProxyHeader(h *proxyproto.Header) error {
	if h.Command.IsLocal() {
		return nil
	}
	if _, _, ok := h.TCPAddrs(); !ok {
		return errProxyHeader
	}
	return nil
}

func addrIP(a net.Addr) (netip.Addr, bool) {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(t.IP)
	return ip.Unmap(), ok
}

func trustedAddr(trusted []netip.Prefix, ip netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func hostOf(a net.Addr) string {
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// headerListener hands out headerConns.
type headerListener struct {
	net.Listener // the *proxyproto.Listener
	refuse       func(ip string, why refusal)
}

func (l *headerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc, ok := c.(*proxyproto.Conn)
	if !ok {
		return c, nil
	}
	return &headerConn{Conn: pc, pc: pc, refuse: l.refuse}, nil
}

// headerConn makes a missing or invalid header final: go-proxyproto
// fails only the first Read and then lets the bytes through, and reports
// the proxy's own address meanwhile. The header is read (up to the
// listener's ReadHeaderTimeout) on the first Read or RemoteAddr, in the
// connection's own goroutine, never in the accept loop.
type headerConn struct {
	net.Conn // pc, through net.Conn's methods only
	pc       *proxyproto.Conn
	refuse   func(ip string, why refusal)
	once     sync.Once
	ok       bool
}

func (c *headerConn) checked() bool {
	c.once.Do(func() {
		// Under REQUIRE a header was read and validated exactly when
		// ProxyHeader is not nil.
		if c.ok = c.pc.ProxyHeader() != nil; !c.ok {
			c.refuse(hostOf(c.pc.Raw().RemoteAddr()), refusedProxyHeader)
			c.pc.Close()
		}
	})
	return c.ok
}

func (c *headerConn) Read(b []byte) (int, error) {
	if !c.checked() {
		return 0, errProxyHeader
	}
	return c.Conn.Read(b)
}

// RemoteAddr is the client's address from the header.
func (c *headerConn) RemoteAddr() net.Addr {
	c.checked()
	return c.Conn.RemoteAddr()
}

// proxyHeaderOK reports whether c, if it came through a PROXY protocol
// port, had a valid header; one without was refused and counted, and must
// not be admitted (nor count against a limit) under the proxy's address.
func proxyHeaderOK(c net.Conn) bool {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if h, ok := c.(*headerConn); ok {
		return h.checked()
	}
	return true
}
