package stratum

import (
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"rxpool/stratum/proto"
)

// lineCounter is a logrus hook counting the lines logged and summing the
// counts of "Refused N connections" lines.
type lineCounter struct {
	lines, refused atomic.Int64
}

var refusedLine = regexp.MustCompile(`^Refused (\d+) connections`)

func (h *lineCounter) Levels() []logrus.Level { return logrus.AllLevels }

func (h *lineCounter) Fire(e *logrus.Entry) error {
	h.lines.Add(1)
	if m := refusedLine.FindStringSubmatch(e.Message); m != nil {
		n, _ := strconv.Atoi(m[1])
		h.refused.Add(int64(n))
	}
	return nil
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestRefusedConnectionsAreSummarisedNotLoggedEach(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) {
		c.MaxConnsPerIP = 1
		c.RefusalLogInterval = 200 * time.Millisecond
	}})
	var h lineCounter
	p.log.AddHook(&h)
	held := p.dial()
	held.login(minerAddr, "w")
	before := h.lines.Load()

	const attempts = 2000
	var wg sync.WaitGroup
	var wrong atomic.Int64
	next := make(chan struct{})
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c := p.dial()
				if c.readLine() != errLine("null", proto.ErrMsgTooManyConns) {
					wrong.Add(1)
				}
				c.c.Close()
			}
		}()
	}
	for range attempts {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Fatalf("%d of %d connections beyond the per-IP cap not refused with %q", n, attempts, proto.ErrMsgTooManyConns)
	}
	waitFor(t, "the refusals to be logged", func() bool { return h.refused.Load() == attempts })
	lines := h.lines.Load() - before
	t.Logf("%d refused connections logged in %d lines", attempts, lines)
	if lines >= 50 {
		t.Fatalf("%d refused connections wrote %d log lines, want fewer than 50", attempts, lines)
	}
	if got := p.srv.Refused()["too_many_connections"]; got != attempts {
		t.Fatalf("Refused() counts %d too_many_connections, want %d", got, attempts)
	}
}

func TestConnectionCapClosesNewConnectionsAtOnce(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) { c.MaxConns = 3 }})
	var held []*rawConn
	for range 3 {
		c := p.dial()
		c.login(minerAddr, "w")
		held = append(held, c)
	}
	for range 5 {
		c := p.dial()
		start := time.Now()
		c.expectClosed()
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("a connection over the cap was held %s", d)
		}
	}
	if got := p.srv.Refused()["server_full"]; got != 5 {
		t.Fatalf("Refused() counts %d server_full, want 5", got)
	}
	// A slot given back is taken again.
	held[0].c.Close()
	waitFor(t, "the closed connection's slot", func() bool { return p.srv.open.Load() < 3 })
	c := p.dial()
	c.login(minerAddr, "w")
	for _, h := range held[1:] {
		h.send(`{"id":5,"jsonrpc":"2.0","method":"keepalived","params":{}}`)
		if r := h.reply(); r == "" {
			t.Fatal("a connection under the cap was dropped")
		}
	}
}

func TestDefaultConnectionCapLeavesHeadroom(t *testing.T) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	lim := int(min(rl.Cur, 1<<30))
	n := defaultMaxConns()
	var cfg Config
	cfg.setDefaults()
	if cfg.MaxConns != n || n <= 0 || lim-n < min(256, lim/2) || lim-n < lim/5 {
		t.Fatalf("default cap %d (setDefaults %d) under a file limit of %d leaves too little headroom", n, cfg.MaxConns, lim)
	}
	t.Logf("default connection cap %d under a file limit of %d", n, lim)
}
