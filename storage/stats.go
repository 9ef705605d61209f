package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/stratum"
)

// Windows are the hashrate windows the statistics keep buckets for.
var Windows = []time.Duration{10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

const (
	statsTTL  = 30 * 24 * time.Hour // miner and worker counters, after the last activity
	bucketTTL = 26 * time.Hour      // an hour of minute buckets: the 24 h window plus the current hour
	onlineTTL = 35 * time.Second    // a Store's connected-miner entry without heartbeat
	maxWindow = 24 * time.Hour
	ipTTL     = 7 * 24 * time.Hour // a miner's share IPs, after the last share
)

// Counters are share counts of a miner, a worker or the pool.
type Counters struct {
	Hashes    uint64 // Σ difficulty of accepted shares (stale included)
	Accepted  uint64 // stale included
	Stale     uint64 // accepted within the grace window after a new tip
	Invalid   uint64 // rejections that count towards banning
	Rejected  uint64 // all other rejections (duplicates, ...)
	LastShare time.Time
}

// counter field names, shared by miner, worker and pool hashes.
const (
	fHashes, fAccepted, fStale, fInvalid, fRejected, fLast = "hashes", "accepted", "stale", "invalid", "rejected", "lastShare"
)

func (c *Counters) add(sh *stratum.Share) {
	c.Hashes += sh.Difficulty
	c.Accepted++
	if sh.Stale {
		c.Stale++
	}
	if sh.Time.After(c.LastShare) {
		c.LastShare = sh.Time
	}
}

func (c *Counters) reject(r *stratum.Rejection) {
	if r.Invalid {
		c.Invalid++
	} else {
		c.Rejected++
	}
}

// parse reads counters from a hash whose fields carry prefix.
func (c *Counters) parse(m map[string]string, prefix string) {
	get := func(f string) uint64 { v, _ := strconv.ParseUint(m[prefix+f], 10, 64); return v }
	c.Hashes, c.Accepted, c.Stale, c.Invalid, c.Rejected = get(fHashes), get(fAccepted), get(fStale), get(fInvalid), get(fRejected)
	if t := get(fLast); t > 0 {
		c.LastShare = time.Unix(int64(t), 0)
	}
}

// minerAgg sums one batch for one address.
type minerAgg struct {
	Counters
	workers  map[string]*Counters
	minutes  map[int64]uint64        // unix minute → hashes
	wminutes map[workerMinute]uint64 // per worker
	ips      map[string]int64        // IP → last accepted share (unix s)
	ranks    map[string]int64        // worker → workerRank
}

// rank raises a worker's rank to what an event at unix (accepted or not)
// gives it.
func (a *minerAgg) rank(worker string, unix int64, accepted bool) {
	r := workerRank(unix, accepted)
	if old, ok := a.ranks[worker]; !ok || r > old {
		a.ranks[worker] = r
	}
}

type workerMinute struct {
	worker string
	minute int64
}

func (s *Store) aggFor(m map[string]*minerAgg, addr, worker string) (*minerAgg, *Counters) {
	a := m[addr]
	if a == nil {
		a = &minerAgg{workers: map[string]*Counters{}, minutes: map[int64]uint64{}, wminutes: map[workerMinute]uint64{}, ips: map[string]int64{}, ranks: map[string]int64{}}
		m[addr] = a
	}
	w := a.workers[worker]
	if w == nil {
		w = &Counters{}
		a.workers[worker] = w
	}
	return a, w
}

// statsGroups sums a batch's statistics per address, worker and minute, so
// a batch costs a few operations per miner, not per share, and groups them
// by slot (statsbatch.go): one script per address and per pool key.
func (s *Store) statsGroups(b *batch) []*statsGroup {
	miners := map[string]*minerAgg{}
	var pool Counters
	poolMin := map[string]uint64{} // "<minute>" and "<scheme>:<minute>"
	for i := range b.shares {
		sh := &b.shares[i]
		a, w := s.aggFor(miners, sh.Address, sh.Worker)
		a.add(sh)
		w.add(sh)
		a.rank(sh.Worker, sh.Time.Unix(), true)
		pool.add(sh)
		m := sh.Time.Unix() / 60
		a.minutes[m] += sh.Difficulty
		a.wminutes[workerMinute{sh.Worker, m}] += sh.Difficulty
		if sh.IP != "" {
			a.ips[sh.IP] = max(a.ips[sh.IP], sh.Time.Unix())
		}
		ms := strconv.FormatInt(m, 10)
		poolMin[ms] += sh.Difficulty
		poolMin[sh.Scheme+":"+ms] += sh.Difficulty
	}
	for i := range b.rejects {
		r := &b.rejects[i]
		pool.reject(r)
		if r.Stranger {
			continue // no accepted work: nothing per miner (stratum.Rejection)
		}
		a, w := s.aggFor(miners, r.Address, r.Worker)
		a.reject(r)
		w.reject(r)
		a.rank(r.Worker, r.Time.Unix(), false)
	}
	gs := &statsGroups{s: s, seq: b.seq, by: map[string]*statsGroup{}}
	for addr, a := range miners {
		g := gs.miner(addr)
		key := s.k.miner(addr)
		g.counters(&a.Counters, key, "")
		s.expire(g, key, statsTTL)
		g.workers(s.k.workers(addr), s.k.workersSeen(addr), s.opt.maxWorkers, a)
		touched := map[string]bool{}
		for m, h := range a.minutes {
			k := s.k.minerHR(addr, m/60)
			g.hincr(k, strconv.FormatInt(m, 10), h)
			touched[k] = true
		}
		for wm, h := range a.wminutes {
			k := s.k.workerHR(addr, wm.minute/60)
			g.hincr(k, wm.worker+":"+strconv.FormatInt(wm.minute, 10), h)
			touched[k] = true
		}
		for k := range touched {
			s.expire(g, k, bucketTTL)
		}
		for ip, t := range a.ips {
			g.zadd(s.k.minerIPs(addr), t, ip)
		}
		if len(a.ips) > 0 {
			s.expire(g, s.k.minerIPs(addr), ipTTL)
		}
		if !a.LastShare.IsZero() {
			gs.pool(s.k.minersSeen).zadd(s.k.minersSeen, a.LastShare.Unix(), addr)
		}
	}
	if pool != (Counters{}) {
		gs.pool(s.k.pool).counters(&pool, s.k.pool, "")
	}
	hours := map[int64]bool{}
	for f, h := range poolMin {
		m, _ := strconv.ParseInt(f[strings.IndexByte(f, ':')+1:], 10, 64)
		gs.pool(s.k.poolHR(m/60)).hincr(s.k.poolHR(m/60), f, h)
		hours[m/60] = true
	}
	for h := range hours {
		s.expire(gs.pool(s.k.poolHR(h)), s.k.poolHR(h), bucketTTL)
	}
	return gs.order
}

// expire sets a statistics key's TTL, at most once an hour per key: the
// TTLs are a day or more, and an EXPIRE per key per batch would be a third
// of all the work a batch does. Called under flushMu.
func (s *Store) expire(g *statsGroup, key string, ttl time.Duration) {
	now := time.Now().Unix()
	if s.expired == nil || now-s.expiredPruned >= 3600 {
		s.expired, s.expiredPruned = map[string]int64{}, now
	}
	if now-s.expired[key] < 3600 {
		return
	}
	s.expired[key] = now
	g.expire(key, ttl)
}

// Scope selects whose hashrate: the pool (zero value, optionally one
// scheme), an address, or one worker of an address.
type Scope struct {
	Address string
	Worker  string
	Scheme  string // pool scope only
}

// statsRead reads, in one pipeline, a counters hash (when counters is not
// "") and the minute buckets of the last maxWindow for a scope: minute →
// hashes, keyed by the field's name part before the minute ("" for the
// address/pool total, the worker or scheme otherwise).
func (s *Store) statsRead(ctx context.Context, counters string, key func(hour int64) string) (map[string]string, map[string]map[int64]uint64, time.Time, error) {
	now := s.now()
	nowMin := now.Unix() / 60
	first := nowMin - int64(maxWindow/time.Minute) + 1
	pipe := s.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	for h := first / 60; h <= nowMin/60; h++ {
		cmds = append(cmds, pipe.HGetAll(ctx, key(h)))
	}
	var cnt *redis.MapStringStringCmd
	if counters != "" {
		cnt = pipe.HGetAll(ctx, counters)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, now, err
	}
	out := map[string]map[int64]uint64{}
	for _, c := range cmds {
		for f, v := range c.Val() {
			name, ms := "", f
			if i := strings.LastIndexByte(f, ':'); i >= 0 {
				name, ms = f[:i], f[i+1:]
			}
			m, err1 := strconv.ParseInt(ms, 10, 64)
			h, err2 := strconv.ParseUint(v, 10, 64)
			if err1 != nil || err2 != nil || m < first || m > nowMin {
				continue
			}
			if out[name] == nil {
				out[name] = map[int64]uint64{}
			}
			out[name][m] += h
		}
	}
	var cm map[string]string
	if cnt != nil {
		cm = cnt.Val()
	}
	return cm, out, now, nil
}

// rate is the hashrate (H/s) over window from minute buckets: the hashes of
// the minutes it spans, the current partial one included, over the time
// from the first such minute's start to now.
func rate(b map[int64]uint64, window time.Duration, now time.Time) float64 {
	w := int64(window / time.Minute)
	if w < 1 {
		w = 1
	}
	first := now.Unix()/60 - w + 1
	var sum uint64
	for m, h := range b {
		if m >= first {
			sum += h
		}
	}
	span := now.Sub(time.Unix(first*60, 0)).Seconds()
	if span < 1 {
		span = 1
	}
	return float64(sum) / span
}

func rates(b map[int64]uint64, now time.Time) map[time.Duration]float64 {
	out := make(map[time.Duration]float64, len(Windows))
	for _, w := range Windows {
		out[w] = rate(b, w, now)
	}
	return out
}

// Hashrate is the hashrate of scope over window (at most 24 h), in H/s.
func (s *Store) Hashrate(ctx context.Context, scope Scope, window time.Duration) (float64, error) {
	if window <= 0 || window > maxWindow {
		return 0, fmt.Errorf("storage: hashrate window %v outside (0, %v]", window, maxWindow)
	}
	name, key := s.scopeKey(scope)
	_, b, now, err := s.statsRead(ctx, "", key)
	if err != nil {
		return 0, err
	}
	return rate(b[name], window, now), nil
}

// MinerStats are one address's statistics.
type MinerStats struct {
	Address string
	Counters
	Hashrate map[time.Duration]float64 // H/s per window in Windows
}

// MinerStats reads an address's counters and hashrates.
func (s *Store) MinerStats(ctx context.Context, addr string) (*MinerStats, error) {
	st, _, err := s.minerRead(ctx, addr, 0)
	return st, err
}

// minerRead reads an address's counters and buckets, and its hashrate
// series in steps of step when step > 0.
func (s *Store) minerRead(ctx context.Context, addr string, step time.Duration) (*MinerStats, []Point, error) {
	m, b, now, err := s.statsRead(ctx, s.k.miner(addr), func(h int64) string { return s.k.minerHR(addr, h) })
	if err != nil {
		return nil, nil, err
	}
	st := &MinerStats{Address: addr, Hashrate: rates(b[""], now)}
	st.parse(m, "")
	var ps []Point
	if step > 0 {
		ps = series(b[""], now, step)
	}
	return st, ps, nil
}

// WorkerStats are one worker's statistics.
type WorkerStats struct {
	Name string
	Counters
	Hashrate map[time.Duration]float64
	Online   int     // sessions connected now, over all stratum processes
	Series   []Point // hashrate over 24 h (WorkerStatsSeries); nil without
}

// WorkerStats reads the statistics of an address's workers, by name: every
// worker kept, at most maxWorkersPerAddress (scriptStats' w operation).
func (s *Store) WorkerStats(ctx context.Context, addr string) ([]WorkerStats, error) {
	return s.WorkerStatsSeries(ctx, addr, 0)
}

// maxWorkerSeries is how many workers get a hashrate series: a chart with
// more lines is unreadable, and a farm's 256 series would be most of the
// miner page's reply.
const maxWorkerSeries = 16

// WorkerStatsSeries is WorkerStats plus, for the maxWorkerSeries workers
// with the most hashes in the last 24 h, their HashrateSeries over steps
// of step (0: none), from the same read of the buckets.
func (s *Store) WorkerStatsSeries(ctx context.Context, addr string, step time.Duration) ([]WorkerStats, error) {
	if step != 0 && (step < time.Minute || step > maxWindow) {
		return nil, fmt.Errorf("storage: series step %v outside [1m, %v]", step, maxWindow)
	}
	m, b, now, err := s.statsRead(ctx, s.k.workers(addr), func(h int64) string { return s.k.workerHR(addr, h) })
	if err != nil {
		return nil, err
	}
	// Only workers with counters: the minute buckets may still name workers
	// dropped by the cap (scriptStats' w operation).
	names := workerNames(m, s.opt.maxWorkers)
	online, err := s.sessions(ctx, addr, names)
	if err != nil {
		return nil, err
	}
	out := make([]WorkerStats, 0, len(names))
	for _, n := range names {
		w := WorkerStats{Name: n, Hashrate: rates(b[n], now), Online: online[n]}
		w.parse(m, n+":")
		out = append(out, w)
	}
	if step > 0 {
		total := make(map[string]uint64, len(out))
		for _, w := range out {
			for _, h := range b[w.Name] {
				total[w.Name] += h
			}
		}
		sort.Slice(out, func(i, j int) bool { return total[out[i].Name] > total[out[j].Name] })
		for i := range out[:min(len(out), maxWorkerSeries)] {
			if total[out[i].Name] > 0 {
				out[i].Series = series(b[out[i].Name], now, step)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PoolStats are the pool-wide statistics.
type PoolStats struct {
	Counters
	Hashrate       map[time.Duration]float64
	SchemeHashrate map[string]map[time.Duration]float64 // by reward scheme
	Miners         int                                  // distinct addresses connected now
	Workers        int                                  // distinct address+worker connected now
	Sessions       int                                  // connections
	ActiveMiners   int64                                // addresses with a share in the last 10 minutes
	Blocks         int64                                // candidates ever recorded
	PendingBlocks  int64
}

// PoolStats reads the pool counters, hashrates and connected miners.
func (s *Store) PoolStats(ctx context.Context) (*PoolStats, error) {
	counters, b, now, err := s.statsRead(ctx, s.k.pool, s.k.poolHR)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	active := pipe.ZCount(ctx, s.k.minersSeen, strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10), "+inf")
	blocks := pipe.ZCard(ctx, s.k.blocks)
	pending := pipe.ZCard(ctx, s.k.pending)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	online, err := s.Connected(ctx)
	if err != nil {
		return nil, err
	}
	st := &PoolStats{
		Hashrate: rates(b[""], now), SchemeHashrate: map[string]map[time.Duration]float64{},
		ActiveMiners: active.Val(), Blocks: blocks.Val(), PendingBlocks: pending.Val(),
	}
	st.parse(counters, "")
	for _, sc := range []string{stratum.SchemePPLNS, stratum.SchemeProp, stratum.SchemeSolo} {
		st.SchemeHashrate[sc] = rates(b[sc], now)
	}
	for _, ws := range online {
		st.Miners++
		st.Workers += len(ws)
		for _, n := range ws {
			st.Sessions += n
		}
	}
	return st, nil
}

// SharedFrom tells whether ip submitted an accepted share for addr at or
// after since. The API lets a miner change their settings only from an IP
// that mines for the address: proof of control without accounts.
func (s *Store) SharedFrom(ctx context.Context, addr, ip string, since time.Time) (bool, error) {
	t, err := s.rdb.ZScore(ctx, s.k.minerIPs(addr), ip).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return int64(t) >= since.Unix(), nil
}
