package stratum

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/stratum/proto"
)

// A network difficulty no test share will reach, so nothing here is a block.
const unreachable = 1_000_000_000_000

func TestLoginJobShapeAndAcceptedShare(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, portDiff: 1})
	c := p.dial()
	sid, job := c.login(minerAddr, "rig-a")
	if len(sid) == 0 {
		t.Fatal("login result has no session id")
	}
	// What xmrig requires of a job (protocol.md §1.4).
	blob, err := hex.DecodeString(job.Blob)
	if err != nil || len(blob) < 43 || len(blob) >= 408 {
		t.Fatalf("blob %q: must be hex, 43..407 bytes", job.Blob)
	}
	if job.Algo != "rx/0" || len(job.SeedHash) != 64 || job.JobID == "" || job.Height == 0 {
		t.Fatalf("job lacks required fields: %+v", job)
	}
	if job.Target != cryptonote.TargetHex(1) {
		t.Fatalf("target %q, want %q for port difficulty 1", job.Target, cryptonote.TargetHex(1))
	}
	if got := blob[39:43]; string(got) != "\x00\x00\x00\x00" {
		t.Fatalf("nonce bytes %x are not zero: xmrig would switch to nicehash mode", got)
	}
	nonce, h := p.hash(job, 42)
	if got, want := c.submit(2, sid, job, nonce, hex.EncodeToString(h[:])), fmt.Sprintf(okLine, 2); got != want {
		t.Fatalf("submit reply\n got %s\nwant %s", got, want)
	}
	shares, rejects, blocks := p.sink.Snapshot()
	if len(shares) != 1 || len(rejects) != 0 || len(blocks) != 0 {
		t.Fatalf("sink: %d shares, %d rejects, %d blocks; want 1/0/0", len(shares), len(rejects), len(blocks))
	}
	s := shares[0]
	if s.Address != minerAddr || s.Worker != "rig-a" || s.Difficulty != 1 || s.Scheme != SchemePPLNS || s.Height != job.Height {
		t.Fatalf("recorded share %+v", s)
	}
	c.send(fmt.Sprintf(`{"id":3,"jsonrpc":"2.0","method":"keepalived","params":{"id":%q}}`, sid))
	if got, want := c.reply(), `{"id":3,"jsonrpc":"2.0","error":null,"result":{"status":"KEEPALIVED"}}`; got != want {
		t.Fatalf("keepalived reply %s", got)
	}
	// getjob returns a job object with a fresh job id (never a repeat).
	c.send(fmt.Sprintf(`{"id":4,"jsonrpc":"2.0","method":"getjob","params":{"id":%q}}`, sid))
	var gj struct {
		Result proto.Job `json:"result"`
	}
	if err := json.Unmarshal([]byte(c.reply()), &gj); err != nil || gj.Result.JobID == job.JobID || gj.Result.Blob == job.Blob {
		t.Fatalf("getjob did not return a fresh job: %+v", gj.Result)
	}
}

func TestRejections(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, portDiff: 1})

	t.Run("malformed JSON closes", func(t *testing.T) {
		c := p.dial()
		c.send(`{"id":1,"method":"login",`)
		if got, want := c.readLine(), errLine("null", proto.ErrMsgParse); got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
		c.expectClosed()
	})
	t.Run("line over the limit closes", func(t *testing.T) {
		c := p.dial()
		c.send(`{"id":1,"method":"login","params":{"login":"` + strings.Repeat("A", 5000) + `"}}`)
		if got, want := c.readLine(), errLine("null", proto.ErrMsgLineTooLong); got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
		c.expectClosed()
	})
	t.Run("unknown method keeps the connection", func(t *testing.T) {
		c := p.dial()
		c.send(`{"id":5,"jsonrpc":"2.0","method":"mining.subscribe","params":[]}`)
		if got, want := c.reply(), errLine("5", proto.ErrMsgInvalidMethod); got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
		c.login(minerAddr, "x") // still usable
	})
	t.Run("submit before login", func(t *testing.T) {
		c := p.dial()
		c.send(`{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":"x","job_id":"1","nonce":"00000000","result":"` + strings.Repeat("0", 64) + `"}}`)
		if got, want := c.reply(), errLine("2", proto.ErrMsgUnauthenticated); got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
	addrCases := []struct{ name, login, reason string }{
		{"bad address", minerAddr[:90] + "11111", "checksum mismatch"},
		{"foreign address", pastellaGenesis, "is a Pastella mainnet address, not Monero"},
		{"not base58", strings.Replace(minerAddr, "9", "0", 1), "invalid base58 character"},
	}
	for _, tc := range addrCases {
		t.Run(tc.name+" closes", func(t *testing.T) {
			c := p.dial()
			c.send(fmt.Sprintf(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"x","agent":"XMRig/6.26.0","algo":["rx/0"]}}`, tc.login))
			line := c.readLine()
			var resp proto.Response
			if err := json.Unmarshal([]byte(line), &resp); err != nil || resp.Error == nil ||
				!strings.HasPrefix(resp.Error.Message, "Invalid address used for login: ") || !strings.Contains(resp.Error.Message, tc.reason) {
				t.Fatalf("got %s, want an invalid address error mentioning %q", line, tc.reason)
			}
			c.expectClosed()
		})
	}
	t.Run("algo without rx/0 closes", func(t *testing.T) {
		c := p.dial()
		c.send(fmt.Sprintf(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"x","algo":["cn/r","kawpow"]}}`, minerAddr))
		if got, want := c.readLine(), errLine("1", proto.ErrMsgNoAlgo); got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
		c.expectClosed()
	})

	c := p.dial()
	sid, job := c.login(minerAddr, "w")
	nonce, h := p.hash(job, 7)
	good := hex.EncodeToString(h[:])
	id := 10
	expect := func(name, got, msg string) {
		t.Helper()
		if want := errLine(fmt.Sprint(id), msg); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		id++
	}
	expect("bad job id", c.submit(id, sid, &proto.Job{JobID: "nonsense"}, nonce, good), proto.ErrMsgInvalidJobID)
	// Proof of malice: answered, then the connection is closed and its IP
	// banned (banning is off here); each case from its own loopback IP.
	malice := []struct {
		name string
		// what is sent, from the session id and a valid share of the job
		send func(sid, nonce, good string) (string, string, string)
		msg  string
	}{
		{"nonce not 8 hex", func(sid, _, good string) (string, string, string) { return sid, "0700000", good }, proto.ErrMsgInvalidNonce},
		{"nonce not hex", func(sid, _, good string) (string, string, string) { return sid, "zz000000", good }, proto.ErrMsgInvalidNonce},
		{"result not 64 hex", func(sid, n, good string) (string, string, string) { return sid, n, good[:62] }, proto.ErrMsgInvalidResult},
		{"wrong result", func(sid, n, _ string) (string, string, string) { return sid, n, strings.Repeat("ff", 32) }, proto.ErrMsgWrongResult},
		{"wrong session id", func(_, n, good string) (string, string, string) { return "not-the-session", n, good }, proto.ErrMsgForeignSession},
	}
	for i, m := range malice {
		ip := fmt.Sprintf("127.0.0.%d", 20+i)
		mc := p.dialFrom(ip)
		msid, mjob := mc.login(minerAddr, "w")
		mn, mh := p.hash(mjob, 8)
		msid, mn, mr := m.send(msid, mn, hex.EncodeToString(mh[:]))
		expect(m.name, mc.submit(id, msid, mjob, mn, mr), m.msg)
		mc.expectClosed()
		if got, want := p.dialFrom(ip).readLine(), errLine("null", proto.ErrMsgBanned); got != want {
			t.Errorf("%s: reconnecting from %s:\n got %s\nwant %s", m.name, ip, got, want)
		}
	}
	if got := c.submit(id, sid, job, nonce, good); got != fmt.Sprintf(okLine, id) {
		t.Fatalf("valid share refused: %s", got)
	}
	id++
	expect("duplicate share", c.submit(id, sid, job, nonce, good), proto.ErrMsgDuplicateShare)

	// Low difficulty: a fixed difficulty of 10^6 that a random hash misses.
	low := p.dial()
	lsid, ljob := low.login(minerAddr+".1000000", "w")
	if ljob.Target != cryptonote.TargetHex(1_000_000) {
		t.Fatalf("fixed difficulty not applied: target %s", ljob.Target)
	}
	for n := uint32(0); ; n++ {
		ln, lh := p.hash(ljob, n)
		if cryptonote.CheckHash(&lh, 1_000_000) {
			continue // astronomically unlikely; try the next nonce
		}
		if got, want := low.submit(id, lsid, ljob, ln, hex.EncodeToString(lh[:])), errLine(fmt.Sprint(id), proto.ErrMsgLowDifficulty); got != want {
			t.Fatalf("low difficulty share:\n got %s\nwant %s", got, want)
		}
		break
	}

	_, rejects, _ := p.sink.Snapshot()
	invalid := 0
	for _, r := range rejects {
		if r.Invalid {
			invalid++
		}
	}
	// nonce×2, result, wrong result, another session's id, low difficulty
	// count as invalid work.
	if invalid != 6 {
		t.Errorf("%d rejections marked invalid, want 6: %+v", invalid, rejects)
	}
}

func TestStaleSharesAndNewTipPush(t *testing.T) { staleSharesAfterNewTip(t, false) }

// TestStaleAfterTemplateRefresh: the miner's job comes from a template that
// a refresh on the same tip (for new transactions) replaced; when the tip
// moves, that job goes stale too (it once stayed valid forever).
func TestStaleAfterTemplateRefresh(t *testing.T) { staleSharesAfterNewTip(t, true) }

func staleSharesAfterNewTip(t *testing.T, refreshed bool) {
	// A low network difficulty so monerod's generateblocks can extend the
	// chain; the only shares sent are for the replaced tip, never blocks.
	p := newTestPool(t, poolOptions{netDiff: 2, portDiff: 1, mutate: func(c *Config) {
		c.GraceWindow = 3 * time.Second
		if refreshed {
			c.TemplateRefresh = 200 * time.Millisecond
		}
	}})
	c := p.dial()
	sid, job := c.login(minerAddr, "w")
	old := *job
	// Hash first, so timing depends only on the pool (machines are busy).
	n1, h1 := p.hash(&old, 1)
	n2, h2 := p.hash(&old, 2)
	if refreshed {
		// Templates on the same tip are fetched again every 200 ms: the
		// login job's template is no longer the current one.
		time.Sleep(time.Second)
	}

	// Another miner extends the chain: the pool must push a new job.
	if _, err := p.daemon.GenerateBlocks(t.Context(), 1, minerAddr, nil); err != nil {
		t.Fatal(err)
	}
	line := c.readLine()
	var push struct {
		Method string    `json:"method"`
		Params proto.Job `json:"params"`
	}
	if err := json.Unmarshal([]byte(line), &push); err != nil || push.Method != "job" {
		t.Fatalf("expected a job notification, got %s", line)
	}
	if push.Params.Height != old.Height+1 || push.Params.JobID == old.JobID || push.Params.Blob == old.Blob {
		t.Fatalf("pushed job is not for the new tip: %+v (old %+v)", push.Params, old)
	}
	// Within the grace window a share for the old tip still counts...
	if got := c.submit(2, sid, &old, n1, hex.EncodeToString(h1[:])); got != fmt.Sprintf(okLine, 2) {
		t.Fatalf("share within the grace window refused: %s", got)
	}
	shares, _, _ := p.sink.Snapshot()
	if len(shares) != 1 || !shares[0].Stale {
		t.Fatalf("grace share not recorded as stale: %+v", shares)
	}
	// ...after it, the old job has expired.
	time.Sleep(3100 * time.Millisecond)
	if got, want := c.submit(3, sid, &old, n2, hex.EncodeToString(h2[:])), errLine("3", proto.ErrMsgBlockExpired); got != want {
		t.Fatalf("stale share:\n got %s\nwant %s", got, want)
	}
}

func TestConnectionFloodAndBans(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, portDiff: 1, mutate: func(c *Config) {
		c.MaxConnsPerIP = 3
		c.Banning = Banning{Enabled: true, Time: time.Minute, InvalidPercent: 50, CheckThreshold: 4}
	}})
	// The first connection has a difficulty no test hash meets: its honest
	// hashes are low-difficulty shares, invalid work short of malice.
	var conns []*rawConn
	var sids []string
	var jobs []*proto.Job
	for i := range 3 {
		c := p.dial()
		login := minerAddr
		if i == 0 {
			login += ".1000000000"
		}
		s, j := c.login(login, "w")
		sids, jobs = append(sids, s), append(jobs, j)
		conns = append(conns, c)
	}
	extra := p.dial()
	if got, want := extra.readLine(), errLine("null", proto.ErrMsgTooManyConns); got != want {
		t.Fatalf("4th connection from one IP:\n got %s\nwant %s", got, want)
	}
	extra.expectClosed()

	// Three low-difficulty shares and one good share: 75 % invalid of 4 →
	// banned.
	var last string
	for i := range 3 {
		n, h := p.hash(jobs[0], uint32(100+i))
		last = conns[0].submit(20+i, sids[0], jobs[0], n, hex.EncodeToString(h[:]))
	}
	if last != errLine("22", proto.ErrMsgLowDifficulty) {
		t.Fatalf("third bad share: %s", last)
	}
	n, h := p.hash(jobs[1], 200)
	if got, want := conns[1].submit(30, sids[1], jobs[1], n, hex.EncodeToString(h[:])), fmt.Sprintf(okLine, 30); got != want {
		// The 4th share is valid but completes the check window at 75 % invalid.
		if got != errLine("30", proto.ErrMsgBanned) {
			t.Fatalf("4th share: %s", got)
		}
	}
	time.Sleep(100 * time.Millisecond)
	again := p.dial()
	if got, want := again.readLine(), errLine("null", proto.ErrMsgBanned); got != want {
		t.Fatalf("banned IP reconnecting:\n got %s\nwant %s", got, want)
	}
}
