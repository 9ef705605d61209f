package e2epastella

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/internal/testenv"
)

// preparePath is the Wallet-API's build of a transaction it does not relay.
const preparePath = "/transactions/prepare/advanced"

// redisKill is what the wallet proxy's hook did at the step under test.
type redisKill struct {
	old    string // the master it SIGKILLed
	at     time.Time
	status int // the Wallet-API's status for the call (0: not forwarded yet)
	err    error
}

// TestPastellaPayoutsThroughRedisFailover: the pool binary pays through the
// shared chain's real Pastella-Wallet-API with its Redis on a real Sentinel
// deployment (one master, one replica, three sentinels; minReplicaAcks
// left to its default, 1). At each payment step the proxy before the
// Wallet-API SIGKILLs the master: before prepare, after prepare (the API
// answered, the pool has not read it), after the relaying step (the relay
// arrives), right after the relay (answered, not read) and before sent
// (the relay's reply read, racing the sent step). Sentinel promotes the
// replica, the killed node comes back as a replica, and the same pool
// process, following Sentinel by itself, pays everything: each miner's
// own wallet holds exactly what it was credited and what the pool records
// as sent, and the audit reconciles with the Pastella wallet. The steps
// share the chain, the Sentinel deployment and the pool, each with new
// miners, so each audit covers the earlier steps too.
func TestPastellaPayoutsThroughRedisFailover(t *testing.T) {
	rs := testenv.NewRedisSentinel(t)
	r := newPasWalletRigWith(t, pasRigOptions{sentinel: rs, timeout: 15 * time.Minute})
	if n := r.store.MinReplicaAcks(); n != 1 {
		t.Fatalf("minReplicaAcks %d with Sentinel, want 1", n)
	}
	prepare, relay := http.MethodPost+" "+preparePath, http.MethodPost+" "+relayPath
	steps := []struct {
		name, route string
		at          hookAt
	}{
		{"before prepare", prepare, hookBefore},
		{"after prepare", prepare, hookAnswered},
		{"after relaying step", relay, hookBefore},
		{"right after relay", relay, hookAnswered},
		{"before sent", relay, hookReplied},
	}
	for si, st := range steps {
		ok := t.Run(strings.ReplaceAll(st.name, " ", "_"), func(t *testing.T) {
			begun := time.Now()
			m1, m2 := r.chain.NewWallet(t, fmt.Sprintf("failover%d-m1", si)), r.chain.NewWallet(t, fmt.Sprintf("failover%d-m2", si))
			logFrom := len(r.pool.Output())
			killed := make(chan redisKill, 1)
			r.proxy.on(st.route, st.at, func(status int) bool {
				k := redisKill{at: time.Now(), status: status}
				k.old, k.err = rs.KillMaster()
				killed <- k
				return false // the pool gets the API's answer: only Redis crashes
			})
			funded := time.Now()
			r.fund(t, map[string]uint64{m1.Address: 30_000_000 + uint64(si)*1_000_001, m2.Address: 20_000_000 + uint64(si)*999})
			var k redisKill
			select {
			case k = <-killed:
			case <-time.After(2 * time.Minute):
				r.proxy.on("", hookBefore, nil)
				t.Fatalf("%s: the pool never made the call", st.name)
			}
			if k.err != nil {
				t.Fatalf("%s: killing the master: %v", st.name, k.err)
			}
			newMaster, took, err := rs.WaitFailover(r.ctx, k.old)
			if err != nil {
				t.Fatal(err)
			}
			rejoined, err := rejoin(r.ctx, rs, k.old)
			if err != nil {
				t.Fatalf("%s: the killed master back as a replica: %v", st.name, err)
			}
			t.Logf("%s: master %s SIGKILLed %v after funding (Wallet-API status %d); %s promoted %v after the kill; the old master a replica again %v later",
				st.name, k.old, k.at.Sub(funded).Round(time.Millisecond), k.status, newMaster, took.Round(time.Millisecond), rejoined.Round(time.Millisecond))
			recs := r.waitPaid(t, 2*time.Minute)
			t.Logf("%s: everything paid %v after the kill; the pool did:\n%s", st.name, time.Since(k.at).Round(time.Millisecond),
				paymentLines(r.pool.Output()[logFrom:]))
			for _, rec := range recs {
				for _, d := range rec.Dests {
					if d.Address == m1.Address || d.Address == m2.Address {
						t.Logf("%s: payment %d %s by %s, %d destinations, tx %.8s… %s", st.name, rec.ID, rec.State, rec.SettledBy, len(rec.Dests), rec.TxHash, rec.Error)
						break
					}
				}
			}
			paid := time.Now()
			r.checkPaidOnce(t, m1, m2)
			t.Logf("%s: step took %v: miner wallets %v, funding to paid %v, mining and checks %v", st.name, time.Since(begun).Round(time.Millisecond),
				funded.Sub(begun).Round(time.Millisecond), paid.Sub(funded).Round(time.Millisecond), time.Since(paid).Round(time.Millisecond))
			if m := rs.Master(); m != newMaster {
				t.Logf("%s: the sentinels now name %s: a second failover after the first", st.name, m)
			}
		})
		if !ok {
			return
		}
	}
}

// rejoin starts the killed master old again as a replica of whichever node
// the sentinels name, and returns how long that took. A sentinel sometimes
// starts a second failover about a second after the first (down-after is
// 1 s); while the sentinels are in flux Restart finds no other master to
// join, or its wait for the sync fails when the master changes under it,
// so it is tried again, and waited on for whatever master is current.
func rejoin(ctx context.Context, rs *testenv.RedisSentinel, old string) (time.Duration, error) {
	start := time.Now()
	for {
		err := rs.Restart(old)
		if err == nil {
			return time.Since(start), nil
		}
		if strings.Contains(err.Error(), "still running") {
			// Started, but the master changed during the wait: wait for the
			// current master to have an online replica.
			return time.Since(start), waitReplicaOnline(ctx, rs)
		}
		if !strings.Contains(err.Error(), "no other master") {
			return time.Since(start), err
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitReplicaOnline waits until the current master reports a replica online.
func waitReplicaOnline(ctx context.Context, rs *testenv.RedisSentinel) error {
	var last error
	for until := time.Now().Add(30 * time.Second); time.Now().Before(until); time.Sleep(200 * time.Millisecond) {
		c := redis.NewClient(&redis.Options{Addr: rs.Master(), MaxRetries: -1})
		info, err := c.Info(ctx, "replication").Result()
		c.Close()
		if err == nil && strings.Contains(info, "role:master") && strings.Contains(info, "state=online") {
			return nil
		}
		last = fmt.Errorf("%v: %q", err, info)
	}
	return fmt.Errorf("no replica online: %v", last)
}

// paymentLines are the payments module's log lines above debug in out.
func paymentLines(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "payments") && !strings.Contains(l, "level=debug") {
			b.WriteString("\t" + l + "\n")
		}
	}
	return b.String()
}
