package e2e

import (
	"bufio"
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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
)

var errNotYet = errors.New("not yet")

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(t *testing.T, n int) []int {
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

// WaitRedisMatchesOf is waitRedisMatches for the pool with Redis prefix
// prefix (the coin's name by default).
func WaitRedisMatchesOf(t *testing.T, rdb *redis.Client, prefix string, accepted uint64) {
	t.Helper()
	WaitFor(t, 10*time.Second, "exactly the accepted shares in Redis", func() error {
		if got, _ := PoolCountersOf(t, rdb, prefix); got != accepted {
			return fmt.Errorf("Redis counts %d accepted shares, the miner saw %d accepted", got, accepted)
		}
		return nil
	})
}

// OnlyRejected fails for every rejection other than allowed.
func OnlyRejected(t *testing.T, sum MinerSummary, allowed string) {
	t.Helper()
	for reason, n := range sum.RejectedBy {
		if reason != allowed {
			t.Errorf("%d shares rejected: %q", n, reason)
		}
	}
}

// PoolCountersOf reads the pool-wide share counters <prefix>:pool.
func PoolCountersOf(t *testing.T, rdb *redis.Client, prefix string) (accepted, rejected uint64) {
	t.Helper()
	m, err := rdb.HGetAll(context.Background(), prefix+":pool").Result()
	if err != nil {
		t.Fatalf("reading %s:pool: %v", prefix, err)
	}
	a, _ := strconv.ParseUint(m["accepted"], 10, 64)
	r, _ := strconv.ParseUint(m["rejected"], 10, 64)
	return a, r
}

// WaitAcceptedOf is waitAccepted for the pool with Redis prefix prefix.
func WaitAcceptedOf(t *testing.T, rdb *redis.Client, prefix string, n uint64, timeout time.Duration, what string) uint64 {
	t.Helper()
	var got uint64
	WaitFor(t, timeout, what, func() error {
		if got, _ = PoolCountersOf(t, rdb, prefix); got < n {
			return fmt.Errorf("%d accepted shares recorded, want ≥ %d", got, n)
		}
		return nil
	})
	return got
}

// HealthReply is GET /health.
type HealthReply struct {
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

func getHealth(base string) (*HealthReply, error) {
	resp, err := http.Get(base + "/health")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	h := &HealthReply{Code: resp.StatusCode}
	if err := json.Unmarshal(body, h); err != nil {
		return nil, fmt.Errorf("/health %d: %v: %s", resp.StatusCode, err, body)
	}
	return h, nil
}

// WaitHealth polls /health until ok accepts the reply, and returns it.
func WaitHealth(t *testing.T, p *PoolProc, base string, timeout time.Duration, what string, ok func(*HealthReply) error) *HealthReply {
	t.Helper()
	var h *HealthReply
	WaitFor(t, timeout, what, func() error {
		if !p.Running() {
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

// WaitLog waits until the pool's output contains s.
func WaitLog(t testing.TB, p *PoolProc, s string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, fmt.Sprintf("%q in the pool log", s), func() error {
		if !strings.Contains(p.Output(), s) {
			return errNotYet
		}
		return nil
	})
}

// MinerSummary is the part of rxminer's --json summary the tests read.
type MinerSummary struct {
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

// MinerProc is an rxminer mining in the background until stopped.
type MinerProc struct {
	cmd    *exec.Cmd
	Stdout bytes.Buffer
	Stderr testenv.SyncBuffer
	done   chan struct{}
	err    error
}

// StartMiner runs rxminer against addr with one light-mode thread,
// reconnecting every half second when the pool goes away.
func StartMiner(t *testing.T, addr, worker string, extra ...string) *MinerProc {
	t.Helper()
	args := append([]string{"-o", addr, "-u", testenv.MoneroAddress(t, 1), "-p", worker, "-t", "1", "--mode", "light",
		"--json", "--report", "1s", "--retry-pause", "500ms", "--duration", "10m"}, extra...)
	m := &MinerProc{cmd: exec.Command(testenv.BuildBinary(t, "rxpool/cmd/rxminer"), args...), done: make(chan struct{})}
	m.cmd.Stdout, m.cmd.Stderr = &m.Stdout, &m.Stderr
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
			t.Logf("rxminer %s stderr (tail):\n%s", worker, Tail(m.Stderr.String(), 4000))
		}
	})
	return m
}

// Stop asks rxminer to finish (SIGINT: in-flight submits are still
// answered) and returns its summary.
func (m *MinerProc) Stop(t *testing.T) MinerSummary {
	t.Helper()
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(time.Minute):
		_ = m.cmd.Process.Kill()
		<-m.done
		t.Fatalf("rxminer did not stop within a minute of SIGINT\n%s", Tail(m.Stderr.String(), 4000))
	}
	var s MinerSummary
	if err := json.Unmarshal(m.Stdout.Bytes(), &s); err != nil {
		t.Fatalf("rxminer summary (exit %v): %v\nstdout: %s\nstderr: %s", m.err, err, m.Stdout.String(), Tail(m.Stderr.String(), 4000))
	}
	return s
}

// Pause freezes rxminer (SIGSTOP): it finds no shares while the test
// changes the chain, and its connection stays open. Resume lets it go on.
func (m *MinerProc) Pause(t testing.TB) { m.signal(t, syscall.SIGSTOP) }

// Resume continues a paused rxminer (SIGCONT).
func (m *MinerProc) Resume(t testing.TB) { m.signal(t, syscall.SIGCONT) }

func (m *MinerProc) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("rxminer: %v: %v", sig, err)
	}
}

// Exited reports whether rxminer ended on its own.
func (m *MinerProc) Exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// WaitStratum waits until the pool's stratum port accepts connections (it
// opens once the pool has asked its daemon for a first block template,
// whatever the answer).
func WaitStratum(t *testing.T, p *PoolProc, addr string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, "the stratum port "+addr, func() error {
		if !p.Running() {
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

// Fund makes amounts payable the way the pool does: a (SOLO) block
// candidate is recorded and credited with exactly these amounts, so the
// ledger adds up. The coins themselves must be in the pool wallet.
func Fund(t *testing.T, store *storage.Store, amounts map[string]uint64) {
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

func BalanceOf(t *testing.T, store *storage.Store, addr string) storage.Balance {
	t.Helper()
	b, err := store.Balance(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// PoolAudit runs `pool -config … audit [args]`, as an operator checks the
// ledger, fails the test unless it passes and returns what it printed.
func PoolAudit(t *testing.T, p *PoolProc, args ...string) string {
	t.Helper()
	out, err := testenv.Run(p.Bin, append([]string{"-config", p.Config, "audit"}, args...)...)
	if err != nil || !strings.Contains(string(out), "audit passed") {
		t.Fatalf("pool audit: %v\n%s", err, out)
	}
	return string(out)
}

// Scrape reads a Prometheus text exposition into series → value.
func Scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
	}
	out, err := parseMetrics(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseMetrics reads a Prometheus text exposition into series → value.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return out, fmt.Errorf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

func SumPrefix(m map[string]float64, prefix string) float64 {
	var s float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			s += v
		}
	}
	return s
}

// DevnetSummary is the JSON summary `devnet -until-paid -json` prints.
type DevnetSummary struct {
	BlocksFound, BlocksConfirmed, PaymentsSent uint64
	MinerCredited, ExpectedCredit, MinerPaid   uint64
	MinerFeesPaid, MinerWalletReceived         uint64
	MinerBalance                               int64
	AuditPassed                                bool
}

// RunDevnetUntilPaid runs the devnet of coin with the pool configuration
// template (relative to the project root) in a fresh state directory until
// the miner's wallet has been paid, and checks the money in its summary.
// args are more devnet flags.
func RunDevnetUntilPaid(t *testing.T, coin, template string, args ...string) DevnetSummary {
	t.Helper()
	devnet := testenv.BuildBinary(t, "rxpool/cmd/devnet")
	testenv.BuildBinary(t, "rxpool/cmd/pool") // next to devnet, where it looks
	testenv.BuildBinary(t, "rxpool/cmd/rxminer")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "devnet")
	cmd := exec.CommandContext(ctx, devnet, append([]string{"-coin", coin, "-dir", dir, "-until-paid", "-json", "-timeout", "15m",
		"-config", filepath.Join(root, template), "-frontend", filepath.Join(root, "frontend/dist")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("devnet:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("devnet -until-paid: %v\n%s", err, out)
	}
	var sum DevnetSummary
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	for k, dst := range map[string]any{"blocks_found": &sum.BlocksFound, "blocks_confirmed": &sum.BlocksConfirmed,
		"payments_sent": &sum.PaymentsSent, "miner_credited": &sum.MinerCredited, "expected_credit": &sum.ExpectedCredit,
		"miner_paid": &sum.MinerPaid, "miner_fees_paid": &sum.MinerFeesPaid, "miner_wallet_received": &sum.MinerWalletReceived,
		"miner_balance": &sum.MinerBalance, "audit_passed": &sum.AuditPassed} {
		if err := json.Unmarshal(raw[k], dst); err != nil {
			t.Fatalf("summary field %s: %v (%s)", k, err, out)
		}
	}
	switch {
	case sum.BlocksFound == 0 || sum.BlocksConfirmed == 0 || sum.PaymentsSent == 0:
		t.Fatalf("no block found, unlocked or paid: %+v", sum)
	case sum.MinerCredited != sum.ExpectedCredit || sum.MinerCredited == 0:
		t.Fatalf("credited %d, confirmed blocks paid %d after fee", sum.MinerCredited, sum.ExpectedCredit)
	case sum.MinerWalletReceived != sum.MinerPaid || sum.MinerPaid == 0:
		t.Fatalf("the miner's wallet holds %d, the pool paid %d", sum.MinerWalletReceived, sum.MinerPaid)
	case uint64(sum.MinerBalance)+sum.MinerPaid+sum.MinerFeesPaid != sum.MinerCredited:
		t.Fatalf("balance %d + paid %d + fees %d ≠ credited %d", sum.MinerBalance, sum.MinerPaid, sum.MinerFeesPaid, sum.MinerCredited)
	case !sum.AuditPassed:
		t.Fatal("pool audit failed")
	}
	t.Logf("%+v", sum)
	return sum
}

// OpenStore opens the test's own view of a pool's Redis: keys under prefix,
// addresses of coin; closed at cleanup.
func OpenStore(t testing.TB, rds *testenv.Redis, prefix string, coin *cryptonote.Coin) *storage.Store {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	store, err := storage.New(storage.Config{Socket: rds.Socket, Prefix: prefix}, coin, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	return store
}
