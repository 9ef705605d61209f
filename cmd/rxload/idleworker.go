package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/stratum/proto"
)

// The idle sessions of one process are run by an idleWorker. The parent
// drives each worker (a child process, or a goroutine when -procs 1) with
// one-line commands and reads its reports as JSON lines:
//
//	parent → worker: "stats" | "arm K" | "report K" | "quit"
//	worker → parent: login (once logins are done), stats, armed, tip, final
//
// A worker reports tip K by itself once every session it armed got a job
// at a new height (or lost its connection), or when told "report K".

// childMsg is one report line of a worker.
type childMsg struct {
	Type string `json:"type"` // login, stats, armed, tip, final, error
	Tip  int    `json:"tip,omitempty"`
	Err  string `json:"err,omitempty"`

	// login
	Attempted int            `json:"attempted,omitempty"`
	LoggedIn  int            `json:"logged_in,omitempty"`
	Failures  map[string]int `json:"failures,omitempty"`
	Start     int64          `json:"start,omitempty"` // unix ns: first dial
	End       int64          `json:"end,omitempty"`   // unix ns: last login answered
	LatencyUS []int64        `json:"latency_us,omitempty"`

	// stats, final
	RSSKiB            int64             `json:"rss_kib,omitempty"`
	Open              int               `json:"open,omitempty"`
	KeepalivesSent    uint64            `json:"keepalives_sent,omitempty"`
	KeepaliveReplies  uint64            `json:"keepalive_replies,omitempty"`
	KeepaliveErrors   uint64            `json:"keepalive_errors,omitempty"`
	Pushes            uint64            `json:"pushes,omitempty"` // job notifications received
	Disconnects       uint64            `json:"disconnects,omitempty"`
	DisconnectReasons map[string]uint64 `json:"disconnect_reasons,omitempty"`

	// tip: each armed session's first receipt of a new-height job (unix
	// ns); missed sessions are counted
	Receipts []int64  `json:"receipts,omitempty"`
	Missed   int      `json:"missed,omitempty"`
	Heights  []uint64 `json:"heights,omitempty"`
}

// idleConn is one idle session. Its goroutine sleeps in Read on a 512-byte
// buffer; it has no timer of its own (the worker's keepalive sweep writes
// for it) and parses only the rare lines the pool sends.
type idleConn struct {
	w        *idleWorker
	nc       net.Conn
	session  string
	nextID   int64 // request ids; only the keepalive sweep writes after login
	lastSend atomic.Int64
	height   atomic.Uint64
	closed   atomic.Bool

	armTip atomic.Int32  // tip this session is armed for (0: none)
	base   atomic.Uint64 // height when armed
	gotAt  atomic.Int64  // unix ns of the first new-height job; -1: lost
}

const idleReadBuf = 512 // a job line is ~330 bytes; longer lines are assembled

type idleWorker struct {
	cfg   *idleConfig
	log   *logger
	conns []*idleConn // by index; nil where dial or login failed

	outMu sync.Mutex
	out   io.Writer

	readers  sync.WaitGroup
	quitting atomic.Bool

	keepSent, keepReplies, keepErrors, pushes atomic.Uint64
	discMu                                    sync.Mutex
	discReasons                               map[string]uint64

	tipMu    sync.Mutex
	reported int // last tip reported
	pending  atomic.Int64
	tipDone  chan int
}

// emit writes one report line.
func (w *idleWorker) emit(m *childMsg) {
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(&childMsg{Type: "error", Err: err.Error()})
	}
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_, _ = w.out.Write(append(b, '\n'))
}

// runWorker holds cfg.n sessions (global indices cfg.offset…) and serves
// the parent's commands from cmds until "quit", the end of cmds or ctx.
func runWorker(ctx context.Context, cfg *idleConfig, cmds io.Reader, out io.Writer, log *logger) error {
	w := &idleWorker{cfg: cfg, log: log, out: out, conns: make([]*idleConn, cfg.n),
		discReasons: map[string]uint64{}, tipDone: make(chan int, 1)}
	defer w.closeAll()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(cmds)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-ctx.Done():
				return
			}
		}
	}()

	login := w.loginAll(ctx)
	// Login parsing grew the readers' stacks; each GC halves an idle
	// goroutine's stack that uses less than a quarter of it, so a few
	// collections bring them back to the minimum before the pool's
	// memory is measured.
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	w.emit(login)
	stopKeepalive := make(chan struct{})
	defer close(stopKeepalive)
	if cfg.keepalive > 0 {
		go w.keepaliveSweep(stopKeepalive)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case k := <-w.tipDone:
			w.report(k)
		case line, ok := <-lines:
			if !ok {
				return nil // the parent went away
			}
			cmd, arg, _ := strings.Cut(line, " ")
			k, _ := strconv.Atoi(arg)
			switch cmd {
			case "stats":
				w.emit(w.stats("stats"))
			case "arm":
				w.arm(k)
			case "report":
				w.report(k)
			case "quit":
				m := w.stats("final") // open sessions as they were, then close
				w.closeAll()
				w.emit(m)
				return nil
			default:
				w.emit(&childMsg{Type: "error", Err: fmt.Sprintf("unknown command %q", line)})
			}
		}
	}
}

// loginAll dials and logs every session in, cfg.concurrency at a time.
func (w *idleWorker) loginAll(ctx context.Context) *childMsg {
	var (
		mu       sync.Mutex
		failures = map[string]int{}
		lats     = make([]int64, 0, len(w.conns))
		wg       sync.WaitGroup
		sem      = make(chan struct{}, w.cfg.concurrency)
		end      int64
	)
	start := time.Now()
	for i := range w.conns {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			failures["interrupted"] += len(w.conns) - i
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func() {
			t0 := time.Now()
			c, r, err := w.dialLogin(ctx, i)
			now := time.Now()
			<-sem
			mu.Lock()
			if err != nil {
				failures[err.Error()]++
			} else {
				w.conns[i] = c
				lats = append(lats, now.Sub(t0).Microseconds())
				end = max(end, now.UnixNano())
			}
			mu.Unlock()
			if c != nil {
				w.readers.Add(1)
			}
			wg.Done()
			if c != nil {
				defer w.readers.Done()
				c.readLoop(r)
			}
		}()
	}
	wg.Wait()
	m := &childMsg{Type: "login", Attempted: len(w.conns), LoggedIn: len(lats), Failures: failures,
		Start: start.UnixNano(), End: end, LatencyUS: lats}
	if len(failures) == 0 {
		m.Failures = nil
	}
	return m
}

// loginError is a failed dial or login, by reason.
type loginError struct{ reason string }

func (e *loginError) Error() string { return e.reason }

func (w *idleWorker) dialLogin(ctx context.Context, i int) (*idleConn, *bufio.Reader, error) {
	g := w.cfg.offset + i
	d := net.Dialer{Timeout: w.cfg.timeout, KeepAlive: -1} // no TCP keepalive timers: keepalived is the stratum one
	if len(w.cfg.src) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: w.cfg.src[g%len(w.cfg.src)]}
	}
	nc, err := d.DialContext(ctx, "tcp", w.cfg.pool)
	if err != nil {
		return nil, nil, &loginError{"dial: " + errReason(err)}
	}
	c := &idleConn{w: w, nc: nc, nextID: 1}
	_ = nc.SetDeadline(time.Now().Add(w.cfg.timeout))
	req, _ := proto.AppendRequest(nil, 1, proto.MethodLogin, proto.LoginParams{
		Login: w.cfg.login, Pass: w.cfg.pass, RigID: w.cfg.rigID, Agent: agent(), Algo: []string{proto.Algo}})
	if _, err := nc.Write(req); err != nil {
		nc.Close()
		return nil, nil, &loginError{"login write: " + errReason(err)}
	}
	c.lastSend.Store(time.Now().UnixNano())
	r := bufio.NewReaderSize(nc, idleReadBuf)
	for {
		line, err := readLine(r)
		if err != nil {
			nc.Close()
			return nil, nil, &loginError{"login read: " + errReason(err)}
		}
		var resp struct {
			ID     json.RawMessage `json:"id"`
			Error  *proto.Error    `json:"error"`
			Result *struct {
				ID  string     `json:"id"`
				Job *proto.Job `json:"job"`
			} `json:"result"`
		}
		if json.Unmarshal(line, &resp) != nil {
			continue
		}
		if id := string(resp.ID); id != "1" {
			if resp.Error != nil && (id == "" || id == "null") {
				// Refused before login (ban, per-IP limit): the pool closes next.
				nc.Close()
				return nil, nil, &loginError{"refused: " + resp.Error.Message}
			}
			continue // not the login reply
		}
		switch {
		case resp.Error != nil:
			nc.Close()
			return nil, nil, &loginError{"login: " + resp.Error.Message}
		case resp.Result == nil || resp.Result.ID == "" || resp.Result.Job == nil:
			nc.Close()
			return nil, nil, &loginError{"login: no session id or job in the result"}
		}
		c.session = resp.Result.ID
		c.height.Store(resp.Result.Job.Height)
		_ = nc.SetDeadline(time.Time{})
		return c, r, nil
	}
}

// readLine returns the next line without its end. Lines longer than the
// reader's buffer are assembled in a temporary slice (up to 64 KiB, what
// xmrig reads).
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) < 64<<10 {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = errors.New("line longer than 64 KiB")
		}
		return nil, err
	}
	return line, nil
}
