package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

var errNotYet = errors.New("not yet")

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		p, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = p
	}
	return out
}

// miningConfig is a pool configuration for the failure tests: monero on
// regtest, the stratum module on one port (light-mode RandomX, one
// verifier, a fixed share difficulty so the share rate stays steady on a
// loaded machine), the API, and whatever extra sections are given (each a
// `"key":{…}` member, e.g. a log section). daemons is the JSON of the
// daemon keys: `"daemon":{…}` or `"daemons":[…]`.
func miningConfig(t *testing.T, daemons string, stratumPort, apiPort int, redisSocket string, extra ...string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,%s,
		"ports":{"%d":{"diff":%d,"desc":"test"}},"varDiff":{"enabled":false,"minDiff":1},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":250,"templateRefreshInterval":2},
		"randomx":{"mode":"light","workers":1},
		"blockUnlocker":{"enabled":false},"payments":{"enabled":false},
		"redis":{"socket":%q},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0}`,
		testenv.MoneroAddress(t, 0), daemons, stratumPort, shareDiff, redisSocket, apiPort)
	for _, e := range extra {
		cfg += "," + e
	}
	return cfg + "}"
}

// shareDiff is the share difficulty of the failure tests' stratum port:
// low enough for a light-mode miner thread to find a few shares a second,
// high enough that the one light-mode verifier keeps up.
const shareDiff = 4

// daemonJSON is the `"daemon"` key for one monerod.
func daemonJSON(md *testenv.Monerod) string {
	return fmt.Sprintf(`"daemon":{"host":"127.0.0.1","port":%d,"timeout":3000}`, md.RPCPort)
}

// waitRedisMatches waits until Redis counts exactly the shares the miner
// saw accepted (storage writes them in batches).
func waitRedisMatches(t *testing.T, rdb *redis.Client, accepted uint64) {
	t.Helper()
	waitRedisMatchesOf(t, rdb, "monero", accepted)
}

// waitRedisMatchesOf is waitRedisMatches for the pool with Redis prefix
// prefix (the coin's name by default).
func waitRedisMatchesOf(t *testing.T, rdb *redis.Client, prefix string, accepted uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, "exactly the accepted shares in Redis", func() error {
		if got, _ := poolCountersOf(t, rdb, prefix); got != accepted {
			return fmt.Errorf("Redis counts %d accepted shares, the miner saw %d accepted", got, accepted)
		}
		return nil
	})
}

// onlyRejected fails for every rejection other than allowed.
func onlyRejected(t *testing.T, sum minerSummary, allowed string) {
	t.Helper()
	for reason, n := range sum.RejectedBy {
		if reason != allowed {
			t.Errorf("%d shares rejected: %q", n, reason)
		}
	}
}

// poolCounters reads the pool-wide share counters (monero:pool).
func poolCounters(t *testing.T, rdb *redis.Client) (accepted, rejected uint64) {
	t.Helper()
	return poolCountersOf(t, rdb, "monero")
}

// poolCountersOf reads the pool-wide share counters <prefix>:pool.
func poolCountersOf(t *testing.T, rdb *redis.Client, prefix string) (accepted, rejected uint64) {
	t.Helper()
	m, err := rdb.HGetAll(context.Background(), prefix+":pool").Result()
	if err != nil {
		t.Fatalf("reading %s:pool: %v", prefix, err)
	}
	a, _ := strconv.ParseUint(m["accepted"], 10, 64)
	r, _ := strconv.ParseUint(m["rejected"], 10, 64)
	return a, r
}

// waitAccepted waits until Redis counts at least n accepted shares and
// returns the count.
func waitAccepted(t *testing.T, rdb *redis.Client, n uint64, timeout time.Duration, what string) uint64 {
	t.Helper()
	return waitAcceptedOf(t, rdb, "monero", n, timeout, what)
}

// waitAcceptedOf is waitAccepted for the pool with Redis prefix prefix.
func waitAcceptedOf(t *testing.T, rdb *redis.Client, prefix string, n uint64, timeout time.Duration, what string) uint64 {
	t.Helper()
	var got uint64
	waitFor(t, timeout, what, func() error {
		if got, _ = poolCountersOf(t, rdb, prefix); got < n {
			return fmt.Errorf("%d accepted shares recorded, want ≥ %d", got, n)
		}
		return nil
	})
	return got
}

// healthReply is GET /health.
type healthReply struct {
	Code   int
	Status string `json:"status"`
	Redis  struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"redis"`
	Daemons []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"daemons"`
	Wallet *struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"wallet"`
}

func getHealth(base string) (*healthReply, error) {
	resp, err := http.Get(base + "/health")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	h := &healthReply{Code: resp.StatusCode}
	if err := json.Unmarshal(body, h); err != nil {
		return nil, fmt.Errorf("/health %d: %v: %s", resp.StatusCode, err, body)
	}
	return h, nil
}

// waitHealth polls /health until ok accepts the reply, and returns it.
func waitHealth(t *testing.T, p *poolProc, base string, timeout time.Duration, what string, ok func(*healthReply) error) *healthReply {
	t.Helper()
	var h *healthReply
	waitFor(t, timeout, what, func() error {
		if !p.running() {
			t.Fatalf("the pool exited while waiting for %s", what)
		}
		var err error
		if h, err = getHealth(base); err != nil {
			return err
		}
		return ok(h)
	})
	return h
}

// waitLog waits until the pool's output contains s.
func waitLog(t testing.TB, p *poolProc, s string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%q in the pool log", s), func() error {
		if !strings.Contains(p.output(), s) {
			return errNotYet
		}
		return nil
	})
}

// minerSummary is the part of rxminer's --json summary the tests read.
type minerSummary struct {
	Found      uint64            `json:"shares_found"`
	Sent       uint64            `json:"shares_sent"`
	Accepted   uint64            `json:"accepted"`
	Rejected   uint64            `json:"rejected"`
	RejectedBy map[string]uint64 `json:"rejected_by"`
	Failed     uint64            `json:"failed"`
	FailedBy   map[string]uint64 `json:"failed_by"`
	Jobs       uint64            `json:"jobs"`
	Logins     uint64            `json:"logins"`
	LastError  string            `json:"last_error"`
}

// minerProc is an rxminer mining in the background until stopped.
type minerProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr testenv.SyncBuffer
	done   chan struct{}
	err    error
}

// startMiner runs rxminer against addr with one light-mode thread,
// reconnecting every half second when the pool goes away.
func startMiner(t *testing.T, addr, worker string, extra ...string) *minerProc {
	t.Helper()
	args := append([]string{"-o", addr, "-u", testenv.MoneroAddress(t, 1), "-p", worker, "-t", "1", "--mode", "light",
		"--json", "--report", "1s", "--retry-pause", "500ms", "--duration", "10m"}, extra...)
	m := &minerProc{cmd: exec.Command(testenv.BuildBinary(t, "rxpool/cmd/rxminer"), args...), done: make(chan struct{})}
	m.cmd.Stdout, m.cmd.Stderr = &m.stdout, &m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.err = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		select {
		case <-m.done:
		default:
			_ = m.cmd.Process.Kill()
			<-m.done
		}
		if t.Failed() {
			t.Logf("rxminer %s stderr (tail):\n%s", worker, tail(m.stderr.String(), 4000))
		}
	})
	return m
}

// stop asks rxminer to finish (SIGINT: in-flight submits are still
// answered) and returns its summary.
func (m *minerProc) stop(t *testing.T) minerSummary {
	t.Helper()
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(time.Minute):
		_ = m.cmd.Process.Kill()
		<-m.done
		t.Fatalf("rxminer did not stop within a minute of SIGINT\n%s", tail(m.stderr.String(), 4000))
	}
	var s minerSummary
	if err := json.Unmarshal(m.stdout.Bytes(), &s); err != nil {
		t.Fatalf("rxminer summary (exit %v): %v\nstdout: %s\nstderr: %s", m.err, err, m.stdout.String(), tail(m.stderr.String(), 4000))
	}
	return s
}

// exited reports whether rxminer ended on its own.
func (m *minerProc) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// jobWatcher is a logged-in stratum connection that only collects the jobs
// the pool sends, as a miner's job stream.
type jobWatcher struct {
	conn *client.Conn
	mu   sync.Mutex
	jobs []*proto.Job
}

func watchJobs(t *testing.T, ctx context.Context, addr string) *jobWatcher {
	t.Helper()
	conn, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Login(ctx, client.LoginParams{Login: testenv.MoneroAddress(t, 2), Pass: "watcher",
		Agent: "e2e-watcher", Algo: []string{proto.Algo}}); err != nil {
		t.Fatalf("watcher login: %v", err)
	}
	w := &jobWatcher{conn: conn}
	go func() {
		for j := range conn.Jobs() {
			w.mu.Lock()
			w.jobs = append(w.jobs, j)
			w.mu.Unlock()
		}
	}()
	return w
}

// last returns the newest job and how many were received.
func (w *jobWatcher) last() (*proto.Job, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.jobs) == 0 {
		return nil, 0
	}
	return w.jobs[len(w.jobs)-1], len(w.jobs)
}

// waitHeight waits for a job at height h and returns it.
func (w *jobWatcher) waitHeight(t *testing.T, h uint64, timeout time.Duration) *proto.Job {
	t.Helper()
	var got *proto.Job
	waitFor(t, timeout, fmt.Sprintf("a job at height %d", h), func() error {
		select {
		case <-w.conn.Done():
			t.Fatalf("the watcher's connection closed: %v", w.conn.Err())
		default:
		}
		j, n := w.last()
		if j == nil || j.Height != h {
			var at uint64
			if j != nil {
				at = j.Height
			}
			return fmt.Errorf("%d jobs, newest at height %d", n, at)
		}
		got = j
		return nil
	})
	return got
}

// advanceChain adds n blocks to md's chain while md is stopped, through a
// second monerod on the same data directory (other ports, difficulty 1),
// so that the pool, which only knows md's ports, never sees it: to the
// pool the network moved on while its daemon was away.
func advanceChain(t *testing.T, md *testenv.Monerod, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp, err := testenv.StartMonerod(testenv.MonerodOptions{DataDir: md.DataDir, FixedDifficulty: 1})
	if err != nil {
		t.Fatalf("monerod on %s for advancing the chain: %v", md.DataDir, err)
	}
	defer tmp.Stop()
	if _, err := tmp.GenerateBlocks(ctx, n, testenv.MoneroAddress(t, 900), nil); err != nil {
		t.Fatal(err)
	}
}

// waitStratum waits until the pool's stratum port accepts connections (it
// opens once the pool has asked its daemon for a first block template,
// whatever the answer).
func waitStratum(t *testing.T, p *poolProc, addr string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "the stratum port "+addr, func() error {
		if !p.running() {
			t.Fatalf("the pool exited while waiting for its stratum port")
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	})
}

// openStore opens the test's own storage.Store on the pool's Redis (prefix
// monero), closed at cleanup.
func openStore(t *testing.T, rds *testenv.Redis) *storage.Store {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	return store
}

// fund makes amounts payable the way the pool does: a (SOLO) block
// candidate is recorded and credited with exactly these amounts, so the
// ledger adds up. The coins themselves must be in the pool wallet.
func fund(t *testing.T, store *storage.Store, amounts map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	var reward uint64
	for _, v := range amounts {
		reward += v
	}
	var h [32]byte
	copy(h[:], fmt.Sprintf("e2e-fund-%d", time.Now().UnixNano()))
	b := &stratum.Block{Height: 1, Hash: h, Address: testenv.MoneroAddress(t, 3), Worker: "w", Scheme: stratum.SchemeSolo,
		NetDifficulty: 1, ShareDiff: 1, Reward: reward, Time: time.Now()}
	if err := store.WriteBlockCandidate(ctx, b); err != nil {
		t.Fatal(err)
	}
	if ok, err := store.CreditBlock(ctx, hex.EncodeToString(h[:]), amounts, 0, "", b.Address, 0, reward); err != nil || !ok {
		t.Fatalf("crediting: %v, %v", ok, err)
	}
}

func balanceOf(t *testing.T, store *storage.Store, addr string) storage.Balance {
	t.Helper()
	b, err := store.Balance(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// poolAudit runs `pool -config … audit`, as an operator checks the ledger.
func poolAudit(t *testing.T, p *poolProc) {
	t.Helper()
	out, err := testenv.Run(p.bin, "-config", p.config, "audit")
	if err != nil || !strings.Contains(string(out), "audit passed") {
		t.Fatalf("pool audit: %v\n%s", err, out)
	}
}

// miningRig is the failure tests' pool: stratum and API on a regtest
// daemon whose difficulty no share reaches, with its own Redis.
type miningRig struct {
	md         *testenv.Monerod
	rds        *testenv.Redis
	rdb        *redis.Client
	ctx        context.Context
	pool       *poolProc
	base, addr string // the API's URL, the stratum address
}

// newMiningRig starts the rig; prepare, when set, runs on Redis before the
// pool starts. It returns once the API is healthy and stratum answers.
func newMiningRig(t *testing.T, prepare func(ctx context.Context, rdb *redis.Client) error) *miningRig {
	t.Helper()
	r := &miningRig{md: testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: highDiff}), rds: testenv.NewRedis(t)}
	r.rdb = r.rds.Client()
	t.Cleanup(func() { r.rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	r.ctx = ctx
	if prepare != nil {
		if err := prepare(ctx, r.rdb); err != nil {
			t.Fatal(err)
		}
	}
	ports := freePorts(t, 2)
	r.pool = startPool(t, ctx, miningConfig(t, daemonJSON(r.md), ports[0], ports[1], r.rds.Socket))
	r.base = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	r.addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	r.pool.waitOK(t, r.base+"/health", time.Minute)
	waitStratum(t, r.pool, r.addr, time.Minute)
	return r
}
