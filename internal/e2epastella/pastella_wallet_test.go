package e2epastella

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

// The pool binary paying through the real Pastella-Wallet-API of the
// shared chain while that API restarts or dies at the worst moments: the
// pool opens the wallet again by itself, settles a payout whose relay had
// no answer from what the wallet and the daemon know, and never pays
// twice.

// relayPath is the Wallet-API's relay of a prepared transaction.
const relayPath = "/transactions/send/prepared"

// killMode says when walletProxy kills the Wallet-API on the next relay.
type killMode int

const (
	killNever       killMode = iota
	killBeforeRelay          // the relay never reaches the API
	killAfterRelay           // the API relays, then dies before its reply is passed on
)

// hookAt is when a walletProxy hook runs around the request it waits for.
type hookAt int

const (
	hookBefore   hookAt = iota // before the request is forwarded
	hookAnswered               // the API answered; its reply not yet passed on
	hookReplied                // the reply was passed on to the pool
)

// proxyHook runs fn once, on the next request for route ("POST /path"),
// at at. status is the API's HTTP status (0 before forwarding, or when it
// gave no answer). When fn returns true the pool's connection is closed
// with no reply (and, at hookBefore, the request is not forwarded); at
// hookReplied that is too late and ignored.
type proxyHook struct {
	route string
	at    hookAt
	fn    func(status int) (hangUp bool)
}

// walletProxy stands between the pool and the Wallet-API on loopback: it
// forwards every call, and runs a hook, when one is set, around the next
// request for its route. arm's hooks kill the API on the next relay,
// before forwarding it or after the API answered it, and close the pool's
// connection without a reply.
type walletProxy struct {
	wallet *testenv.PastellaWallet
	target *url.URL
	fwd    *httputil.ReverseProxy
	port   int
	killed chan int // the relay's status from the API (0 when not forwarded), once it was killed

	mu   sync.Mutex
	hook *proxyHook
}

func startWalletProxy(t *testing.T, w *testenv.PastellaWallet) *walletProxy {
	t.Helper()
	target, err := url.Parse(w.URL())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &walletProxy{wallet: w, target: target, fwd: httputil.NewSingleHostReverseProxy(target),
		port: ln.Addr().(*net.TCPAddr).Port, killed: make(chan int, 1)}
	// With the API down the pool sees what it would without the proxy: a
	// connection that ends with no reply, not a 502.
	p.fwd.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { hangUp(w) }
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// arm makes the next relay request kill the API as mode says.
func (p *walletProxy) arm(mode killMode) {
	if mode == killNever {
		p.on("", hookBefore, nil)
		return
	}
	at := hookBefore
	if mode == killAfterRelay {
		at = hookAnswered
	}
	p.on(http.MethodPost+" "+relayPath, at, func(status int) bool {
		p.wallet.Kill()
		p.killed <- status
		return true
	})
}

// on sets the hook for the next request for route (a nil fn clears it).
func (p *walletProxy) on(route string, at hookAt, fn func(status int) (hangUp bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hook = nil
	if fn != nil {
		p.hook = &proxyHook{route: route, at: at, fn: fn}
	}
}

func (p *walletProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	h := p.hook
	if h != nil && h.route == r.Method+" "+r.URL.Path {
		p.hook = nil
	} else {
		h = nil
	}
	p.mu.Unlock()
	if h == nil {
		p.fwd.ServeHTTP(w, r)
		return
	}
	if h.at == hookBefore && h.fn(0) {
		hangUp(w)
		return
	}
	// Forwarded whole, so the hook runs between the API's answer and the
	// pool reading it.
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = p.target.Scheme, p.target.Host, p.target.Host, ""
	status, header, body := 0, http.Header{}, []byte(nil)
	if resp, err := http.DefaultTransport.RoundTrip(out); err == nil {
		if body, err = io.ReadAll(resp.Body); err == nil {
			status, header = resp.StatusCode, resp.Header
		}
		resp.Body.Close()
	}
	if h.at == hookAnswered && h.fn(status) || status == 0 {
		hangUp(w)
		if h.at == hookReplied {
			h.fn(0)
		}
		return
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	w.(http.Flusher).Flush()
	if h.at == hookReplied {
		h.fn(status)
	}
}

// hangUp closes the client's connection without a reply.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}

// pasWalletRig is a pool with only the payments module, paying through a
// walletProxy from the shared chain's pool wallet, with its own Redis.
type pasWalletRig struct {
	chain *testenv.PastellaChain
	proxy *walletProxy
	store *storage.Store
	pool  *e2e.PoolProc
	ctx   context.Context
	// credited is what the test made payable to each address.
	credited map[string]uint64
	// from is the chain's height when the rig started: the pool wallet is
	// the package's, so the audit reconciles only what it sent since.
	from string
}

// pasRelayGrace is how long the pool waits before a transaction neither
// the wallet nor the daemon has counts as never sent (RelayGrace; a
// minute in production).
const pasRelayGrace = 2 * time.Second

func newPasWalletRig(t *testing.T) *pasWalletRig {
	t.Helper()
	return newPasWalletRigWith(t, pasRigOptions{})
}

// pasRigOptions change what newPasWalletRigWith starts.
type pasRigOptions struct {
	// sentinel, when set, is the pool's Redis (redis.sentinel, with
	// minReplicaAcks left to its default) instead of a private Redis.
	sentinel *testenv.RedisSentinel
	// timeout bounds the rig's context; 6 minutes when 0.
	timeout time.Duration
	// chain is the chain to pay on; the package's shared one when nil.
	chain *testenv.PastellaChain
	// payments are more members of the payments section (`,"key":value`).
	payments string
}

func newPasWalletRigWith(t *testing.T, o pasRigOptions) *pasWalletRig {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 6 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	t.Cleanup(cancel)
	chain := o.chain
	if chain == nil {
		chain = testenv.SharedPastella(t)
	}
	var redisCfg []byte
	var store *storage.Store
	if o.sentinel != nil {
		sc := storage.SentinelConfig{MasterName: o.sentinel.MasterName(), Addrs: o.sentinel.Addrs()}
		redisCfg, _ = json.Marshal(map[string]any{"sentinel": sc})
		store = openStore(t, storage.Config{Sentinel: sc, Prefix: "pastella"})
	} else {
		rds := testenv.NewRedis(t)
		redisCfg, _ = json.Marshal(map[string]any{"socket": rds.Socket})
		store = e2e.OpenStore(t, rds, "pastella", cryptonote.Pastella)
	}
	proxy := startWalletProxy(t, chain.Pool)
	t.Setenv("RXPOOL_PAYMENTS_INTERVAL", "500ms")
	t.Setenv("RXPOOL_PAYMENTS_RELAY_GRACE", pasRelayGrace.String())
	w := chain.Pool
	cfg := fmt.Sprintf(`{"coin":"pastella","poolAddress":%q,
		"daemon":{"host":"127.0.0.1","port":%d,"timeout":5000},
		"walletApi":{"host":"127.0.0.1","port":%d,"apiKey":%q,"walletFile":%q,"walletPassword":%q,"timeout":15000},
		"stratum":{"enabled":false},"blockUnlocker":{"enabled":false},"api":{"enabled":false},
		"payments":{"enabled":true,"interval":1,"minPayment":1000000,"denomination":1%s},
		"log":{"level":"debug"},"redis":%s}`,
		w.Address, chain.Daemon.RPCPort, proxy.port, w.APIKey, w.File, w.Password, o.payments, redisCfg)
	height, err := chain.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &pasWalletRig{chain: chain, proxy: proxy, store: store,
		pool: e2e.StartPool(t, ctx, cfg), ctx: ctx, credited: map[string]uint64{}, from: strconv.FormatUint(height, 10)}
	e2e.WaitLog(t, r.pool, "payments: lease acquired", time.Minute)
	t.Cleanup(func() {
		// Leave the shared pool wallet as found: running, its wallet open
		// (the API answers 403 if it is open already).
		if !w.Running() {
			if err := w.Restart(true); err != nil {
				t.Errorf("restarting the pool wallet: %v", err)
			}
			return
		}
		if _, _, err := w.Do(context.Background(), http.MethodPost, "/wallet/open", w.OpenBody()); err != nil {
			t.Errorf("opening the pool wallet: %v", err)
		}
	})
	return r
}

// openStore opens the test's own view of the pool's Redis (warnings only),
// closed at cleanup.
func openStore(t *testing.T, cfg storage.Config) *storage.Store {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	store, err := storage.New(cfg, cryptonote.Pastella, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	return store
}

// fund makes amounts payable, as blocks of the pool would.
func (r *pasWalletRig) fund(t *testing.T, amounts map[string]uint64) {
	t.Helper()
	e2e.Fund(t, r.store, amounts)
	for a, v := range amounts {
		r.credited[a] += v
	}
}

// fundUntilKilled arms the proxy with mode, makes amounts payable and
// waits until the pool's relay has killed the Wallet-API. It returns the
// status the API answered the relay with (0: it never saw it).
func (r *pasWalletRig) fundUntilKilled(t *testing.T, mode killMode, amounts map[string]uint64) int {
	t.Helper()
	r.proxy.arm(mode)
	r.fund(t, amounts)
	select {
	case status := <-r.proxy.killed:
		return status
	case <-r.ctx.Done():
		t.Fatal("the pool never relayed")
		return 0
	}
}

// waitPaid waits until every credited address is paid in full and no
// payment is open, and returns the journal, newest first.
func (r *pasWalletRig) waitPaid(t *testing.T, timeout time.Duration) []*storage.PaymentRecord {
	t.Helper()
	var recs []*storage.PaymentRecord
	e2e.WaitFor(t, timeout, "every balance paid", func() error {
		if !r.pool.Running() {
			t.Fatal("the pool exited")
		}
		open, err := r.store.OpenPayments(r.ctx)
		if err != nil {
			return err
		}
		if len(open) > 0 {
			return fmt.Errorf("payment %d is %s", open[0].ID, open[0].State)
		}
		for a, c := range r.credited {
			if b := e2e.BalanceOf(t, r.store, a); b.Paid != c {
				return fmt.Errorf("%s: %+v, credited %d", a, b, c)
			}
		}
		recs, err = r.store.Payments(r.ctx, 0, 100)
		return err
	})
	return recs
}

// checkPaidOnce mines a block so the payouts are confirmed, then checks
// that each miner's own wallet holds exactly what the pool recorded as
// sent to it, that this is exactly what was credited (nothing lost,
// nothing paid twice), and that `pool audit` passes.
func (r *pasWalletRig) checkPaidOnce(t *testing.T, miners ...*testenv.PastellaWallet) {
	t.Helper()
	if _, err := r.chain.Daemon.MineBlocks(r.ctx, 1, testenv.PastellaBurnAddress, t.Logf); err != nil {
		t.Fatal(err)
	}
	recs, err := r.store.Payments(r.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]uint64{}
	for _, rec := range recs {
		if rec.State == storage.PaymentSent {
			for _, d := range rec.Dests {
				sent[d.Address] += d.Amount
			}
		}
	}
	for _, m := range miners {
		got, _, err := m.SyncedBalance(r.ctx)
		if err != nil {
			t.Fatal(err)
		}
		b := e2e.BalanceOf(t, r.store, m.Address)
		if got != sent[m.Address] || got != r.credited[m.Address] || b.Paid != got || b.Balance != 0 || b.PendingPayment != 0 {
			t.Errorf("%s: its wallet holds %d, the sent records say %d, credited %d; the books %+v", m.File, got, sent[m.Address], r.credited[m.Address], b)
		}
	}
	if err := r.chain.Pool.Synced(r.ctx); err != nil {
		t.Fatal(err)
	}
	if out := e2e.PoolAudit(t, r.pool, "-min-height", r.from); !strings.Contains(out, "reconciled with the wallet wallet-api") {
		t.Fatalf("the audit did not reconcile with the wallet:\n%s", out)
	}
}

// audit runs `pool audit` from the rig's start height and checks its exit
// status; it returns what it printed.
func (r *pasWalletRig) audit(t *testing.T, wantExit int) string {
	t.Helper()
	out, err := testenv.Run(r.pool.Bin, "-config", r.pool.Config, "audit", "-min-height", r.from)
	if code := exitCode(err); code != wantExit {
		t.Fatalf("pool audit: exit %d (%v), want %d\n%s", code, err, wantExit, out)
	}
	return string(out)
}

// settledBy lists the journal's records as "state by settledBy", oldest first.
func settledBy(recs []*storage.PaymentRecord) []string {
	out := make([]string, 0, len(recs))
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, recs[i].State+" by "+recs[i].SettledBy)
	}
	return out
}

// TestPastellaWalletRestartedBetweenPayouts: the Wallet-API restarts (it
// comes back with no wallet open) between two payouts; the pool opens the
// wallet again by itself, waits for it to rescan, and pays each balance
// exactly once.
func TestPastellaWalletRestartedBetweenPayouts(t *testing.T) {
	r := newPasWalletRig(t)
	m1, m2 := r.chain.NewWallet(t, "restart-m1"), r.chain.NewWallet(t, "restart-m2")
	r.fund(t, map[string]uint64{m1.Address: 50_000_000})
	r.waitPaid(t, time.Minute)

	r.chain.Pool.Stop()
	if err := r.chain.Pool.Restart(false); err != nil {
		t.Fatal(err)
	}
	r.fund(t, map[string]uint64{m1.Address: 20_000_000, m2.Address: 30_000_000})
	recs := r.waitPaid(t, 2*time.Minute)
	e2e.WaitLog(t, r.pool, "wallet API has no wallet open (restarted?); opening it again", time.Second)
	for _, rec := range recs {
		if rec.State != storage.PaymentSent || rec.SettledBy != storage.SettledByRelay {
			t.Errorf("payment %d: %s by %s (%s)", rec.ID, rec.State, rec.SettledBy, rec.Error)
		}
	}
	r.checkPaidOnce(t, m1, m2)
}

// TestPastellaWalletKilledBeforeRelay: the Wallet-API dies as the pool
// asks it to relay, before the request reaches it; the prepared
// transaction dies with it. Payments halt (nobody can tell yet whether it
// went out), and once the API is back the pool, having made sure the
// wallet can no longer relay it and that neither the wallet nor the
// daemon has it, settles it failed and pays the balance again, once.
func TestPastellaWalletKilledBeforeRelay(t *testing.T) {
	r := newPasWalletRig(t)
	m := r.chain.NewWallet(t, "killed-before-m")
	if status := r.fundUntilKilled(t, killBeforeRelay, map[string]uint64{m.Address: 40_000_000}); status != 0 {
		t.Fatalf("the API answered the relay (%d)", status)
	}
	e2e.WaitFor(t, 30*time.Second, "payments halted", func() error {
		if h, err := r.store.HaltedPayments(r.ctx); err != nil || len(h) != 1 {
			return fmt.Errorf("halts %+v, %v", h, err)
		}
		return nil
	})
	if b := e2e.BalanceOf(t, r.store, m.Address); b.PendingPayment != 40_000_000 || b.Paid != 0 {
		t.Fatalf("while halted: %+v", b)
	}
	if err := r.chain.Pool.Restart(false); err != nil {
		t.Fatal(err)
	}
	recs := r.waitPaid(t, 2*time.Minute)
	if got := settledBy(recs); len(got) != 2 || got[0] != "failed by lookup" || got[1] != "sent by relay" {
		t.Fatalf("payments %v, want the lost one failed by lookup, then one sent", got)
	}
	if h, _ := r.store.HaltedPayments(r.ctx); len(h) != 0 {
		t.Fatalf("still halted: %+v", h)
	}
	r.checkPaidOnce(t, m)
}

// TestPastellaWalletKilledAfterRelay: the Wallet-API relays the payout and
// dies before its answer reaches the pool, and before it saved: the
// restarted wallet does not know the transaction until it is mined. The
// daemon has it in its pool, and the pool settles the payment sent from
// that, even while the wallet is still down; it never pays it again.
func TestPastellaWalletKilledAfterRelay(t *testing.T) {
	r := newPasWalletRig(t)
	m := r.chain.NewWallet(t, "killed-after-m")
	if status := r.fundUntilKilled(t, killAfterRelay, map[string]uint64{m.Address: 45_000_000}); status != http.StatusCreated {
		t.Fatalf("the relay answered %d before the kill, want 201", status)
	}
	recs := r.waitPaid(t, time.Minute) // the Wallet-API is still down
	if got := settledBy(recs); len(got) != 1 || got[0] != "sent by lookup" {
		t.Fatalf("payments %v, want one sent by lookup", got)
	}
	e2e.WaitLog(t, r.pool, "payments: settled sent: the daemon reports the transaction pending", time.Second)
	if err := r.chain.Pool.Restart(false); err != nil {
		t.Fatal(err)
	}
	// A few runs with the wallet back: nothing is paid again.
	time.Sleep(3 * time.Second)
	if recs, _ := r.store.Payments(r.ctx, 0, 100); len(recs) != 1 {
		t.Fatalf("%d payment records, want 1: %v", len(recs), settledBy(recs))
	}
	r.checkPaidOnce(t, m)
}

// TestPastellaAuditReconcilesWithWallet: `pool audit` reconciles the payouts
// with what the real Pastella wallet sent, destinations read from the chain
// (the Wallet-API does not list them), and lists a transfer made from the
// pool wallet behind the pool's back, pending and mined, until the operator
// records it.
func TestPastellaAuditReconcilesWithWallet(t *testing.T) {
	r := newPasWalletRig(t)
	m1, m2 := r.chain.NewWallet(t, "audit-m1"), r.chain.NewWallet(t, "audit-m2")
	r.fund(t, map[string]uint64{m1.Address: 40_000_000})
	r.waitPaid(t, time.Minute)
	r.checkPaidOnce(t, m1)
	if out := r.audit(t, 0); !strings.Contains(out, "ok   payouts in the wallet: 1 sent or confirmed payouts are among the wallet's 1 outgoing") {
		t.Fatalf("audit after the payout:\n%s", out)
	}

	// Coins leave the pool wallet without the pool.
	const planted = 7_000_000
	status, body, err := r.chain.Pool.Do(r.ctx, http.MethodPost, "/transactions/send/basic", map[string]any{"destination": m2.Address, "amount": planted})
	var sent struct {
		Hash string `json:"transactionHash"`
	}
	if err != nil || status != http.StatusCreated || json.Unmarshal(body, &sent) != nil || len(sent.Hash) != 64 {
		t.Fatalf("send from the pool wallet: %d %s %v", status, body, err)
	}
	out := r.audit(t, 1)
	if want := fmt.Sprintf("tx %s (pending, height 0) sends %d to destinations the wallet does not list: neither a payout nor recorded", sent.Hash, planted); !strings.Contains(out, want) || !strings.Contains(out, "audit FAILED") {
		t.Fatalf("audit with an unrecorded pending transfer:\n%s\nwant %q", out, want)
	}
	if _, err := r.chain.Daemon.MineBlocks(r.ctx, 1, testenv.PastellaBurnAddress, t.Logf); err != nil {
		t.Fatal(err)
	}
	if err := r.chain.Pool.Synced(r.ctx); err != nil {
		t.Fatal(err)
	}
	out = r.audit(t, 1)
	if want := fmt.Sprintf("sends %d to %s %d: neither a payout nor recorded", planted, m2.Address, planted); !strings.Contains(out, sent.Hash) || !strings.Contains(out, want) {
		t.Fatalf("audit with an unrecorded mined transfer:\n%s\nwant %q", out, want)
	}
	t.Logf("audit with an unrecorded transfer:\n%s", out)
	if out, err := testenv.Run(r.pool.Bin, "-config", r.pool.Config, "payments", "record", sent.Hash, "moved to cold storage"); err != nil {
		t.Fatalf("payments record: %v\n%s", err, out)
	}
	if out := r.audit(t, 0); !strings.Contains(out, "1 payouts and 1 recorded operator transfers") || !strings.Contains(out, "audit passed") {
		t.Fatalf("audit after recording the transfer:\n%s", out)
	}
}

// exitCode is a finished command's exit status (-1: it did not run).
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		return -1
	}
	return 0
}
