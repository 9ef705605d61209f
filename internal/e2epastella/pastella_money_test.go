package e2epastella

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/e2e"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
)

// Pastella on a private chain (docs/pastella.md; the harness measures the
// same): 4 PAS a block, a coinbase spendable 10 blocks deep, and the
// Wallet-API's flat network fee per transaction.
const (
	pasBlockReward = 400_000_000
	pasDepth       = 10
	pasTxFee       = 1000
)

// The test pool's money settings: 1 % pool fee (SOLO too, soloFee
// defaults to poolFee) and 1 % to the finder, in basis points as the
// unlocker applies them; payouts rounded down to pasDenom, also the
// minimum payout. pasDenom is a prime above any weight, so it divides no
// credit (round ones like 392000000, or a quarter of it, included) and
// every paid balance keeps a remainder; 7000000 divided 98000000 (one
// PROP miner's quarter of a block) and left that balance at 0.
const (
	pasFeeBP    = 100
	pasFinderBP = 100
	pasDenom    = 999_983
	// Fixed: ~10 shares a block at network difficulty 1000, about 2 a
	// second, which the pool's light-mode verifiers keep up with beside six
	// hash threads on two cores (at 40, shares waited in the pool's queue
	// past the grace window and were rejected as "Block expired").
	pasShareDiff = 100
)

// pasMiner is one miner of the test: its own wallet, the scheme it logs in
// with and how many rxminer sessions (one hash thread each) mine for it.
type pasMiner struct {
	name, scheme string
	sessions     int
	w            *testenv.PastellaWallet
}

// login is what the miner logs in with: PPLNS miners give no prefix (the
// configured default scheme), the others solo:/prop:.
func (m *pasMiner) login() string {
	if m.scheme == stratum.SchemePPLNS {
		return m.w.Address
	}
	return m.scheme + ":" + m.w.Address
}

// TestPastellaMoneyPath runs the whole money path on the real programs:
// Pastellad and Pastella-Wallet-API (the shared chain; its pool wallet is
// the pool's poolAddress and payout wallet), Redis, the pool binary with
// every module and one rxminer process mining for five miners, each with
// its own wallet: two PPLNS, one SOLO, two PROP. It asserts that every
// block the pool found is on the main chain, is credited only once it is 10
// deep, and is split exactly by its scheme's rule; that the pool pays
// through the Wallet-API rounded to the denomination; that each miner's own
// wallet holds exactly what the pool recorded as paid, the pool wallet
// exactly what the ledger says it kept; and that `pool audit` passes.
//
// The pool mines until it has a SOLO block, a PROP block and a PPLNS block
// with two participants each, then the miner stops and the 10 maturing
// blocks are mined outside the pool (to the burn address): so the set of
// pool blocks is closed and every one of them is settled, and the share
// counts the exact checks compare with are final.
func TestPastellaMoneyPath(t *testing.T) {
	chain := testenv.SharedPastella(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	began := time.Now()
	miners := []*pasMiner{
		{name: "pplnsA", scheme: stratum.SchemePPLNS, sessions: 1},
		{name: "pplnsB", scheme: stratum.SchemePPLNS, sessions: 1},
		// Two sessions for the one SOLO miner: each scheme then has a third
		// of the hashrate, so each finds a block soon.
		{name: "solo", scheme: stratum.SchemeSolo, sessions: 2},
		{name: "propA", scheme: stratum.SchemeProp, sessions: 1},
		{name: "propB", scheme: stratum.SchemeProp, sessions: 1},
	}
	for _, m := range miners {
		m.w = chain.NewWallet(t, m.name)
	}
	poolBefore, _, err := chain.Pool.SyncedBalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The pool wallet is the package's: the audit reconciles what it sent
	// since this test began (the other tests' payouts are not this pool's).
	startHeight, err := chain.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}

	rds := testenv.NewRedis(t)
	ports := e2e.FreePorts(t, 2)
	pool := e2e.StartPool(t, ctx, pastellaPoolConfig(chain, ports[0], ports[1], rds.Socket))
	base, addr := fmt.Sprintf("http://127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[0])
	pool.WaitOK(t, base+"/health", time.Minute)
	e2e.WaitStratum(t, pool, addr, time.Minute)
	if out, err := testenv.Run(pool.Bin, "-config", pool.Config, "check"); err != nil {
		t.Fatalf("pool check: %v\n%s", err, out)
	}
	store := e2e.OpenStore(t, rds, "pastella", cryptonote.Pastella)
	t.Logf("setup took %s", time.Since(began).Round(time.Second))

	// Mine through the pool until every scheme has a block.
	start, err := chain.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var logins []string
	for _, m := range miners {
		for range m.sessions {
			logins = append(logins, m.login())
		}
	}
	mining := time.Now()
	miner := e2e.StartMiner(t, addr, "rig", "-u", strings.Join(logins, ","), "--mode", "fast",
		"-t", strconv.Itoa(len(logins)), "--report", "10s")
	e2e.WaitFor(t, 8*time.Minute, "pool blocks of every scheme", func() error {
		if miner.Exited() {
			t.Fatalf("rxminer exited:\n%s", e2e.Tail(miner.Stderr.String(), 4000))
		}
		bs, err := store.PendingBlocks(ctx)
		if err != nil {
			return err
		}
		return everySchemeFound(bs)
	})
	sum := miner.Stop(t)
	var by struct {
		AcceptedBy map[string]uint64 `json:"accepted_by_login"`
	}
	if err := json.Unmarshal(miner.Stdout.Bytes(), &by); err != nil {
		t.Fatal(err)
	}
	var byLogin uint64
	for _, n := range by.AcceptedBy {
		byLogin += n
	}
	if sum.Rejected > 0 || sum.Failed > 0 || sum.Accepted == 0 || byLogin != sum.Accepted {
		t.Fatalf("honest miner: %+v, accepted by login %v", sum, by.AcceptedBy)
	}
	e2e.WaitFor(t, 10*time.Second, "every accepted share in Redis", func() error {
		got, err := store.Client().HGet(ctx, "pastella:pool", "accepted").Uint64()
		if err != nil || got != sum.Accepted {
			return fmt.Errorf("Redis counts %d accepted shares (%v), the miner %d", got, err, sum.Accepted)
		}
		return nil
	})
	t.Logf("mining through the pool took %s: %d shares accepted, by login %v", time.Since(mining).Round(time.Second), sum.Accepted, by.AcceptedBy)

	blocks := poolBlocksOnChain(t, ctx, chain.Daemon, store, start)

	// Mature them outside the pool, one block at a time, noting when each
	// height began to be mined: a block may be credited only after the one
	// 10 above it exists.
	maturing := time.Now()
	minedFrom := map[uint64]time.Time{}
	last := blocks[len(blocks)-1].Height
	for {
		h, err := chain.Daemon.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h > last+pasDepth {
			break
		}
		minedFrom[h] = time.Now()
		if _, err := chain.Daemon.MineBlocks(ctx, 1, testenv.PastellaBurnAddress, nil); err != nil {
			t.Fatal(err)
		}
	}
	e2e.WaitFor(t, 30*time.Second, "every pool block settled", func() error {
		bs, err := store.PendingBlocks(ctx)
		if err == nil && len(bs) > 0 {
			err = fmt.Errorf("%d blocks pending", len(bs))
		}
		return err
	})
	t.Logf("maturing %d blocks took %s", len(minedFrom), time.Since(maturing).Round(time.Second))
	credited := checkCredits(t, ctx, chain.Daemon, store, blocks, minedFrom, miners, by.AcceptedBy)

	// Payouts: wait until nobody is due one, then mine a block so the last
	// transactions are in the chain.
	paying := time.Now()
	e2e.WaitFor(t, 2*time.Minute, "every due payout sent", func() error {
		if h, err := store.HaltedPayments(ctx); err != nil || len(h) > 0 {
			t.Fatalf("payments halted: %v, %v", h, err)
		}
		if open, err := store.OpenPayments(ctx); err != nil || len(open) > 0 {
			return fmt.Errorf("%d open payment records (%v)", len(open), err)
		}
		for _, m := range miners {
			if b := e2e.BalanceOf(t, store, m.w.Address); b.Balance >= pasDenom {
				return fmt.Errorf("%s still has %d payable", m.name, b.Balance)
			}
		}
		return nil
	})
	if _, err := chain.Daemon.MineBlocks(ctx, 1, testenv.PastellaBurnAddress, nil); err != nil {
		t.Fatal(err)
	}
	checkPastellaPayouts(t, ctx, chain, store, miners, credited, blocks, poolBefore)
	t.Logf("payouts took %s", time.Since(paying).Round(time.Second))

	for _, m := range miners {
		checkAPIBalance(t, base, store, m.w.Address)
	}
	if out := e2e.PoolAudit(t, pool, "-min-height", strconv.FormatUint(startHeight, 10)); !strings.Contains(out, "reconciled with the wallet wallet-api") {
		t.Fatalf("the audit did not reconcile with the wallet:\n%s", out)
	}
	// A clean run logs no error (a failed submission, verification or
	// payout would); warnings are shown.
	for _, l := range strings.Split(pool.Output(), "\n") {
		switch {
		case strings.Contains(l, "level=error"):
			t.Errorf("pool: %s", l)
		case strings.Contains(l, "level=warning"):
			t.Logf("pool: %s", l)
		}
	}
	t.Logf("whole test %s", time.Since(began).Round(time.Second))
}

// pastellaPoolConfig is the pool's configuration on the chain: every module;
// one stratum port at a fixed share difficulty (no vardiff), so share counts
// are comparable; light-mode verification (the miner has the 2 GiB dataset);
// the unlocker at depth 10 with 1 % pool fee and 1 % finder reward; payments
// every 2 s, rounded to pasDenom, miners paying the real network fee.
func pastellaPoolConfig(chain *testenv.PastellaChain, stratumPort, apiPort int, redisSocket string) string {
	w := chain.Pool
	return fmt.Sprintf(`{"coin":"pastella","poolAddress":%q,
		"daemon":{"host":"127.0.0.1","port":%d,"timeout":5000},
		"walletApi":{"host":"127.0.0.1","port":%d,"apiKey":%q,"walletFile":%q,"walletPassword":%q},
		"stratum":{"enabled":true,"bindIp":"127.0.0.1","blockRefreshInterval":200,"templateRefreshInterval":2},
		"ports":{"%d":{"diff":%d,"desc":"pastella e2e"}},"varDiff":{"enabled":false,"minDiff":1},
		"randomx":{"mode":"light","workers":2},
		"blockUnlocker":{"enabled":true,"interval":1,"depth":%d,"poolFee":1,"finderReward":1},
		"payments":{"enabled":true,"interval":2,"minPayment":%d,"denomination":%d,"transferFee":%d,
			"minerPayFee":true,"dynamicTransferFee":true},
		"redis":{"socket":%q},
		"api":{"enabled":true,"bindIp":"127.0.0.1","port":%d,"updateInterval":1,"rateLimit":0}}`,
		w.Address, chain.Daemon.RPCPort, w.Port, w.APIKey, w.File, w.Password,
		stratumPort, pasShareDiff, pasDepth, pasDenom, pasDenom, pasTxFee, redisSocket, apiPort)
}

// everySchemeFound is nil once the candidates hold a SOLO block and a PROP
// and a PPLNS block split between two miners each.
func everySchemeFound(bs []*storage.BlockRecord) error {
	have := map[string]bool{}
	for _, b := range bs {
		if b.Scheme == stratum.SchemeSolo || b.WeightEntries >= 2 {
			have[b.Scheme] = true
		}
	}
	for _, s := range []string{stratum.SchemeSolo, stratum.SchemeProp, stratum.SchemePPLNS} {
		if !have[s] {
			return fmt.Errorf("%d pool blocks, none %s (shared ones with two participants)", len(bs), s)
		}
	}
	return nil
}

// pasHeader is the part of getblockheaderbyheight the test reads.
type pasHeader struct {
	Hash   string `json:"hash"`
	Reward uint64 `json:"reward"`
	Depth  uint64 `json:"depth"`
}

func headerAt(t *testing.T, ctx context.Context, d *testenv.Pastellad, h uint64) pasHeader {
	t.Helper()
	var r struct {
		BlockHeader pasHeader `json:"block_header"`
	}
	if err := d.Call(ctx, "getblockheaderbyheight", map[string]any{"height": h}, &r); err != nil {
		t.Fatalf("header at %d: %v", h, err)
	}
	return r.BlockHeader
}

// poolBlocksOnChain checks that the blocks mined since start, when only the
// pool mined, are exactly the pool's candidates, all accepted, and returns
// the candidates by height.
func poolBlocksOnChain(t *testing.T, ctx context.Context, d *testenv.Pastellad, store *storage.Store, start uint64) []*storage.BlockRecord {
	t.Helper()
	top, err := d.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bs []*storage.BlockRecord
	e2e.WaitFor(t, 10*time.Second, "a candidate for every block since the miner started", func() error {
		if bs, err = store.PendingBlocks(ctx); err == nil && uint64(len(bs)) != top-start {
			err = fmt.Errorf("%d candidates for the %d blocks %d..%d", len(bs), top-start, start, top-1)
		}
		return err
	})
	slices.SortFunc(bs, func(a, b *storage.BlockRecord) int { return int(a.Height) - int(b.Height) })
	for i, b := range bs {
		hdr := headerAt(t, ctx, d, start+uint64(i))
		if b.Height != start+uint64(i) || b.Hash != hdr.Hash || b.SubmitError != "" {
			t.Fatalf("candidate %+v; the main chain has %s at height %d", b, hdr.Hash, start+uint64(i))
		}
	}
	return bs
}

// checkCredits checks every pool block's settlement and returns what each
// address was credited in all. A block is credited only once it is 10 deep
// (after minedFrom[its height + 10], when that block was mined by the test),
// for the reward of the pool's own coinbase output. SOLO: the finder gets
// the reward less the 1 % fee. PPLNS and PROP: 1 % fee, 1 % to the finder,
// the rest split by the frozen weights to the atomic unit (each credit the
// floor of its exact share or one more, summing to the rest). The weights
// hold only the block's scheme's miners; PROP rounds are every PROP share
// exactly once; PPLNS weights fill at most the window.
func checkCredits(t *testing.T, ctx context.Context, d *testenv.Pastellad, store *storage.Store, blocks []*storage.BlockRecord,
	minedFrom map[uint64]time.Time, miners []*pasMiner, accepted map[string]uint64) map[string]uint64 {
	t.Helper()
	scheme := map[string]string{} // address → scheme
	shares := map[string]uint64{} // address → accepted shares
	for _, m := range miners {
		scheme[m.w.Address] = m.scheme
		shares[m.w.Address] = accepted[m.login()]
	}
	credited := map[string]uint64{}
	propWeight := map[string]uint64{}
	var sumCredited uint64
	for _, b0 := range blocks {
		b, err := store.BlockByHash(ctx, b0.Hash)
		if err != nil {
			t.Fatal(err)
		}
		hdr := headerAt(t, ctx, d, b.Height)
		// A private chain has no stakers: the coinbase is the pool's alone.
		if b.Status != storage.StatusConfirmed || hdr.Hash != b.Hash || b.Reward < pasBlockReward || hdr.Reward != b.Reward {
			t.Fatalf("block %d: %+v; header %+v", b.Height, b, hdr)
		}
		if from, ok := minedFrom[b.Height+pasDepth]; ok && b.SettledAt.Before(from.Truncate(time.Millisecond)) {
			t.Errorf("block %d was credited at %s, before the block 10 above it was mined (from %s)", b.Height, b.SettledAt, from)
		}
		if scheme[b.Address] != b.Scheme {
			t.Errorf("block %d is %s, found by %s, who mines %s", b.Height, b.Scheme, b.Address, scheme[b.Address])
		}
		credits, err := store.BlockCredits(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		weights, err := store.BlockWeights(ctx, b.Hash)
		if err != nil {
			t.Fatal(err)
		}
		fee := b.Reward * pasFeeBP / 10_000
		var finder uint64
		if b.Scheme == stratum.SchemeSolo {
			if len(credits) != 1 || credits[b.Address] != b.Reward-fee {
				t.Errorf("SOLO block %d (reward %d): credits %v, want %d to the finder", b.Height, b.Reward, credits, b.Reward-fee)
			}
		} else {
			finder = b.Reward * pasFinderBP / 10_000
			checkShared(t, b, credits, weights, b.Reward-fee-finder)
			var total uint64
			for a, w := range weights {
				if scheme[a] != b.Scheme || w > shares[a]*pasShareDiff {
					t.Errorf("%s block %d: weight %d for %s (%s, %d shares accepted)", b.Scheme, b.Height, w, a, scheme[a], shares[a])
				}
				if b.Scheme == stratum.SchemeProp {
					propWeight[a] += w
				}
				total += w
			}
			if win := store.WindowWeight(b.NetDiff); b.Scheme == stratum.SchemePPLNS && total > win {
				t.Errorf("PPLNS block %d: weights %d exceed the window %d", b.Height, total, win)
			}
		}
		if b.Fee != fee || b.FinderReward != finder || b.Credited != b.Reward-fee || b.FeeAddress != "" {
			t.Errorf("block %d (reward %d): fee %d, finder %d, credited %d; want %d, %d, %d", b.Height, b.Reward, b.Fee, b.FinderReward, b.Credited, fee, finder, b.Reward-fee)
		}
		for a, c := range credits {
			credited[a] += c
		}
		credited[b.Address] += finder
		sumCredited += b.Reward - fee
		t.Logf("block %d %s found by %s…: reward %d, fee %d, finder %d, credits %v", b.Height, b.Scheme, b.Address[:12], b.Reward, fee, finder, credits)
	}
	// Every PROP share is in exactly one PROP block or the open round.
	round, err := store.Client().HGetAll(ctx, "{pastella}:round:prop").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range miners {
		if m.scheme != stratum.SchemeProp {
			continue
		}
		open, _ := strconv.ParseUint(round[m.w.Address], 10, 64)
		if got, want := propWeight[m.w.Address]+open, shares[m.w.Address]*pasShareDiff; got != want {
			t.Errorf("PROP miner %s: blocks weigh %d + open round %d, its %d accepted shares %d", m.name, propWeight[m.w.Address], open, shares[m.w.Address], want)
		}
	}
	tot, err := store.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sumBalances uint64
	for a := range credited {
		b := e2e.BalanceOf(t, store, a)
		sumBalances += uint64(b.Balance) + b.PendingPayment + b.Paid
	}
	if tot.Confirmed != uint64(len(blocks)) || tot.Orphaned != 0 || tot.Credited != sumCredited || sumBalances != sumCredited {
		t.Fatalf("totals %+v; %d blocks credited %d; the balances hold %d", tot, len(blocks), sumCredited, sumBalances)
	}
	return credited
}

// checkShared checks a PPLNS/PROP split of rest by weights, to the atomic
// unit: every participant, and only they, gets floor(rest × w / W) or one
// more, and the credits sum to rest.
func checkShared(t *testing.T, b *storage.BlockRecord, credits, weights map[string]uint64, rest uint64) {
	t.Helper()
	var total, sum uint64
	for _, w := range weights {
		total += w
	}
	for a, c := range credits {
		hi, lo := bits.Mul64(rest, weights[a])
		floor, _ := bits.Div64(hi, lo, total)
		if weights[a] == 0 || c < floor || c > floor+1 {
			t.Errorf("%s block %d: %s credited %d for weight %d of %d (floor %d of %d)", b.Scheme, b.Height, a, c, weights[a], total, floor, rest)
		}
		sum += c
	}
	if sum != rest || len(credits) != len(weights) {
		t.Errorf("%s block %d: credits %v sum to %d for weights %v; want %d", b.Scheme, b.Height, credits, sum, weights, rest)
	}
}

// checkPastellaPayouts checks the payouts against the wallets: each sent
// record's destinations were debited a multiple of the denomination and
// paid a share of the real fee; each miner's balance is what was credited
// modulo the denomination (not zero); each miner's wallet holds exactly
// what the pool recorded as sent to it; and the pool wallet changed by the
// rewards of the pool's blocks less what the payouts cost it.
func checkPastellaPayouts(t *testing.T, ctx context.Context, chain *testenv.PastellaChain, store *storage.Store,
	miners []*pasMiner, credited map[string]uint64, blocks []*storage.BlockRecord, poolBefore uint64) {
	t.Helper()
	recs, err := store.Payments(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	sent, debited := map[string]uint64{}, map[string]uint64{}
	var spent uint64 // left the pool wallet: amounts and network fees
	var nSent, nFailed int
	for _, r := range recs {
		if r.State != storage.PaymentSent {
			nFailed++
			t.Logf("payment %d %s: %s", r.ID, r.State, r.Error)
			continue
		}
		nSent++
		if r.Fee != pasTxFee || r.MinerFee > r.Fee {
			t.Errorf("payment %d: network fee %d, miners paid %d; the Wallet-API charges %d", r.ID, r.Fee, r.MinerFee, pasTxFee)
		}
		for _, d := range r.Dests {
			if d.Debit%pasDenom != 0 || d.Amount+d.Fee != d.Debit || d.Fee != r.Fee/uint64(len(r.Dests)) {
				t.Errorf("payment %d to %s: debit %d, fee %d, sent %d", r.ID, d.Address, d.Debit, d.Fee, d.Amount)
			}
			sent[d.Address] += d.Amount
			debited[d.Address] += d.Debit
		}
		spent += r.Sent + r.Fee
	}
	if nSent == 0 {
		t.Fatalf("no payment sent (%d records)", len(recs))
	}
	for _, m := range miners {
		a := m.w.Address
		b := e2e.BalanceOf(t, store, a)
		got, _, err := m.w.SyncedBalance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Balance != int64(credited[a]%pasDenom) || b.Balance == 0 || b.PendingPayment != 0 ||
			b.Paid != debited[a] || b.Sent() != sent[a] || got != sent[a] || sent[a] == 0 {
			t.Errorf("%s: credited %d, pool books %+v, payment records debited %d sent %d, its wallet holds %d",
				m.name, credited[a], b, debited[a], sent[a], got)
		}
	}
	var rewards uint64
	for _, b := range blocks {
		rewards += b.Reward
	}
	after, _, err := chain.Pool.SyncedBalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != poolBefore+rewards-spent {
		t.Errorf("pool wallet %d → %d; its blocks paid %d and the payouts cost %d: want %d", poolBefore, after, rewards, spent, poolBefore+rewards-spent)
	}
	t.Logf("%d payouts sent (%d not), %d left the pool wallet; sent %v", nSent, nFailed, spent, sent)
}

// checkAPIBalance checks that the API shows a miner the pool's books.
func checkAPIBalance(t *testing.T, base string, store *storage.Store, addr string) {
	t.Helper()
	want := e2e.BalanceOf(t, store, addr)
	e2e.WaitFor(t, 10*time.Second, "the API's balance for "+addr, func() error {
		resp, err := http.Get(base + "/api/stats?address=" + addr)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var got struct {
			Balance        int64  `json:"balance"`
			PendingPayment uint64 `json:"pendingPayment"`
			Paid           uint64 `json:"paid"`
			FeesPaid       uint64 `json:"feesPaid"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			return err
		}
		if got.Balance != want.Balance || got.PendingPayment != 0 || got.Paid != want.Sent() || got.FeesPaid != want.FeesPaid {
			return fmt.Errorf("API %+v, books %+v", got, want)
		}
		return nil
	})
}
