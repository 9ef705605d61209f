package xmrig

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

const (
	// pasFixedDiff is the xmrig's difficulty from its login: a share
	// every ~3 s from one light-mode thread, ~10 a block at the fresh
	// chain's difficulty of 1000.
	pasFixedDiff = 100
	pasDepth     = 10 // Pastella's coinbase maturity, the unlocker's least depth
)

// TestXmrigMinesPastella runs the real xmrig through the pool binary on a
// fresh private Pastella chain (difficulty 1000). The pool announces the
// same algorithm as for Monero (rx/0: Pastella's PoW is RandomX v1 with
// Monero's seed scheme), and xmrig mines Pastella's jobs with --algo rx/0.
// xmrig logs in as ADDRESS.100 with its worker name in --pass and mines
// until it has found a block; it is then paused, the 10 blocks that mature
// it are mined outside the pool (to the burn address) and the unlocker
// credits it to the miner.
func TestXmrigMinesPastella(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	began := time.Now()
	d := testenv.NewPastellad(t, testenv.PastelladOptions{})
	rds := testenv.NewRedis(t)
	ports := e2e.FreePorts(t, 2)
	apiBase, stratumAddr := fmt.Sprintf("http://127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[0])
	// Payments off (no wallet needed); fixed difficulties only.
	pool := e2e.StartPool(t, ctx, fmt.Sprintf(`{"coin":"pastella","poolAddress":%q,
		"daemon":{"host":"127.0.0.1","port":%d,"timeout":10000},
		"ports":{"%d":{"diff":8,"desc":"xmrig pastella"}},
		"varDiff":{"enabled":false,"minDiff":1,"maxDiff":1000000},"fixedDiff":{"enabled":true,"addressSeparator":"."},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":250,"templateRefreshInterval":2},
		"randomx":{"mode":"light","workers":1},
		"blockUnlocker":{"enabled":true,"interval":1,"depth":%d},"payments":{"enabled":false},
		"redis":{"socket":%q},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0}}`,
		testenv.Address(t, cryptonote.Pastella, 0), d.RPCPort, ports[0], pasDepth, rds.Socket, ports[1]))
	pool.WaitOK(t, apiBase+"/health", time.Minute)
	e2e.WaitStratum(t, pool, stratumAddr, time.Minute)
	store := e2e.OpenStore(t, rds, "pastella", cryptonote.Pastella)

	addr := testenv.Address(t, cryptonote.Pastella, 1)
	x := testenv.StartXmrig(t, testenv.XmrigOptions{URL: stratumAddr, User: fmt.Sprintf("%s.%d", addr, pasFixedDiff), Pass: "rig-p"})
	t.Logf("setup %s; xmrig log %s", time.Since(began).Round(time.Second), x.Log)

	mining := time.Now()
	var found *storage.BlockRecord
	// ~1000 hashes: ~30 s at xmrig's ~30 H/s, several minutes when the
	// machine is loaded (at load 10 on 2 cores it hashed ~3 H/s).
	e2e.WaitFor(t, 8*time.Minute, "xmrig to find a Pastella block", func() error {
		if !x.Running() {
			t.Fatal("xmrig exited")
		}
		bs, err := store.PendingBlocks(ctx)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if b.Address == addr && b.Worker == "rig-p" {
				found = b
				return nil
			}
		}
		s, err := x.Summary(ctx)
		if err != nil {
			return err
		}
		return fmt.Errorf("%d blocks pending, none by xmrig; xmrig accepted %d, rejected %d", len(bs), s.Connection.Accepted, s.Connection.Rejected)
	})
	if err := x.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	s := stable(t, ctx, x)
	t.Logf("xmrig mined %s: %d accepted, %d rejected at diff %d; block at height %d (network difficulty %d)",
		time.Since(mining).Round(time.Second), s.Connection.Accepted, s.Connection.Rejected, s.Connection.Diff, found.Height, found.NetDiff)

	t.Run("SharesAndJobs", func(t *testing.T) {
		if s.Connection.Accepted == 0 || s.Connection.Rejected != 0 || s.Results.SharesGood != s.Connection.Accepted {
			t.Fatalf("xmrig's own counters: %+v, %+v", s.Connection, s.Results)
		}
		jobs := jobsIn(x.Output())
		if len(jobs) < 2 {
			t.Fatalf("xmrig logged %d jobs; it found a block, so the tip moved", len(jobs))
		}
		for i, j := range jobs {
			if j.diff != pasFixedDiff || j.algo != "rx/0" {
				t.Fatalf("xmrig got a job at diff %d, algo %s; want %d, rx/0", j.diff, j.algo, pasFixedDiff)
			}
			if i > 0 && j.height < jobs[i-1].height {
				t.Errorf("a job at height %d after one at %d", j.height, jobs[i-1].height)
			}
		}
		// The block xmrig found was at the height of one of its jobs, and
		// a job for the next height followed.
		if jobs[len(jobs)-1].height <= found.Height {
			t.Errorf("xmrig's last job is at height %d, its block at %d", jobs[len(jobs)-1].height, found.Height)
		}
		checkPoolCounts(t, apiBase, addr, "rig-p", s.Connection.Accepted)
	})

	// Mature the block outside the pool; the unlocker credits it.
	maturing := time.Now()
	if _, err := d.MineBlocks(ctx, pasDepth, testenv.PastellaBurnAddress, t.Logf); err != nil {
		t.Fatal(err)
	}
	t.Logf("mining %d blocks outside the pool took %s", pasDepth, time.Since(maturing).Round(time.Second))

	t.Run("BlockCreditedToFinder", func(t *testing.T) {
		var want uint64
		e2e.WaitFor(t, time.Minute, "the unlocker to settle every block xmrig found", func() error {
			bs, err := store.Blocks(ctx, 0, 100)
			if err != nil {
				return err
			}
			want = 0
			for _, b := range bs {
				switch b.Status {
				case storage.StatusConfirmed:
					want += b.Reward - b.Fee
				case storage.StatusOrphaned:
				default:
					return fmt.Errorf("block %d (%s) is %s", b.Height, b.Hash[:8], b.Status)
				}
			}
			return nil
		})
		rec, err := store.BlockByHash(ctx, found.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != storage.StatusConfirmed || rec.Address != addr || rec.Worker != "rig-p" {
			t.Fatalf("xmrig's block %d: %s by %s/%s", rec.Height, rec.Status, rec.Address, rec.Worker)
		}
		if b := e2e.BalanceOf(t, store, addr); b.Balance <= 0 || uint64(b.Balance) != want {
			t.Errorf("the miner's balance is %d; its confirmed blocks credited %d", b.Balance, want)
		}
		e2e.PoolAudit(t, pool)
	})
	t.Logf("whole test %s", time.Since(began).Round(time.Second))
}
