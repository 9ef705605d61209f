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
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
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

func tlsConfig(addr string, opts Options) *tls.Config {
	cfg := &tls.Config{
		// xmrig verifies neither chain nor host name; a pin is the only check.
		InsecureSkipVerify: true, //nolint:gosec // deliberate, see above
	}
	if opts.SNI {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	if pin := strings.ReplaceAll(opts.TLSFingerprint, ":", ""); pin != "" {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrFingerprint
			}
			return checkFingerprint(cs.PeerCertificates[0], pin)
		}
	}
	return cfg
}

func checkFingerprint(cert *x509.Certificate, pin string) error {
	sum := sha256.Sum256(cert.Raw)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, pin) {
		return fmt.Errorf("%w: got %s, want %s", ErrFingerprint, got, strings.ToLower(pin))
	}
	return nil
}

// Fingerprint is the xmrig tls-fingerprint of cert: SHA-256 of its DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
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

// Login sends "login" and waits for the result. On success the session id
// and extensions are recorded and the login job is already on Jobs. A pool
// rejection is a *proto.Error, a result without a session id a
// *ProtocolError with Code 1, a bad job a *JobError (after which the
// connection is closed unless TolerateBadJobs).
func (c *Conn) Login(ctx context.Context, p LoginParams) (*proto.LoginResult, error) {
	r, err := c.roundTrip(ctx, proto.MethodLogin, p, c.loginReply)
	if err != nil {
		return nil, err
	}
	return r.val.(*proto.LoginResult), nil
}

func (c *Conn) loginReply(resp *proto.Response) (any, error) {
	if err := statusError(resp); err != nil {
		return nil, err
	}
	var f struct {
		ID         json.RawMessage `json:"id"`
		Job        json.RawMessage `json:"job"`
		Extensions json.RawMessage `json:"extensions"`
		Status     json.RawMessage `json:"status"`
	}
	_ = json.Unmarshal(resp.Result, &f) // statusError checked it is an object
	res := &proto.LoginResult{}
	if json.Unmarshal(f.ID, &res.ID) != nil || res.ID == "" {
		return nil, &ProtocolError{Code: CodeNoSessionID, Reason: "login result has no string id"}
	}
	// xmrig skips extensions that are not strings and a list that is not
	// an array (Client.cpp parseExtensions).
	var exts []any
	_ = json.Unmarshal(f.Extensions, &exts)
	for _, e := range exts {
		if s, ok := e.(string); ok {
			res.Extensions = append(res.Extensions, s)
		}
	}
	_ = json.Unmarshal(f.Status, &res.Status)
	c.mu.Lock()
	c.session, c.exts, c.job = res.ID, res.Extensions, nil // a new session: nothing to duplicate
	c.mu.Unlock()
	job, err := c.acceptJob(f.Job)
	if err != nil {
		return nil, err
	}
	res.Job = job
	return res, nil
}

// Submit sends a share: the nonce as the 4 bytes at blob offset 39 and the
// 32-byte hash, with the session id and, when the pool listed the "algo"
// extension, the algorithm. nil means accepted; a rejection is a
// *proto.Error. The submit→reply time goes to Latency.
func (c *Conn) Submit(ctx context.Context, jobID string, nonce [4]byte, result [32]byte) error {
	return c.SubmitHex(ctx, jobID, hex.EncodeToString(nonce[:]), hex.EncodeToString(result[:]))
}

// SubmitHex is Submit with nonce and result as given, unchecked, so tests
// can send malformed values.
func (c *Conn) SubmitHex(ctx context.Context, jobID, nonce, result string) error {
	p := proto.SubmitParams{ID: c.Session(), JobID: jobID, Nonce: nonce, Result: result}
	if c.HasExtension(proto.ExtAlgo) {
		p.Algo = proto.Algo
	}
	return c.SubmitParams(ctx, p)
}

// SubmitParams sends "submit" with p exactly as given (a wrong session id,
// no algo, …) and treats the reply as Submit does.
func (c *Conn) SubmitParams(ctx context.Context, p proto.SubmitParams) error {
	start := time.Now()
	r, err := c.roundTrip(ctx, proto.MethodSubmit, p, func(resp *proto.Response) (any, error) {
		return nil, statusError(resp)
	})
	if r.at.After(start) {
		c.opts.Latency.Record(r.at.Sub(start))
	}
	return err
}

// Keepalive sends "keepalived". xmrig ignores the reply's content, so only
// an error reply is an error.
func (c *Conn) Keepalive(ctx context.Context) error {
	_, err := c.Call(ctx, proto.MethodKeepalive, proto.SessionParams{ID: c.Session()})
	return err
}

// GetJob sends the legacy "getjob". If the result is a job it is checked,
// becomes the current job, goes to Jobs and is returned; a result without
// job_id (a pool that pushes the job instead) gives nil, nil.
func (c *Conn) GetJob(ctx context.Context) (*proto.Job, error) {
	r, err := c.roundTrip(ctx, proto.MethodGetJob, proto.SessionParams{ID: c.Session()}, func(resp *proto.Response) (any, error) {
		if err := statusError(resp); err != nil {
			return nil, err
		}
		var probe struct {
			JobID json.RawMessage `json:"job_id"`
		}
		if json.Unmarshal(resp.Result, &probe) != nil || len(probe.JobID) == 0 {
			return (*proto.Job)(nil), nil
		}
		return c.acceptJob(resp.Result)
	})
	if err != nil {
		return nil, err
	}
	return r.val.(*proto.Job), nil
}

// Call sends any method and returns the raw result; a pool error is a
// *proto.Error.
func (c *Conn) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	r, err := c.roundTrip(ctx, method, params, nil)
	if err != nil {
		return nil, err
	}
	return r.resp.Result, nil
}

// SendLine writes b exactly as given (add the '\n' yourself), for sending
// malformed input on purpose. Replies to it arrive on Other unless they
// carry an id of a waiting request.
func (c *Conn) SendLine(b []byte) error { return c.write(b) }

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

// readLoop owns the read side and is the only sender on the queues, which
// it closes when the connection ends.
func (c *Conn) readLoop() {
	defer func() {
		close(c.jobs)
		close(c.jobErrs)
		close(c.other)
	}()
	r := bufio.NewReaderSize(c.nc, c.opts.MaxLine)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.shutdown(fmt.Errorf("%w (%d bytes)", ErrLineTooLong, c.opts.MaxLine))
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = nil // our own Close: its cause is already set
			}
			c.shutdown(err)
			return
		}
		if err := c.handleLine(line, time.Now()); err != nil {
			c.shutdown(err)
			return
		}
	}
}

// message is any line from the pool, members kept raw so types can be
// checked as xmrig checks them.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method json.RawMessage `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// handleLine dispatches one line like xmrig's Client::parse. A non-nil
// return closes the connection.
func (c *Conn) handleLine(line []byte, at time.Time) error {
	line = trimEOL(line)
	var m message
	// xmrig drops lines shorter than 22 bytes or not starting with '{'.
	if len(line) < 22 || line[0] != '{' || json.Unmarshal(line, &m) != nil {
		c.undecodable.Add(1)
		c.pushOther(line)
		return nil
	}
	if id, err := strconv.ParseInt(string(m.ID), 10, 64); err == nil {
		return c.handleReply(id, &m, line, at)
	}
	// No integer id: a notification. xmrig ignores those with an error.
	var method string
	if isObject(m.Error) || json.Unmarshal(m.Method, &method) != nil || method != proto.MethodJob {
		c.ignored.Add(1)
		c.pushOther(line)
		return nil
	}
	_, err := c.acceptJob(m.Params)
	if err != nil && !c.opts.TolerateBadJobs {
		return err
	}
	return nil
}

func (c *Conn) handleReply(id int64, m *message, line []byte, at time.Time) error {
	c.mu.Lock()
	cl := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if cl == nil {
		c.unmatched.Add(1)
		c.pushOther(line)
		return nil
	}
	c.replies.Add(1)
	resp := &proto.Response{ID: m.ID, Result: m.Result}
	r := reply{resp: resp, at: at}
	if err := decodeError(m.Error, resp); err != nil {
		r.err = err
	} else if cl.hook != nil {
		r.val, r.err = cl.hook(resp)
	} else if resp.Error != nil {
		r.err = resp.Error
	}
	cl.ch <- r
	var je *JobError
	if errors.As(r.err, &je) && !c.opts.TolerateBadJobs {
		return je
	}
	return nil
}

// decodeError fills resp.Error from a reply's raw error member. null or
// absent is no error; an object must carry a string message (xmrig reads
// it unchecked); code is read with a default, as xmrig does.
func decodeError(raw json.RawMessage, resp *proto.Response) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var f struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	if !isObject(raw) || json.Unmarshal(raw, &f) != nil {
		return &ProtocolError{Reason: fmt.Sprintf("error is not an object: %.80s", raw)}
	}
	e := &proto.Error{}
	if json.Unmarshal(f.Message, &e.Message) != nil {
		return &ProtocolError{Reason: fmt.Sprintf("error has no string message: %.80s", raw)}
	}
	_ = json.Unmarshal(f.Code, &e.Code)
	resp.Error = e
	return nil
}

// statusError is the error of a login or submit reply: the pool's error,
// or a *ProtocolError when the result is not an object (xmrig would count
// nothing and wait forever).
func statusError(resp *proto.Response) error {
	if resp.Error != nil {
		return resp.Error
	}
	if !isObject(resp.Result) {
		return &ProtocolError{Reason: fmt.Sprintf("result is not an object: %.80s", resp.Result)}
	}
	return nil
}

// acceptJob checks a job from the wire, compares it with the current one
// and, if good, makes it current and queues it on Jobs. Bad jobs go to
// JobErrors and are returned. Called on the reader goroutine only.
func (c *Conn) acceptJob(raw json.RawMessage) (*proto.Job, error) {
	job, jerr := parseJob(raw)
	c.mu.Lock()
	if jerr == nil && c.job != nil && sameJob(c.job, job) {
		jerr = &JobError{Duplicate: true, Reason: "same job_id, blob and target as the current job", Job: job}
	}
	if jerr == nil {
		c.job = job
	}
	c.mu.Unlock()
	if jerr != nil {
		c.jobErrCount.Add(1)
		pushDropOldest(c.jobErrs, jerr, nil)
		return nil, jerr
	}
	c.jobCount.Add(1)
	pushDropOldest(c.jobs, job, &c.droppedJobs)
	return job, nil
}

func (c *Conn) pushOther(line []byte) {
	pushDropOldest(c.other, slices.Clone(line), &c.droppedOthers)
}

// pushDropOldest queues v, discarding the oldest entry when ch is full.
// Only the reader goroutine sends, so after one discard there is room.
func pushDropOldest[T any](ch chan T, v T, dropped *atomic.Uint64) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
			if dropped != nil {
				dropped.Add(1)
			}
		default:
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
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
