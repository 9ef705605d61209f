package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/internal/testenv"
	"rxpool/stratum"
)

// TestClusterFailoverCountsOnce writes two miners' shares continuously
// through a Store on a real 3+3 Redis Cluster while a master is SIGKILLed
// and its replica promoted: the master of the {prefix} slot (the share
// script's), or the master of a miner's keys (its statistics'). Every share
// Share accepted is counted exactly once in the PPLNS log and total, in its
// miner's and in the pool's counters; a refused share is counted nowhere.
func TestClusterFailoverCountsOnce(t *testing.T) {
	for _, victim := range []string{"prefix", "miner"} {
		t.Run(victim, func(t *testing.T) { failoverRun(t, victim) })
	}
}

type minerTally struct {
	accepted, hashes, refused uint64
}

func failoverRun(t *testing.T, victim string) {
	c := testenv.NewRedisClusterReplicated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newTestStore(t, Config{Cluster: ClusterConfig{Addrs: c.Addrs()}},
		WithBatch(20, 20*time.Millisecond), WithHealthInterval(200*time.Millisecond))
	tag := s.k.tag

	// A: keys on the master of {prefix}; B: keys on another master.
	prefixMaster, err := c.MasterOf(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	var a, b string
	for i := 0; a == "" || b == ""; i++ {
		addr := "miner" + strconv.Itoa(i)
		m, err := c.MasterOf(ctx, "{"+addr+"}")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m == prefixMaster && a == "":
			a = addr
		case m != prefixMaster && b == "":
			b = addr
		}
	}
	killKey := tag
	if victim == "miner" {
		killKey = "{" + b + "}"
	}

	// Writers: one per miner, a share every 2 ms, each of its own difficulty.
	var mu sync.Mutex
	tally := map[string]*minerTally{a: {}, b: {}}
	var firstErr, lastErr time.Time
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, addr := range []string{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(1); ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				sh := stratum.Share{Address: addr, Worker: "rig", Scheme: stratum.SchemePPLNS, Difficulty: 1000 + i}
				err := s.Share(&sh)
				mu.Lock()
				if err != nil {
					tally[addr].refused++
					if firstErr.IsZero() {
						firstErr = time.Now()
					}
					lastErr = time.Now()
					if len(errs) < 3 {
						errs = append(errs, err.Error())
					}
				} else {
					tally[addr].accepted++
					tally[addr].hashes += sh.Difficulty
				}
				mu.Unlock()
			}
		}()
	}

	time.Sleep(time.Second)
	old, err := c.KillMasterOf(ctx, killKey)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	nm, err := c.WaitPromoted(ctx, killKey, old)
	if err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(killed)
	// Keep writing until the Store has written shares for 2 s without a
	// refusal since the promotion (it follows the new master).
	for {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		calm := time.Since(killed) > promoted+2*time.Second && time.Since(lastErr) > 2*time.Second && s.healthy.Load()
		mu.Unlock()
		if calm {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the Store never became healthy after the failover")
		}
	}
	followed := time.Since(killed)
	close(stop)
	wg.Wait()
	for {
		err := s.Flush(ctx)
		s.flushMu.Lock()
		left := len(s.retry)
		s.flushMu.Unlock()
		if err == nil && left == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("flushing after the failover: %v (%d batches left)", err, left)
		}
		time.Sleep(100 * time.Millisecond)
	}

	window := "none"
	if !firstErr.IsZero() {
		window = fmt.Sprintf("%v (from %v to %v after the kill)", lastErr.Sub(firstErr).Round(time.Millisecond),
			firstErr.Sub(killed).Round(time.Millisecond), lastErr.Sub(killed).Round(time.Millisecond))
	}
	t.Logf("killed %s (master of %s), %s promoted after %v; writes refused for %s; healthy and calm %v after the kill; first errors %q",
		old, killKey, nm, promoted.Round(time.Millisecond), window, followed.Round(time.Millisecond), errs)

	// A new client: the Store's own may still be on its old slot map.
	cl := c.Client()
	defer cl.Close()
	var total minerTally
	logged := map[string]uint64{}
	entries, err := cl.LRange(ctx, s.k.pplnsLog, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		i := strings.LastIndexByte(e, ':')
		w, _ := strconv.ParseUint(e[i+1:], 10, 64)
		logged[e[:i]] += w
	}
	for _, addr := range []string{a, b} {
		want := tally[addr]
		total.accepted += want.accepted
		total.hashes += want.hashes
		total.refused += want.refused
		m, err := s.MinerStats(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("miner %s: %d shares accepted (%d hashes), %d refused; counted: %d accepted, %d hashes, PPLNS log %d",
			addr, want.accepted, want.hashes, want.refused, m.Accepted, m.Hashes, logged[addr])
		if m.Accepted != want.accepted || m.Hashes != want.hashes {
			t.Errorf("miner %s counted %d shares, %d hashes; accepted %d shares, %d hashes", addr, m.Accepted, m.Hashes, want.accepted, want.hashes)
		}
		if logged[addr] != want.hashes {
			t.Errorf("miner %s: PPLNS log holds %d, accepted %d", addr, logged[addr], want.hashes)
		}
	}
	p, err := s.PoolStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ptotal, err := cl.Get(ctx, s.k.pplnsTotal).Uint64()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pool: %d accepted (%d hashes), %d refused; counted %d accepted, %d hashes; PPLNS total %d",
		total.accepted, total.hashes, total.refused, p.Accepted, p.Hashes, ptotal)
	if p.Accepted != total.accepted || p.Hashes != total.hashes {
		t.Errorf("pool counted %d shares, %d hashes; accepted %d, %d", p.Accepted, p.Hashes, total.accepted, total.hashes)
	}
	if ptotal != total.hashes {
		t.Errorf("PPLNS total %d, accepted %d", ptotal, total.hashes)
	}
}
