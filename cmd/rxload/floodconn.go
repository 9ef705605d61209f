package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// One flood connection's life, again and again: dial from the next source
// address, log in with the next address, send junk until the pool closes
// the session, then start over.

// flooder holds the counts of a flood, shared by its connections.
type flooder struct {
	cfg      *floodConfig
	lat      *client.Latency
	attempts atomic.Uint64 // connection attempts: picks the source address and login

	mu           sync.Mutex
	sessions     uint64
	refused      uint64
	refusedBy    map[string]uint64
	closedByPool uint64
	closedAfter  map[string]uint64
	sent         uint64
	sentBy       [junkKinds]uint64
	answered     uint64
	accepted     uint64
	unanswered   uint64
	answersBy    [junkKinds]map[string]uint64
}

func newFlooder(cfg *floodConfig) *flooder {
	f := &flooder{cfg: cfg, lat: client.NewLatency(), refusedBy: map[string]uint64{}, closedAfter: map[string]uint64{}}
	for k := range f.answersBy {
		f.answersBy[k] = map[string]uint64{}
	}
	return f
}

// connLoop keeps connection slot i flooding until ctx ends.
func (f *flooder) connLoop(ctx context.Context, i int) {
	for ctx.Err() == nil {
		conn, reason := f.connect(ctx)
		if conn == nil {
			if dl, ok := ctx.Deadline(); ctx.Err() != nil || ok && !time.Now().Before(dl) {
				return // the flood's end, not the pool's refusal
			}
			f.count(func() { f.refused++; f.refusedBy[reason]++ })
			select {
			case <-time.After(f.cfg.backoff):
			case <-ctx.Done():
			}
			continue
		}
		f.count(func() { f.sessions++ })
		f.flood(ctx, conn, i)
	}
}

// connect dials from the next source address and logs in with the next
// address. Without a session it returns why: the pool's refusal (its
// message on a line without an id, as for a ban), the login's error, or
// the dial's.
func (f *flooder) connect(ctx context.Context) (*client.Conn, string) {
	k := f.attempts.Add(1) - 1
	d := net.Dialer{Timeout: f.cfg.timeout}
	if len(f.cfg.src) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: f.cfg.src[k%uint64(len(f.cfg.src))]}
	}
	nc, err := d.DialContext(ctx, "tcp", f.cfg.pool)
	if err != nil {
		return nil, "dial: " + errReason(err)
	}
	conn := client.NewConn(nc, f.options())
	_, err = conn.Login(ctx, client.LoginParams{Login: f.cfg.login(k), Pass: f.cfg.pass, Agent: agent(), Algo: []string{proto.Algo}})
	if err == nil {
		return conn, ""
	}
	conn.Close()
	var pe *proto.Error
	if errors.As(err, &pe) {
		return nil, "login: " + pe.Message
	}
	for line := range conn.Other() { // closed with the connection
		var m struct {
			Error *proto.Error `json:"error"`
		}
		if json.Unmarshal(line, &m) == nil && m.Error != nil {
			return nil, m.Error.Message
		}
	}
	if errors.Is(err, io.EOF) {
		return nil, "closed before login"
	}
	return nil, "login: " + errReason(err)
}

// flood sends junk on conn from cfg.inflight senders until the pool
// closes it (counted with the answer that came last) or ctx ends.
func (f *flooder) flood(ctx context.Context, conn *client.Conn, i int) {
	defer conn.Close()
	var (
		seq  atomic.Uint64 // shares built on this connection: nonces and the mixed kinds' turn
		last atomic.Value  // the last answer, for the close count
		wg   sync.WaitGroup
		work struct {
			sync.Mutex
			job *proto.Job
			w   *client.Work
		}
	)
	go func() { // keep the queues drained; the current job is read from conn
		for range conn.Jobs() {
		}
	}()
	go func() {
		for range conn.Other() {
		}
	}()
	currentWork := func() (*proto.Job, *client.Work, error) {
		j := conn.Job()
		work.Lock()
		defer work.Unlock()
		if work.job != j {
			w, err := client.DecodeJob(j)
			if err != nil {
				return nil, nil, err
			}
			work.job, work.w = j, w
		}
		return work.job, work.w, nil
	}
	for range f.cfg.inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := seq.Add(1) - 1
				j, w, err := currentWork()
				if err != nil {
					last.Store("bad job: " + err.Error())
					conn.Close()
					return
				}
				kind := f.cfg.kinds[(n+uint64(i))%uint64(len(f.cfg.kinds))]
				s, err := makeJunk(kind, j, w, n)
				if err != nil {
					conn.Close()
					return
				}
				f.count(func() { f.sent++; f.sentBy[kind]++ })
				err = conn.SubmitHex(ctx, s.jobID, s.nonce, s.result)
				if errors.Is(err, client.ErrClosed) || ctx.Err() != nil {
					f.count(func() { f.unanswered++ })
					return
				}
				answer := "accepted"
				var pe *proto.Error
				switch {
				case errors.As(err, &pe):
					answer = pe.Message
				case err != nil:
					answer = "error: " + errReason(err)
				}
				last.Store(answer)
				f.count(func() {
					f.answersBy[kind][answer]++
					if err == nil {
						f.accepted++
					}
					if pe != nil || err == nil {
						f.answered++
					} else {
						f.unanswered++
					}
				})
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	<-conn.Done()
	after, _ := last.Load().(string)
	if after == "" {
		after = "nothing answered"
	}
	f.count(func() { f.closedByPool++; f.closedAfter[after]++ })
}

func (f *flooder) count(fn func()) {
	f.mu.Lock()
	fn()
	f.mu.Unlock()
}

// report fills res from the counts.
func (f *flooder) report(res *FloodResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res.Connects.Attempts = f.attempts.Load()
	res.Connects.Sessions, res.Connects.Refused = f.sessions, f.refused
	if len(f.refusedBy) > 0 {
		res.Connects.By = f.refusedBy
	}
	res.Closed.ByPool = f.closedByPool
	if len(f.closedAfter) > 0 {
		res.Closed.After = f.closedAfter
	}
	res.Sent, res.Answered, res.Accepted, res.Unanswered = f.sent, f.answered, f.accepted, f.unanswered
	if res.Seconds > 0 {
		res.SentPerS, res.AnsPerS = float64(f.sent)/res.Seconds, float64(f.answered)/res.Seconds
	}
	res.SentBy, res.AnswersBy = map[string]uint64{}, map[string]map[string]uint64{}
	for k := range junkKinds {
		if f.sentBy[k] > 0 {
			res.SentBy[k.String()] = f.sentBy[k]
			res.AnswersBy[k.String()] = f.answersBy[k]
		}
	}
	res.Latency = fromLatency(f.lat.Stats())
}
