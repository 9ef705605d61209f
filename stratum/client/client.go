// Package client is a Go client for the xmrig CryptoNote stratum protocol
// (newline-delimited JSON-RPC over TCP or TLS), read as strictly as xmrig
// 6.26 reads it: replies are matched by integer id only, jobs are checked
// with xmrig's parseJob rules, a repeated job is reported as xmrig's
// "duplicate job", and submit/login results that xmrig would not count
// (a result that is not an object, an error without a string message) are
// errors. It serves rxminer, load tools and the pool's own tests, which use
// it to prove that what the pool sends would work in xmrig.
//
// Errors: a pool rejection is a *proto.Error; a reply xmrig would misread is
// a *ProtocolError; a bad or duplicate job a *JobError; everything else
// (ErrClosed, ErrTimeout, context and network errors) is transport.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/stratum/proto"
)

// Defaults, from xmrig (Client.h, LineReader.cpp, Pool.h).
const (
	DefaultDialTimeout    = 20 * time.Second
	DefaultRequestTimeout = 20 * time.Second
	DefaultMaxLine        = 64 << 10 // xmrig cannot read a longer line
	tcpKeepAlive          = 60 * time.Second
	defaultQueue          = 64
)

var (
	// ErrClosed is wrapped by every error caused by the connection being
	// closed, by either side; the cause is wrapped next to it.
	ErrClosed = errors.New("stratum: connection closed")
	// ErrTimeout is wrapped when a request got no reply in time.
	ErrTimeout = errors.New("stratum: request timed out")
	// ErrFingerprint is wrapped when the pool's certificate does not match
	// Options.TLSFingerprint.
	ErrFingerprint = errors.New("stratum: TLS certificate fingerprint mismatch")
	// ErrLineTooLong is the close cause when the pool sends a line xmrig
	// could not read.
	ErrLineTooLong = errors.New("stratum: line from pool exceeds the xmrig limit")
)

// ProtocolError is a reply xmrig would reject or misread: a login result
// without a session id (Code 1), a result that is not an object (xmrig
// leaves such a share pending forever), an error without a string message.
type ProtocolError struct {
	Code   int // xmrig's login error code when there is one, else 0
	Reason string
}

func (e *ProtocolError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("stratum protocol: login error code %d: %s", e.Code, e.Reason)
	}
	return "stratum protocol: " + e.Reason
}

// LoginParams are the params of "login", sent exactly as given: set Algo
// (xmrig always sends ["rx/0", …]) and Agent unless testing their absence.
type LoginParams = proto.LoginParams

// Options configure Dial and NewConn. The zero value is a plain TCP
// connection with xmrig's timeouts.
type Options struct {
	// TLS wraps the connection in TLS without verifying the certificate, as
	// xmrig does; TLSFingerprint, if set, pins the SHA-256 of the server's
	// DER certificate (64 hex digits, case and colons ignored). SNI sends
	// the host name, which xmrig only does with "sni": true.
	TLS            bool
	TLSFingerprint string
	SNI            bool

	DialTimeout    time.Duration // default DefaultDialTimeout
	RequestTimeout time.Duration // per request and per write; default DefaultRequestTimeout
	MaxLine        int           // longest line accepted from the pool; default DefaultMaxLine

	// TolerateBadJobs keeps the connection open after a bad or duplicate
	// job (still reported on JobErrors). Without it the client closes the
	// connection as xmrig does, with the *JobError as the cause.
	TolerateBadJobs bool

	// Latency, if set, collects submit→reply times; connections may share
	// one. Without it each Conn has its own.
	Latency *Latency

	// QueueSize is the buffer of Jobs, JobErrors and Other (default 64).
	// When a queue is full its oldest entry is dropped (Stats counts it), so
	// a slow reader never stalls replies.
	QueueSize int
}

func (o Options) withDefaults() Options {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.QueueSize <= 0 {
		o.QueueSize = defaultQueue
	}
	if o.Latency == nil {
		o.Latency = NewLatency()
	}
	return o
}

// Stats counts what a Conn saw.
type Stats struct {
	Requests      uint64 // requests sent with an id
	Replies       uint64 // replies matched to a waiting request
	Unmatched     uint64 // replies with an integer id nobody waits for (late or foreign)
	Undecodable   uint64 // lines xmrig would log as "JSON decode failed"
	Jobs          uint64 // valid jobs delivered (login, job notifications, getjob)
	JobErrors     uint64 // bad or duplicate jobs
	Ignored       uint64 // notifications xmrig ignores: with an error object, no or unknown method
	DroppedJobs   uint64 // jobs pushed out of a full Jobs queue
	DroppedOthers uint64 // lines pushed out of a full Other queue
}

// Conn is one stratum connection. All methods are safe for concurrent use;
// requests may be pipelined.
type Conn struct {
	nc   net.Conn
	opts Options

	wmu sync.Mutex // one writer at a time, so lines never interleave

	mu      sync.Mutex
	nextID  int64
	pending map[int64]*call // nil once closed
	session string
	exts    []string
	job     *proto.Job // current job, compared with the next for duplicates

	closeOnce sync.Once
	err       error // terminal cause, set under mu together with pending = nil
	done      chan struct{}

	jobs     chan *proto.Job
	jobErrs  chan *JobError
	other    chan []byte
	lastSend atomic.Int64 // unix nanoseconds

	requests, replies, unmatched, undecodable, jobCount, jobErrCount,
	ignored, droppedJobs, droppedOthers atomic.Uint64
}

// call is one request waiting for its reply. hook, if set, turns the reply
// into a value on the reader goroutine, so that state changes (session,
// current job) and pushes to Jobs happen in wire order.
type call struct {
	ch   chan reply // buffered: the reader never blocks on a waiter
	hook func(*proto.Response) (any, error)
}

type reply struct {
	resp *proto.Response
	val  any
	err  error
	at   time.Time // when the reader got the line, for latency
}

// Dial connects to addr ("host:port", optionally "stratum+tcp://" or
// "stratum+ssl://", the latter implying TLS) and starts reading.
func Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	opts = opts.withDefaults()
	switch {
	case strings.HasPrefix(addr, "stratum+ssl://"):
		opts.TLS = true
		addr = strings.TrimPrefix(addr, "stratum+ssl://")
	case strings.HasPrefix(addr, "stratum+tcp://"):
		addr = strings.TrimPrefix(addr, "stratum+tcp://")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: tcpKeepAlive}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if opts.TLS {
		tc := tls.Client(nc, tlsConfig(addr, opts))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("stratum: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	return NewConn(nc, opts), nil
}

// NewConn runs the protocol over an established connection (from Dial, a
// test's net.Pipe, a proxy) and starts reading from it.
func NewConn(nc net.Conn, opts Options) *Conn {
	opts = opts.withDefaults()
	c := &Conn{
		nc:      nc,
		opts:    opts,
		pending: map[int64]*call{},
		done:    make(chan struct{}),
		jobs:    make(chan *proto.Job, opts.QueueSize),
		jobErrs: make(chan *JobError, opts.QueueSize),
		other:   make(chan []byte, opts.QueueSize),
	}
	go c.readLoop()
	return c
}

// Jobs delivers every valid job in wire order: the login job first, then
// pushed jobs and getjob results. It is closed when the connection is.
func (c *Conn) Jobs() <-chan *proto.Job { return c.jobs }

// JobErrors delivers bad and duplicate jobs; closed with the connection.
func (c *Conn) JobErrors() <-chan *JobError { return c.jobErrs }

// Other delivers lines that are neither a matched reply nor a valid job
// notification (replies to SendLine input, null-id errors, unknown
// methods, undecodable lines), without the newline; closed with the
// connection.
func (c *Conn) Other() <-chan []byte { return c.other }

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is the reason the connection closed (wrapping ErrClosed), nil while
// it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection; waiting requests fail with ErrClosed.
func (c *Conn) Close() error {
	c.shutdown(nil)
	return nil
}

// Session is the session id from the login result ("" before login).
func (c *Conn) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Extensions are the extensions the login result listed.
func (c *Conn) Extensions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.exts)
}

// HasExtension reports whether the login result listed ext.
func (c *Conn) HasExtension(ext string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.exts, ext)
}

// Job is the current job (the last valid one received), nil before login.
func (c *Conn) Job() *proto.Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.job
}

// LastSend is when a line was last written (xmrig re-arms its keepalive
// timer on every send).
func (c *Conn) LastSend() time.Time { return time.Unix(0, c.lastSend.Load()) }

// Latency is the collector of submit→reply times.
func (c *Conn) Latency() *Latency { return c.opts.Latency }

// LocalAddr is the local end of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Stats returns the counters.
func (c *Conn) Stats() Stats {
	return Stats{
		Requests: c.requests.Load(), Replies: c.replies.Load(), Unmatched: c.unmatched.Load(),
		Undecodable: c.undecodable.Load(), Jobs: c.jobCount.Load(), JobErrors: c.jobErrCount.Load(),
		Ignored: c.ignored.Load(), DroppedJobs: c.droppedJobs.Load(), DroppedOthers: c.droppedOthers.Load(),
	}
}

// roundTrip sends a request with the next integer id and waits for the
// reply, the request timeout, ctx or the connection's end. The reply's
// arrival time is returned even with an error.
func (c *Conn) roundTrip(ctx context.Context, method string, params any, hook func(*proto.Response) (any, error)) (reply, error) {
	cl := &call{ch: make(chan reply, 1), hook: hook}
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return reply{}, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = cl // before writing: the reply may beat Write's return
	c.mu.Unlock()

	line, err := proto.AppendRequest(nil, id, method, params)
	if err == nil {
		err = c.write(line)
	}
	if err != nil {
		c.forget(id)
		return reply{}, err
	}
	c.requests.Add(1)

	timer := time.NewTimer(c.opts.RequestTimeout)
	defer timer.Stop()
	select {
	case r := <-cl.ch:
		return r, r.err
	case <-timer.C:
		c.forget(id)
		return reply{}, fmt.Errorf("%w: %s (id %d) after %v", ErrTimeout, method, id, c.opts.RequestTimeout)
	case <-ctx.Done():
		c.forget(id)
		return reply{}, fmt.Errorf("stratum: %s (id %d): %w", method, id, ctx.Err())
	}
}

func (c *Conn) forget(id int64) {
	c.mu.Lock()
	if c.pending != nil {
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

func (c *Conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.RequestTimeout))
	if _, err := c.nc.Write(b); err != nil {
		// A partial line would corrupt the stream: give the connection up.
		c.shutdown(fmt.Errorf("write: %w", err))
		return c.Err()
	}
	c.lastSend.Store(time.Now().UnixNano())
	return nil
}

// shutdown closes the connection once, recording cause (nil: closed by
// us) and failing every waiting request.
func (c *Conn) shutdown(cause error) {
	c.closeOnce.Do(func() {
		err := ErrClosed
		if cause != nil {
			err = fmt.Errorf("%w: %w", ErrClosed, cause)
		}
		c.mu.Lock()
		c.err = err
		pend := c.pending
		c.pending = nil
		c.mu.Unlock()
		c.nc.Close()
		close(c.done)
		for _, cl := range pend {
			cl.ch <- reply{err: err}
		}
	})
}

// IsCritical reports whether xmrig would drop the connection on this
// submit error (Client.cpp isCriticalError: case-insensitive prefixes).
func IsCritical(err error) bool {
	var pe *proto.Error
	if !errors.As(err, &pe) {
		return false
	}
	msg := strings.ToLower(pe.Message)
	for _, p := range []string{"unauthenticated", "your ip is banned", "ip address currently banned", "invalid job id"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
