package storage

// Reads for the HTTP API: each is one or a few pipelined round trips, so the
// API's snapshot of a pool with thousands of miners stays cheap.

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RoundInfo is the state of the current rounds.
type RoundInfo struct {
	PPLNSWeight uint64            // Σ weights in the PPLNS share log (may exceed the window; trimmed lazily)
	Effort      map[string]uint64 // scheme (pplns, prop) → Σ share difficulty since its last block
}

// Round reads the PPLNS log weight and the effort of each shared scheme.
func (s *Store) Round(ctx context.Context) (RoundInfo, error) {
	pipe := s.rdb.Pipeline()
	total := pipe.Get(ctx, s.k.pplnsTotal)
	effort := pipe.HGetAll(ctx, s.k.effort)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return RoundInfo{}, err
	}
	var r RoundInfo
	if v, err := total.Result(); err == nil {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return r, fmt.Errorf("storage: %s: %q is not a weight", s.k.pplnsTotal, v)
		}
		r.PPLNSWeight = uint64(max(n, 0))
	}
	var err error
	r.Effort, err = parseUintMap(s.k.effort, effort.Val())
	return r, err
}

// WindowWeight is the PPLNS window, in weight, at network difficulty d.
func (s *Store) WindowWeight(d uint64) uint64 {
	n, err := s.windowWeight(d)
	if err != nil {
		return 0
	}
	return n
}

// Point is one sample of a chart series.
type Point struct {
	Time  time.Time
	Value float64
}

// HashrateSeries is scope's hashrate over the last 24 h, averaged over
// steps of step (at least a minute), oldest first; the last point covers the
// current, partial step up to now.
func (s *Store) HashrateSeries(ctx context.Context, scope Scope, step time.Duration) ([]Point, error) {
	if step < time.Minute || step > maxWindow {
		return nil, fmt.Errorf("storage: series step %v outside [1m, %v]", step, maxWindow)
	}
	name, key := s.scopeKey(scope)
	_, b, now, err := s.statsRead(ctx, "", key)
	if err != nil {
		return nil, err
	}
	return series(b[name], now, step), nil
}

// series averages minute buckets over steps of step ending now.
func series(b map[int64]uint64, now time.Time, step time.Duration) []Point {
	stepMin := int64(step / time.Minute)
	nowMin := now.Unix() / 60
	// Steps end at the current minute, so the newest point is always the
	// freshest data; the oldest step starts 24 h ago.
	n := int64(maxWindow/time.Minute) / stepMin
	sums := make([]uint64, n)
	for m, h := range b {
		i := n - 1 - (nowMin-m)/stepMin
		if i >= 0 && i < n {
			sums[i] += h
		}
	}
	out := make([]Point, n)
	for i := range out {
		end := time.Unix((nowMin-(n-1-int64(i))*stepMin+1)*60, 0)
		span := step
		if i == len(out)-1 { // the current step: only the time elapsed so far
			span = now.Sub(end.Add(-step))
		}
		out[i] = Point{Time: end, Value: float64(sums[i]) / max(span.Seconds(), 1)}
	}
	out[n-1].Time = now
	return out
}

// MinerStatsSeries is MinerStats plus the address's HashrateSeries, from
// one read of the buckets.
func (s *Store) MinerStatsSeries(ctx context.Context, addr string, step time.Duration) (*MinerStats, []Point, error) {
	if step < time.Minute || step > maxWindow {
		return nil, nil, fmt.Errorf("storage: series step %v outside [1m, %v]", step, maxWindow)
	}
	return s.minerRead(ctx, addr, step)
}

// Threshold is an address's own minimum payout, 0 when it has none.
func (s *Store) Threshold(ctx context.Context, addr string) (uint64, error) {
	v, err := s.rdb.HGet(ctx, s.k.thresholds, addr).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("storage: %s field %s: %q is not an amount", s.k.thresholds, addr, v)
	}
	return n, nil
}

// scopeKey picks the bucket key and the field-name part of a scope.
func (s *Store) scopeKey(scope Scope) (string, func(int64) string) {
	switch {
	case scope.Address == "":
		return scope.Scheme, s.k.poolHR
	case scope.Worker == "":
		return "", func(h int64) string { return s.k.minerHR(scope.Address, h) }
	}
	return scope.Worker, func(h int64) string { return s.k.workerHR(scope.Address, h) }
}

// MinerBlock is an address's part in one block.
type MinerBlock struct {
	*BlockRecord
	Weight uint64 // the address's frozen weight (0 for a SOLO finder: it takes it all)
	// Amount is what the address was credited (participation and finder
	// reward) for a confirmed block, an estimate before fee for a pending one
	// and 0 for an orphan.
	Amount    uint64
	Estimated bool
}

// Share is the address's part of the block's weight, in percent.
func (m *MinerBlock) Share() float64 {
	if m.TotalWeight == 0 {
		return 0
	}
	return 100 * float64(m.Weight) / float64(m.TotalWeight)
}

// MinerBlocks returns the blocks among the newest scan whose weights or
// credits include addr, newest first.
func (s *Store) MinerBlocks(ctx context.Context, addr string, scan int) ([]MinerBlock, error) {
	blocks, err := s.Blocks(ctx, 0, scan)
	if err != nil || len(blocks) == 0 {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	weights := make([]*redis.StringCmd, len(blocks))
	credits := make([]*redis.StringCmd, len(blocks))
	for i, b := range blocks {
		weights[i] = pipe.HGet(ctx, s.k.weights(b.Hash), addr)
		credits[i] = pipe.HGet(ctx, s.k.credits(b.Hash), addr)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out []MinerBlock
	for i, b := range blocks {
		w, _ := strconv.ParseUint(weights[i].Val(), 10, 64)
		c, _ := strconv.ParseUint(credits[i].Val(), 10, 64)
		finder := b.Address == addr
		if w == 0 && c == 0 && !finder {
			continue
		}
		mb := MinerBlock{BlockRecord: b, Weight: w}
		switch b.Status {
		case StatusConfirmed:
			mb.Amount = c
			if finder {
				mb.Amount += b.FinderReward
			}
		case StatusPending:
			mb.Estimated = true
			if b.TotalWeight > 0 && w <= b.TotalWeight { // a part of the whole; mulDiv needs it
				mb.Amount = mulDiv(b.Reward, w, b.TotalWeight)
			}
		}
		out = append(out, mb)
	}
	return out, nil
}

// mulDiv is floor(a × b / c) for b ≤ c (so the quotient fits 64 bits).
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// MinerSummary is one line of a miners table.
type MinerSummary struct {
	Address   string
	Hashes    uint64 // all time (30 days after the last activity)
	Hashrate  float64
	LastShare time.Time
}

// ActiveMiners summarises every address with a share at or after since:
// counters and the hashrate over window (≤ 1 h), read in pipelines of a
// thousand addresses.
func (s *Store) ActiveMiners(ctx context.Context, since time.Time, window time.Duration) ([]MinerSummary, error) {
	if window <= 0 || window > time.Hour {
		return nil, fmt.Errorf("storage: active-miner window %v outside (0, 1h]", window)
	}
	addrs, err := s.rdb.ZRangeByScore(ctx, s.k.minersSeen, &redis.ZRangeBy{Min: strconv.FormatInt(since.Unix(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	now := s.now()
	nowMin := now.Unix() / 60
	first := nowMin - int64(window/time.Minute) + 1
	fields := map[int64][]string{} // hour → minute fields in the window
	for m := first; m <= nowMin; m++ {
		fields[m/60] = append(fields[m/60], strconv.FormatInt(m, 10))
	}
	out := make([]MinerSummary, 0, len(addrs))
	for start := 0; start < len(addrs); start += 1000 {
		chunk := addrs[start:min(start+1000, len(addrs))]
		pipe := s.rdb.Pipeline()
		counters := make([]*redis.SliceCmd, len(chunk))
		buckets := make([][]*redis.SliceCmd, len(chunk))
		for i, a := range chunk {
			counters[i] = pipe.HMGet(ctx, s.k.miner(a), fHashes, fLast)
			for h, fs := range fields {
				buckets[i] = append(buckets[i], pipe.HMGet(ctx, s.k.minerHR(a, h), fs...))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, a := range chunk {
			m := MinerSummary{Address: a}
			v := counters[i].Val()
			m.Hashes = parseAny(v[0])
			if t := parseAny(v[1]); t > 0 {
				m.LastShare = time.Unix(int64(t), 0)
			}
			var sum uint64
			for _, c := range buckets[i] {
				for _, x := range c.Val() {
					sum += parseAny(x)
				}
			}
			m.Hashrate = float64(sum) / max(now.Sub(time.Unix(first*60, 0)).Seconds(), 1)
			out = append(out, m)
		}
	}
	return out, nil
}

func parseAny(v any) uint64 {
	s, _ := v.(string)
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// SentPayment is one payout transaction as the public sees it.
type SentPayment struct {
	ID           uint64
	Time         time.Time
	TxHash       string
	Amount       uint64 // sent to the destinations
	Fee          uint64 // the network fee
	MinerFees    uint64 // the part of Fee the miners paid
	Destinations int
	State        string // the record's: sent or confirmed; "" when imported
}

// SentPayments returns a page of the sent payouts, newest first, and how
// many there are.
func (s *Store) SentPayments(ctx context.Context, offset, limit int) ([]SentPayment, int64, error) {
	zs, total, err := s.page(ctx, s.k.payAll, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]SentPayment, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		f := strings.Split(m, ":")
		p := SentPayment{Time: time.UnixMilli(int64(z.Score))}
		var n [5]uint64
		ok := len(f) == 6
		for i := 0; ok && i < 5; i++ {
			n[i], err = strconv.ParseUint(f[i+1], 10, 64)
			ok = err == nil
		}
		if !ok {
			return nil, 0, fmt.Errorf("storage: malformed payment entry %q", m)
		}
		p.TxHash, p.Amount, p.Fee, p.MinerFees, p.Destinations, p.ID = f[0], n[0], n[1], n[2], int(n[3]), n[4]
		out = append(out, p)
	}
	return out, total, s.withStates(ctx, len(out), func(i int) (uint64, *string) { return out[i].ID, &out[i].State })
}

// MinerPaymentCount is how many payments addr received.
func (s *Store) MinerPaymentCount(ctx context.Context, addr string) (int64, error) {
	return s.rdb.ZCard(ctx, s.k.history(addr)).Result()
}

// BlockCount is how many candidates were ever recorded.
func (s *Store) BlockCount(ctx context.Context) (int64, error) {
	return s.rdb.ZCard(ctx, s.k.blocks).Result()
}

// page reads one page of a sorted set, highest score first, and its size.
func (s *Store) page(ctx context.Context, key string, offset, limit int) ([]redis.Z, int64, error) {
	if limit <= 0 || offset < 0 {
		return nil, 0, fmt.Errorf("storage: bad page offset %d limit %d", offset, limit)
	}
	pipe := s.rdb.Pipeline()
	zs := pipe.ZRevRangeWithScores(ctx, key, int64(offset), int64(offset+limit-1))
	n := pipe.ZCard(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, err
	}
	return zs.Val(), n.Val(), nil
}

// ChartSample is one point of the pool's charts that cannot be derived from
// the hashrate buckets.
type ChartSample struct {
	Time       time.Time
	Miners     int
	Workers    int
	Difficulty uint64
}

// AddChartSample records a sample in the slot of its time (time truncated
// to slot) and drops samples older than keep. Several API processes may
// record the same slot; readers keep one sample per slot.
func (s *Store) AddChartSample(ctx context.Context, c ChartSample, slot, keep time.Duration) error {
	t := c.Time.Truncate(slot).Unix()
	member := fmt.Sprintf("%d:%d:%d:%d", t, c.Miners, c.Workers, c.Difficulty)
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, s.k.charts, redis.Z{Score: float64(t), Member: member})
	pipe.ZRemRangeByScore(ctx, s.k.charts, "-inf", "("+strconv.FormatInt(c.Time.Add(-keep).Unix(), 10))
	_, err := pipe.Exec(ctx)
	return err
}

// ChartSamples returns the samples at or after since, one per slot, oldest
// first.
func (s *Store) ChartSamples(ctx context.Context, since time.Time) ([]ChartSample, error) {
	ms, err := s.rdb.ZRangeByScore(ctx, s.k.charts, &redis.ZRangeBy{Min: strconv.FormatInt(since.Unix(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	bySlot := map[int64]ChartSample{}
	for _, m := range ms {
		var t int64
		var c ChartSample
		if _, err := fmt.Sscanf(m, "%d:%d:%d:%d", &t, &c.Miners, &c.Workers, &c.Difficulty); err != nil {
			continue // a sample is not money; skip what we cannot read
		}
		c.Time = time.Unix(t, 0)
		bySlot[t] = c
	}
	out := make([]ChartSample, 0, len(bySlot))
	for _, c := range bySlot {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Accounts reads every address's money: balance, pending payment, paid and
// fees paid (HSCAN, so Redis is never blocked by one big reply).
func (s *Store) Accounts(ctx context.Context) (map[string]*Balance, error) {
	out := map[string]*Balance{}
	get := func(a string) *Balance {
		if out[a] == nil {
			out[a] = &Balance{}
		}
		return out[a]
	}
	for _, h := range s.balanceFields() {
		iter := s.rdb.HScan(ctx, h.key, 0, "", 1000).Iterator()
		for iter.Next(ctx) {
			addr := iter.Val()
			if !iter.Next(ctx) {
				break
			}
			if err := h.set(get(addr), iter.Val()); err != nil {
				return nil, fmt.Errorf("storage: %s field %s: %q is not an amount", h.key, addr, iter.Val())
			}
		}
		if err := iter.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PaidTotal is what payouts delivered to miners in all, net of the fees
// they paid.
func (s *Store) PaidTotal(ctx context.Context) (uint64, error) {
	acc, err := s.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, b := range acc {
		sum += b.Sent()
	}
	return sum, nil
}

// NextInstanceID hands out a stratum instance id that no other process
// sharing this Redis got before (INCR; 0 is skipped). The id goes into every
// miner's extra nonce, so two stratum processes never give out the same
// block template work.
func (s *Store) NextInstanceID(ctx context.Context) (uint32, error) {
	for {
		n, err := s.rdb.Incr(ctx, s.k.tag+":stratum:instances").Result()
		if err != nil {
			return 0, fmt.Errorf("storage: allocating a stratum instance id: %w", err)
		}
		if id := uint32(n); id != 0 {
			return id, nil
		}
	}
}
