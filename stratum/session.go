package stratum

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/randomx"
	"rxpool/stratum/proto"
)

// jobsKept is how many recent jobs a session remembers for submits.
const jobsKept = 8

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
	// miner is the logged-in miner (nil before login). It is set once and
	// readable without mu, so code holding mu can log with it.
	miner atomic.Pointer[Miner]

	writeMu sync.Mutex

	mu       sync.Mutex // guards everything below
	id       string
	diff     uint64
	vd       *varDiff
	jobs     [jobsKept]*Job
	jobHead  int
	firstJob uint64 // seq of the first job this session got
	// nonceByte is the nonce's top byte reserved for this connection on a
	// NiceHash port (0: not a NiceHash port).
	nonceByte byte
	closed    bool
	draining  bool // the server is shutting down: read no more requests
}

func newSession(s *Server, conn net.Conn, p Port, ip string) *session {
	return &session{srv: s, conn: conn, port: p, ip: ip}
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
	if !sess.armRead(cfg.LoginTimeout) {
		return
	}
	for {
		line, err := readLine(r, cfg.MaxLineLength)
		if errors.Is(err, bufio.ErrBufferFull) {
			sess.send(appendErr(nil, nil, proto.ErrMsgLineTooLong))
			sess.logger().Warnf("closing connection: line longer than %d bytes", cfg.MaxLineLength)
			return
		}
		if err != nil {
			return // EOF, timeout (idle or no login in time) or closed
		}
		if sess.handleApart(line) {
			return
		}
		timeout := cfg.MinerTimeout
		if sess.loggedIn() == nil {
			timeout = cfg.LoginTimeout
		}
		if !sess.armRead(timeout) {
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
func (sess *session) armRead(timeout time.Duration) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.draining {
		return false
	}
	_ = sess.conn.SetReadDeadline(time.Now().Add(timeout))
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
	f := logrus.Fields{"ip": sess.ip}
	if m := sess.miner.Load(); m != nil {
		f["miner"], f["worker"] = m.Address.Text, m.Worker
	}
	return sess.srv.log.WithFields(f)
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
		sess.fail(validID(req.ID), proto.ErrMsgParse)
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
			sess.fail(req.ID, proto.ErrMsgUnauthenticated)
			return false
		}
		sess.reply(req.ID, proto.StatusResult{Status: proto.StatusKeepalive})
	default:
		sess.fail(req.ID, proto.ErrMsgInvalidMethod)
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
		sess.fail(id, "Already logged in")
		return false
	}
	var p proto.LoginParams
	if err := json.Unmarshal(params, &p); err != nil {
		sess.fail(id, "Invalid login params: "+err.Error())
		return true
	}
	if len(p.Algo) > 0 && !slices.Contains(p.Algo, proto.Algo) {
		sess.fail(id, proto.ErrMsgNoAlgo)
		return true
	}
	m, err := sess.srv.rules.parseLogin(p.Login, p.Pass, p.RigID)
	if err != nil {
		sess.fail(id, proto.ErrMsgInvalidAddrPrefix+" used for login: "+err.Error())
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
			sess.fail(id, proto.ErrMsgNiceHashFull)
			return true
		}
		nonceByte = b
	}
	diff := sess.port.Diff
	vd := sess.srv.cfg.VarDiff
	if m.FixedDiff > 0 {
		diff = clampDiff(m.FixedDiff, vd.Min, vd.Max)
	}
	var sid [8]byte
	_, _ = rand.Read(sid[:])
	sess.mu.Lock()
	sess.id = hex.EncodeToString(sid[:])
	sess.miner.Store(m)
	sess.nonceByte = nonceByte // released by finish
	sess.diff = diff
	sess.vd = newVarDiff(&sess.srv.cfg.VarDiff, time.Now())
	if m.FixedDiff > 0 {
		sess.vd.p = &VarDiff{} // fixed difficulty turns vardiff off
	}
	sess.mu.Unlock()

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

func (sess *session) getJob(id json.RawMessage) bool {
	if sess.loggedIn() == nil {
		sess.fail(id, proto.ErrMsgUnauthenticated)
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
	sess.mu.Lock()
	if sess.firstJob == 0 {
		sess.firstJob = j.seq
	}
	sess.jobs[sess.jobHead] = j
	sess.jobHead = (sess.jobHead + 1) % jobsKept
	sess.mu.Unlock()
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

// findJob returns the session's job with the given id, or the error text
// for an unknown one: "Block expired" when it is one of ours that aged out
// (xmrig just counts it), "Invalid job id" otherwise (xmrig reconnects).
func (sess *session) findJob(jobID string) (*Job, string) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	oldest := uint64(0)
	for _, j := range sess.jobs {
		if j == nil {
			continue
		}
		if j.id == jobID {
			return j, ""
		}
		if oldest == 0 || j.seq < oldest {
			oldest = j.seq
		}
	}
	if seq, err := strconv.ParseUint(jobID, 16, 64); err == nil && seq >= sess.firstJob && seq < oldest {
		return nil, proto.ErrMsgBlockExpired
	}
	return nil, proto.ErrMsgInvalidJobID
}

// submit runs the share pipeline. Cheap checks come first; the RandomX hash
// is computed by the verifier's workers (this goroutine waits, so one
// connection's shares are handled in order); possible blocks jump the queue.
func (sess *session) submit(id, params json.RawMessage) bool {
	m := sess.loggedIn()
	if m == nil {
		sess.fail(id, proto.ErrMsgUnauthenticated)
		return false
	}
	var p proto.SubmitParams
	if err := json.Unmarshal(params, &p); err != nil {
		sess.fail(id, "Invalid submit params: "+err.Error())
		return false
	}
	sess.mu.Lock()
	sid, nonceByte := sess.id, sess.nonceByte
	sess.mu.Unlock()
	if p.ID != sid {
		sess.fail(id, proto.ErrMsgUnauthenticated)
		return false
	}
	job, msg := sess.findJob(p.JobID)
	if job == nil {
		return sess.reject(id, m, msg, false)
	}
	var nonce [4]byte
	if len(p.Nonce) != 8 || !decodeHex(nonce[:], p.Nonce) {
		return sess.reject(id, m, proto.ErrMsgInvalidNonce, true)
	}
	if nonceByte != 0 && nonce[3] != nonceByte {
		return sess.reject(id, m, proto.ErrMsgNiceHashNonce, true)
	}
	var result [32]byte
	if len(p.Result) != 64 || !decodeHex(result[:], p.Result) {
		return sess.reject(id, m, proto.ErrMsgInvalidResult, true)
	}
	t := job.template
	now := time.Now()
	staleAt := t.staleAt()
	stale := staleAt != 0
	if stale && now.Sub(time.Unix(0, staleAt)) > sess.srv.cfg.GraceWindow {
		return sess.reject(id, m, proto.ErrMsgBlockExpired, false)
	}
	n := binary.LittleEndian.Uint32(nonce[:])
	sess.mu.Lock()
	if job.nonces == nil {
		job.nonces = map[uint32]struct{}{}
	}
	_, dup := job.nonces[n]
	job.nonces[n] = struct{}{}
	sess.mu.Unlock()
	if dup {
		return sess.reject(id, m, proto.ErrMsgDuplicateShare, false)
	}
	// The claimed result must meet the job difficulty before we spend a
	// RandomX hash on it; a lie is caught by the comparison below.
	if !cryptonote.CheckHash(&result, job.diff) {
		return sess.reject(id, m, proto.ErrMsgLowDifficulty, true)
	}
	isBlock := !stale && cryptonote.CheckHashWide(&result, t.netDiff)

	blob := slices.Clone(job.blob)
	copy(blob[t.block.NonceOffset():], nonce[:])
	ctx, cancel := context.WithTimeout(sess.srv.work, 30*time.Second)
	hash, err := sess.srv.hasher.Hash(ctx, t.seed, blob, isBlock)
	cancel()
	if err != nil {
		sess.mu.Lock()
		delete(job.nonces, n) // not checked: the miner may send it again
		sess.mu.Unlock()
		if !errors.Is(err, randomx.ErrQueueFull) {
			sess.logger().Errorf("share verification: %v", err)
		}
		sess.fail(id, proto.ErrMsgBusy)
		return false
	}
	if hash != result {
		return sess.reject(id, m, proto.ErrMsgWrongResult, true)
	}
	if isBlock && sess.srv.jobs.claimBlock(t.prevHash) {
		sess.srv.jobs.wg.Add(1)
		go func() {
			defer sess.srv.jobs.wg.Done()
			ctx, cancel := context.WithTimeout(context.WithoutCancel(sess.srv.ctx), time.Minute)
			defer cancel()
			sess.srv.jobs.submitBlock(ctx, job, nonce, m, job.diff)
		}()
	}
	sess.srv.bans.record(sess.ip, false)
	err = sess.srv.sink.Share(&Share{
		Address: m.Address.Text, Worker: m.Worker, Scheme: m.Scheme, IP: sess.ip,
		Difficulty: job.diff, HashDiff: cryptonote.HashDifficulty(&hash), Height: t.height,
		Stale: stale, Time: now,
	})
	if err != nil {
		sess.logger().Errorf("share not recorded: %v", err)
		sess.fail(id, proto.ErrMsgStorageDown)
		return false
	}
	sess.reply(id, proto.StatusResult{Status: proto.StatusOK})
	sess.afterShare(now, job.diff)
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

// reject answers a refused share, records it, and applies the ban rule;
// it returns true when the connection must close (the IP got banned).
func (sess *session) reject(id json.RawMessage, m *Miner, msg string, invalid bool) bool {
	sess.srv.sink.Reject(&Rejection{Address: m.Address.Text, Worker: m.Worker, IP: sess.ip, Reason: msg, Invalid: invalid, Time: time.Now()})
	if sess.srv.bans.record(sess.ip, invalid) {
		sess.fail(id, proto.ErrMsgBanned)
		return true
	}
	sess.fail(id, msg)
	return false
}

func decodeHex(dst []byte, s string) bool {
	n, err := hex.Decode(dst, []byte(s)) // accepts either case
	return err == nil && n == len(dst)
}

// String names the session in logs.
func (sess *session) String() string { return fmt.Sprintf("session(%s)", sess.ip) }
