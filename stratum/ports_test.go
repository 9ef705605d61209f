package stratum

import (
	"bufio"
	"maps"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"rxpool/internal/testenv"
)

func TestPortSessionsCountsConnectionsPerPort(t *testing.T) {
	// Two real port numbers: with Port 0 both would be reported as 0.
	var ports [2]int
	for i := range ports {
		for ports[i] == 0 || i == 1 && ports[1] == ports[0] {
			p, err := testenv.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			ports[i] = p
		}
	}
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) {
		c.Ports = []Port{{Port: ports[0], Diff: 1, Desc: "low"}, {Port: ports[1], Diff: 1000, Desc: "high"}}
	}})
	want := func(a, b int) {
		t.Helper()
		w := map[int]int{ports[0]: a, ports[1]: b}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := p.srv.PortSessions()
			if maps.Equal(got, w) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("PortSessions = %v, want %v", got, w)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	dial := func(port int) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	want(0, 0) // idle ports are listed, with 0

	// Read concurrently with connections coming and going (for -race).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.srv.PortSessions()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	a1, _ := dial(ports[0]), dial(ports[0])
	b := dial(ports[1])
	// A logged-in miner counts the same as a connection still logging in.
	rc := &rawConn{t: t, c: b, r: bufio.NewReader(b)}
	if sid, _ := rc.login(minerAddr, "high"); sid == "" {
		t.Fatal("no login")
	}
	want(2, 1)
	a1.Close()
	want(1, 1)
	b.Close()
	want(1, 0)
	if n := p.srv.SessionCount(); n != 1 {
		t.Fatalf("SessionCount = %d, want 1", n)
	}
}
