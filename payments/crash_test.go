package payments

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet/wallettest"
)

// slowWallet serves the fake wallet API with a random delay before each
// call takes effect and another before its reply is written, so that kills
// land inside wallet calls: before a relay reached the wallet, and after
// it acted but before the process heard back.
type slowWallet struct {
	h   http.Handler
	max time.Duration
}

func (s slowWallet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(rand.N(s.max))
	s.h.ServeHTTP(slowReply{w, s.max}, r)
}

// slowReply delays the fake's reply: it writes every reply on the hijacked
// connection, after acting.
type slowReply struct {
	http.ResponseWriter
	max time.Duration
}

func (s slowReply) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	time.Sleep(rand.N(s.max))
	return s.ResponseWriter.(http.Hijacker).Hijack()
}

// crashRuns is how many times the payments process is killed (≥ 200 by
// default; RXPOOL_CRASH_RUNS overrides it for longer soaks).
func crashRuns(t *testing.T) int {
	if v := os.Getenv("RXPOOL_CRASH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 200
}

// TestCrashExactlyOnce runs the real pool binary with only payments
// enabled against a test Redis and the fake Pastella wallet API (served by
// this process, so it outlives every payments process), kills it with
// SIGKILL at random points, restarts it, and after every kill checks: the
// audit passes (`pool audit`), Σ credited = Σ balances + pending + paid,
// and every transaction the wallet relayed belongs to exactly one journal
// record with the same amounts, none of them failed. A record halted on an
// unknown transaction is settled by hand as an operator would
// (`pool payments resolve`), after checking the wallet never relayed it.
// At the end a last process runs undisturbed until everything due is paid.
func TestCrashExactlyOnce(t *testing.T) {
	runs := crashRuns(t)
	started := time.Now()
	bin := testenv.BuildBinary(t, "rxpool/cmd/pool")
	rds := testenv.NewRedis(t)
	ctx := context.Background()

	fake := wallettest.New(wallettest.Options{Unlocked: 1 << 55})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: slowWallet{fake.Handler(), 3 * time.Millisecond}}
	go srv.Serve(ln)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pool.json")
	logPath := filepath.Join(dir, "pool.log")
	const prefix = "crash"
	writeConfig := func(minerPays, dynamic bool) {
		cfg := map[string]any{
			"coin": "pastella", "poolAddress": fake.PrimaryAddress(),
			"daemon":  map[string]any{"port": port}, // the fake answers the daemon's transaction lookups
			"stratum": map[string]any{"enabled": false}, "api": map[string]any{"enabled": false},
			"blockUnlocker": map[string]any{"enabled": false},
			"log":           map[string]any{"level": "info", "file": logPath},
			"walletApi": map[string]any{"port": port, "apiKey": fake.APIKey(), "walletFile": wallettest.DefaultFile,
				"walletPassword": wallettest.DefaultPassword, "timeout": 2000},
			"payments": map[string]any{"enabled": true, "interval": 1, "minPayment": 100_000, "denomination": 1000,
				"transferFee": 1000, "minerPayFee": minerPays, "dynamicTransferFee": dynamic, "maxAddresses": 5,
				"maxTransactionAmount": 4_000_000},
			"redis": map[string]any{"socket": rds.Socket, "prefix": prefix},
		}
		b, _ := json.Marshal(cfg)
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(true, true)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: prefix}, cryptonote.Pastella, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(ctx)
	rdb := rds.Client()
	defer rdb.Close()
	leaseKey := "{" + prefix + "}:payments:lease"

	var miners []string
	for i := 1; i <= 30; i++ {
		miners = append(miners, wallettest.Address(i))
	}
	credited := map[string]uint64{}
	credit := func() {
		m := map[string]uint64{}
		for _, i := range rand.Perm(len(miners))[:8] {
			m[miners[i]] = 50_000 + rand.Uint64N(1_500_000)
			credited[miners[i]] += m[miners[i]]
		}
		fund(t, store, m)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "-config", cfgPath)
		cmd.Env = append(os.Environ(), envInterval+"=50ms", envLease+"=150ms", envStepPause+"=3ms", envRelayGrace+"=100ms")
		out, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	poolTry := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"-config", cfgPath}, args...)...).CombinedOutput()
		return string(out), err
	}
	pool := func(args ...string) string {
		out, err := poolTry(args...)
		if err != nil {
			t.Fatalf("pool %v: %v\n%s\n(log: %s)", args, err, out, logPath)
		}
		return out
	}
	// check proves the invariants with nothing running.
	check := func(run int) {
		t.Helper()
		if out := pool("audit"); !strings.Contains(out, "audit passed") {
			t.Fatalf("run %d: %s", run, out)
		}
		have := new(big.Int)
		var want uint64
		for a, c := range credited {
			b, err := store.Balance(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			sum := new(big.Int).Add(big.NewInt(b.Balance), new(big.Int).SetUint64(b.PendingPayment))
			sum.Add(sum, new(big.Int).SetUint64(b.Paid))
			if sum.Cmp(new(big.Int).SetUint64(c)) != 0 {
				t.Fatalf("run %d: %s: credited %d, balance + pending + paid = %s (%+v)", run, a, c, sum, b)
			}
			have.Add(have, sum)
			want += c
		}
		if have.Cmp(new(big.Int).SetUint64(want)) != 0 {
			t.Fatalf("run %d: Σ credited %d, Σ balances + pending + paid %s", run, want, have)
		}
		checkLedger(t, store, fakeLedger(fake))
	}

	kills := map[string]int{}
	resolved, refusedResolve, lastRecords := 0, 0, 0
	modes := []struct {
		name               string
		minerPays, dynamic bool
	}{{"pool pays", false, false}, {"fixed fee", true, false}, {"dynamic fee", true, true}}
	for run := 1; run <= runs; run++ {
		credit()
		if run%10 == 0 {
			fake.MineBlock()
		}
		m := modes[rand.N(len(modes))]
		writeConfig(m.minerPays, m.dynamic)
		before, _ := rdb.Get(ctx, leaseKey).Result()
		cmd := start()
		if rand.N(5) == 0 {
			// Anywhere: start-up, waiting for the dead process's lease, recovery...
			time.Sleep(rand.N(250 * time.Millisecond))
		} else {
			// Inside its payments run: once it holds a lease of its own.
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				if tok, _ := rdb.Get(ctx, leaseKey).Result(); tok != "" && tok != before {
					break
				}
				time.Sleep(500 * time.Microsecond)
			}
			time.Sleep(rand.N(45 * time.Millisecond))
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		// Where did the kill land?
		open, err := store.OpenPayments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs, _ := store.Payments(ctx, 0, 1)
		newest := 0
		if len(recs) > 0 {
			newest = int(recs[0].ID)
		}
		where := "before its first journal write (start-up, lease, recovery)"
		if newest > lastRecords {
			where = "between payment records (after sent/failed)"
		}
		for _, r := range open {
			if int(r.ID) <= lastRecords {
				continue // left open by an earlier kill, counted then
			}
			where = r.State
			if r.State == storage.PaymentRelaying {
				if tx, ok := fake.Tx(r.TxHash); ok && (tx.State == wallettest.TxPending || tx.State == wallettest.TxConfirmed) {
					where += " (the wallet had relayed it)"
				} else {
					where += " (the wallet had not relayed it)"
				}
			}
		}
		kills[where]++
		lastRecords = newest
		check(run)

		// The operator settles records the wallet never relayed (a kill
		// between marking relaying and the relay reaching the wallet, or a
		// relay the wallet dropped); the payments process itself would stay
		// halted on them, as it must. `resolve failed` makes the wallet drop
		// the transaction first and refuses if the wallet has it: a relay
		// of the killed process may still be on its way.
		for _, r := range open {
			if r.State != storage.PaymentRelaying {
				continue
			}
			if tx, _ := fake.Tx(r.TxHash); tx.State == wallettest.TxPending || tx.State == wallettest.TxConfirmed {
				continue // the next process's lookup settles it sent
			}
			if halts, _ := store.HaltedPayments(ctx); len(halts) == 0 && run < runs && rand.N(2) == 0 {
				continue // let a process find it and halt first, sometimes
			}
			out, err := poolTry("payments", "resolve", strconv.FormatUint(r.ID, 10), "failed", "not relayed, checked in the wallet")
			switch {
			case err == nil:
				resolved++
			case strings.Contains(out, "it was sent"):
				refusedResolve++ // the late relay landed: the lookup settles it sent
			default:
				t.Fatalf("resolve: %v\n%s", err, out)
			}
			check(run)
		}
	}

	// A last process runs undisturbed until everything due is paid.
	writeConfig(true, true)
	before, _ := rdb.Get(ctx, leaseKey).Result()
	cmd := start()
	deadline := time.Now().Add(20 * time.Second)
	for tok := before; tok == "" || tok == before; tok, _ = rdb.Get(ctx, leaseKey).Result() {
		if time.Now().After(deadline) {
			t.Fatalf("the last process never took the lease (log %s)", logPath)
		}
		time.Sleep(time.Millisecond)
	}
	// settled: nothing open, nothing due. While the process runs, a record
	// can open or close between the two reads, so it is believed only once
	// the process has stopped.
	settled := func() (open, due int) {
		recs, _ := store.OpenPayments(ctx)
		bal, _ := store.PayableBalances(ctx)
		for _, v := range bal {
			if v >= 100_000 {
				due++
			}
		}
		return len(recs), due
	}
	for {
		open, due := settled()
		if open == 0 && due == 0 {
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("last process: %v", err)
			}
			if open, due = settled(); open == 0 && due == 0 {
				break
			}
			cmd = start()
		}
		if time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("not settled after the last run: %d open records, %d balances due (log %s)", open, due, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	check(runs + 1)

	// Everything relayed is accounted for exactly once: per address, the
	// wallet's total equals the sent records' amounts, and paid equals
	// their debits.
	sent, all := sentByRecords(t, store)
	got := fake.ReceivedAll()
	for a, c := range credited {
		b, _ := store.Balance(ctx, a)
		var debited uint64
		for _, r := range all {
			for _, d := range r.Dests {
				if d.Address == a && r.Paid() {
					debited += d.Debit
				}
			}
		}
		if got[a] != sent[a] || b.Paid != debited || b.PendingPayment != 0 || uint64(b.Balance)+b.Paid != c {
			t.Fatalf("%s: wallet sent %d, records %d; paid %d, debits %d; balance %+v; credited %d", a, got[a], sent[a], b.Paid, debited, b, c)
		}
	}
	states := map[string]int{}
	for _, r := range all {
		states[r.State+" by "+r.SettledBy]++
	}
	var lines []string
	for k, v := range kills {
		lines = append(lines, fmt.Sprintf("  %4d killed %s", v, k))
	}
	sort.Strings(lines)
	t.Logf("%d kills in %v; %d payment records (%v); %d transactions relayed; %d settled failed by hand after a halt, "+
		"%d times resolve refused (a late relay had landed); where the kills landed:\n%s",
		runs, time.Since(started).Round(time.Millisecond), len(all), states, len(fake.Relayed()), resolved, refusedResolve, strings.Join(lines, "\n"))
}

// The hidden knobs cmd/pool reads (cmd/pool/payments.go).
const (
	envInterval   = "RXPOOL_PAYMENTS_INTERVAL"
	envLease      = "RXPOOL_PAYMENTS_LEASE_TTL"
	envStepPause  = "RXPOOL_PAYMENTS_STEP_PAUSE"
	envRelayGrace = "RXPOOL_PAYMENTS_RELAY_GRACE"
)
