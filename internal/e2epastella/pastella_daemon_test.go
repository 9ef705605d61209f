package e2epastella

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/cryptonote"
	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// pdShareDiff is the share difficulty of the Pastella daemon tests: a
// light-mode rxminer thread finds a share every second or so, the pool's
// one light-mode verifier keeps up, and a share is a block about one time
// in 50 (network difficulty 1000 on a young chain).
const pdShareDiff = 20

// pdOptions are what the pools of the daemon tests differ in.
type pdOptions struct {
	shareDiff int    // the stratum port's fixed difficulty
	unlocker  string // the blockUnlocker section
}

// pdDefaults: shares at pdShareDiff for a light-mode rxminer, no unlocker.
var pdDefaults = pdOptions{shareDiff: pdShareDiff, unlocker: `{"enabled":false}`}

// pdConfig is a pool on one Pastellad: stratum (one port, light-mode
// verifier) and the API, its own Redis, no payments, the unlocker as o
// says. Blocks it finds pay the burn address, so no test wallet's balance
// moves.
func pdConfig(d *testenv.Pastellad, stratumPort, apiPort int, redisSocket string, o pdOptions) string {
	return fmt.Sprintf(`{"coin":"pastella","poolAddress":%q,
		"daemon":{"name":"pastellad","host":"127.0.0.1","port":%d,"timeout":3000},
		"ports":{"%d":{"diff":%d,"desc":"pastella daemon test"}},"varDiff":{"enabled":false,"minDiff":1},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":200,"templateRefreshInterval":2},
		"randomx":{"mode":"light","workers":1},
		"blockUnlocker":%s,"payments":{"enabled":false},
		"redis":{"socket":%q},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0}}`,
		testenv.PastellaBurnAddress, d.RPCPort, stratumPort, o.shareDiff, o.unlocker, redisSocket, apiPort)
}

// pdRig is a pool on one Pastellad (pdConfig) with its own Redis; ctx
// bounds the test.
type pdRig struct {
	rds        *testenv.Redis
	rdb        *redis.Client
	ctx        context.Context
	pool       *e2e.PoolProc
	base, addr string // the API's URL, the stratum address
}

// newPDRig starts the pool (pdDefaults) without waiting for it.
func newPDRig(t *testing.T, d *testenv.Pastellad, timeout time.Duration) *pdRig {
	t.Helper()
	return newPDRigWith(t, d, timeout, pdDefaults)
}

// newPDRigWith is newPDRig with the pool's options.
func newPDRigWith(t *testing.T, d *testenv.Pastellad, timeout time.Duration, o pdOptions) *pdRig {
	t.Helper()
	rds := testenv.NewRedis(t)
	r := &pdRig{rds: rds, rdb: rds.Client()}
	t.Cleanup(func() { r.rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	r.ctx = ctx
	ports := e2e.FreePorts(t, 2)
	r.pool = e2e.StartPool(t, ctx, pdConfig(d, ports[0], ports[1], rds.Socket, o))
	r.base, r.addr = fmt.Sprintf("http://127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[0])
	return r
}

// pdMiner is rxminer mining for a Pastella address through addr (one
// light-mode thread, reconnecting every half second).
func pdMiner(t *testing.T, addr string) *e2e.MinerProc {
	t.Helper()
	a, err := testenv.MakeAddress(cryptonote.Pastella, 7)
	if err != nil {
		t.Fatal(err)
	}
	return e2e.StartMiner(t, addr, "rig", "-u", a)
}

// daemonHealth accepts a /health whose only daemon check is as wanted,
// its error containing errPart.
func daemonHealth(code int, ok bool, errPart string) func(*e2e.HealthReply) error {
	return func(h *e2e.HealthReply) error {
		if h.Code != code || len(h.Daemons) != 1 || h.Daemons[0].OK != ok || !strings.Contains(h.Daemons[0].Error, errPart) || !h.Redis.OK {
			return fmt.Errorf("/health %d %+v", h.Code, h)
		}
		return nil
	}
}

// TestPastellaPoolStartsBeforeDaemonIsSynced: the pool starts against a
// Pastellad that answers "Daemon must be synced" (it never completed a
// peer handshake). The pool opens its stratum port anyway, keeps polling,
// logs the condition once, and /health answers 503 naming it; a miner's
// login waits for its job. Once the daemon is back synced, the waiting
// login gets its job, shares are accepted and recorded, /health is 200 and
// the pool logs the recovery.
func TestPastellaPoolStartsBeforeDaemonIsSynced(t *testing.T) {
	d := testenv.NewPastellad(t, testenv.PastelladOptions{Unsynced: true})
	r := newPDRig(t, d, 4*time.Minute)
	rdb, ctx, pool, base, addr := r.rdb, r.ctx, r.pool, r.base, r.addr

	const notSynced = "Daemon must be synced to process this RPC method call, please retry when synced"
	h := e2e.WaitHealth(t, pool, base, time.Minute, "/health 503 naming the sync state", daemonHealth(503, false, notSynced))
	t.Logf("/health: %d, daemon: %q", h.Code, h.Daemons[0].Error)
	e2e.WaitLog(t, pool, "daemon not ready (block template)", 10*time.Second)
	e2e.WaitStratum(t, pool, addr, 10*time.Second)
	miner := pdMiner(t, addr)

	// The pool keeps asking (every 200 ms) and says so once.
	e2e.WaitFor(t, 30*time.Second, "failed template calls in /metrics", func() error {
		if n := e2e.SumPrefix(e2e.Scrape(t, base+"/metrics"), `rxpool_rpc_errors_total{method="getblocktemplate",`); n < 20 {
			return fmt.Errorf("%v failed getblocktemplate calls", n)
		}
		return nil
	})
	out := pool.Output()
	for _, line := range []string{"daemon not ready (block template)", "no daemon is healthy"} {
		if n := strings.Count(out, line); n != 1 {
			t.Errorf("%q logged %d times, want once", line, n)
		}
	}
	if !strings.Contains(out, "miners wait for their first job") || !strings.Contains(out, notSynced) {
		t.Errorf("the pool's warning does not say what is going on:\n%s", out)
	}
	if miner.Exited() {
		t.Fatalf("rxminer gave up:\n%s", e2e.Tail(miner.Stderr.String(), 4000))
	}

	// A login now waits for its job (no reply, the connection open) and
	// gets it once the daemon is back synced.
	conn, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	type loginResult struct {
		job *proto.Job
		err error
		at  time.Time
	}
	login := make(chan loginResult, 1)
	go func() {
		a, _ := testenv.MakeAddress(cryptonote.Pastella, 8)
		r, err := conn.Login(ctx, client.LoginParams{Login: a, Pass: "waiter", Agent: "e2e", Algo: []string{proto.Algo}})
		var job *proto.Job
		if r != nil {
			job = r.Job
		}
		login <- loginResult{job, err, time.Now()}
	}()
	select {
	case lr := <-login:
		t.Fatalf("login answered while the daemon is not synced: %+v", lr)
	case <-time.After(time.Second):
	}
	restart := time.Now()
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	t.Logf("Pastellad restarted synced in %v", time.Since(restart).Round(time.Millisecond))
	lr := <-login
	if lr.err != nil || lr.job == nil || lr.job.Height != 1 {
		t.Fatalf("the waiting login: job %+v, %v", lr.job, lr.err)
	}
	t.Logf("the login waited %v and got its job when the daemon was back", lr.at.Sub(restart).Round(time.Millisecond))

	e2e.WaitLog(t, pool, "daemon ready again", 30*time.Second)
	e2e.WaitHealth(t, pool, base, 30*time.Second, "/health 200 with the daemon synced", daemonHealth(200, true, ""))
	e2e.WaitAcceptedOf(t, rdb, "pastella", 3, time.Minute, "shares once the daemon is synced")
	sum := miner.Stop(t)
	t.Logf("rxminer: %+v", sum)
	e2e.OnlyRejected(t, sum, proto.ErrMsgBlockExpired)
	if sum.Accepted == 0 || sum.Failed != 0 {
		t.Errorf("rxminer: %d accepted, %d failed", sum.Accepted, sum.Failed)
	}
	e2e.WaitRedisMatchesOf(t, rdb, "pastella", sum.Accepted)
	if n := strings.Count(pool.Output(), "daemon not ready (block template)"); n != 1 {
		t.Errorf("the not-synced warning was logged %d times in all, want once", n)
	}
}

// TestPastellaDaemonRestartUnderMining: the shared chain's Pastellad is
// stopped while a miner mines through the pool and started again. The
// miner keeps its connection and its job (shares on it are still accepted
// while the daemon is away), gets a new job once the daemon is back and
// the chain moves, and every share the pool accepted is in Redis. The
// daemon is left running.
func TestPastellaDaemonRestartUnderMining(t *testing.T) {
	chain := testenv.SharedPastella(t)
	d := chain.Daemon
	t.Cleanup(func() {
		if !d.Running() {
			if err := d.Restart(false); err != nil {
				t.Errorf("restarting the shared Pastellad: %v", err)
			}
		}
	})
	// Room for the RandomX dataset of the block mined below: a chain copied
	// from the run's snapshot (testenv.EnvTestCache) comes without it.
	r := newPDRig(t, d, 10*time.Minute)
	rdb, ctx, pool, base, addr := r.rdb, r.ctx, r.pool, r.base, r.addr
	pool.WaitOK(t, base+"/health", time.Minute)
	e2e.WaitStratum(t, pool, addr, 10*time.Second)

	miner := pdMiner(t, addr)
	e2e.WaitAcceptedOf(t, rdb, "pastella", 3, time.Minute, "shares before the daemon stops")

	stop := time.Now()
	d.Stop()
	t.Logf("Pastellad stopped in %v", time.Since(stop).Round(time.Millisecond))
	h := e2e.WaitHealth(t, pool, base, 30*time.Second, "/health 503 with the daemon down", daemonHealth(503, false, "pastellad"))
	t.Logf("/health with the daemon down: %q", h.Daemons[0].Error)
	e2e.WaitLog(t, pool, "miners keep their current jobs", 10*time.Second)
	down, _ := e2e.PoolCountersOf(t, rdb, "pastella")
	e2e.WaitAcceptedOf(t, rdb, "pastella", down+3, time.Minute, "shares on the current job while the daemon is down")

	restart := time.Now()
	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	t.Logf("Pastellad started again in %v", time.Since(restart).Round(time.Millisecond))
	e2e.WaitLog(t, pool, "daemon ready again", 30*time.Second)
	e2e.WaitHealth(t, pool, base, 30*time.Second, "/health 200 with the daemon back", daemonHealth(200, true, ""))
	// The chain moves on (a block from outside the pool): the miner gets
	// the next height's job on the connection it has.
	before, err := d.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.MineBlocks(ctx, 1, testenv.PastellaBurnAddress, t.Logf); err != nil {
		t.Fatal(err)
	}
	e2e.WaitLog(t, pool, fmt.Sprintf("new block template: height %d", before+1), 30*time.Second)
	back, _ := e2e.PoolCountersOf(t, rdb, "pastella")
	e2e.WaitAcceptedOf(t, rdb, "pastella", back+3, time.Minute, "shares on the new job")

	sum := miner.Stop(t)
	t.Logf("rxminer: %+v", sum)
	e2e.OnlyRejected(t, sum, proto.ErrMsgBlockExpired)
	if sum.Logins != 1 || sum.Failed != 0 || sum.Jobs < 2 {
		t.Errorf("rxminer: %d logins, %d failed, %d jobs; want one connection throughout, none failed, a new job", sum.Logins, sum.Failed, sum.Jobs)
	}
	e2e.WaitRedisMatchesOf(t, rdb, "pastella", sum.Accepted)
	if !d.Running() {
		t.Fatal("the shared Pastellad is not running at the end")
	}
}
