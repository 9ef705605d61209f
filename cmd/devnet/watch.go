package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/storage"
)

func getJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	return json.Unmarshal(raw, out)
}

// status is one line of what the pool's API and the miner's wallet say.
type status struct {
	Height, Accepted, Found, Pending, Confirmed, Orphaned uint64
	Hashrate                                              float64
	Balance                                               int64
	Immature, Paid, Received                              uint64
	HaveMiner                                             bool
	coin                                                  *cryptonote.Coin
}

func (n *devnet) status(ctx context.Context) (status, error) {
	var st struct {
		Pool struct {
			Hashrate                        float64
			Shares                          struct{ Accepted uint64 }
			BlocksFound, BlocksPending      uint64
			BlocksConfirmed, BlocksOrphaned uint64
		}
		Network struct{ Height uint64 }
	}
	if err := getJSON(ctx, n.apiURL+"/api/stats", &st); err != nil {
		return status{}, err
	}
	s := status{Height: st.Network.Height, Accepted: st.Pool.Shares.Accepted, Found: st.Pool.BlocksFound,
		Pending: st.Pool.BlocksPending, Confirmed: st.Pool.BlocksConfirmed, Orphaned: st.Pool.BlocksOrphaned, Hashrate: st.Pool.Hashrate}
	var m struct {
		Balance        int64
		Immature, Paid uint64
	}
	if err := getJSON(ctx, n.apiURL+"/api/stats?address="+n.chain.minerAddress(), &m); err == nil {
		s.HaveMiner, s.Balance, s.Immature, s.Paid = true, m.Balance, m.Immature, m.Paid
	}
	s.coin = n.chain.coin()
	var err error
	s.Received, err = n.chain.received(ctx)
	return s, err
}

func (s status) String() string {
	units := float64(s.coin.Units)
	return fmt.Sprintf("height %d | pool %.1f H/s, %d shares | blocks found %d (pending %d, confirmed %d, orphaned %d) | miner balance %.4f, immature %.4f, paid %.4f | miner wallet %.4f %s",
		s.Height, s.Hashrate, s.Accepted, s.Found, s.Pending, s.Confirmed, s.Orphaned,
		float64(s.Balance)/units, float64(s.Immature)/units, float64(s.Paid)/units, float64(s.Received)/units, s.coin.Symbol)
}

// watch prints the status every 15 s until ctx ends or the pool exits.
func (n *devnet) watch(ctx context.Context, say func(string, ...any)) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		if s, err := n.status(ctx); err != nil && ctx.Err() == nil {
			say("status: %v", err)
		} else if err == nil {
			say("%s", s)
		}
		select {
		case <-ctx.Done():
			return
		case <-n.poolExited:
			say("the pool exited; see %s/pool.log", n.dir)
			return
		case <-t.C:
		}
	}
}

// summary is what -until-paid found.
type summary struct {
	ElapsedS            float64 `json:"elapsed_s"`
	BlocksFound         uint64  `json:"blocks_found"`
	BlocksConfirmed     uint64  `json:"blocks_confirmed"`
	BlocksOrphaned      uint64  `json:"blocks_orphaned"`
	PaymentsSent        uint64  `json:"payments_sent"`
	MinerCredited       uint64  `json:"miner_credited"`        // Σ credited to the miner's address
	ExpectedCredit      uint64  `json:"expected_credit"`       // Σ (reward − pool fee) of the confirmed blocks: the miner is their only participant
	MinerPaid           uint64  `json:"miner_paid"`            // received, per the pool's ledger
	MinerFeesPaid       uint64  `json:"miner_fees_paid"`       // its part of the network fees
	MinerBalance        int64   `json:"miner_balance"`         // still owed
	MinerWalletReceived uint64  `json:"miner_wallet_received"` // per the miner's own wallet
	AuditPassed         bool    `json:"audit_passed"`
}

// untilPaid waits for the first payout to reach the miner's wallet, then
// stops mining, lets payments settle, stops the pool and checks the money.
func (n *devnet) untilPaid(ctx context.Context, say func(string, ...any)) (*summary, error) {
	start := time.Now()
	last := time.Time{}
	// A reused devnet's miner wallet may hold earlier payouts: wait for a new one.
	before, err := n.chain.received(ctx)
	if err != nil {
		return nil, err
	}
	for {
		s, err := n.status(ctx)
		if err == nil && time.Since(last) >= 15*time.Second {
			say("%s", s)
			last = time.Now()
		}
		if err == nil && s.Received > before {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.poolExited:
			return nil, fmt.Errorf("the pool exited; see %s/pool.log", n.dir)
		case <-time.After(2 * time.Second):
		}
	}
	say("the miner's wallet received a payout after %v; pausing the miner and letting payments settle", time.Since(start).Round(time.Second))
	n.pauseMiner()

	log := logrus.New()
	log.SetOutput(io.Discard)
	store, err := storage.New(config.RedisConfig{Socket: n.redis.Socket, Prefix: n.prefix()}, n.chain.coin(), log)
	if err != nil {
		return nil, err
	}
	defer store.Close(context.Background())
	// Settled: no open payment record and no new one for longer than the
	// payments interval (nothing new matures: the chain no longer moves).
	quietFor := n.paymentsInterval() + 5*time.Second
	var sentBefore uint64
	quietSince := time.Now()
	for time.Since(quietSince) < quietFor {
		open, err := store.OpenPayments(ctx)
		if err != nil {
			return nil, err
		}
		ps, err := store.PaymentStats(ctx)
		if err != nil {
			return nil, err
		}
		if len(open) > 0 || ps.Sent != sentBefore {
			sentBefore, quietSince = ps.Sent, time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	n.stopPool()
	// Mine the payouts still in the mempool, then ask the miner's wallet.
	if err := n.mineMempool(ctx, say); err != nil {
		return nil, fmt.Errorf("mining the last payouts: %w", err)
	}
	n.stopMiner()
	sum := &summary{ElapsedS: time.Since(start).Seconds()}
	if sum.MinerWalletReceived, err = n.chain.received(ctx); err != nil {
		return nil, err
	}
	bal, err := store.Balance(ctx, n.chain.minerAddress())
	if err != nil {
		return nil, err
	}
	sum.MinerPaid, sum.MinerFeesPaid, sum.MinerBalance = bal.Sent(), bal.FeesPaid, bal.Balance
	sum.MinerCredited = uint64(max(bal.Balance, 0)) + bal.PendingPayment + bal.Paid
	ps, err := store.PaymentStats(ctx)
	if err != nil {
		return nil, err
	}
	sum.PaymentsSent = ps.Sent
	tot, err := store.Totals(ctx)
	if err != nil {
		return nil, err
	}
	found, err := store.BlockCount(ctx)
	if err != nil {
		return nil, err
	}
	sum.BlocksFound, sum.BlocksConfirmed, sum.BlocksOrphaned = uint64(found), tot.Confirmed, tot.Orphaned
	blocks, err := store.Blocks(ctx, 0, int(found))
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if b.Status == storage.StatusConfirmed {
			sum.ExpectedCredit += b.Reward - b.Fee
		}
	}
	out, aerr := exec.CommandContext(ctx, n.o.poolBin, "-config", n.config, "audit").CombinedOutput()
	sum.AuditPassed = aerr == nil
	say("audit:\n%s", out)
	switch {
	case !sum.AuditPassed:
		return sum, fmt.Errorf("pool audit failed: %v", aerr)
	case sum.MinerCredited != sum.ExpectedCredit:
		return sum, fmt.Errorf("the miner was credited %d; its confirmed blocks paid %d after the pool fee", sum.MinerCredited, sum.ExpectedCredit)
	case sum.MinerWalletReceived != sum.MinerPaid:
		return sum, fmt.Errorf("the miner's wallet received %d, the pool recorded %d as paid to it", sum.MinerWalletReceived, sum.MinerPaid)
	}
	say("miner credited %d, paid %d (fees %d), still owed %d; its wallet received %d", sum.MinerCredited, sum.MinerPaid, sum.MinerFeesPaid, sum.MinerBalance, sum.MinerWalletReceived)
	return sum, nil
}

func (n *devnet) prefix() string {
	r, _ := n.cfg["redis"].(map[string]any)
	if p, ok := r["prefix"].(string); ok && p != "" {
		return p
	}
	return n.chain.coin().Name
}

func (n *devnet) paymentsInterval() time.Duration {
	p, _ := n.cfg["payments"].(map[string]any)
	if s, ok := p["interval"].(float64); ok && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	return time.Minute
}
