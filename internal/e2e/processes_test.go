package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

// TestModulesAsProcesses runs the pool the way a split deployment does: two
// stratum processes sharing one port (SO_REUSEPORT) and two processes with
// the unlocker and payments modules, all on one Redis, with rxminer sessions
// spread over the stratum processes. It checks there is no double work: the
// stratum processes got distinct instance ids, only one unlocker and one
// payments process act while the others wait for the lease, the second
// takes over when the first stops, every block is credited once, and the
// miner's wallet holds exactly what the pool recorded as paid.
func TestModulesAsProcesses(t *testing.T) {
	const netDiff = 50
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 130, Difficulty: netDiff})
	miner := testenv.NewWallet(t, rt.Daemon, "miner")
	rds := testenv.NewRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf(`"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
		"walletApi":{"host":"127.0.0.1","port":%d},"redis":{"socket":%q,"prefix":"split"},
		"ports":{"%d":{"diff":100,"desc":"shared"}},"varDiff":{"minDiff":10,"targetTime":10},
		"randomx":{"mode":"light","workers":1}`,
		rt.Wallet.Address, rt.Daemon.RPCPort, rt.Wallet.Port, rds.Socket, port)
	modules := func(stratum, work bool) string {
		return fmt.Sprintf(`{%s,"stratum":{"enabled":%v,"bindIp":"127.0.0.1","blockRefreshInterval":500,"templateRefreshInterval":5},
			"blockUnlocker":{"enabled":%v,"interval":2,"depth":60,"poolFee":1,"finderReward":0.5},
			"payments":{"enabled":%v,"interval":5,"minPayment":10000000000,"denomination":100000000},"api":{"enabled":false}}`,
			base, stratum, work, work)
	}
	stratumA := StartPool(t, ctx, modules(true, false))
	stratumB := StartPool(t, ctx, modules(true, false))
	worker1 := StartPool(t, ctx, modules(false, true))
	WaitLog(t, worker1, "payments: lease acquired", time.Minute)
	worker2 := StartPool(t, ctx, modules(false, true))
	WaitLog(t, worker2, "another payments process holds the lease", time.Minute)
	WaitLog(t, worker2, "another unlocker process holds the lease", time.Minute)

	// Four sessions on the shared port: the kernel spreads them over the
	// two stratum processes.
	rxminer := testenv.BuildBinary(t, "rxpool/cmd/rxminer")
	mctx, stopMiner := context.WithCancel(ctx)
	mine := exec.CommandContext(mctx, rxminer, "-o", fmt.Sprintf("127.0.0.1:%d", port), "-u", miner.Address, "-p", "rig",
		"-t", "1", "--sessions", "4", "--mode", "light", "--report", "0", "--retry-pause", "1s")
	mine.Cancel = func() error { return mine.Process.Signal(os.Interrupt) }
	if err := mine.Start(); err != nil {
		t.Fatal(err)
	}
	mineDone := make(chan struct{})
	go func() { mine.Wait(); close(mineDone) }()
	defer func() { stopMiner(); <-mineDone }()

	WaitFor(t, 12*time.Minute, "a payout in the miner's wallet", func() error {
		total, _, err := miner.Balance(ctx)
		if err != nil || total == 0 {
			return fmt.Errorf("miner wallet %d (%v)", total, err)
		}
		return nil
	})
	stopMiner()
	<-mineDone

	// The lease holder stops: the waiting process takes both leases over.
	if err := worker1.stop(syscall.SIGTERM, time.Minute); err != nil {
		t.Fatalf("worker 1: %v", err)
	}
	WaitLog(t, worker2, "unlocker: took over the lease", time.Minute)
	WaitLog(t, worker2, "payments: lease acquired", time.Minute)

	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "split"}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	waitSettled(t, ctx, store, 15*time.Second)
	for _, p := range []*PoolProc{stratumA, stratumB, worker2} {
		if err := p.stop(syscall.SIGTERM, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rt.Daemon.GenerateBlocks(ctx, 1, testenv.MoneroAddress(t, 990), nil); err != nil {
		t.Fatal(err)
	}

	ids := map[string]bool{}
	for _, p := range []*PoolProc{stratumA, stratumB} {
		m := regexp.MustCompile(`stratum instance id (\d+)`).FindStringSubmatch(p.Output())
		if m == nil {
			t.Fatalf("no instance id in a stratum log:\n%s", p.Output())
		}
		ids[m[1]] = true
	}
	if len(ids) != 2 {
		t.Errorf("the two stratum processes share an instance id: %v", ids)
	}
	// Worker 2 settled nothing and paid nothing while worker 1 held the leases.
	out1, out2 := worker1.Output(), worker2.Output()
	// Everything worker 2 logged before it took its first lease over (the
	// two leases are taken in either order) must be waiting.
	cut := len(out2)
	for _, s := range []string{"unlocker: took over the lease", "payments: lease acquired"} {
		if i := strings.Index(out2, s); i >= 0 {
			cut = min(cut, i)
		}
	}
	if before := out2[:cut]; strings.Contains(before, "block confirmed and credited") || strings.Contains(before, "payments: sent") {
		t.Errorf("worker 2 worked while worker 1 held the leases:\n%s", before)
	}
	if !strings.Contains(out1, "block confirmed and credited") {
		t.Errorf("worker 1 credited no block:\n%s", out1)
	}
	credits := strings.Count(out1, "block confirmed and credited") + strings.Count(out2, "block confirmed and credited")
	tot, err := store.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(credits) != tot.Confirmed || tot.Confirmed == 0 {
		t.Errorf("%d credit log lines for %d confirmed blocks: a block was credited twice or silently", credits, tot.Confirmed)
	}
	bal, err := store.Balance(ctx, miner.Address)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := miner.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != bal.Sent() || got == 0 {
		t.Errorf("the miner's wallet holds %d, the pool paid it %d", got, bal.Sent())
	}
	rep, err := store.Audit(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit: %v\n%s", err, rep)
	}
	sum, _ := json.Marshal(map[string]any{"instances": ids, "confirmed": tot.Confirmed, "paid": bal.Sent()})
	t.Logf("split deployment: %s", sum)
}

// waitSettled waits until no payment record is open and none was settled
// for quiet (the chain no longer moves, so nothing new becomes payable).
func waitSettled(t *testing.T, ctx context.Context, store *storage.Store, quiet time.Duration) {
	t.Helper()
	var last uint64
	since := time.Now()
	WaitFor(t, 3*time.Minute, "payments to settle", func() error {
		open, err := store.OpenPayments(ctx)
		if err != nil {
			return err
		}
		ps, err := store.PaymentStats(ctx)
		if err != nil {
			return err
		}
		if len(open) > 0 || ps.Sent != last {
			last, since = ps.Sent, time.Now()
		}
		if time.Since(since) < quiet {
			return fmt.Errorf("%d open records, %d sent", len(open), ps.Sent)
		}
		return nil
	})
}
