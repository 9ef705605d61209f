package testenv

import (
	"errors"
	"io"
	"net"
	"sync"
)

// ReplicationProxy forwards a replica's connection to its master on
// loopback and can freeze the master → replica direction: the master has
// sent its writes (its socket buffers are drained by the proxy), but the
// replica never receives them. Pausing the replica (SIGSTOP) cannot show
// this: the kernel keeps buffering the stream into its socket and the
// replica applies it once resumed. The replica → master direction (its
// acknowledgements) keeps flowing, so the master sees a live replica that
// acknowledges nothing new.
type ReplicationProxy struct {
	Addr   string // host:port the replica follows
	target string
	l      net.Listener

	mu     sync.Mutex
	frozen bool
	links  []*proxyLink
	held   int // bytes held from the replica since the last Freeze
}

type proxyLink struct {
	replica, master net.Conn
	held            []byte
}

// NewReplicationProxy listens on a free loopback port and forwards each
// connection to target (the master's host:port).
func NewReplicationProxy(target string) (*ReplicationProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &ReplicationProxy{Addr: l.Addr().String(), target: target, l: l}
	go p.accept()
	return p, nil
}

func (p *ReplicationProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return // closed
		}
		m, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close() // the master is gone: the replica sees its link down
			continue
		}
		ln := &proxyLink{replica: c, master: m}
		p.mu.Lock()
		p.links = append(p.links, ln)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(m, c); m.Close(); c.Close() }()
		go p.down(ln)
	}
}

// down forwards the master's stream to the replica, or holds it while
// frozen.
func (p *ReplicationProxy) down(ln *proxyLink) {
	defer ln.replica.Close()
	defer ln.master.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := ln.master.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if p.frozen {
				ln.held = append(ln.held, buf[:n]...)
				p.held += n
				p.mu.Unlock()
				continue
			}
			_, werr := ln.replica.Write(buf[:n])
			p.mu.Unlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze stops forwarding the master's stream to the replica; what the
// master sends meanwhile is held.
func (p *ReplicationProxy) Freeze() {
	p.mu.Lock()
	p.frozen, p.held = true, 0
	p.mu.Unlock()
}

// Thaw forwards what was held, then the stream again.
func (p *ReplicationProxy) Thaw() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, ln := range p.links {
		if len(ln.held) > 0 {
			_, err := ln.replica.Write(ln.held)
			errs = append(errs, err)
			ln.held = nil
		}
	}
	p.frozen = false
	return errors.Join(errs...)
}

// Held is how many bytes of the master's stream the replica was denied
// since the last Freeze.
func (p *ReplicationProxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Cut closes the current connections, dropping what was held: the
// replica sees its link to the master down (and reconnects through the
// proxy, to whatever the master is by then). The proxy stays frozen or not.
func (p *ReplicationProxy) Cut() {
	p.mu.Lock()
	links := p.links
	p.links = nil
	p.mu.Unlock()
	for _, ln := range links {
		ln.replica.Close()
		ln.master.Close()
	}
}

// Close stops listening and cuts the connections.
func (p *ReplicationProxy) Close() {
	p.l.Close()
	p.Cut()
}
