package xmrig

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum/proto"
)

// proxyDiff is the fixed difficulty in the proxies' logins (ADDRESS.30):
// a couple of shares a second among the five light-mode miners sharing
// two cores, blocks every few seconds at netDiff.
const proxyDiff = 30

// wireJob is a job as the tap saw it, on one of its connections.
type wireJob struct {
	conn int
	job  proto.Job
}

// tapJobs lists the jobs the pool sent through tp: login results and job
// notifications.
func tapJobs(t *testing.T, tp *tap) []wireJob {
	t.Helper()
	var out []wireJob
	for _, l := range tp.seen() {
		if l.up {
			continue
		}
		m := parseLine(t, l)
		var job *proto.Job
		switch {
		case m.Method == proto.MethodJob:
			_ = json.Unmarshal(m.Params, &job)
		case len(m.Result) > 0 && string(m.Result) != "null":
			var r proto.LoginResult
			if json.Unmarshal(m.Result, &r) == nil {
				job = r.Job
			}
		}
		if job != nil && job.Blob != "" {
			out = append(out, wireJob{conn: l.conn, job: *job})
		}
	}
	return out
}

// nonceTop is the nonce's top byte in a job blob (Monero's nonce is at 39).
func nonceTop(t *testing.T, blob string) byte {
	t.Helper()
	b, err := hex.DecodeString(blob)
	if err != nil || len(b) < 43 {
		t.Fatalf("blob %q", blob)
	}
	return b[42]
}

// tapLogins returns each connection's login params and its login result.
func tapLogins(t *testing.T, tp *tap) (map[int]proto.LoginParams, map[int]proto.LoginResult) {
	t.Helper()
	params, results := map[int]proto.LoginParams{}, map[int]proto.LoginResult{}
	loginID := map[int]string{}
	for _, l := range tp.seen() {
		m := parseLine(t, l)
		switch {
		case l.up && m.Method == proto.MethodLogin:
			var p proto.LoginParams
			if err := json.Unmarshal(m.Params, &p); err != nil {
				t.Fatal(err)
			}
			params[l.conn], loginID[l.conn] = p, string(m.ID)
		case !l.up && loginID[l.conn] == string(m.ID) && len(m.Result) > 0:
			var r proto.LoginResult
			if err := json.Unmarshal(m.Result, &r); err == nil && r.ID != "" {
				results[l.conn] = r
			}
		}
	}
	return params, results
}

// tapSubmitNonces returns the nonces each connection submitted.
func tapSubmitNonces(t *testing.T, tp *tap) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	for _, l := range tp.seen() {
		if m := parseLine(t, l); l.up && m.Method == proto.MethodSubmit {
			var p proto.SubmitParams
			if err := json.Unmarshal(m.Params, &p); err != nil {
				t.Fatal(err)
			}
			out[l.conn] = append(out[l.conn], p.Nonce)
		}
	}
	return out
}

// TestXmrigProxyAndNiceHash runs the real xmrig-proxy and xmrig through the
// pool binary on one regtest chain with two stratum ports, an ordinary one
// and a NiceHash one, all at once:
//
//   - xmrig-proxy in nicehash mode on the ordinary port, two xmrig behind it;
//   - xmrig-proxy in simple mode on the NiceHash port, two xmrig behind it,
//     and one xmrig straight on the NiceHash port (both behind a tap);
//   - a stray raw client on the NiceHash port sending a share outside its byte;
//   - an xmrig whose algorithms leave out rx/0 (behind a tap).
//
// They mine until both proxies have found a block; the blocks are matured
// and credited. Last, xmrig-proxy in nicehash mode on the NiceHash port
// shows what the docs say about that pairing.
func TestXmrigProxyAndNiceHash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: netDiff})
	env := startPoolEnv(t, md, fmt.Sprintf(`{"diff":%d,"desc":"plain"}`, portDiff), fmt.Sprintf(`{"diff":%d,"desc":"rented","nicehash":true}`, portDiff))
	plain, niceHash := env.stratum[0], env.stratum[1]

	// An xmrig with the RandomX CPU profile off sends no rx/0 at login.
	algoTap := startTap(t, plain)
	noAlgo := testenv.StartXmrig(t, testenv.XmrigOptions{URL: algoTap.addr(), User: testenv.MoneroAddress(t, 9), Pass: "no-rx",
		Config: `{"autosave":false,"cpu":{"enabled":true,"rx":false}}`})

	addrN, addrS, addrH := testenv.MoneroAddress(t, 3), testenv.MoneroAddress(t, 4), testenv.MoneroAddress(t, 5)
	nh := testenv.StartXmrigProxy(t, testenv.XmrigProxyOptions{URL: plain, User: fmt.Sprintf("%s.%d", addrN, proxyDiff), Pass: "proxy-n", Mode: "nicehash"})
	nhTap := startTap(t, niceHash)
	simple := testenv.StartXmrigProxy(t, testenv.XmrigProxyOptions{URL: nhTap.addr(), User: fmt.Sprintf("%s.%d", addrS, proxyDiff), Pass: "proxy-s", Mode: "simple"})
	miners := map[string]*testenv.Xmrig{}
	for _, name := range []string{"n1", "n2"} {
		miners[name] = testenv.StartXmrig(t, testenv.XmrigOptions{URL: nh.Addr, User: name, Pass: "x"})
	}
	for _, name := range []string{"s1", "s2"} {
		miners[name] = testenv.StartXmrig(t, testenv.XmrigOptions{URL: simple.Addr, User: name, Pass: "x"})
	}
	miners["h"] = testenv.StartXmrig(t, testenv.XmrigOptions{URL: nhTap.addr(), User: fmt.Sprintf("%s.%d", addrH, proxyDiff), Pass: "rig-h"})

	t.Run("AlgoListWithoutRx0", func(t *testing.T) {
		e2e.WaitFor(t, time.Minute, "xmrig's log to show the pool's refusal", func() error {
			if !strings.Contains(noAlgo.Output(), `error: "`+proto.ErrMsgNoAlgo+`", code: -1`) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		params, _ := tapLogins(t, algoTap)
		if len(params) == 0 {
			t.Fatal("no login through the tap")
		}
		for _, p := range params {
			if len(p.Algo) == 0 || slices.Contains(p.Algo, proto.Algo) {
				t.Fatalf("xmrig with rx off sent algo %v", p.Algo)
			}
		}
		t.Logf("xmrig with the rx profile off logged in %d times with algo %v and printed the pool's error", len(params), params)
		noAlgo.Stop()
	})

	e2e.WaitFor(t, 5*time.Minute, "every miner's shares and a block through each proxy", func() error {
		for name, x := range miners {
			if !x.Running() {
				t.Fatalf("xmrig %s exited", name)
			}
			s, err := x.Summary(ctx)
			if err != nil {
				return err
			}
			if s.Connection.Accepted < 2 {
				return fmt.Errorf("xmrig %s: %d accepted", name, s.Connection.Accepted)
			}
		}
		blocks, err := env.store.PendingBlocks(ctx)
		if err != nil {
			return err
		}
		by := map[string]int{}
		for _, b := range blocks {
			by[b.Address]++
		}
		if by[addrN] == 0 || by[addrS] == 0 {
			return fmt.Errorf("blocks through the nicehash proxy %d, through the simple proxy %d", by[addrN], by[addrS])
		}
		return nil
	})
	// The stray: a client on the NiceHash port that ignores its byte, on
	// an address with no accepted work (a stranger to the pool).
	stray := strayShare(t, niceHash, testenv.MoneroAddress(t, 6))
	sums := map[string]*testenv.XmrigSummary{}
	for _, x := range miners {
		if err := x.Pause(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for name, x := range miners {
		sums[name] = stable(t, ctx, x)
		t.Logf("xmrig %s: %d accepted, %d rejected", name, sums[name].Connection.Accepted, sums[name].Connection.Rejected)
	}
	for name, s := range sums {
		if s.Connection.Rejected != 0 {
			t.Errorf("xmrig %s: %d rejected", name, s.Connection.Rejected)
		}
	}

	for _, pc := range []struct {
		name, addr, worker string
		proxy              *testenv.XmrigProxy
		behind             []string
	}{{"Nicehash", addrN, "proxy-n", nh, []string{"n1", "n2"}}, {"Simple", addrS, "proxy-s", simple, []string{"s1", "s2"}}} {
		t.Run("Proxy"+pc.name, func(t *testing.T) {
			ps, err := pc.proxy.Summary(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var sum uint64
			for _, m := range pc.behind {
				sum += sums[m].Connection.Accepted
			}
			t.Logf("xmrig-proxy %s: %+v; its miners accepted %d", ps.Mode, ps.Results, sum)
			if ps.Results.Accepted == 0 || ps.Results.Rejected != 0 || ps.Results.Invalid != 0 || ps.Results.Accepted != sum {
				t.Errorf("xmrig-proxy %s: results %+v, its miners counted %d accepted", ps.Mode, ps.Results, sum)
			}
			// The pool sees the proxy's login only: the shares of both
			// miners count for its address and its --pass as the worker.
			checkPoolCounts(t, env.apiBase, pc.addr, pc.worker, ps.Results.Accepted)
		})
	}

	t.Run("NiceHashPort", func(t *testing.T) {
		params, results := tapLogins(t, nhTap)
		jobs := tapJobs(t, nhTap)
		bytes := map[int]byte{}
		for _, j := range jobs {
			b := nonceTop(t, j.job.Blob)
			if prev, ok := bytes[j.conn]; ok && prev != b {
				t.Fatalf("connection %d got jobs with nonce bytes %d and %d", j.conn, prev, b)
			}
			bytes[j.conn] = b
		}
		seen := map[byte]int{}
		for conn, r := range results {
			if !slices.Contains(r.Extensions, proto.ExtNiceHash) {
				t.Errorf("connection %d (login %q): extensions %v", conn, params[conn].Login, r.Extensions)
			}
			b := bytes[conn]
			if b == 0 || seen[b] != 0 {
				t.Errorf("connection %d has byte %d (also connection %d's)", conn, b, seen[b])
			}
			seen[b] = conn
		}
		// Three live connections: the simple proxy's two (one per miner,
		// each with the proxy's login) and h's.
		if len(results) != 3 {
			t.Errorf("%d logins on the NiceHash port through the tap, want 3: %v", len(results), params)
		}
		for conn, nonces := range tapSubmitNonces(t, nhTap) {
			for _, n := range nonces {
				if b, _ := hex.DecodeString(n); len(b) != 4 || b[3] != bytes[conn] {
					t.Errorf("connection %d (byte %d) submitted nonce %s", conn, bytes[conn], n)
				}
			}
		}
		t.Logf("NiceHash port: bytes per connection %v, logins %v", bytes, params)
		checkPoolCounts(t, env.apiBase, addrH, "rig-h", sums["h"].Connection.Accepted)
		// xmrig read each job's algo and height: its log names them.
		heights := map[uint64]bool{}
		for _, j := range jobs {
			if j.job.Algo != proto.Algo {
				t.Errorf("a job with algo %q", j.job.Algo)
			}
			heights[j.job.Height] = true
		}
		hJobs := jobsIn(miners["h"].Output())
		if len(hJobs) == 0 {
			t.Fatal("xmrig h logged no job")
		}
		for _, j := range hJobs {
			if j.algo != proto.Algo || !heights[j.height] || j.diff != proxyDiff {
				t.Errorf("xmrig h logged a job at diff %d, algo %s, height %d (heights sent %v)", j.diff, j.algo, j.height, heights)
			}
		}
	})

	t.Run("StrayOutsideItsByte", func(t *testing.T) {
		if stray.reply != errLineFor(stray.id, proto.ErrMsgNiceHashNonce) {
			t.Errorf("the stray's share outside its byte %d got %s", stray.byte, stray.reply)
		}
		// Counted as invalid pool-wide; nothing is kept per miner for an
		// address without accepted work (issue 17: no state for strangers).
		ps, err := env.store.PoolStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ps.Invalid != 1 {
			t.Errorf("the pool counts %d invalid shares, want the stray's 1", ps.Invalid)
		}
		var st minerStats
		if err := getJSON(env.apiBase+"/stats?address="+stray.addr, &st); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("the stray's address: %+v, %v; want 404 (nothing recorded for a stranger)", st, err)
		}
	})

	t.Run("NicehashProxyOnNiceHashPort", func(t *testing.T) {
		// xmrig-proxy in nicehash mode writes its own byte for each of its
		// miners where the pool put the connection's byte: its miners'
		// shares count only if the two happen to be equal.
		for _, x := range miners {
			x.Stop()
		}
		mTap := startTap(t, niceHash)
		m := testenv.StartXmrigProxy(t, testenv.XmrigProxyOptions{URL: mTap.addr(), User: fmt.Sprintf("%s.%d", testenv.MoneroAddress(t, 7), proxyDiff), Pass: "proxy-m", Mode: "nicehash"})
		m1 := testenv.StartXmrig(t, testenv.XmrigOptions{URL: m.Addr, User: "m1", Pass: "x"})
		var s *testenv.XmrigSummary
		e2e.WaitFor(t, 2*time.Minute, "xmrig m1's first results", func() error {
			var err error
			if s, err = m1.Summary(ctx); err != nil {
				return err
			}
			if s.Connection.Accepted+s.Connection.Rejected < 2 {
				return fmt.Errorf("%d accepted, %d rejected", s.Connection.Accepted, s.Connection.Rejected)
			}
			return nil
		})
		s = stable(t, ctx, m1)
		jobs := tapJobs(t, mTap)
		if len(jobs) == 0 {
			t.Fatal("no job through the tap")
		}
		poolByte := nonceTop(t, jobs[0].job.Blob)
		proxyBytes := map[byte]bool{}
		for _, nonces := range tapSubmitNonces(t, mTap) {
			for _, n := range nonces {
				b, _ := hex.DecodeString(n)
				proxyBytes[b[3]] = true
			}
		}
		t.Logf("pool's byte %d, the proxy's byte(s) in its submits %v; xmrig m1: %d accepted, %d rejected",
			poolByte, proxyBytes, s.Connection.Accepted, s.Connection.Rejected)
		if len(proxyBytes) != 1 {
			t.Fatalf("one miner behind the proxy, submits with bytes %v", proxyBytes)
		}
		if proxyBytes[poolByte] {
			if s.Connection.Rejected != 0 {
				t.Errorf("the proxy's byte is the pool's, yet %d rejected", s.Connection.Rejected)
			}
			return
		}
		if s.Connection.Accepted != 0 || !strings.Contains(m1.Output(), proto.ErrMsgNiceHashNonce) {
			t.Errorf("the proxy's byte differs from the pool's %d: want every share refused with %q; %d accepted", poolByte, proto.ErrMsgNiceHashNonce, s.Connection.Accepted)
		}
	})

	// Mature the blocks and let the unlocker credit them.
	found, err := env.store.Blocks(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := md.Restart(1); err != nil {
		t.Fatal(err)
	}
	if _, err := md.GenerateBlocks(ctx, depth, testenv.MoneroAddress(t, 900), nil); err != nil {
		t.Fatal(err)
	}
	t.Run("BlocksThroughProxiesCredited", func(t *testing.T) {
		confirmed := map[string]int{}
		var want uint64
		e2e.WaitFor(t, time.Minute, "the unlocker to settle every block", func() error {
			confirmed, want = map[string]int{}, 0
			for _, b := range found {
				rec, err := env.store.BlockByHash(ctx, b.Hash)
				if err != nil {
					return err
				}
				switch rec.Status {
				case storage.StatusConfirmed:
					confirmed[rec.Address]++
					want += rec.Reward - rec.Fee
				case storage.StatusOrphaned:
				default:
					return fmt.Errorf("block %d is %s", rec.Height, rec.Status)
				}
			}
			return nil
		})
		var sum int64
		// (7 is the last stage's proxy: its blocks, if any, are credited too.)
		for _, addr := range []string{addrN, addrS, addrH, testenv.MoneroAddress(t, 7)} {
			b, err := env.store.Balance(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			sum += b.Balance
		}
		if confirmed[addrN] == 0 || confirmed[addrS] == 0 || uint64(sum) != want {
			t.Errorf("confirmed blocks per address %v; balances sum to %d, confirmed rewards %d", confirmed, sum, want)
		}
		t.Logf("%d blocks, confirmed per finder %v, credited %d", len(found), confirmed, want)
		e2e.PoolAudit(t, env.pool)
	})

}

// strayResult is what the stray client saw.
type strayResult struct {
	addr, reply string
	id          int
	byte        byte
}

func errLineFor(id int, msg string) string {
	return fmt.Sprintf(`{"id":%d,"jsonrpc":"2.0","error":{"code":-1,"message":%q}}`, id, msg)
}

// strayShare logs in on a NiceHash port as a client that ignores the
// reserved byte and sends one share with another top byte. (The real xmrig
// always keeps the byte, so this error case needs a client of our own; the
// result is never hashed, so any 64 hex digits do.)
func strayShare(t *testing.T, addr, login string) strayResult {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	send := func(line string) string {
		if _, err := fmt.Fprintln(c, line); err != nil {
			t.Fatal(err)
		}
		for {
			resp, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stray: %v", err)
			}
			if !strings.Contains(resp, `"method":"job"`) {
				return strings.TrimSpace(resp)
			}
		}
	}
	var lr struct {
		Result proto.LoginResult `json:"result"`
	}
	line := send(fmt.Sprintf(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"stray","agent":"stray/1.0","algo":["rx/0"]}}`, login))
	if err := json.Unmarshal([]byte(line), &lr); err != nil || lr.Result.Job == nil {
		t.Fatalf("stray login: %s", line)
	}
	own := nonceTop(t, lr.Result.Job.Blob)
	nonce := []byte{1, 2, 3, own + 1}
	reply := send(fmt.Sprintf(`{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":%q,"result":%q,"algo":"rx/0"}}`,
		lr.Result.ID, lr.Result.Job.JobID, hex.EncodeToString(nonce), strings.Repeat("00", 32)))
	return strayResult{addr: login, reply: reply, id: 2, byte: own}
}
