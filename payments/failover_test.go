package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet"
)

// killAt is the payment step at which rpcProxy SIGKILLs the Redis master.
type killAt int

const (
	killNone          killAt = iota
	killBeforePrepare        // transfer arrives: kill, then forward it and reply
	killAfterPrepare         // transfer: forward, kill, then reply
	killBeforeRelay          // relay_tx arrives (relaying step acknowledged): kill, then forward and reply
	killAfterRelay           // relay_tx: forward, kill, then reply
	killBeforeSent           // relay_tx: forward, reply, then kill at once, racing the sent step
)

// killEvent is what rpcProxy did at the armed step.
type killEvent struct {
	old    string // the master it killed
	at     time.Time
	err    error
	status int // the wallet's HTTP status for the call (0: not answered)
}

// rpcProxy stands between the payments module and monero-wallet-rpc on
// loopback and forwards every JSON-RPC call. Armed, it SIGKILLs the Redis
// master at the step the armed killAt names, telling the call by the
// method in the request body (wallet.Monero prepares with "transfer",
// do_not_relay, and relays with "relay_tx"). The call itself always reaches
// the wallet, whatever the caller does meanwhile: only Redis crashes.
type rpcProxy struct {
	target string
	kill   func() (string, error)
	url    string
	events chan killEvent

	mu    sync.Mutex
	armed killAt
}

func startRPCProxy(t *testing.T, target string, kill func() (string, error)) *rpcProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rpcProxy{target: target, kill: kill, url: "http://" + ln.Addr().String() + "/json_rpc", events: make(chan killEvent, 1)}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *rpcProxy) arm(k killAt) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = k
}

func (p *rpcProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(body, &req)
	p.mu.Lock()
	mode := p.armed
	switch {
	case mode == killNone,
		(mode == killBeforePrepare || mode == killAfterPrepare) && req.Method != "transfer",
		mode >= killBeforeRelay && req.Method != "relay_tx":
		mode = killNone
	default:
		p.armed = killNone
	}
	p.mu.Unlock()
	var ev killEvent
	kill := func() { ev.at = time.Now(); ev.old, ev.err = p.kill() }
	if mode == killBeforePrepare || mode == killBeforeRelay {
		kill()
	}
	status, reply, err := p.forward(body)
	if mode == killAfterPrepare || mode == killAfterRelay {
		kill()
	}
	if err != nil {
		if conn, _, herr := w.(http.Hijacker).Hijack(); herr == nil {
			conn.Close()
		}
	} else {
		// A complete reply the caller reads at once, before a kill that
		// follows it.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
		w.WriteHeader(status)
		_, _ = w.Write(reply)
		w.(http.Flusher).Flush()
		ev.status = status
	}
	if mode == killBeforeSent {
		kill()
	}
	if mode != killNone {
		p.events <- ev
	}
}

// forward makes the call on the wallet, whether or not the caller still
// waits for it.
func (p *rpcProxy) forward(body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// failoverTopology is a Redis deployment TestFailoverPaysOnce crashes at
// each payment step, and how it comes back.
type failoverTopology struct {
	acks  int                    // the redis.minReplicaAcks a Store chooses by default
	kill  func() (string, error) // SIGKILLs the master; its address
	store func(t *testing.T, log logrus.FieldLogger) *storage.Store
	// recover brings the deployment back after the kill ev reports and
	// says how, for the step's log line.
	recover func(ctx context.Context, t *testing.T, ev killEvent) string
}

// sentinelTopology: one master, one replica, three sentinels; the replica
// is promoted, the killed master comes back as its replica.
func sentinelTopology(t *testing.T) failoverTopology {
	rs := testenv.NewRedisSentinel(t)
	return failoverTopology{acks: 1, kill: rs.KillMaster,
		store: func(t *testing.T, log logrus.FieldLogger) *storage.Store { return sentinelStore(t, rs, log) },
		recover: func(ctx context.Context, t *testing.T, ev killEvent) string {
			newMaster, took, err := rs.WaitFailover(ctx, ev.old)
			if err != nil {
				t.Fatal(err)
			}
			back := time.Now()
			if err := rs.Restart(ev.old); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%s promoted %v after the kill; the old master a replica again in %v",
				newMaster, took.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
		}}
}

// singleRedisTopology: one redis-server, appendonly yes, appendfsync
// always; it restarts on the same socket and directory from its
// append-only file.
func singleRedisTopology(t *testing.T) failoverTopology {
	r := testenv.NewPersistentRedis(t)
	// The row of the topology table this proves is that configuration.
	c := r.Client()
	for k, want := range map[string]string{"appendonly": "yes", "appendfsync": "always"} {
		if got, err := c.ConfigGet(context.Background(), k).Result(); err != nil || got[k] != want {
			t.Fatalf("redis %s = %q (%v), want %q", k, got[k], err, want)
		}
	}
	c.Close()
	return failoverTopology{acks: 0,
		kill: func() (string, error) { return r.Socket, r.Kill() },
		store: func(t *testing.T, log logrus.FieldLogger) *storage.Store {
			t.Helper()
			s, err := storage.New(storage.Config{Prefix: "monero", Socket: r.Socket}, cryptonote.Monero, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeStore(s) })
			return s
		},
		recover: func(_ context.Context, t *testing.T, ev killEvent) string {
			aof := dirSize(filepath.Join(r.Dir, "appendonlydir"))
			back := time.Now()
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("restarted from its %d-byte append-only file in %v (%v after the kill)",
				aof, time.Since(back).Round(time.Millisecond), time.Since(ev.at).Round(time.Millisecond))
		}}
}

// dirSize is the total size of the files in dir (0 when unreadable).
func dirSize(dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestFailoverPaysOnce: the payments module pays through the real
// monero-wallet-rpc on a real monerod --regtest chain, its Store on each
// Redis topology of docs/operations.md in turn:
//   - single_redis_aof: one redis-server with appendonly yes and
//     appendfsync always (redis.minReplicaAcks 0, the default without
//     replicas);
//   - sentinel: one master, one replica, three sentinels
//     (redis.minReplicaAcks 1, the default with Sentinel).
//
// At each payment step the master is SIGKILLed (a proxy before the wallet
// picks the moment), the running payments module is stopped (a crash), the
// deployment comes back (the replica is promoted and the killed node
// rejoins as a replica; the single Redis restarts from its append-only
// file), and a new payments module on a new Store settles and pays
// everything. Then, after the payouts confirm: each destination appears in
// exactly one of the wallet's outgoing transfers, for exactly what the pool
// records as paid; its balance plus paid is what it was credited (nothing
// lost); the audit passes and reconciles with the wallet's outgoing
// transfers since the topology's first step. Both topologies share one
// chain and one wallet; the steps of a topology share one deployment and
// one pool (prefix), so the audit each time covers every earlier step too.
func TestFailoverPaysOnce(t *testing.T) {
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 130})
	for ti, topo := range []struct {
		name  string
		start func(*testing.T) failoverTopology
	}{
		{"single_redis_aof", singleRedisTopology},
		{"sentinel", sentinelTopology},
	} {
		if !t.Run(topo.name, func(t *testing.T) { payThroughKills(t, rt, topo.start(t), ti) }) {
			return
		}
	}
}

// payThroughKills is TestFailoverPaysOnce on one topology; its
// destinations are distinct from the other topologies' (ti).
func payThroughKills(t *testing.T, rt *testenv.Regtest, topo failoverTopology, ti int) {
	log := testLogger(t)
	log.SetLevel(logrus.InfoLevel)
	proxy := startRPCProxy(t, rt.Wallet.URL(), topo.kill)
	w := wallet.NewMonero("regtest", proxy.url, "", "", time.Minute, log)
	direct := wallet.NewMonero("regtest-direct", rt.Wallet.URL(), "", "", time.Minute, log)
	const (
		xmr   = 1_000_000_000_000
		denom = 100_000_000 // 0.0001 XMR
	)
	// The pool pays the fee, so what a destination receives is its debit.
	cfg := Config{Interval: 300 * time.Millisecond, MinPayment: 10_000_000_000, Denomination: denom, TransferFee: denom,
		MaxAddresses: 2, PoolAddress: rt.Wallet.Address, Coin: cryptonote.Monero, LeaseTTL: 2 * time.Second,
		Confirmations: 2, Chain: daemon.NewMonero("regtest", rt.Daemon.URL(), time.Minute, log)}
	other := testAddress(t, cryptonote.Monero, 77) // mines the confirming blocks
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// The wallet's outgoing transfers before this topology's are other
	// pools' (an earlier topology's), all confirmed below this height.
	since, err := rt.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name string
		at   killAt
	}{
		{"before prepare", killBeforePrepare},
		{"after prepare", killAfterPrepare},
		{"after relaying step", killBeforeRelay},
		{"right after relay", killAfterRelay},
		{"before sent", killBeforeSent},
	}
	for si, st := range steps {
		t.Run(strings.ReplaceAll(st.name, " ", "_"), func(t *testing.T) {
			// Three destinations, two transactions (maxAddresses 2): the
			// kill lands in the first, the new module pays the second.
			credits := map[string]uint64{}
			for i := 0; i < 3; i++ {
				credits[testAddress(t, cryptonote.Monero, 100+100*ti+10*si+i)] = uint64(i+1)*xmr/10 + uint64(si+1)*1_234_567 + uint64(i)
			}
			s1 := topo.store(t, log)
			fund(t, s1, credits)
			proxy.arm(st.at)
			rctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			// What the first module did, to log it with the step.
			log1 := testLogger(t)
			log1.SetLevel(logrus.InfoLevel)
			did := logtest.NewLocal(log1)
			go func() { New(cfg, s1, w, log1).Run(rctx); close(done) }()
			var ev killEvent
			select {
			case ev = <-proxy.events:
			case <-time.After(2 * time.Minute):
				stop()
				t.Fatalf("%s: the payments module never reached the step", st.name)
			}
			if ev.err != nil {
				stop()
				t.Fatalf("%s: killing the master: %v", st.name, ev.err)
			}
			// The payments process dies soon after the master: once its
			// next journal write failed on the dead master (its first
			// warning or error since the kill), or a few seconds on.
			for until := time.Now().Add(5 * time.Second); time.Now().Before(until) && !failedSince(did, ev.at); {
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-done
			closeStore(s1)
			for _, e := range did.AllEntries() {
				if id, ok := e.Data["payment"]; ok {
					t.Logf("%s: the killed module, payment %v: %s", st.name, id, e.Message)
				} else if e.Level <= logrus.WarnLevel && !e.Time.Before(ev.at) {
					t.Logf("%s: the killed module: %s", st.name, e.Message)
				}
			}
			how := topo.recover(ctx, t, ev)
			t.Logf("%s: master %s SIGKILLed (wallet status %d); %s", st.name, ev.old, ev.status, how)

			s2 := topo.store(t, log)
			if n := s2.MinReplicaAcks(); n != topo.acks {
				t.Fatalf("minReplicaAcks %d, want %d", n, topo.acks)
			}
			restarted := time.Now()
			rctx, stop = context.WithCancel(ctx)
			done = make(chan struct{})
			go func() { New(cfg, s2, w, log).Run(rctx); close(done) }()
			defer func() { stop(); <-done }()
			settled := waitFor(t, s2, 2*time.Minute, "every balance paid", func() bool { return paidOut(t, s2, credits, denom) })
			mine := func(n int) time.Time {
				if _, err := rt.Daemon.GenerateBlocks(ctx, n, other, nil); err != nil {
					t.Fatal(err)
				}
				return time.Now()
			}
			mined := mine(int(cfg.Confirmations))
			waitFor(t, s2, 2*time.Minute, "every payout confirmed", func() bool {
				un, err := s2.UnconfirmedPayments(ctx)
				if err == nil && len(un) == 0 {
					return true
				}
				if time.Since(mined) > 5*time.Second { // a payout that missed the first block
					mined = mine(1)
				}
				return false
			})
			stop()
			<-done
			t.Logf("%s: the new payments module paid everything %v after it started", st.name, settled.Sub(restarted).Round(time.Millisecond))
			checkPaidOnce(ctx, t, s2, direct, credits, denom, since, st.name)
		})
		if t.Failed() {
			return
		}
	}
}

// failedSince: a warning or error was logged at or after t.
func failedSince(h *logtest.Hook, t time.Time) bool {
	for _, e := range h.AllEntries() {
		if e.Level <= logrus.WarnLevel && !e.Time.Before(t) {
			return true
		}
	}
	return false
}

// sentinelStore opens the pool's Store ("monero") on the Sentinel deployment.
func sentinelStore(t *testing.T, rs *testenv.RedisSentinel, log logrus.FieldLogger) *storage.Store {
	t.Helper()
	s, err := storage.New(storage.Config{Prefix: "monero", Sentinel: storage.SentinelConfig{MasterName: rs.MasterName(), Addrs: rs.Addrs()}},
		cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStore(s) })
	return s
}

func closeStore(s *storage.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
}

// waitFor polls cond until it holds or d passes (then it fails with the
// payment records).
func waitFor(t *testing.T, s *storage.Store, d time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			recs, _ := s.Payments(context.Background(), 0, 100)
			for _, r := range recs {
				t.Logf("payment %d: %s (%s) %s tx %s", r.ID, r.State, r.SettledBy, r.Error, r.TxHash)
			}
			t.Fatalf("not %s after %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Now()
}

// paidOut: every credited address's balance is below the denomination and
// no payment record is open (so the debits are sent, not in flight).
func paidOut(t *testing.T, s *storage.Store, credits map[string]uint64, denom uint64) bool {
	ctx := context.Background()
	for a := range credits {
		b, err := s.Balance(ctx, a)
		if err != nil || b.Balance < 0 || uint64(b.Balance) >= denom {
			return false
		}
	}
	// After the balances: a record that debited them is open until settled.
	open, err := s.OpenPayments(ctx)
	return err == nil && len(open) == 0
}

// checkPaidOnce compares the wallet's outgoing transfers with the pool's
// records for the credited addresses: each is paid by exactly one live
// transfer, for exactly what the pool records as paid, and balance + paid
// is what it was credited; then the audit, reconciled with every outgoing
// transfer of the wallet from height since on, passes.
func checkPaidOnce(ctx context.Context, t *testing.T, s *storage.Store, direct *wallet.Monero, credits map[string]uint64, denom uint64, since uint64, step string) {
	t.Helper()
	txs, err := direct.Outgoing(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		n      int
		amount uint64
		txs    []string
	}
	byAddr := map[string]*got{}
	for _, tx := range txs {
		if tx.State == wallet.TxFailed {
			continue
		}
		for _, d := range tx.Dests {
			g := byAddr[d.Address]
			if g == nil {
				g = &got{}
				byAddr[d.Address] = g
			}
			g.n++
			g.amount += d.Amount
			g.txs = append(g.txs, fmt.Sprintf("%.8s…(%s)", tx.TxHash, tx.State))
		}
	}
	for _, a := range sortedAddrs(credits) {
		b, err := s.Balance(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		g := byAddr[a]
		if g == nil {
			g = &got{}
		}
		t.Logf("%s: %.12s… credited %d: wallet sent %d in %d transfers %v; pool: paid %d, balance %d, pending %d",
			step, a, credits[a], g.amount, g.n, g.txs, b.Paid, b.Balance, b.PendingPayment)
		switch {
		case g.n != 1:
			t.Errorf("%s: %s paid by %d of the wallet's transfers %v, want exactly 1", step, a, g.n, g.txs)
		case g.amount != b.Paid:
			t.Errorf("%s: %s: the wallet sent %d, the pool records %d paid", step, a, g.amount, b.Paid)
		case b.Balance < 0 || uint64(b.Balance)+b.Paid != credits[a] || uint64(b.Balance) >= denom || b.PendingPayment != 0:
			t.Errorf("%s: %s: balance %d + paid %d ≠ credited %d (or unpaid or pending %d)", step, a, b.Balance, b.Paid, credits[a], b.PendingPayment)
		}
	}
	recs, err := s.Payments(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		mine := false
		for _, d := range r.Dests {
			_, ok := credits[d.Address]
			mine = mine || ok
		}
		if mine {
			why := ""
			if r.Error != "" {
				why = ": " + r.Error
			}
			t.Logf("%s: payment %d %s by %s, %d destinations, debited %d, tx %.8s…%s", step, r.ID, r.State, r.SettledBy, len(r.Dests), r.Debited, r.TxHash, why)
		}
	}
	rep, err := s.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Reconcile(ctx, s, direct, rep, since)
	if err != nil || !rep.OK() {
		t.Fatalf("%s: audit reconciled with the wallet's %d outgoing transfers since height %d: %v\n%s", step, n, since, err, rep)
	}
	t.Logf("%s: audit passes, reconciled with the wallet's %d outgoing transfers since height %d", step, n, since)
}
