package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// badKind is a kind of bad share sent on purpose (--bad).
type badKind string

const (
	badNone      badKind = ""
	badMalformed badKind = "malformed" // a truncated JSON submit line
	badDuplicate badKind = "duplicate" // an accepted share sent again
	badStale     badKind = "stale"     // a share held until its job was replaced long enough
	badLowDiff   badKind = "lowdiff"   // a real hash that misses the target
	badResult    badKind = "badresult" // the right nonce with a result that does not match
	badNonce     badKind = "badnonce"  // a nonce that is not 8 hex digits
)

var badKinds = []badKind{badMalformed, badDuplicate, badStale, badLowDiff, badResult, badNonce}

// sessionConfig is what every session of a run shares.
type sessionConfig struct {
	pools          []string           // tried in turn from the session's own start
	logins         []string           // session i logs in as logins[i mod len]
	login          client.LoginParams // everything of the login but the login itself
	dial           client.Options
	keepalive      bool // send keepalived even if the pool did not ask
	keepaliveEvery time.Duration
	retryPause     time.Duration
	retries        int // consecutive failed attempts before giving up; 0 = never
	bad            badKind
	badRate        float64
	staleAfter     time.Duration
	logf           func(format string, args ...any)
}

// session is one login to the pool, reconnecting when the connection
// drops, fed by a shareSource and counting into a tally.
type session struct {
	id  int
	cfg *sessionConfig
	t   *tally
	src shareSource

	inflight  sync.WaitGroup // submits and keepalives waiting for replies
	held      []heldShare    // --bad stale
	malformed atomic.Int64   // malformed lines whose reply is still due
	conn      uint64         // counts connections; jobs carry the one they came on
}

type heldShare struct {
	share
	replaced time.Time // when a newer job arrived; zero while current
}

func newSession(id int, cfg *sessionConfig, t *tally, src shareSource) *session {
	return &session{id: id, cfg: cfg, t: t, src: src}
}

// run mines until ctx ends, reconnecting after retryPause and moving to
// the next pool on failure, like xmrig's failover. It returns an error only
// when cfg.retries consecutive attempts failed.
func (s *session) run(ctx context.Context) error {
	failures := 0
	for i := s.id; ; i++ {
		addr := s.cfg.pools[i%len(s.cfg.pools)]
		loggedIn, err := s.connect(ctx, addr)
		if ctx.Err() != nil {
			return nil
		}
		if loggedIn {
			failures = 0
		}
		failures++
		s.cfg.logf("session %d: %s: %v", s.id, addr, err)
		if s.cfg.retries > 0 && failures >= s.cfg.retries {
			return fmt.Errorf("session %d: giving up after %d attempts: %w", s.id, failures, err)
		}
		select {
		case <-time.After(s.cfg.retryPause):
		case <-ctx.Done():
			return nil
		}
	}
}

// connect runs one connection: login, then jobs in and shares out until
// the connection or ctx ends. loggedIn reports whether the login worked.
func (s *session) connect(ctx context.Context, addr string) (loggedIn bool, err error) {
	conn, err := client.Dial(ctx, addr, s.cfg.dial)
	if err != nil {
		s.t.connectErrors.Add(1)
		s.t.setErr(err)
		return false, err
	}
	defer conn.Close()
	if _, err := conn.Login(ctx, s.loginParams()); err != nil {
		s.t.loginErrors.Add(1)
		s.t.setErr(err)
		return false, fmt.Errorf("login: %w", err)
	}
	s.t.logins.Add(1)
	s.conn++
	// Stop hashing before waiting for replies, and wait before closing.
	defer s.unanswered()
	defer s.inflight.Wait()
	defer s.src.setJob(nil)

	niceHash := conn.HasExtension(proto.ExtNiceHash)
	keepalive := s.cfg.keepalive || conn.HasExtension(proto.ExtKeepalive)
	// Often enough for --stale-after and the keepalive interval to be kept.
	tick := time.NewTicker(min(max(min(s.cfg.staleAfter/4, s.cfg.keepaliveEvery/2), 50*time.Millisecond), time.Second))
	defer tick.Stop()
	jobErrs, other := conn.JobErrors(), conn.Other()
	var lastKeepalive time.Time // its send may not have happened yet
	for {
		select {
		case <-ctx.Done():
			s.drainMalformed(other)
			return true, nil
		case j, ok := <-conn.Jobs():
			if !ok {
				return true, conn.Err()
			}
			s.newJob(j, niceHash)
		case je, ok := <-jobErrs:
			if !ok {
				jobErrs = nil
				continue
			}
			s.t.jobErrors.Add(1)
			s.t.setErr(je)
		case line, ok := <-other:
			if !ok {
				other = nil
				continue
			}
			s.unsolicited(line)
		case sh := <-s.src.shares():
			s.handleShare(ctx, conn, sh)
		case <-tick.C:
			s.flushStale(ctx, conn)
			if keepalive && time.Since(later(conn.LastSend(), lastKeepalive)) >= s.cfg.keepaliveEvery {
				lastKeepalive = time.Now()
				s.keepalive(ctx, conn)
			}
		}
	}
}

// login is the session's own of the configured logins.
func (s *session) login() string { return s.cfg.logins[s.id%len(s.cfg.logins)] }

// loginParams is the login request of the session.
func (s *session) loginParams() client.LoginParams {
	p := s.cfg.login
	p.Login = s.login()
	return p
}

func (s *session) newJob(j *proto.Job, niceHash bool) {
	w, err := client.DecodeJob(j) // the client checked it already
	if err != nil {
		s.t.jobErrors.Add(1)
		return
	}
	s.t.jobs.Add(1)
	now := time.Now()
	wk := newWork(w, niceHash)
	wk.conn = s.conn
	for i := range s.held {
		if s.held[i].replaced.IsZero() {
			s.held[i].replaced = now
		}
	}
	s.src.setJob(wk)
}

// roll picks whether this share turns bad.
func (s *session) roll() badKind {
	if s.cfg.bad != badNone && rand.Float64() < s.cfg.badRate {
		return s.cfg.bad
	}
	return badNone
}

func (s *session) handleShare(ctx context.Context, conn *client.Conn, sh share) {
	if sh.work.conn != s.conn {
		// Found on a job of an earlier connection, handed over while the
		// session reconnected: the job id may name another job now (a
		// restarted pool counts its jobs from 1 again), so it is dropped,
		// as xmrig drops a result for another client's job.
		return
	}
	if !sh.meets { // the miss requested for lowdiff
		s.submit(ctx, conn, sh, badLowDiff)
		return
	}
	s.t.found.Add(1)
	switch kind := s.roll(); kind {
	case badLowDiff:
		s.src.requestMiss() // this share is dropped; a miss goes instead
	case badStale:
		s.held = append(s.held, heldShare{share: sh})
	case badDuplicate:
		s.submit(ctx, conn, sh, badNone, func() { s.submit(ctx, conn, sh, badDuplicate) })
	default:
		s.submit(ctx, conn, sh, kind)
	}
}

// flushStale sends held shares whose job was replaced staleAfter ago.
func (s *session) flushStale(ctx context.Context, conn *client.Conn) {
	kept := s.held[:0]
	for _, h := range s.held {
		if !h.replaced.IsZero() && time.Since(h.replaced) >= s.cfg.staleAfter {
			s.submit(ctx, conn, h.share, badStale)
			continue
		}
		kept = append(kept, h)
	}
	s.held = kept
}

// submit sends sh (made bad as kind says) without waiting for the reply,
// so shares are pipelined; onAccept runs after an acceptance.
func (s *session) submit(ctx context.Context, conn *client.Conn, sh share, kind badKind, onAccept ...func()) {
	if !s.t.reserve() {
		return
	}
	if kind != badNone {
		s.t.bad(kind)
	}
	nonce, result := hex.EncodeToString(sh.nonce[:]), hex.EncodeToString(sh.hash[:])
	switch kind {
	case badMalformed:
		// Cut off mid-object: no parser can read it, so the pool answers
		// with a null id (or hangs up); unsolicited counts the answer.
		line := fmt.Sprintf(`{"id":0,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":`+"\n", conn.Session(), sh.work.jobID)
		if err := conn.SendLine([]byte(line)); err != nil {
			s.t.result(err)
			return
		}
		s.malformed.Add(1)
		return
	case badNonce:
		nonce = "zz" + nonce[2:]
	case badResult:
		// Bytes 24..31 stay, so the result still claims to meet the
		// target: only a pool that hashes again can tell.
		r := sh.hash
		for i := range 24 {
			r[i] ^= 0xff
		}
		result = hex.EncodeToString(r[:])
	}
	sctx := context.WithoutCancel(ctx) // at shutdown, replies still count
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		err := conn.SubmitHex(sctx, sh.work.jobID, nonce, result)
		s.t.result(err)
		if err == nil {
			s.t.acceptedFor(s.login())
			for _, f := range onAccept {
				f()
			}
		}
	}()
}

// unsolicited handles a line that matched no request: the answer to a
// malformed line is counted as that line's rejection.
func (s *session) unsolicited(line []byte) {
	var r struct {
		Error *proto.Error `json:"error"`
	}
	if json.Unmarshal(line, &r) == nil && r.Error != nil && s.malformed.Load() > 0 {
		s.malformed.Add(-1)
		s.t.reject(r.Error.Message)
		return
	}
	s.t.unsolicited.Add(1)
}

// drainMalformed waits, up to a request timeout, for the answers to
// malformed lines, which come as unsolicited lines.
func (s *session) drainMalformed(other <-chan []byte) {
	timer := time.NewTimer(cmp.Or(s.cfg.dial.RequestTimeout, client.DefaultRequestTimeout))
	defer timer.Stop()
	for other != nil && s.malformed.Load() > 0 {
		select {
		case line, ok := <-other:
			if !ok {
				return
			}
			s.unsolicited(line)
		case <-timer.C:
			return
		}
	}
}

// unanswered counts malformed lines left without an answer when the
// connection ended, so that sent = accepted + rejected + failed.
func (s *session) unanswered() {
	for range s.malformed.Swap(0) {
		s.t.result(errNoAnswer)
	}
}

var errNoAnswer = errors.New("no answer to a malformed line")

func (s *session) keepalive(ctx context.Context, conn *client.Conn) {
	s.t.keepalives.Add(1)
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		if err := conn.Keepalive(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, client.ErrClosed) {
			s.cfg.logf("session %d: keepalived: %v", s.id, err)
		}
	}()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
