package e2e

// Failure behaviour of the pool binary on real programs: a daemon that
// goes away and comes back, failover to a second daemon, a wallet that
// goes away while a payment is due, Redis going away under mining, a
// SIGTERM under steady mining, and SIGHUP reopening the log file. Each
// test runs `pool` as an operator does and breaks the program it depends
// on with the real thing (monerod, monero-wallet-rpc, redis-server).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// highDiff is the regtest network difficulty while the pool mines: no
// share of a light-mode miner reaches it, so no block is found.
const highDiff = 1_000_000_000

// TestDaemonDownAndBack: with its only monerod stopped, the pool keeps its
// miners connected on their current job and keeps accepting (and
// recording) their shares, /health answers 503 naming the daemon's error;
// when monerod comes back on the same port with a chain that moved on,
// the miners get a job at the new height and /health is 200 again.
func TestDaemonDownAndBack(t *testing.T) {
	r := newMiningRig(t, nil)
	md, rdb, ctx, pool, base, addr := r.md, r.rdb, r.ctx, r.pool, r.base, r.addr
	startHeight, err := md.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}

	watcher := watchJobs(t, ctx, addr)
	first := watcher.waitHeight(t, startHeight, 30*time.Second)
	miner := StartMiner(t, addr, "rig")
	waitAccepted(t, rdb, 3, time.Minute, "shares before the daemon stops")

	md.Stop()
	h := WaitHealth(t, pool, base, 30*time.Second, "/health 503 with the daemon down", func(h *HealthReply) error {
		if h.Code != 503 || h.Status != "unhealthy" || len(h.Daemons) != 1 || h.Daemons[0].OK || h.Daemons[0].Error == "" {
			return fmt.Errorf("/health %d %+v", h.Code, h)
		}
		return nil
	})
	t.Logf("/health with the daemon down: %d, daemon error %q, redis ok %v", h.Code, h.Daemons[0].Error, h.Redis.OK)
	if !h.Redis.OK {
		t.Errorf("/health blames Redis too: %+v", h.Redis)
	}
	// The daemon is certainly down from here on: shares must keep being
	// accepted and recorded for the job the miners have.
	down, _ := poolCounters(t, rdb)
	waitAccepted(t, rdb, down+5, time.Minute, "shares accepted while the daemon is down")
	if j, n := watcher.last(); j.JobID != first.JobID || n != 1 {
		t.Errorf("the pool sent %d jobs without a daemon (newest %s at height %d), want the login job only", n, j.JobID, j.Height)
	}
	WaitLog(t, pool, "miners keep their current jobs", 10*time.Second)
	if miner.Exited() {
		t.Fatal("rxminer ended while the daemon was down")
	}

	// The network moves on while the daemon is away; it comes back on the
	// same port with the longer chain.
	advanceChain(t, md, 1)
	if err := md.Restart(highDiff); err != nil {
		t.Fatal(err)
	}
	watcher.waitHeight(t, startHeight+1, time.Minute)
	WaitHealth(t, pool, base, 30*time.Second, "/health 200 with the daemon back", func(h *HealthReply) error {
		if h.Code != 200 || !h.Daemons[0].OK {
			return fmt.Errorf("/health %d %+v", h.Code, h)
		}
		return nil
	})
	back, _ := poolCounters(t, rdb)
	waitAccepted(t, rdb, back+3, time.Minute, "shares on the new job")

	sum := miner.Stop(t)
	t.Logf("rxminer: %+v", sum)
	// Shares for the old tip sent within the grace window are accepted
	// (stale); anything else refused is a failure.
	OnlyRejected(t, sum, proto.ErrMsgBlockExpired)
	if sum.Jobs < 2 || sum.Logins != 1 {
		t.Errorf("rxminer saw %d jobs in %d logins; want the new job on the one connection", sum.Jobs, sum.Logins)
	}
	waitRedisMatches(t, rdb, sum.Accepted)
}

// TestDaemonFailover: with two daemons configured, stopping the first
// makes the pool switch to the second: the switch is logged, templates
// now come from the second daemon (the miners get its chain's next
// height; the RPC metrics show its get_block_template calls), /health stays
// 200 naming the dead one, and shares are accepted throughout.
func TestDaemonFailover(t *testing.T) {
	first := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: highDiff})
	// The second daemon's chain is one block ahead, so that jobs built
	// from its templates are told apart from the first one's.
	second := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := second.GenerateBlocks(ctx, 1, testenv.MoneroAddress(t, 900), nil); err != nil {
		t.Fatal(err)
	}
	if err := second.Restart(highDiff); err != nil {
		t.Fatal(err)
	}
	h1, err1 := first.Height(ctx)
	h2, err2 := second.Height(ctx)
	if err1 != nil || err2 != nil || h2 != h1+1 {
		t.Fatalf("heights %d (%v), %d (%v)", h1, err1, h2, err2)
	}
	rds := testenv.NewRedis(t)
	rdb := rds.Client()
	defer rdb.Close()
	ports := FreePorts(t, 2)
	daemons := fmt.Sprintf(`"daemons":[{"name":"first","host":"127.0.0.1","port":%d,"timeout":3000},
		{"name":"second","host":"127.0.0.1","port":%d,"timeout":3000}]`, first.RPCPort, second.RPCPort)
	pool := StartPool(t, ctx, miningConfig(t, daemons, ports[0], ports[1], rds.Socket))
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	pool.WaitOK(t, base+"/health", time.Minute)
	WaitStratum(t, pool, addr, time.Minute)

	watcher := watchJobs(t, ctx, addr)
	watcher.waitHeight(t, h1, 30*time.Second) // from the first daemon
	miner := StartMiner(t, addr, "rig")
	waitAccepted(t, rdb, 3, time.Minute, "shares on the first daemon's job")
	if n := SumPrefix(Scrape(t, base+"/metrics"), `rxpool_rpc_seconds_count{method="get_block_template",name="second"`); n != 0 {
		t.Fatalf("%v templates from the second daemon while the first one works", n)
	}

	first.Stop()
	WaitLog(t, pool, "daemon: switching from first to second", time.Minute)
	watcher.waitHeight(t, h2, time.Minute) // from the second daemon
	WaitFor(t, 30*time.Second, "templates from the second daemon in /metrics", func() error {
		if n := SumPrefix(Scrape(t, base+"/metrics"), `rxpool_rpc_seconds_count{method="get_block_template",name="second"`); n < 1 {
			return fmt.Errorf("%v get_block_template calls to the second daemon", n)
		}
		return nil
	})
	h := WaitHealth(t, pool, base, 30*time.Second, "/health naming the dead daemon", func(h *HealthReply) error {
		if h.Code != 200 || len(h.Daemons) != 2 || h.Daemons[0].OK || !h.Daemons[1].OK {
			return fmt.Errorf("/health %d %+v", h.Code, h)
		}
		return nil
	})
	t.Logf("/health after the switch: %d; first: %q", h.Code, h.Daemons[0].Error)
	switched, _ := poolCounters(t, rdb)
	waitAccepted(t, rdb, switched+5, time.Minute, "shares on the second daemon's job")

	sum := miner.Stop(t)
	t.Logf("rxminer: %+v", sum)
	OnlyRejected(t, sum, proto.ErrMsgBlockExpired)
	if sum.Failed != 0 || sum.Logins != 1 || sum.Jobs < 2 {
		t.Errorf("rxminer: %d failed, %d logins, %d jobs; want none failed, one connection, the second daemon's job", sum.Failed, sum.Logins, sum.Jobs)
	}
	waitRedisMatches(t, rdb, sum.Accepted)
}

// TestWalletDownAndBack: the payments module runs with monero-wallet-rpc;
// the wallet stops, then a balance becomes due. Payments pause with a
// clear log line, nothing moves in Redis (balance kept, no payment record,
// `pool audit` passes). The wallet RPC starts again on the same port and
// wallet directory (with no wallet open, as `monero-wallet-rpc
// --wallet-dir` comes up; the pool opens walletApi.walletFile again), and
// the due payment is made exactly once: the receiving wallet gets exactly
// the amount of the one payment record, and the audit passes.
func TestWalletDownAndBack(t *testing.T) {
	// The pool wallet needs unlocked coinbase outputs and ring members.
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 120})
	recv := testenv.NewWallet(t, rt.Daemon, "miner")
	rds := testenv.NewRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	apiPort := FreePorts(t, 1)[0]
	const interval = 2 // seconds between payment runs
	cfg := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"stratum":{"enabled":false},"blockUnlocker":{"enabled":false},
		"payments":{"enabled":true,"interval":%d},
		"walletApi":{"host":"127.0.0.1","port":%d,"walletFile":%q,"timeout":20000},
		"redis":{"socket":%q},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0}}`,
		rt.Wallet.Address, rt.Daemon.RPCPort, interval, rt.Wallet.Port, rt.Wallet.Name, rds.Socket, apiPort)
	pool := StartPool(t, ctx, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	pool.WaitOK(t, base+"/health", time.Minute)
	WaitLog(t, pool, "payments: lease acquired", 30*time.Second)
	store := OpenStore(t, rds, "monero", cryptonote.Monero)

	rt.Wallet.Stop()
	WaitHealth(t, pool, base, 30*time.Second, "/health 503 with the wallet down", func(h *HealthReply) error {
		if h.Code != 503 || h.Wallet == nil || h.Wallet.OK || h.Wallet.Error == "" {
			return fmt.Errorf("/health %d %+v", h.Code, h)
		}
		return nil
	})
	// A balance becomes due while the wallet is away.
	const amount = 1_234_567_891_234 // 1.234… XMR; 0.0000678… stays (denomination 0.0001)
	Fund(t, store, map[string]uint64{recv.Address: amount})
	// Payments pause with one clear line, and runs keep failing quietly
	// before anything is recorded.
	WaitLog(t, pool, "payments: PAUSED, wallet unavailable: wallet wallet-rpc: get_address: ", 30*time.Second)
	time.Sleep(3 * interval * time.Second)
	if n := strings.Count(pool.Output(), "payments: PAUSED"); n != 1 {
		t.Errorf("the pause is logged %d times, want once", n)
	}
	if b := BalanceOf(t, store, recv.Address); b.Balance != amount || b.PendingPayment != 0 || b.Paid != 0 {
		t.Fatalf("with the wallet down: %+v, want the balance %d untouched", b, amount)
	}
	if recs, err := store.Payments(ctx, 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("payment records with the wallet down: %v, %v", recs, err)
	}
	PoolAudit(t, pool)

	if err := rt.Wallet.Restart(false); err != nil {
		t.Fatal(err)
	}
	var rec *storage.PaymentRecord
	WaitFor(t, time.Minute, "the due payment", func() error {
		recs, err := store.Payments(ctx, 0, 10)
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[0].State != storage.PaymentSent {
			return fmt.Errorf("records %+v", recs)
		}
		rec = recs[0]
		return nil
	})
	if len(rec.Dests) != 1 || rec.Dests[0].Address != recv.Address {
		t.Fatalf("payment %+v", rec)
	}
	dest := rec.Dests[0]
	WaitLog(t, pool, "payments: resumed: wallet wallet-rpc answers again", 10*time.Second)
	WaitLog(t, pool, "wallet opened again", 10*time.Second)
	// Several more runs: nothing is paid twice.
	time.Sleep(3 * interval * time.Second)
	if _, err := rt.Daemon.GenerateBlocks(ctx, 1, testenv.MoneroAddress(t, 901), nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := recv.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != dest.Amount || dest.Amount != dest.Debit || dest.Debit != amount-amount%100_000_000 {
		t.Fatalf("the receiving wallet holds %d; the record says sent %d, debited %d (balance was %d)", got, dest.Amount, dest.Debit, amount)
	}
	recs, err := store.Payments(ctx, 0, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("payment records after the wallet came back: %v, %v", recs, err)
	}
	if b := BalanceOf(t, store, recv.Address); b.Balance != int64(amount-dest.Debit) || b.Paid != dest.Debit || b.PendingPayment != 0 {
		t.Fatalf("after the payment: %+v", b)
	}
	if st, err := store.PaymentStats(ctx); err != nil || st.Sent != 1 || st.Failed != 0 {
		t.Fatalf("payment stats %+v, %v; want one sent", st, err)
	}
	t.Logf("paid %d in %s (fee %d)", dest.Amount, rec.TxHash, rec.Fee)
	PoolAudit(t, pool)
}

// TestRedisDownAndBack: with Redis stopped under a mining rxminer, shares
// are refused with "Pool storage unavailable, share not recorded" rather
// than accepted and lost, the pool keeps running and /health answers 503
// naming Redis; once Redis is back, shares are accepted and recorded again
// and /health is 200. In the end Redis holds exactly the shares the miner
// saw accepted: none is lost, none that was refused is counted.
func TestRedisDownAndBack(t *testing.T) {
	// A pool's Redis keeps its data across a restart (testenv's runs
	// without persistence): save on shutdown, load on start.
	r := newMiningRig(t, func(ctx context.Context, rdb *redis.Client) error {
		return rdb.ConfigSet(ctx, "save", "3600 1").Err()
	})
	rds, rdb, pool, base, addr := r.rds, r.rdb, r.pool, r.base, r.addr
	miner := StartMiner(t, addr, "rig")
	waitAccepted(t, rdb, 3, time.Minute, "shares before Redis stops")

	rds.Stop()
	h := WaitHealth(t, pool, base, 30*time.Second, "/health 503 with Redis down", func(h *HealthReply) error {
		if h.Code != 503 || h.Redis.OK || h.Redis.Error == "" {
			return fmt.Errorf("/health %d %+v", h.Code, h)
		}
		return nil
	})
	t.Logf("/health with Redis down: %d, redis error %q", h.Code, h.Redis.Error)
	WaitFor(t, time.Minute, "shares refused for storage", func() error {
		if n := Scrape(t, base+"/metrics")["rxpool_shares_storage_errors_total"]; n < 3 {
			return fmt.Errorf("%v shares refused for storage", n)
		}
		return nil
	})
	WaitLog(t, pool, "storage: redis unavailable, refusing shares", 10*time.Second)
	if !pool.Running() || miner.Exited() {
		t.Fatalf("with Redis down: pool running %v, miner running %v", pool.Running(), !miner.Exited())
	}

	if err := rds.Start(); err != nil {
		t.Fatal(err)
	}
	WaitHealth(t, pool, base, 30*time.Second, "/health 200 with Redis back", func(h *HealthReply) error {
		if h.Code != 200 || !h.Redis.OK {
			return fmt.Errorf("/health %d %+v", h.Code, h)
		}
		return nil
	})
	WaitLog(t, pool, "storage: redis is reachable again", 10*time.Second)
	back, _ := poolCounters(t, rdb)
	waitAccepted(t, rdb, back+3, time.Minute, "shares recorded after Redis is back")

	sum := miner.Stop(t)
	t.Logf("rxminer: %+v", sum)
	if sum.RejectedBy[proto.ErrMsgStorageDown] == 0 {
		t.Errorf("no share was refused with %q while Redis was down", proto.ErrMsgStorageDown)
	}
	OnlyRejected(t, sum, proto.ErrMsgStorageDown)
	if sum.Failed != 0 || sum.Logins != 1 {
		t.Errorf("rxminer: %d failed (%v), %d logins; want every share answered on one connection", sum.Failed, sum.FailedBy, sum.Logins)
	}
	waitRedisMatches(t, rdb, sum.Accepted)
}

// TestSIGTERMFlushesShares: rxminer mines without pause while the pool is
// stopped with SIGTERM and started again on the same ports and Redis, a
// few times over, each SIGTERM sent while storage holds accepted shares it
// has not written yet (it batches them for up to 100 ms). Every stop exits
// 0 having written them, so in the end the miner's own count of accepted
// shares equals the accepted shares in Redis.
func TestSIGTERMFlushesShares(t *testing.T) {
	const restarts = 3
	r := newMiningRig(t, nil)
	rdb, pool, base, addr := r.rdb, r.pool, r.base, r.addr
	miner := StartMiner(t, addr, "rig")

	var earlier uint64 // accepted shares recorded by the pool's earlier runs
	for i := 0; i < restarts; i++ {
		// Wait for a moment when this run has accepted shares (its
		// metrics count them as they are accepted) that Redis does not
		// hold yet, and stop the pool right then.
		var accepted, recorded uint64
		WaitFor(t, time.Minute, fmt.Sprintf("accepted shares not yet written (run %d)", i+1), func() error {
			accepted = uint64(Scrape(t, base+"/metrics")[`rxpool_shares_accepted_total{scheme="pplns"}`])
			recorded, _ = poolCounters(t, rdb)
			if accepted < 3 || earlier+accepted <= recorded {
				return fmt.Errorf("this run accepted %d, Redis holds %d of them", accepted, recorded-earlier)
			}
			return nil
		})
		if err := pool.stop(syscall.SIGTERM, time.Minute); err != nil {
			t.Fatalf("SIGTERM %d: the pool exited with %v", i+1, err)
		}
		now, _ := poolCounters(t, rdb)
		t.Logf("run %d: SIGTERM with %d accepted shares not written when last checked; %d recorded in all after the stop", i+1, earlier+accepted-recorded, now-earlier)
		if now-earlier < accepted {
			t.Errorf("run %d: accepted %d shares (at least), Redis holds %d after SIGTERM", i+1, accepted, now-earlier)
		}
		earlier = now
		if miner.Exited() {
			t.Fatal("rxminer ended with the pool")
		}
		pool.start(t)
		pool.WaitOK(t, base+"/health", time.Minute)
	}
	last, _ := poolCounters(t, rdb)
	waitAccepted(t, rdb, last+3, time.Minute, "shares after the last restart")

	sum := miner.Stop(t)
	t.Logf("rxminer: %+v", sum)
	if sum.Logins < restarts+1 {
		t.Errorf("rxminer logged in %d times over %d restarts", sum.Logins, restarts)
	}
	// A share the pool was verifying when it got SIGTERM is answered
	// (accepted) before the connection closes; only shares it had not
	// read yet go unanswered (failed, connection closed), and those are
	// not recorded either.
	if sum.Rejected != 0 {
		t.Errorf("%d shares rejected across the restarts: %v", sum.Rejected, sum.RejectedBy)
	}
	out := pool.Output()
	if n := strings.Count(out, "rxpool stopping"); n < restarts {
		t.Errorf("%d clean stops logged, want %d", n, restarts)
	}
	if strings.Contains(out, "final flush") || strings.Contains(out, "not written at close") {
		t.Error("storage did not flush at SIGTERM (see the log)")
	}
	waitRedisMatches(t, rdb, sum.Accepted)
}

// TestSIGHUPReopensLogFile: with log.file set, a rotation as
// deploy/logrotate/rxpool does it (rename the file, create an empty one at
// the path, SIGHUP) makes the pool write its new lines to the new file,
// while the renamed one keeps what it had and gets nothing more.
func TestSIGHUPReopensLogFile(t *testing.T) {
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: highDiff})
	rds := testenv.NewRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "pool.log")
	rotated := logPath + ".1"
	ports := FreePorts(t, 2)
	// At debug level every login is logged with its worker name: the
	// test's markers.
	pool := StartPool(t, ctx, miningConfig(t, daemonJSON(md), ports[0], ports[1], rds.Socket,
		fmt.Sprintf(`"log":{"level":"debug","format":"text","file":%q}`, logPath)))
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []string{logPath, rotated} {
				b, _ := os.ReadFile(p)
				t.Logf("%s:\n%s", p, Tail(string(b), 3000))
			}
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	WaitStratum(t, pool, addr, time.Minute)
	contains := func(path, s string) bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), s)
	}
	login := func(worker string) {
		t.Helper()
		conn, err := client.Dial(ctx, addr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Login(ctx, client.LoginParams{Login: testenv.MoneroAddress(t, 1), Pass: worker, Agent: "e2e", Algo: []string{proto.Algo}}); err != nil {
			t.Fatal(err)
		}
	}
	waitMarker := func(path, worker string) {
		t.Helper()
		WaitFor(t, 30*time.Second, worker+" in "+filepath.Base(path), func() error {
			if !contains(path, "worker="+worker+" ") && !contains(path, "worker="+worker+"\n") {
				return errNotYet
			}
			return nil
		})
	}

	login("before-rotation")
	waitMarker(logPath, "before-rotation")
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath, nil, 0o640); err != nil { // logrotate's create
		t.Fatal(err)
	}
	pool.signal(t, syscall.SIGHUP)
	// Log in until a line reaches the new file: the signal is handled
	// asynchronously.
	n := 0
	WaitFor(t, 30*time.Second, "a line in the new file", func() error {
		n++
		login(fmt.Sprintf("probe-%d", n))
		time.Sleep(200 * time.Millisecond)
		if !contains(logPath, "worker=probe-") {
			return errNotYet
		}
		return nil
	})
	old, err := os.Stat(rotated)
	if err != nil {
		t.Fatal(err)
	}
	login("after-rotation")
	waitMarker(logPath, "after-rotation")
	if !pool.Running() {
		t.Fatal("the pool exited on SIGHUP")
	}
	if now, err := os.Stat(rotated); err != nil || now.Size() != old.Size() {
		t.Errorf("the rotated file changed after the reopen (%v)", err)
	}
	switch {
	case !contains(rotated, "rxpool running") || !contains(rotated, "worker=before-rotation"):
		t.Error("the rotated file lost its lines")
	case contains(rotated, "worker=after-rotation"):
		t.Error("a line logged after the reopen went to the rotated file")
	case contains(logPath, "worker=before-rotation") || contains(logPath, "rxpool running"):
		t.Error("the new file has lines from before the rotation")
	}
	if err := pool.stop(syscall.SIGTERM, time.Minute); err != nil {
		t.Fatalf("stopping the pool: %v", err)
	}
	if !contains(logPath, "rxpool stopping") || contains(rotated, "rxpool stopping") {
		t.Error("the shutdown was not logged to the new file only")
	}
}
