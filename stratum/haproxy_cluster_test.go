package stratum_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/stratum"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// The addresses of TestHAProxyClusterSharesBansAndLimits: haproxy connects
// to the pool from balancerIP, the only address its ports trust; the
// clients connect to haproxy from their own.
const (
	balancerIP = "127.0.0.2"
	attackerIP = "127.0.0.7"
	minerIP    = "127.0.0.8"
	otherIP    = "127.0.0.9"
)

// sharesByIP is the storage sink, noting the address each accepted share
// was credited from.
type sharesByIP struct {
	stratum.Sink
	mu  sync.Mutex
	ips []string
}

func (s *sharesByIP) Share(sh *stratum.Share) error {
	s.mu.Lock()
	s.ips = append(s.ips, sh.IP)
	s.mu.Unlock()
	return s.Sink.Share(sh)
}

func (s *sharesByIP) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ips)
}

// TestHAProxyClusterSharesBansAndLimits: two stratum processes on one
// real Redis, both behind one real haproxy (balance roundrobin,
// send-proxy-v2, health checks), as stratum processes on several machines
// run. Every connection reaches a pool from haproxy's address; the PROXY
// header gives the client's. An attacker banned on one process is refused
// on both, under its own address (the ban list names it, not haproxy);
// a miner behind the same haproxy mines on both throughout; and
// stratum.maxConnectionsPerIP counts the miner's connections on both
// processes together, while another client of the same haproxy gets in.
func TestHAProxyClusterSharesBansAndLimits(t *testing.T) {
	_, st := redisStore(t)
	sink := &sharesByIP{Sink: st}
	behindHAProxy := func(c *stratum.Config) {
		c.Ports[0].ProxyProtocol = true
		c.Ports[0].TrustedProxies = []netip.Prefix{netip.MustParsePrefix(balancerIP + "/32")}
		// 2: every process shares each address's count (sharedFrom), so
		// the limit holds exactly once the counts are exchanged.
		c.BanBoard, c.ConnBoard, c.MaxConnsPerIP = st, st, 2
	}
	addrA := stratum.StartTestPoolWith(t, 1, sink, behindHAProxy)
	addrB := stratum.StartTestPoolWith(t, 1, sink, behindHAProxy)
	name := map[string]string{addrA: "A", addrB: "B"}
	hap := testenv.StartHAProxy(t, testenv.HAProxyOptions{
		Backends: []string{addrA, addrB}, Balance: "roundrobin", Source: balancerIP, V2: true, Check: true,
	})
	hash := stratum.MinerHasher(t)
	ctx := t.Context()

	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", hap.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// landed names the process haproxy handed the one connection made
	// since before to; the caller has had a reply through it, so haproxy
	// has picked the server.
	landed := func(before map[string]testenv.HAProxyServer) string {
		t.Helper()
		after := hap.Servers(t)
		var got []string
		for b, s := range after {
			if s.Sessions != before[b].Sessions {
				got = append(got, name[b])
			}
		}
		if len(got) != 1 {
			t.Fatalf("haproxy's sessions went from %v to %v, want one more on one server", before, after)
		}
		return got[0]
	}

	// The miner: a session on each process, a share accepted on each.
	type session struct {
		c      *client.Conn
		server string
	}
	nonce := uint32(0)
	mine := func(s session) {
		t.Helper()
		nonce++
		job := s.c.Job()
		n, result := hash(job, nonce)
		if err := s.c.SubmitHex(ctx, job.JobID, n, result); err != nil {
			t.Fatalf("%s's share on %s: %v", minerIP, s.server, err)
		}
	}
	login := func(from string, i int) (session, error) {
		t.Helper()
		before := hap.Servers(t)
		c := client.NewConn(dial(from), client.Options{})
		t.Cleanup(func() { c.Close() })
		_, err := c.Login(ctx, client.LoginParams{
			Login: testenv.MoneroAddress(t, 600+i), Pass: "x", Agent: "XMRig/6.26.0", Algo: []string{proto.Algo},
		})
		return session{c: c, server: landed(before)}, err
	}
	var miner []session
	for i := range 2 {
		s, err := login(minerIP, i)
		if err != nil {
			t.Fatalf("%s's login %d through haproxy: %v", minerIP, i, err)
		}
		mine(s)
		miner = append(miner, s)
	}
	if miner[0].server == miner[1].server {
		t.Fatalf("roundrobin handed both of the miner's connections to %s", miner[0].server)
	}

	// The attacker: a session on each process, then a share no miner
	// sends (a result that is not the hash) on the second, which is proof
	// of malice and bans at once.
	type rawSession struct {
		c      net.Conn
		r      *bufio.Reader
		server string
	}
	var attacker []rawSession
	for i := range 2 {
		before := hap.Servers(t)
		c := dial(attackerIP)
		r := bufio.NewReader(c)
		sid, jobID := loginLine(t, c, r, testenv.MoneroAddress(t, 700+i))
		s := rawSession{c: c, r: r, server: landed(before)}
		if i == 1 {
			fmt.Fprintf(c, `{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":"01000000","result":%q}}`+"\n",
				sid, jobID, strings.Repeat("ff", 32))
			if got := replyLine(t, c, r); !strings.Contains(got, proto.ErrMsgWrongResult) {
				t.Fatalf("the junk share on %s answered %s", s.server, got)
			}
		}
		attacker = append(attacker, s)
	}
	if attacker[0].server == attacker[1].server {
		t.Fatalf("roundrobin handed both of the attacker's connections to %s", attacker[0].server)
	}
	bannedOn := attacker[1].server
	banned := time.Now()
	// Its session on the other process ends (job notifications may come
	// first) once that process has the ban from Redis.
	for first := attacker[0]; ; {
		_ = first.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := first.r.ReadString('\n')
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the attacker's session on %s is still open 10 s after the ban", first.server)
		}
		if err != nil {
			break
		}
		if !strings.Contains(line, `"method":"job"`) {
			t.Fatalf("the attacker's session on %s got %s after the ban", first.server, line)
		}
	}
	t.Logf("banned on %s; %s closed the attacker's session %v later", bannedOn, attacker[0].server,
		time.Since(banned).Round(time.Millisecond))

	// Its next connections through haproxy are refused as banned, by both.
	refusedBy := map[string]int{}
	for range 4 {
		before := hap.Servers(t)
		c := dial(attackerIP)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		server := landed(before)
		if !strings.Contains(line, proto.ErrMsgBanned) {
			t.Fatalf("a new connection of the banned %s on %s got %q, want %q", attackerIP, server, line, proto.ErrMsgBanned)
		}
		refusedBy[server]++
	}
	if len(refusedBy) != 2 {
		t.Fatalf("the banned address was refused by %v, want both processes", refusedBy)
	}
	// The pool-wide list (what `pool bans` prints) names the client, not
	// haproxy.
	bans, err := st.ActiveBans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bans[attackerIP]; !ok || len(bans) != 1 {
		t.Fatalf("pool bans lists %v, want %s alone (not haproxy's %s)", bans, attackerIP, balancerIP)
	}

	// The miner behind the same haproxy mines on, on both.
	for _, s := range miner {
		mine(s)
	}

	// maxConnectionsPerIP 2: the miner has one connection on each process,
	// so a third is refused by either process, each holding one: the
	// processes count the client's connections together. Counts are
	// exchanged every second, so the first tries may still get in.
	limitedBy := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); len(limitedBy) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the miner reached its limit, only %v refused a third connection", limitedBy)
		}
		before := hap.Servers(t)
		c := dial(minerIP)
		r := bufio.NewReader(c)
		// A refused connection gets its error at once; an admitted one
		// waits for the login, which this one then sends.
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintf(c, `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"x","algo":["rx/0"]}}`+"\n",
				testenv.MoneroAddress(t, 650))
			line = replyLine(t, c, r)
		}
		server := landed(before)
		switch {
		case strings.Contains(line, proto.ErrMsgTooManyConns):
			limitedBy[server]++
		case strings.Contains(line, `"result"`):
			t.Logf("a third connection of %s got in on %s before the counts were exchanged", minerIP, server)
		default:
			t.Fatalf("a third connection of %s on %s got %q", minerIP, server, line)
		}
		c.Close()
		time.Sleep(200 * time.Millisecond)
	}
	// Another client of the same haproxy gets in on both processes: the
	// limit counted the miner, not haproxy's address, which every
	// connection came from.
	otherOn := map[string]bool{}
	for i := range 2 {
		s, err := login(otherIP, 10+i)
		if err != nil {
			t.Fatalf("%s through haproxy while %s is at its limit: %v", otherIP, minerIP, err)
		}
		otherOn[s.server] = true
	}
	if len(otherOn) != 2 {
		t.Fatalf("%s's two connections landed on %v, want both processes", otherIP, otherOn)
	}

	// Every share accepted was the miner's and credited to its address.
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ips := sink.seen(); len(ips) != 4 || slices.ContainsFunc(ips, func(ip string) bool { return ip != minerIP }) {
		t.Fatalf("shares were accepted from %v, want 4 from %s", ips, minerIP)
	}
	// haproxy's health checks (connections with a LOCAL header, which no
	// session counted: each connection above grew one server's count)
	// pass on both.
	for b, s := range hap.Servers(t) {
		if s.Status != "UP" || s.Check != "L4OK" {
			t.Errorf("haproxy reports server %s %s, last check %q; want UP, L4OK", name[b], s.Status, s.Check)
		}
	}
	t.Logf("through one haproxy: %s banned on %s and refused by %v; %s mined 4 shares on A and B; its third connection refused by %v",
		attackerIP, bannedOn, refusedBy, minerIP, limitedBy)
}
