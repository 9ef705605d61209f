package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/internal/testenv"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

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
	WaitRedisMatchesOf(t, rdb, "monero", accepted)
}

// poolCounters reads the pool-wide share counters (monero:pool).
func poolCounters(t *testing.T, rdb *redis.Client) (accepted, rejected uint64) {
	t.Helper()
	return PoolCountersOf(t, rdb, "monero")
}

// waitAccepted waits until Redis counts at least n accepted shares and
// returns the count.
func waitAccepted(t *testing.T, rdb *redis.Client, n uint64, timeout time.Duration, what string) uint64 {
	t.Helper()
	return WaitAcceptedOf(t, rdb, "monero", n, timeout, what)
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
	WaitFor(t, timeout, fmt.Sprintf("a job at height %d", h), func() error {
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

// miningRig is the failure tests' pool: stratum and API on a regtest
// daemon whose difficulty no share reaches, with its own Redis.
type miningRig struct {
	md         *testenv.Monerod
	rds        *testenv.Redis
	rdb        *redis.Client
	ctx        context.Context
	pool       *PoolProc
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
	ports := FreePorts(t, 2)
	r.pool = StartPool(t, ctx, miningConfig(t, daemonJSON(r.md), ports[0], ports[1], r.rds.Socket))
	r.base = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	r.addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	r.pool.WaitOK(t, r.base+"/health", time.Minute)
	WaitStratum(t, r.pool, r.addr, time.Minute)
	return r
}
