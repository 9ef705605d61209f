package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// tally is the run's counters, shared by all sessions.
type tally struct {
	start     time.Time
	maxShares uint64
	limit     chan struct{} // closed when maxShares submissions were sent
	limitOnce sync.Once
	lat       *client.Latency

	hashes, found, sent, accepted, rejected, failed, jobs, jobErrors,
	logins, loginErrors, connectErrors, keepalives, unsolicited atomic.Uint64

	mu         sync.Mutex
	rejectedBy map[string]uint64
	failedBy   map[string]uint64
	acceptedBy map[string]uint64 // by login
	badSent    map[string]uint64
	lastErr    string
}

func newTally(maxShares uint64) *tally {
	return &tally{start: time.Now(), maxShares: maxShares, limit: make(chan struct{}),
		lat: client.NewLatency(), rejectedBy: map[string]uint64{}, failedBy: map[string]uint64{},
		badSent: map[string]uint64{}, acceptedBy: map[string]uint64{}}
}

// reserve counts one submission about to be sent, refusing once
// maxShares were sent, so a run ends with exactly that many answered.
func (t *tally) reserve() bool {
	for {
		n := t.sent.Load()
		if t.maxShares > 0 && n >= t.maxShares {
			return false
		}
		if t.sent.CompareAndSwap(n, n+1) {
			if n+1 == t.maxShares {
				t.limitOnce.Do(func() { close(t.limit) })
			}
			return true
		}
	}
}

// result counts a submission's outcome: accepted, rejected by the pool
// (by message), or failed without an answer (by cause).
func (t *tally) result(err error) {
	var pe *proto.Error
	switch {
	case err == nil:
		t.accepted.Add(1)
	case errors.As(err, &pe):
		t.reject(pe.Message)
	default:
		t.failed.Add(1)
		t.mu.Lock()
		t.failedBy[failureKind(err)]++
		t.mu.Unlock()
		t.setErr(err)
	}
}

// acceptedFor counts an accepted share by the login it was mined for, so
// a run with several logins can be checked against the pool's books.
func (t *tally) acceptedFor(login string) {
	t.mu.Lock()
	t.acceptedBy[login]++
	t.mu.Unlock()
}

func (t *tally) reject(msg string) {
	t.rejected.Add(1)
	t.mu.Lock()
	t.rejectedBy[msg]++
	t.mu.Unlock()
}

func failureKind(err error) string {
	var pe *client.ProtocolError
	switch {
	case errors.Is(err, client.ErrTimeout):
		return "timeout"
	case errors.Is(err, client.ErrClosed):
		return "connection closed"
	case errors.As(err, &pe):
		return "protocol: " + pe.Reason
	}
	return err.Error()
}

func (t *tally) bad(kind badKind) {
	t.mu.Lock()
	t.badSent[string(kind)]++
	t.mu.Unlock()
}

func (t *tally) setErr(err error) {
	t.mu.Lock()
	t.lastErr = err.Error()
	t.mu.Unlock()
}

// summary is the final report; --json prints it as one object, which
// tests and the devnet parse, so field names are a stable interface.
type summary struct {
	Sessions      int               `json:"sessions"`
	Threads       int               `json:"threads"`
	Mode          string            `json:"mode"`
	ElapsedS      float64           `json:"elapsed_s"`
	Hashes        uint64            `json:"hashes"`
	Hashrate      float64           `json:"hashrate"`
	Found         uint64            `json:"shares_found"` // meeting the target
	Sent          uint64            `json:"shares_sent"`  // submissions incl. bad ones
	Accepted      uint64            `json:"accepted"`
	AcceptedBy    map[string]uint64 `json:"accepted_by_login"`
	Rejected      uint64            `json:"rejected"`
	RejectedBy    map[string]uint64 `json:"rejected_by"`
	Failed        uint64            `json:"failed"` // no answer: timeout, closed, protocol error
	FailedBy      map[string]uint64 `json:"failed_by"`
	BadSent       map[string]uint64 `json:"bad_sent"`
	Jobs          uint64            `json:"jobs"`
	JobErrors     uint64            `json:"job_errors"`
	SeedChanges   uint64            `json:"seed_changes"`
	Logins        uint64            `json:"logins"`
	LoginErrors   uint64            `json:"login_errors"`
	ConnectErrors uint64            `json:"connect_errors"`
	Keepalives    uint64            `json:"keepalives"`
	Unsolicited   uint64            `json:"unsolicited"` // lines from the pool matching nothing
	LatencyMS     latencyMS         `json:"latency_ms"`  // submit → reply
	LastError     string            `json:"last_error,omitempty"`
}

type latencyMS struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (t *tally) summary() summary {
	el := time.Since(t.start)
	ls := t.lat.Stats()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := summary{
		ElapsedS: el.Seconds(), Hashes: t.hashes.Load(), Found: t.found.Load(), Sent: t.sent.Load(),
		Accepted: t.accepted.Load(), AcceptedBy: maps.Clone(t.acceptedBy), Rejected: t.rejected.Load(), RejectedBy: maps.Clone(t.rejectedBy),
		Failed: t.failed.Load(), FailedBy: maps.Clone(t.failedBy), BadSent: maps.Clone(t.badSent),
		Jobs: t.jobs.Load(), JobErrors: t.jobErrors.Load(), Logins: t.logins.Load(),
		LoginErrors: t.loginErrors.Load(), ConnectErrors: t.connectErrors.Load(),
		Keepalives: t.keepalives.Load(), Unsolicited: t.unsolicited.Load(), LastError: t.lastErr,
		LatencyMS: latencyMS{Count: ls.Count, P50: ms(ls.P50), P90: ms(ls.P90), P99: ms(ls.P99), Max: ms(ls.Max)},
	}
	if el > 0 {
		s.Hashrate = float64(s.Hashes) / el.Seconds()
	}
	return s
}

// line is the one-line progress report; rate is the recent hashrate.
func (s *summary) line(rate float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.1fs %8.2f H/s  accepted %d  rejected %d", s.ElapsedS, rate, s.Accepted, s.Rejected)
	if len(s.RejectedBy) > 0 {
		b.WriteString(" (" + joinCounts(s.RejectedBy) + ")")
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, "  failed %d (%s)", s.Failed, joinCounts(s.FailedBy))
	}
	if len(s.BadSent) > 0 {
		b.WriteString("  bad sent " + joinCounts(s.BadSent))
	}
	l := s.LatencyMS
	fmt.Fprintf(&b, "  latency p50 %.1fms p90 %.1fms p99 %.1fms", l.P50, l.P90, l.P99)
	return b.String()
}

func joinCounts(m map[string]uint64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (s *summary) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(s)
	}
	_, err := fmt.Fprintf(w, "rxminer: %d session(s), %d thread(s), %s mode, %.1fs, %d hashes (%.2f H/s), %d logins, %d jobs\n%s\n",
		s.Sessions, s.Threads, s.Mode, s.ElapsedS, s.Hashes, s.Hashrate, s.Logins, s.Jobs, s.line(s.Hashrate))
	if err == nil && s.LastError != "" {
		_, err = fmt.Fprintf(w, "last error: %s\n", s.LastError)
	}
	return err
}
