package stratum_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/stratum/proto"
)

// TestAddressSprayKeepsRedisBounded: any valid address is free to make, so
// a client logging in thousands of them with one invalid share each must
// not get storage to keep anything per address (issue 17: it created two
// keys with a 30-day TTL per share). Real Redis, real storage, real server.
func TestAddressSprayKeepsRedisBounded(t *testing.T) {
	rds, st := redisStore(t)
	// A port difficulty the made-up result below does not meet: each share
	// is refused as low difficulty, before any hash.
	addr := stratum.StartTestPool(t, 1000, st)
	ctx := t.Context()
	before := scanKeys(t, ctx, rds)

	const addresses = 2000
	bad := strings.Repeat("ff", 32)
	for i := range addresses {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		sid, jobID := loginLine(t, c, r, testenv.MoneroAddress(t, 10+i))
		fmt.Fprintf(c, `{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":"01000000","result":%q}}`+"\n", sid, jobID, bad)
		if got := replyLine(t, c, r); !strings.Contains(got, proto.ErrMsgLowDifficulty) {
			t.Fatalf("address %d: share answered %s, want %q", i, got, proto.ErrMsgLowDifficulty)
		}
		c.Close()
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := scanKeys(t, ctx, rds)
	t.Logf("%d addresses with one invalid share each: Redis keys %d -> %d", addresses, before, after)
	if after-before >= 100 {
		t.Fatalf("%d addresses added %d Redis keys, want < 100", addresses, after-before)
	}
}

// scanKeys counts the keys of rds with SCAN (KEYS is not for production
// code; a test may count either way).
func scanKeys(t *testing.T, ctx context.Context, rds *testenv.Redis) int {
	t.Helper()
	n := 0
	it := rds.Client().Scan(ctx, 0, "*", 1000).Iterator()
	for it.Next(ctx) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// loginLine logs address in and returns the session id and job id.
func loginLine(t *testing.T, c net.Conn, r *bufio.Reader, address string) (sid, jobID string) {
	t.Helper()
	fmt.Fprintf(c, `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"x","algo":["rx/0"]}}`+"\n", address)
	line := replyLine(t, c, r)
	var resp struct {
		Result proto.LoginResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(line), &resp); err != nil || resp.Result.Job == nil {
		t.Fatalf("login of %s: %s", address, line)
	}
	return resp.Result.ID, resp.Result.Job.JobID
}

// replyLine returns the next line with an id, skipping job notifications.
func replyLine(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	for {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a reply: %v (%q)", err, line)
		}
		if !strings.Contains(line, `"method":"job"`) {
			return line
		}
	}
}

// TestBanHoldsAcrossProcesses: two stratum servers share one Redis, as two
// processes on one port do. Proof of malice on one bans the address on the
// other too: its open session there ends and a new connection is refused
// (issue 17: the other process had no ban, 4 of 10 connections got
// through). Real Redis, real storage, real servers.
func TestBanHoldsAcrossProcesses(t *testing.T) {
	rds, st := redisStore(t)
	board := func(c *stratum.Config) { c.BanBoard = st }
	addrA := stratum.StartTestPoolWith(t, 1, st, board)
	addrB := stratum.StartTestPoolWith(t, 1, st, board)
	const ip = "127.0.0.61"
	dial := func(addr string) (net.Conn, *bufio.Reader) {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	onB, rB := dial(addrB)
	loginLine(t, onB, rB, testenv.MoneroAddress(t, 500))

	onA, rA := dial(addrA)
	sid, jobID := loginLine(t, onA, rA, testenv.MoneroAddress(t, 501))
	fmt.Fprintf(onA, `{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":"01000000","result":%q}}`+"\n",
		sid, jobID, strings.Repeat("ff", 32))
	if got := replyLine(t, onA, rA); !strings.Contains(got, proto.ErrMsgWrongResult) {
		t.Fatalf("wrong result answered %s", got)
	}
	banned := time.Now()
	// The session on B ends (job notifications may come first).
	for {
		_ = onB.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := rB.ReadString('\n')
		if err != nil {
			break
		}
		if !strings.Contains(line, `"method":"job"`) {
			t.Fatalf("session on the other process got %s", line)
		}
	}
	t.Logf("the other process closed the banned address's session %v after the ban", time.Since(banned).Round(time.Millisecond))
	c, r := dial(addrB)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := r.ReadString('\n'); !strings.Contains(line, proto.ErrMsgBanned) {
		t.Fatalf("new connection to the other process got %q, want %q", line, proto.ErrMsgBanned)
	}
	// The operator lifts it (`pool bans lift`): both processes admit the
	// address again within a few sync intervals.
	if err := st.PublishBan(t.Context(), stratum.BanNotice{Group: ip}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{addrA, addrB} {
		for deadline := time.Now().Add(10 * time.Second); ; {
			c, r := dial(addr)
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := r.ReadString('\n'); err != nil {
				break // admitted: the pool waits for a login
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s still refuses the address 10 s after the lift", addr)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The shared list is one bounded, expiring key.
	key := "monero:bans"
	if n := rds.Client().XLen(t.Context(), key).Val(); n != 2 {
		t.Errorf("%s holds %d entries, want the ban and its lift", key, n)
	}
	if ttl := rds.Client().PTTL(t.Context(), key).Val(); ttl <= 0 {
		t.Errorf("%s has no TTL (%v)", key, ttl)
	}
}

// TestConnLimitHoldsAcrossProcesses: stratum.maxConnectionsPerIP counts the
// address's connections in every process (issue 17: a limit of 3 let 6 in
// with two processes). Real Redis, real storage, real servers.
func TestConnLimitHoldsAcrossProcesses(t *testing.T) {
	_, st := redisStore(t)
	limit := func(c *stratum.Config) { c.MaxConnsPerIP, c.ConnBoard = 3, st }
	addrA := stratum.StartTestPoolWith(t, 1, st, limit)
	addrB := stratum.StartTestPoolWith(t, 1, st, limit)
	const ip = "127.0.0.62"
	// tryDial connects from ip and reports whether the pool refused it (a
	// refused connection gets one error line; an admitted one waits for a
	// login). The caller closes an admitted one.
	tryDial := func(addr string) (net.Conn, bool) {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.Contains(line, proto.ErrMsgTooManyConns) {
			c.Close()
			return nil, true
		}
		if line != "" {
			t.Fatalf("unexpected line %q", line)
		}
		return c, false
	}
	var onA []net.Conn
	for range 3 {
		c, refused := tryDial(addrA)
		if refused {
			t.Fatal("refused below the limit")
		}
		onA = append(onA, c)
	}
	// Once the counts are exchanged (every second), B refuses the address.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, refused := tryDial(addrB)
		if refused {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the other process still admits the address 10 s after it reached the limit on one")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Closing them frees the address on B too.
	for _, c := range onA {
		c.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		c, refused := tryDial(addrB)
		if !refused {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other process still refuses the address 10 s after its connections closed")
		}
	}
}

// redisStore starts a real Redis and opens the pool's storage on it.
func redisStore(t *testing.T) (*testenv.Redis, *storage.Store) {
	t.Helper()
	rds := testenv.NewRedis(t)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	st, err := storage.New(storage.Config{Socket: rds.Socket}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return rds, st
}
