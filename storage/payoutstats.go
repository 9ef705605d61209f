package storage

// Payout state counts for metrics and /health (issue 20), read without a
// scan of the records: the journal's counters plus the unconfirmed index,
// whose scores are the sent times, so its first entry is the oldest.

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// PayoutStats are the journal's counters and the sent payouts still
// waiting for their confirmations.
type PayoutStats struct {
	PaymentStats
	// Unconfirmed counts sent records not yet confirmed or dropped.
	Unconfirmed uint64
	// OldestUnconfirmed is when the oldest of them was sent; zero when none.
	OldestUnconfirmed time.Time
}

// OldestUnconfirmedAge is how long the oldest unconfirmed payout has been
// waiting at now, 0 when none does.
func (p PayoutStats) OldestUnconfirmedAge(now time.Time) time.Duration {
	if p.OldestUnconfirmed.IsZero() {
		return 0
	}
	return max(now.Sub(p.OldestUnconfirmed), 0)
}

// PayoutStats reads the counters and the unconfirmed index's size and
// oldest entry in one round trip (three O(1)/O(log n) commands; the index
// holds a few records at most, whatever the pool's history).
func (s *Store) PayoutStats(ctx context.Context) (PayoutStats, error) {
	var (
		stats  *redis.MapStringStringCmd
		n      *redis.IntCmd
		oldest *redis.ZSliceCmd
	)
	// The keys share the {p} hash tag, so a cluster takes the pipeline too.
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		stats = p.HGetAll(ctx, s.k.payStats)
		n = p.ZCard(ctx, s.k.payUnconfirmed())
		oldest = p.ZRangeWithScores(ctx, s.k.payUnconfirmed(), 0, 0)
		return nil
	})
	if err != nil {
		return PayoutStats{}, err
	}
	m, err := parseUintMap(s.k.payStats, stats.Val())
	if err != nil {
		return PayoutStats{}, err
	}
	out := PayoutStats{
		PaymentStats: paymentStats(m),
		Unconfirmed:  uint64(n.Val()),
	}
	if z := oldest.Val(); len(z) > 0 {
		out.OldestUnconfirmed = time.UnixMilli(int64(z[0].Score))
	}
	return out, nil
}
