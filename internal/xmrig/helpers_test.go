package xmrig

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

// poolEnv is the pool binary on a regtest monerod with its own Redis, the
// store read directly for blocks and balances, and its API.
type poolEnv struct {
	pool    *e2e.PoolProc
	store   *storage.Store
	apiBase string
	stratum []string // host:port of each stratum port, in the order given
}

// startPoolEnv starts Redis and the pool on md with one stratum port per
// entry of ports (each a JSON port object, e.g. {"diff":8}); payments are
// off, the unlocker credits blocks at depth.
func startPoolEnv(t *testing.T, md *testenv.Monerod, ports ...string) *poolEnv {
	t.Helper()
	rds := testenv.NewRedis(t)
	free := make([]int, len(ports)+1)
	for i := range free {
		p, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		free[i] = p
	}
	env := &poolEnv{apiBase: fmt.Sprintf("http://127.0.0.1:%d", free[len(ports)])}
	var portsJSON []string
	for i, p := range ports {
		env.stratum = append(env.stratum, fmt.Sprintf("127.0.0.1:%d", free[i]))
		portsJSON = append(portsJSON, fmt.Sprintf(`"%d":%s`, free[i], p))
	}
	env.pool = e2e.StartPool(t, context.Background(), fmt.Sprintf(`{"coin":"monero","poolAddress":%q,
		"daemon":{"host":"127.0.0.1","port":%d,"timeout":10000},
		"ports":{%s},
		"varDiff":{"enabled":true,"minDiff":1,"maxDiff":1000000,"targetTime":4,"retargetTime":3,"variancePercent":30,"maxJump":50},
		"fixedDiff":{"enabled":true,"addressSeparator":"."},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":250,"templateRefreshInterval":2},
		"randomx":{"mode":"light","workers":1},
		"blockUnlocker":{"enabled":true,"interval":1,"depth":%d},"payments":{"enabled":false},
		"redis":{"socket":%q},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0}}`,
		testenv.MoneroAddress(t, 0), md.RPCPort, strings.Join(portsJSON, ","), depth, rds.Socket, free[len(ports)]))
	e2e.WaitFor(t, time.Minute, "the pool's API", func() error {
		if !env.pool.Running() {
			t.Fatalf("the pool exited:\n%s", env.pool.Output())
		}
		var v any
		return getJSON(env.apiBase+"/health", &v)
	})
	// The API answers before the stratum ports open (after the first
	// block template): a miner started earlier would be refused.
	for _, addr := range env.stratum {
		e2e.WaitStratum(t, env.pool, addr, time.Minute)
	}
	env.store = e2e.OpenStore(t, rds, "monero", cryptonote.Monero)
	return env
}

// getJSON decodes GET url into out; a non-200 answer is an error.
func getJSON(url string, out any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return json.Unmarshal(body, out)
}

// wireLine is one stratum line seen by the tap; up is miner → pool; conn
// numbers the tap's connections from 1 in the order they came.
type wireLine struct {
	up   bool
	conn int
	at   time.Time
	text string
}

// tap relays stratum connections from a loopback port to the pool and
// keeps every line, so a test can see what xmrig really sends (login
// fields, keepalived) and what the pool answers.
type tap struct {
	ln    net.Listener
	pool  string
	mu    sync.Mutex
	conns int
	lines []wireLine
}

func startTap(t *testing.T, pool string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{ln: ln, pool: pool}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go tp.relay(c)
		}
	}()
	return tp
}

func (tp *tap) addr() string { return tp.ln.Addr().String() }

func (tp *tap) relay(miner net.Conn) {
	defer miner.Close()
	tp.mu.Lock()
	tp.conns++
	conn := tp.conns
	tp.mu.Unlock()
	pool, err := net.Dial("tcp", tp.pool)
	if err != nil {
		return
	}
	defer pool.Close()
	done := make(chan struct{}, 2)
	copyLines := func(dst, src net.Conn, up bool) {
		defer func() { done <- struct{}{} }()
		r := bufio.NewReader(src)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				tp.mu.Lock()
				tp.lines = append(tp.lines, wireLine{up: up, conn: conn, at: time.Now(), text: strings.TrimSpace(line)})
				tp.mu.Unlock()
				if _, werr := io.WriteString(dst, line); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go copyLines(pool, miner, true)
	go copyLines(miner, pool, false)
	<-done // either side closed: close both
}

// seen returns the lines so far.
func (tp *tap) seen() []wireLine {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]wireLine(nil), tp.lines...)
}

// rpcLine is a stratum message as the tap saw it.
type rpcLine struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

func parseLine(t *testing.T, l wireLine) rpcLine {
	t.Helper()
	var m rpcLine
	if err := json.Unmarshal([]byte(l.text), &m); err != nil {
		t.Fatalf("the tap saw a line that is not JSON (%v): %s", err, l.text)
	}
	return m
}

// lastFromPool is when the pool last sent the miner anything.
func (tp *tap) lastFromPool() time.Time {
	var last time.Time
	for _, l := range tp.seen() {
		if !l.up {
			last = l.at
		}
	}
	return last
}

// stable waits until xmrig's share counters stop moving (a paused xmrig
// may still have a submit in flight) and returns them.
func stable(t *testing.T, ctx context.Context, x *testenv.Xmrig) *testenv.XmrigSummary {
	t.Helper()
	var prev *testenv.XmrigSummary
	e2e.WaitFor(t, 30*time.Second, "xmrig's counters to settle", func() error {
		s, err := x.Summary(ctx)
		if err != nil {
			return err
		}
		same := prev != nil && prev.Connection.Accepted == s.Connection.Accepted && prev.Connection.Rejected == s.Connection.Rejected &&
			prev.Results.SharesTotal == s.Results.SharesTotal
		prev = s
		if !same {
			time.Sleep(time.Second)
			return fmt.Errorf("accepted %d, rejected %d", s.Connection.Accepted, s.Connection.Rejected)
		}
		return nil
	})
	return prev
}
