package stratum

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/stratumtest"
	"rxpool/internal/testenv"
	"rxpool/randomx"
	"rxpool/stratum/proto"
)

// memorySink records what the server reports.
type memorySink = stratumtest.Sink[Share, Rejection, Block]

// minerAddr is a real mainnet address (made by monero-wallet-rpc); regtest
// uses mainnet addresses.
const minerAddr = "48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se"

type poolOptions struct {
	netDiff  uint64 // monerod --fixed-difficulty
	portDiff uint64
	mutate   func(*Config)
	// wrapDaemon / wrapHasher put test doubles in front of the real ones.
	wrapDaemon func(Daemon) Daemon
	wrapHasher func(Hasher) Hasher
	sink       Sink // instead of the memory sink (p.sink then stays empty)
}

type testPool struct {
	t      *testing.T
	srv    *Server
	sink   *memorySink
	daemon *testenv.Monerod
	addr   string
	log    *logrus.Logger
	vmOnce sync.Once
	vm     *randomx.VM
	// stop cancels Run's context and returns a channel closed when Run
	// has returned.
	stop func() <-chan struct{}
}

func quietLogger(t *testing.T) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.InfoLevel)
	return l
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newTestPool runs a real monerod --regtest, a light-mode verifier and the
// stratum server on a free loopback port.
func newTestPool(t *testing.T, o poolOptions) *testPool {
	t.Helper()
	if o.portDiff == 0 {
		o.portDiff = 1
	}
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: o.netDiff})
	log := quietLogger(t)
	poolAddr, err := cryptonote.Monero.ParseAddress(minerAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		PoolAddress: poolAddr, InstanceID: 7, BindIP: "127.0.0.1",
		Ports:         []Port{{Port: 0, Diff: o.portDiff, Desc: "test"}},
		VarDiff:       VarDiff{Min: 1, Max: 1 << 40},
		FixedDiff:     true,
		Separator:     ".",
		BlockRefresh:  100 * time.Millisecond,
		GraceWindow:   2 * time.Second,
		MaxLineLength: 4096,
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	d := daemon.NewMonero("regtest", fmt.Sprintf("http://%s", md.Address()), 10*time.Second, log)
	v := randomx.NewVerifier(randomx.VerifierConfig{Workers: 1, Mode: randomx.ModeLight, QueueSize: 64}, log)
	t.Cleanup(func() { v.Close() })
	sink := stratumtest.New[Share, Rejection, Block]()
	var dm Daemon = d
	if o.wrapDaemon != nil {
		dm = o.wrapDaemon(dm)
	}
	var h Hasher = v
	if o.wrapHasher != nil {
		h = o.wrapHasher(h)
	}
	var sk Sink = sink
	if o.sink != nil {
		sk = o.sink
	}
	srv, err := NewServer(cfg, dm, h, sk, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lctx, lcancel := context.WithTimeout(ctx, time.Minute)
	defer lcancel()
	if err := srv.Listen(lctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &testPool{t: t, srv: srv, sink: sink, daemon: md, addr: srv.Addrs()[0].String(), log: log,
		stop: func() <-chan struct{} { cancel(); return done }}
}

// hash computes the RandomX hash of a job blob with nonce, as a miner would.
func (p *testPool) hash(job *proto.Job, nonce uint32) (string, [32]byte) {
	p.t.Helper()
	p.vmOnce.Do(func() {
		seed, _ := hex.DecodeString(job.SeedHash)
		cache, err := randomx.NewCache(randomx.GetFlags(), seed)
		if err != nil {
			p.t.Fatal(err)
		}
		vm, err := randomx.NewVM(randomx.GetFlags(), cache, nil)
		if err != nil {
			p.t.Fatal(err)
		}
		p.vm = vm
		p.t.Cleanup(func() { vm.Close(); cache.Close() })
	})
	blob, _ := hex.DecodeString(job.Blob)
	var nb [4]byte
	binary.LittleEndian.PutUint32(nb[:], nonce)
	copy(blob[39:], nb[:])
	h := p.vm.Hash(blob)
	return hex.EncodeToString(nb[:]), h
}

// rawConn is a line-level client, so tests see exactly what the pool sends.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	jobs []*proto.Job // job notifications seen while waiting for replies
}

func (p *testPool) dial() *rawConn {
	p.t.Helper()
	return p.dialFrom("")
}

// dialFrom connects from the loopback address ip (any of 127.0.0.0/8 on
// Linux; "" for the default), so a test can have an IP banned without
// banning the others'.
func (p *testPool) dialFrom(ip string) *rawConn {
	p.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	c, err := d.Dial("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Close() })
	return &rawConn{t: p.t, c: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(line string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readLine returns the next line from the pool ("" at EOF).
func (c *rawConn) readLine() string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil && line == "" {
		return ""
	}
	return strings.TrimRight(line, "\n")
}

// reply reads lines until a reply (a line with an id) arrives, keeping job
// notifications, and returns the raw reply line.
func (c *rawConn) reply() string {
	c.t.Helper()
	for {
		line := c.readLine()
		if line == "" {
			c.t.Fatal("connection closed while waiting for a reply")
		}
		var n struct {
			Method string     `json:"method"`
			Params *proto.Job `json:"params"`
		}
		if json.Unmarshal([]byte(line), &n) == nil && n.Method == proto.MethodJob {
			c.jobs = append(c.jobs, n.Params)
			continue
		}
		return line
	}
}

// expectClosed asserts the pool closed the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	if line := c.readLine(); line != "" {
		c.t.Fatalf("expected the connection to be closed, got %q", line)
	}
}

func errLine(id, msg string) string {
	return fmt.Sprintf(`{"id":%s,"jsonrpc":"2.0","error":{"code":-1,"message":%q}}`, id, msg)
}

const okLine = `{"id":%d,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}`

// login logs in and returns the session id and the first job.
func (c *rawConn) login(login, pass string) (string, *proto.Job) {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":%q,"agent":"XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0","cn/1","rx/wow"]}}`, login, pass))
	var resp struct {
		ID     int               `json:"id"`
		Error  *proto.Error      `json:"error"`
		Result proto.LoginResult `json:"result"`
	}
	line := c.reply()
	if err := json.Unmarshal([]byte(line), &resp); err != nil || resp.Error != nil {
		c.t.Fatalf("login failed: %s", line)
	}
	return resp.Result.ID, resp.Result.Job
}

func (c *rawConn) submit(id int, sid string, job *proto.Job, nonce, result string) string {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"id":%d,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":%q,"result":%q,"algo":"rx/0"}}`, id, sid, job.JobID, nonce, result))
	return c.reply()
}
