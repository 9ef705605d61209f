package stratum

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/stratum/proto"
)

// loginJobWait is how long a login waits for the pool's first block
// template (the daemon is not ready yet) before its connection is closed.
// It is under xmrig's 20 s response timeout, after which xmrig would drop
// the connection itself.
const loginJobWait = 15 * time.Second

// readBuffer is a connection's read buffer: login and submit lines fit.
const readBuffer = 512

// readLine reads one line ending in '\n' of at most max bytes. A line that
// does not fit r's buffer is copied into a slice of its own, which is not
// kept, so only connections sending long lines pay for them. A line over
// max is bufio.ErrBufferFull.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	long := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) && len(long) <= max {
		line, err = r.ReadSlice('\n')
		long = append(long, line...)
	}
	if len(long) > max {
		return nil, bufio.ErrBufferFull
	}
	return long, err
}

// session is one miner connection.
type session struct {
	srv  *Server
	conn net.Conn
	port Port
	ip   string
	// group is ip's address group (addrGroup), what bans and limits count;
	// computed once per connection, not per share.
	group string
	// miner is the logged-in miner (nil before login). It is set once and
	// readable without mu, so code holding mu can log with it.
	miner atomic.Pointer[Miner]

	writeMu sync.Mutex
	jobs    jobRing // the recent jobs, for submits (locked apart)
	// earned: a share of this session was accepted, or its address had
	// one accepted from this address group before (sharePipeline.earners);
	// its shares need it for the block lane and to skip the strangers'
	// verification budget.
	earned atomic.Bool
	// junk counts refused requests while the session has no accepted share
	// (banList.strangerJunk); requests are handled one at a time.
	junk int

	mu   sync.Mutex // guards everything below
	id   string
	diff uint64
	vd   *varDiff
	// nonceByte is the nonce's top byte reserved for this connection on a
	// NiceHash port (0: not a NiceHash port).
	nonceByte byte
	closed    bool
	draining  bool // the server is shutting down: read no more requests
}

func newSession(s *Server, conn net.Conn, p Port, ip, group string) *session {
	return &session{srv: s, conn: conn, port: p, ip: ip, group: group}
}

// appendErr appends an error reply line with code -1, as xmrig expects.
func appendErr(dst []byte, id json.RawMessage, msg string) []byte {
	return proto.AppendError(dst, id, -1, msg)
}

// run reads lines until the connection ends. Requests of one connection are
// handled in order, so replies keep the order of requests.
func (sess *session) run() {
	defer sess.finish()
	cfg := &sess.srv.cfg
	// A small buffer: an idle connection holds it for hours, and requests
	// fit in it; longer lines (up to MaxLineLength) are assembled apart.
	r := bufio.NewReaderSize(sess.conn, min(readBuffer, cfg.MaxLineLength))
	// The login deadline counts from the connection's start, not from its
	// last line: a client that never logs in cannot stay by sending getjob
	// or junk every few seconds.
	loginBy := time.Now().Add(cfg.LoginTimeout)
	if !sess.armRead(loginBy) {
		return
	}
	for {
		line, err := readLine(r, cfg.MaxLineLength)
		if errors.Is(err, bufio.ErrBufferFull) {
			sess.send(appendErr(nil, nil, LineTooLong.Message()))
			sess.logger().Warnf("closing connection: line longer than %d bytes", cfg.MaxLineLength)
			return
		}
		if err != nil {
			return // EOF, timeout (idle or no login in time) or closed
		}
		if sess.handleApart(line) {
			return
		}
		deadline := loginBy
		if sess.loggedIn() != nil {
			deadline = time.Now().Add(cfg.MinerTimeout)
		}
		if !sess.armRead(deadline) {
			return // shutting down, and this request is answered
		}
	}
}

// handleApart runs handle on a goroutine of its own and waits for it. A
// request's deep call chains (JSON, addresses, logging, verification) grow
// that goroutine's stack, which is freed when it ends; the reading
// goroutine, which waits for hours on an idle connection, keeps a small one.
func (sess *session) handleApart(line []byte) bool {
	done := make(chan bool, 1)
	go func() { done <- sess.handle(line) }()
	return <-done
}

// armRead sets the deadline of the next read; it reports false once the
// server is shutting down. It and stopReading take sess.mu, so a deadline
// set here can never undo theirs.
func (sess *session) armRead(deadline time.Time) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.draining {
		return false
	}
	_ = sess.conn.SetReadDeadline(deadline)
	return true
}

// stopReading ends the session after the request being handled, if any,
// is answered: a read waiting for the next request returns at once.
func (sess *session) stopReading() {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.draining = true
	_ = sess.conn.SetReadDeadline(time.Now())
}

func (sess *session) finish() {
	sess.conn.Close()
	sess.mu.Lock()
	sess.closed = true
	m := sess.miner.Load()
	nb := sess.nonceByte
	sess.mu.Unlock()
	if nb != 0 {
		sess.port.nonces.release(nb)
	}
	if m != nil {
		sess.srv.sink.MinerDisconnected(m.Address.Text, m.Worker, sess.ip)
	}
}

// logger is the server's logger with this connection's IP and miner.
func (sess *session) logger() logrus.FieldLogger {
	return sess.srv.log.WithFields(minerFields(sess.ip, sess.miner.Load()))
}

// debugf logs at debug level, building the log entry only when debug
// logging is on (it runs at every login and retarget).
func (sess *session) debugf(format string, args ...any) {
	var l *logrus.Logger
	switch v := sess.srv.log.(type) {
	case *logrus.Entry:
		l = v.Logger
	case *logrus.Logger:
		l = v
	}
	if l == nil || l.IsLevelEnabled(logrus.DebugLevel) {
		sess.logger().Debugf(format, args...)
	}
}

func (sess *session) loggedIn() *Miner { return sess.miner.Load() }

// send writes one or more complete lines, with a deadline so a miner that
// stopped reading cannot block the pool; a failed write closes the socket.
func (sess *session) send(b []byte) {
	sess.writeMu.Lock()
	defer sess.writeMu.Unlock()
	_ = sess.conn.SetWriteDeadline(time.Now().Add(sess.srv.cfg.WriteTimeout))
	if _, err := sess.conn.Write(b); err != nil {
		sess.conn.Close()
	}
}

func (sess *session) reply(id json.RawMessage, result any) {
	b, err := proto.AppendResult(nil, id, result)
	if err != nil {
		sess.logger().Errorf("encoding reply: %v", err)
		return
	}
	sess.send(b)
}

func (sess *session) fail(id json.RawMessage, msg string) { sess.send(appendErr(nil, id, msg)) }

// refuse answers a request with o's error message.
func (sess *session) refuse(id json.RawMessage, o Outcome) { sess.fail(id, o.Message()) }

// refuseJunk refuses a request no miner sends in its work (garbage, an
// unknown method, a second login, a login with a bad address, a submit
// before login or with bad params) and counts it against the address in
// ratio banning, like a refused share: one login per connection and the
// connection rate bound logins, and this bans a loop of bad ones.
func (sess *session) refuseJunk(id json.RawMessage, o Outcome, msg string) {
	if msg == "" {
		msg = o.Message()
	}
	sess.fail(id, msg)
	sess.srv.bans.record(sess.group, true)
	if !sess.earned.Load() {
		sess.junk++
		sess.srv.bans.strangerJunk(sess.group, sess.junk)
	}
}

// handle dispatches one request line; it returns true when the connection
// must be closed.
func (sess *session) handle(line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return false
	}
	var req proto.Request
	if line[0] != '{' || json.Unmarshal(line, &req) != nil || req.Method == "" {
		// Not our protocol (garbage, an HTTP probe, a truncated line): say so
		// and close, as xmrig-proxy does; there is no sane way to resync.
		sess.refuseJunk(validID(req.ID), Malformed, "")
		return true
	}
	switch req.Method {
	case proto.MethodLogin:
		return sess.login(req.ID, req.Params)
	case proto.MethodSubmit:
		return sess.submit(req.ID, req.Params)
	case proto.MethodGetJob:
		return sess.getJob(req.ID)
	case proto.MethodKeepalive:
		if sess.loggedIn() == nil {
			sess.refuse(req.ID, Unauthenticated)
			return false
		}
		sess.reply(req.ID, proto.StatusResult{Status: proto.StatusKeepalive})
	default:
		sess.refuseJunk(req.ID, InvalidMethod, "")
	}
	return false
}

// validID keeps an id only if it is valid JSON on its own (it came from a
// parse that may have failed half-way).
func validID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 || !json.Valid(id) {
		return nil
	}
	return id
}

func (sess *session) login(id, params json.RawMessage) bool {
	if sess.loggedIn() != nil {
		sess.refuseJunk(id, Malformed, "Already logged in")
		return false
	}
	var p proto.LoginParams
	if err := json.Unmarshal(params, &p); err != nil {
		sess.refuseJunk(id, Malformed, "Invalid login params: "+err.Error())
		return true
	}
	if len(p.Algo) > 0 && !slices.Contains(p.Algo, proto.Algo) {
		sess.refuse(id, NoAlgo)
		return true
	}
	m, err := sess.srv.rules.parseLogin(p.Login, p.Pass, p.RigID)
	if err != nil {
		sess.refuseJunk(id, InvalidAddress, InvalidAddress.Message()+" used for login: "+err.Error())
		return true
	}
	if !sess.srv.jobs.waitTemplate(sess.srv.ctx, loginJobWait) {
		// Closed without a reply. An error reply would strand xmrig: its
		// Client::parseResponse closes the connection after an error only
		// for the client with id 1 (the second pool of its list) or a
		// "critical" message, so the first pool's connection would stay
		// open without a job. A dropped connection it reconnects after its
		// retry pause (5 s) and logs in again.
		sess.debugf("closing a login after %v without a block template (the daemon is not ready)", loginJobWait)
		return true
	}
	var nonceByte byte
	if sess.port.nonces != nil {
		b, ok := sess.port.nonces.take()
		if !ok {
			sess.logger().Warnf("NiceHash port %d: all %d nonce bytes taken, login refused", sess.port.Port, nonceBytesMax)
			sess.refuse(id, NiceHashFull)
			return true
		}
		nonceByte = b
	}
	diff := sess.start(m, nonceByte)
	sess.earned.Store(sess.srv.shares.earnedBefore(m.Address.Text, sess.group))
	job, err := sess.nextJob()
	if err != nil {
		sess.fail(id, "No job available: "+err.Error())
		return true
	}
	sess.srv.sink.MinerConnected(m.Address.Text, m.Worker, sess.ip)
	ext := []string{proto.ExtAlgo, proto.ExtKeepalive}
	if nonceByte != 0 {
		ext = append(ext, proto.ExtNiceHash)
	}
	sess.reply(id, proto.LoginResult{ID: sess.id, Job: job, Status: proto.StatusOK, Extensions: ext})
	sess.debugf("login: scheme %s, difficulty %d, agent %q", m.Scheme, diff, p.Agent)
	return false
}

// start makes m the session's miner, with a new session id, its starting
// difficulty (returned) and vardiff.
func (sess *session) start(m *Miner, nonceByte byte) uint64 {
	diff := sess.port.Diff
	vd := sess.srv.cfg.VarDiff
	if m.FixedDiff > 0 {
		diff = clampDiff(m.FixedDiff, vd.Min, vd.Max)
	}
	var sid [8]byte
	_, _ = rand.Read(sid[:])
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.id = hex.EncodeToString(sid[:])
	sess.miner.Store(m)
	sess.nonceByte = nonceByte // released by finish
	sess.diff = diff
	sess.vd = newVarDiff(&sess.srv.cfg.VarDiff, time.Now())
	if m.FixedDiff > 0 {
		sess.vd.p = &VarDiff{} // fixed difficulty turns vardiff off
	}
	return diff
}

func (sess *session) getJob(id json.RawMessage) bool {
	if sess.loggedIn() == nil {
		sess.refuse(id, Unauthenticated)
		return false
	}
	job, err := sess.nextJob()
	if err != nil {
		sess.fail(id, "No job available: "+err.Error())
		return false
	}
	sess.reply(id, job)
	return false
}

// nextJob mints a job at the session's difficulty, remembers it and returns
// its wire form.
func (sess *session) nextJob() (*proto.Job, error) {
	sess.mu.Lock()
	diff, nonceByte := sess.diff, sess.nonceByte
	sess.mu.Unlock()
	j, err := sess.srv.jobs.newJob(diff)
	if err != nil {
		return nil, err
	}
	if nonceByte != 0 {
		// The nonce's top byte: the rest of the nonce is the miner's.
		j.blob[j.template.block.NonceOffset()+3] = nonceByte
	}
	sess.jobs.add(j)
	return &proto.Job{
		Blob: hex.EncodeToString(j.blob), JobID: j.id, Target: cryptonote.TargetHex(j.diff),
		Algo: proto.Algo, Height: j.template.height, SeedHash: hex.EncodeToString(j.template.seed[:]),
	}, nil
}

// pushJob sends a new job notification (new template or new difficulty).
func (sess *session) pushJob() {
	sess.mu.Lock()
	ok := sess.miner.Load() != nil && !sess.closed
	sess.mu.Unlock()
	if !ok {
		return
	}
	job, err := sess.nextJob()
	if err != nil {
		sess.logger().Warnf("no job to push: %v", err)
		return
	}
	b, err := proto.AppendJob(nil, job)
	if err != nil {
		return
	}
	sess.send(b)
}

// submit parses a share and hands it to the share pipeline; the answer
// and vardiff are the session's.
func (sess *session) submit(id, params json.RawMessage) bool {
	m := sess.loggedIn()
	if m == nil {
		sess.refuseJunk(id, Unauthenticated, "")
		return false
	}
	var p proto.SubmitParams
	if err := json.Unmarshal(params, &p); err != nil {
		sess.refuseJunk(id, Malformed, "Invalid submit params: "+err.Error())
		return false
	}
	sess.mu.Lock()
	sid, nonceByte := sess.id, sess.nonceByte
	sess.mu.Unlock()
	// A ban (for malice from another session of this IP, or the ratio)
	// ends this session at its next submit, not only new connections.
	if sess.srv.bans.banned(sess.group) {
		sess.refuse(id, Banned)
		return true
	}
	now := time.Now()
	o, diff := sess.srv.shares.submit(&submission{miner: m, ip: sess.ip, group: sess.group, jobs: &sess.jobs, nonceByte: nonceByte,
		earned: sess.earned.Load(), foreign: p.ID != sid, junk: &sess.junk,
		jobID: p.JobID, nonce: p.Nonce, result: p.Result, at: now})
	if !o.accepted() {
		sess.refuse(id, o)
		return o == Banned || o.Malice()
	}
	sess.earned.Store(true)
	sess.reply(id, proto.StatusResult{Status: proto.StatusOK})
	sess.afterShare(now, diff)
	return false
}

// afterShare feeds vardiff and pushes a job with the new difficulty when it
// changes (xmrig applies a difficulty only with a new job).
func (sess *session) afterShare(now time.Time, diff uint64) {
	sess.mu.Lock()
	sess.vd.share(now, diff)
	sess.mu.Unlock()
	sess.retarget(now)
}

// retarget runs vardiff; the server's ticker also calls it without a new
// share, so a miner whose difficulty is far too high (no shares at all) is
// brought down.
func (sess *session) retarget(now time.Time) {
	sess.mu.Lock()
	if sess.miner.Load() == nil || sess.closed {
		sess.mu.Unlock()
		return
	}
	next, changed := sess.vd.retarget(now, sess.diff)
	if changed {
		sess.debugf("vardiff: %d -> %d", sess.diff, next)
		sess.diff = next
	}
	sess.mu.Unlock()
	if changed {
		sess.pushJob()
	}
}

// String names the session in logs.
func (sess *session) String() string { return fmt.Sprintf("session(%s)", sess.ip) }
