package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum/proto"
)

// topology is a Redis deployment the pool runs on, and how to fail it over.
type topology struct {
	name     string
	redis    string         // the pool's "redis" section
	store    storage.Config // the test's own view of it
	kill     func(ctx context.Context) (old string, err error)
	promoted func(ctx context.Context, old string) (newMaster string, err error)
	// addresses, when set, picks the miners' addresses (one per
	// difficulty in diffs); else they are any distinct addresses.
	addresses func(ctx context.Context) []string
	// where, when set, says which keys live on the master that is killed
	// (asked before the kill).
	where func(ctx context.Context, f *fleet) string
}

// TestMinersThroughSentinelFailover: the pool on Redis Sentinel (one
// master, one replica, three sentinels), its master SIGKILLed while miners
// submit; Sentinel promotes the replica and the pool must follow it by
// itself.
func TestMinersThroughSentinelFailover(t *testing.T) {
	rs := testenv.NewRedisSentinel(t)
	addrs, _ := json.Marshal(rs.Addrs())
	minersThroughFailover(t, topology{
		name:  "sentinel",
		redis: fmt.Sprintf(`"redis":{"sentinel":{"masterName":%q,"addrs":%s}}`, rs.MasterName(), addrs),
		store: storage.Config{Sentinel: storage.SentinelConfig{MasterName: rs.MasterName(), Addrs: rs.Addrs()}},
		kill:  func(context.Context) (string, error) { return rs.KillMaster() },
		promoted: func(ctx context.Context, old string) (string, error) {
			m, _, err := rs.WaitFailover(ctx, old)
			return m, err
		},
	})
}

// TestMinersThroughClusterFailover: the pool on a Redis Cluster of three
// masters with a replica each; the master of the pool's {prefix} slot
// (every script's keys: the share log, the rounds, the payment journal) is
// SIGKILLed while miners submit, and the pool must follow the promoted
// replica by itself.
func TestMinersThroughClusterFailover(t *testing.T) {
	c := testenv.NewRedisClusterReplicated(t)
	const tag = "{monero}" // the prefix is the coin's name
	addrs, _ := json.Marshal(c.Addrs())
	minersThroughFailover(t, topology{
		name:     "cluster",
		redis:    fmt.Sprintf(`"redis":{"cluster":{"addrs":%s}}`, addrs),
		store:    storage.Config{Cluster: storage.ClusterConfig{Addrs: c.Addrs()}},
		kill:     func(ctx context.Context) (string, error) { return c.KillMasterOf(ctx, tag) },
		promoted: func(ctx context.Context, old string) (string, error) { return c.WaitPromoted(ctx, tag, old) },
		// Half the miners keep their statistics on the master that is
		// killed (with the share script's keys), half on the others,
		// whose increments must apply once however often a batch is sent.
		addresses: func(ctx context.Context) []string {
			master, err := c.MasterOf(ctx, tag)
			if err != nil {
				t.Fatal(err)
			}
			var on, off []string
			for k := 20; len(on)+len(off) < len(diffs); k++ {
				a := testenv.MoneroAddress(t, k)
				m, err := c.MasterOf(ctx, "{"+a+"}")
				if err != nil {
					t.Fatal(err)
				}
				if m == master && len(on) < len(diffs)/2 {
					on = append(on, a)
				} else if m != master && len(off) < len(diffs)-len(diffs)/2 {
					off = append(off, a)
				}
			}
			return append(on, off...)
		},
		where: func(ctx context.Context, f *fleet) string {
			master, err := c.MasterOf(ctx, tag)
			if err != nil {
				return err.Error()
			}
			on := []string{tag}
			for i, m := range f.miners {
				if mm, err := c.MasterOf(ctx, "{"+m.addr+"}"); err == nil && mm == master {
					on = append(on, fmt.Sprintf("miner %d's statistics", i))
				}
			}
			if mm, err := c.MasterOf(ctx, "monero:pool"); err == nil && mm == master {
				on = append(on, "the pool counters")
			}
			return "holding " + strings.Join(on, ", ")
		},
	})
}

const (
	// netDiff is the regtest network difficulty: no share is a block.
	netDiff = 1_000_000_000
	// rate is the miners' shares per second in total: a steady stream the
	// pool's one light-mode verifier (~30 ms a share) and the hashers
	// keep up with on a shared 2-core machine.
	rate = 8
	// lead is how many shares the hashers keep ready ahead of the
	// submitter.
	lead = 24
	// warm is how many OK answers come before the kill; calm how many OK
	// answers to shares sent after the promotion and after the last error
	// answer show the pool has recovered.
	warm, calm = 16, 24
)

// diffs are the miners' fixed share difficulties, one miner each, so the
// books' weights tell the miners apart from their share counts.
var diffs = []uint64{1, 2, 3, 2}

func minersThroughFailover(t *testing.T, topo topology) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: netDiff})
	ports := e2e.FreePorts(t, 2)
	pool := e2e.StartPool(t, ctx, poolConfig(t, md.RPCPort, ports[0], ports[1], topo.redis))
	base, addr := fmt.Sprintf("http://127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[0])
	pool.WaitOK(t, base+"/health", time.Minute)
	e2e.WaitStratum(t, pool, addr, time.Minute)

	var addrs []string
	if topo.addresses != nil {
		addrs = topo.addresses(ctx)
	} else {
		for i := range diffs {
			addrs = append(addrs, testenv.MoneroAddress(t, 20+i))
		}
	}
	f := login(t, ctx, addr, addrs, diffs)
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	ready := make(chan share, lead)
	if err := f.hash(hctx, 2, ready); err != nil {
		t.Fatal(err)
	}
	waitAnswers(t, f, time.Minute, "the hashers' lead", func([]answer) error {
		if len(ready) < lead {
			return fmt.Errorf("%d of %d shares ready", len(ready), lead)
		}
		return nil
	})
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		f.submit(ctx, rate, ready, stop)
	}()
	stopMiners := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
		hcancel()
	}
	defer stopMiners()
	waitAnswers(t, f, 30*time.Second, "OK answers before the kill", func(as []answer) error {
		if n := tally(as, time.Now()).ok; n < warm {
			return fmt.Errorf("%d of %d", n, warm)
		}
		return nil
	})

	where := "the master"
	if topo.where != nil {
		where = topo.where(ctx, f)
	}
	hw := watchHealth(base)
	defer hw.stop()
	old, err := topo.kill(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	newMaster, err := topo.promoted(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	promotion := time.Since(killed)
	t.Logf("%s: SIGKILLed %s (%s); %s promoted %.2fs after the kill", topo.name, old, where, newMaster, promotion.Seconds())
	waitAnswers(t, f, 90*time.Second, "OK answers after the failover", func(as []answer) error {
		if n := recovered(as, killed.Add(promotion)); n < calm {
			o := tally(as, killed)
			return fmt.Errorf("%d of %d OK answers since the promotion and the last error (%d OK, %d errors %v, %d unanswered %v so far)",
				n, calm, o.ok, o.errored, o.messages, o.unanswered, o.transport)
		}
		return nil
	})
	stopMiners()
	answers, _ := f.snapshot()
	o := tally(answers, killed)
	report(t, topo.name, o, killed, promotion, len(answers), f, hw.stop())

	// Every submit was answered, and every error answer says why.
	if o.unanswered > 0 {
		t.Errorf("%d submits got no answer (a share silently dropped or the connection lost): %v", o.unanswered, o.transport)
	}
	// Busy (the verifier out of CPU on a loaded machine) is an answer too:
	// the share was not checked, so it counts nowhere, as the books show.
	for msg, n := range o.messages {
		if msg != proto.ErrMsgStorageDown && msg != proto.ErrMsgBusy {
			t.Errorf("%d shares answered %q, want only %q (or %q)", n, msg, proto.ErrMsgStorageDown, proto.ErrMsgBusy)
		}
	}
	if o.okAfterKill == 0 {
		t.Errorf("no share sent after the kill was accepted: the pool did not recover")
	}

	store := openStore(t, topo.store)
	checkBooks(t, ctx, store, f, o)
	e2e.WaitHealth(t, pool, base, time.Minute, "/health ok after the failover", func(h *e2e.HealthReply) error {
		if h.Status != "ok" {
			return fmt.Errorf("status %q (%d), redis %+v", h.Status, h.Code, h.Redis)
		}
		return nil
	})
	t.Logf("pool audit:\n%s", e2e.PoolAudit(t, pool))
	// Nothing arrived late, e.g. a batch applied again.
	checkBooks(t, ctx, store, f, o)
}

// poolConfig is the pool for the test: monero on regtest, stratum on one
// port (light-mode RandomX, one verifier, difficulty 1 and fixed
// difficulties from the login), no new job on an unchanged tip (the
// miners' shares are for their login job), the API, and the given redis
// section; no unlocker, no payments.
func poolConfig(t *testing.T, daemonPort, stratumPort, apiPort int, redis string) string {
	return fmt.Sprintf(`{"coin":"monero","poolAddress":%q,
		"daemon":{"host":"127.0.0.1","port":%d,"timeout":3000},
		"ports":{"%d":{"diff":1,"desc":"test"}},"varDiff":{"enabled":false,"minDiff":1},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":250,"templateRefreshInterval":3600},
		"randomx":{"mode":"light","workers":1},
		"blockUnlocker":{"enabled":false},"payments":{"enabled":false},
		%s,
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0}}`,
		testenv.MoneroAddress(t, 0), daemonPort, stratumPort, redis, apiPort)
}

// waitAnswers polls ready with the answers so far, failing at once when a
// hasher stopped.
func waitAnswers(t *testing.T, f *fleet, timeout time.Duration, what string, ready func([]answer) error) {
	t.Helper()
	e2e.WaitFor(t, timeout, what, func() error {
		as, herr := f.snapshot()
		if herr != nil {
			t.Fatalf("hashing shares: %v", herr)
		}
		return ready(as)
	})
}

// report logs the failover as the miners saw it, and prints it on one line.
func report(t *testing.T, name string, o *outcome, killed time.Time, promotion time.Duration, sent int, f *fleet, health [2]time.Time) {
	t.Helper()
	window := "none"
	if !o.firstErr.IsZero() {
		window = fmt.Sprintf("%s..%s (%.2fs)", rel(o.firstErr, killed), rel(o.lastErr, killed), o.lastErr.Sub(o.firstErr).Seconds())
	}
	var msgs []string
	for m, n := range o.messages {
		msgs = append(msgs, fmt.Sprintf("%d×%q", n, m))
	}
	slices.Sort(msgs)
	line := fmt.Sprintf("FAILOVER %s: promotion %.2fs; error window %s after the kill (last OK before %s, first OK after %s); "+
		"%d shares sent at %d/s: %d OK (Σdiff %d), %d errors [%s], %d unanswered; slowest answer %.0f ms (sent %s); "+
		"/health not ok %s..%s; hashers late %d",
		name, promotion.Seconds(), window, rel(o.lastOKBefore, killed), rel(o.firstOKAfter, killed),
		sent, rate, o.ok, o.okHashes, o.errored, strings.Join(msgs, ", "), o.unanswered,
		float64(o.slowest.got.Sub(o.slowest.sent).Microseconds())/1000, rel(o.slowest.sent, killed), rel(health[0], killed), rel(health[1], killed), f.starved)
	t.Log(line)
	fmt.Println(line)
	for i, m := range f.miners {
		t.Logf("miner %d %s (difficulty %d): %d OK, Σdiff %d", i, short(m.addr), m.diff, o.okPerMiner[m], o.hashesPerMiner[m])
	}
}

// healthWatch polls /health (the API caches it for a second) from before
// the kill, remembering the first and last time it was not ok.
type healthWatch struct {
	quit, done chan struct{}
	bad        [2]time.Time
}

func watchHealth(base string) *healthWatch {
	h := &healthWatch{quit: make(chan struct{}), done: make(chan struct{})}
	hc := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(h.done)
		for {
			ok := false
			if resp, err := hc.Get(base + "/health"); err == nil {
				var r struct {
					Status string `json:"status"`
				}
				ok = json.NewDecoder(resp.Body).Decode(&r) == nil && r.Status == "ok"
				resp.Body.Close()
			}
			if now := time.Now(); !ok {
				if h.bad[0].IsZero() {
					h.bad[0] = now
				}
				h.bad[1] = now
			}
			select {
			case <-h.quit:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return h
}

// stop ends the polling (again: no-op) and returns the first and last
// time /health was not ok.
func (h *healthWatch) stop() [2]time.Time {
	select {
	case <-h.quit:
	default:
		close(h.quit)
	}
	<-h.done
	return h.bad
}
