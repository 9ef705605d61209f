package api

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"rxpool/storage"
)

const (
	recentBlocks   = 10
	recentPayments = 10
	chartStep      = 10 * time.Minute // hashrate chart resolution (144 points a day)
	chartSlot      = 5 * time.Minute  // miners/workers/difficulty sample interval
	chartKeep      = 48 * time.Hour
	slowEvery      = 30 * time.Second // top miners and totals: costly with many miners
	topMax         = 100
)

// snapshot is the pool-wide state every public response is cut from.
type snapshot struct {
	at             time.Time
	stats          Stats
	json           []byte // stats encoded once, written to every /stats request
	paymentStats   storage.PayoutStats
	paymentsHalted int
	totals         storage.Totals
}

// slowState is rebuilt every slowEvery: one summary per active miner.
type slowState struct {
	mu        sync.Mutex
	at        time.Time
	byRate    []TopMiner // sorted by hashrate, at most topMax
	byHashes  []TopMiner // sorted by hashes
	totalPaid uint64
}

// Snapshot returns the newest snapshot's /stats, false before the first.
func (s *Server) Snapshot() (*Stats, bool) {
	sn := s.snap.Load()
	if sn == nil {
		return nil, false
	}
	return &sn.stats, true
}

// PaymentState reports payment counters, the unconfirmed payouts and how
// many payments are halted, from the newest snapshot.
func (s *Server) PaymentState() (storage.PayoutStats, int, bool) {
	sn := s.snap.Load()
	if sn == nil {
		return storage.PayoutStats{}, 0, false
	}
	return sn.paymentStats, sn.paymentsHalted, true
}

// Refresh rebuilds the snapshot now.
func (s *Server) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(s.cfg.UpdateInterval, 10*time.Second))
	defer cancel()
	st, now := s.deps.Store, s.now()
	prev := s.snap.Load()
	sn := &snapshot{at: now}
	out := &sn.stats
	out.Updated, out.Config = now.UnixMilli(), s.cfg.Public

	out.Network = s.network(ctx)
	if !out.Network.OK && prev != nil { // keep the last known chain, flagged
		out.Network = prev.stats.Network
		out.Network.OK = false
	}

	ps, err := st.PoolStats(ctx)
	if err != nil {
		return err
	}
	if sn.totals, err = st.Totals(ctx); err != nil {
		return err
	}
	round, err := st.Round(ctx)
	if err != nil {
		return err
	}
	blocks, err := st.Blocks(ctx, 0, recentBlocks)
	if err != nil {
		return err
	}
	pays, nPays, err := st.SentPayments(ctx, 0, recentPayments)
	if err != nil {
		return err
	}
	if sn.paymentStats, err = st.PayoutStats(ctx); err != nil {
		return err
	}
	halted, err := st.HaltedPayments(ctx)
	if err != nil {
		return err
	}
	sn.paymentsHalted = len(halted)

	p := &out.Pool
	p.Hashrates = hashrates(ps.Hashrate)
	p.Hashrate = p.Hashrates.M10
	p.HashrateByScheme = map[string]float64{}
	for sc, r := range ps.SchemeHashrate {
		p.HashrateByScheme[sc] = r[10*time.Minute]
	}
	p.Miners, p.Workers, p.Connections, p.ActiveMiners = ps.Miners, ps.Workers, ps.Sessions, ps.ActiveMiners
	p.Shares = shares(ps.Counters)
	p.BlocksFound, p.BlocksPending = ps.Blocks, ps.PendingBlocks
	p.BlocksConfirmed, p.BlocksOrphaned = sn.totals.Confirmed, sn.totals.Orphaned
	if len(blocks) > 0 {
		p.LastBlockFound = ms(blocks[0].Time)
	}
	d := float64(out.Network.Difficulty)
	size := st.WindowWeight(out.Network.Difficulty)
	p.PPLNSWindow = Window{Size: size, Filled: min(round.PPLNSWeight, size), Percent: pct(float64(min(round.PPLNSWeight, size)), float64(size))}
	p.Effort = map[string]float64{}
	for _, sc := range []string{"pplns", "prop"} {
		p.Effort[sc] = pct(float64(round.Effort[sc]), d)
	}
	p.PaymentsSent = nPays

	out.Blocks = make([]Block, len(blocks))
	for i, b := range blocks {
		out.Blocks[i] = s.block(b, out.Network.Height)
	}
	out.Payments = make([]Payment, len(pays))
	for i, sp := range pays {
		out.Payments[i] = Payment{ID: sp.ID, Time: ms(sp.Time), TxHash: sp.TxHash, Amount: sp.Amount, Fee: sp.Fee, Destinations: sp.Destinations, Imported: sp.ID == 0}
	}

	if err := s.charts(ctx, out, now); err != nil {
		return err
	}
	if err := s.refreshSlow(ctx, now); err != nil {
		return err
	}
	s.slow.mu.Lock()
	p.TotalPaid = s.slow.totalPaid
	s.slow.mu.Unlock()
	if sn.json, err = json.Marshal(out); err != nil {
		return err
	}
	s.snap.Store(sn)
	return nil
}

// network reads the chain's height, difficulty and newest block.
func (s *Server) network(ctx context.Context) Network {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := s.deps.Daemon.Info(ctx)
	if err != nil {
		s.log.Debugf("api: daemon info: %v", err)
		return Network{}
	}
	n := Network{OK: true, Height: info.Height, Difficulty: info.Difficulty}
	if h, err := s.deps.Daemon.LastBlockHeader(ctx); err == nil {
		n.LastBlock = LastBlock{Height: h.Height, Hash: hex.EncodeToString(h.Hash[:]), Time: int64(h.Timestamp) * 1000, Reward: h.Reward}
	} else {
		s.log.Debugf("api: daemon last block: %v", err)
	}
	return n
}

// block turns a candidate record into its public form; height is the
// chain height (0 when unknown).
func (s *Server) block(b *storage.BlockRecord, height uint64) Block {
	out := Block{
		Height: b.Height, Hash: b.Hash, Time: ms(b.Time), Scheme: b.Scheme, Finder: b.Address, Worker: b.Worker,
		Status: b.Status, Reward: b.Reward, Difficulty: b.NetDiff, ShareDiff: b.ShareDiff,
		Effort: pct(float64(b.EffortHashes), float64(b.NetDiff)), Depth: s.cfg.Depth,
	}
	if height > b.Height {
		out.Confirmations = height - b.Height
	}
	return out
}

// charts fills the pool charts: hashrate from the share buckets, the rest
// from samples this process (or another API process) recorded.
func (s *Server) charts(ctx context.Context, out *Stats, now time.Time) error {
	st := s.deps.Store
	series, err := st.HashrateSeries(ctx, storage.Scope{}, chartStep)
	if err != nil {
		return err
	}
	out.Charts.Hashrate = points(series)
	s.chartMu.Lock()
	defer s.chartMu.Unlock()
	if slot := now.Truncate(chartSlot); slot.After(s.lastAdd) && out.Network.OK {
		c := storage.ChartSample{Time: now, Miners: out.Pool.Miners, Workers: out.Pool.Workers, Difficulty: out.Network.Difficulty}
		if err := st.AddChartSample(ctx, c, chartSlot, chartKeep); err != nil {
			return err
		}
		s.lastAdd = slot
	}
	samples, err := st.ChartSamples(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	for _, c := range samples {
		t := float64(c.Time.UnixMilli())
		out.Charts.Miners = append(out.Charts.Miners, [2]float64{t, float64(c.Miners)})
		out.Charts.Workers = append(out.Charts.Workers, [2]float64{t, float64(c.Workers)})
		out.Charts.Difficulty = append(out.Charts.Difficulty, [2]float64{t, float64(c.Difficulty)})
	}
	return nil
}

func points(ps []storage.Point) [][2]float64 {
	out := make([][2]float64, len(ps))
	for i, p := range ps {
		out[i] = [2]float64{float64(p.Time.UnixMilli()), p.Value}
	}
	return out
}

// refreshSlow rebuilds the top-miner lists and the paid total when they
// are older than slowEvery.
func (s *Server) refreshSlow(ctx context.Context, now time.Time) error {
	s.slow.mu.Lock()
	fresh := now.Sub(s.slow.at) < slowEvery
	s.slow.mu.Unlock()
	if fresh {
		return nil
	}
	act, err := s.deps.Store.ActiveMiners(ctx, now.Add(-24*time.Hour), 10*time.Minute)
	if err != nil {
		return err
	}
	paid, err := s.deps.Store.PaidTotal(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	all := make([]TopMiner, len(act))
	for i, m := range act {
		all[i] = TopMiner{Address: m.Address, Hashrate: m.Hashrate, Hashes: m.Hashes, LastShare: ms(m.LastShare)}
	}
	// Largest first, ties by address, so the order is stable across rebuilds.
	top := func(desc func(a, b TopMiner) int) []TopMiner {
		l := slices.Clone(all)
		slices.SortFunc(l, func(a, b TopMiner) int { return cmp.Or(desc(a, b), strings.Compare(a.Address, b.Address)) })
		return l[:min(len(l), topMax)]
	}
	byRate := top(func(a, b TopMiner) int { return cmp.Compare(b.Hashrate, a.Hashrate) })
	byHashes := top(func(a, b TopMiner) int { return cmp.Compare(b.Hashes, a.Hashes) })
	s.slow.mu.Lock()
	s.slow.at, s.slow.byRate, s.slow.byHashes, s.slow.totalPaid = now, byRate, byHashes, paid
	s.slow.mu.Unlock()
	return nil
}
