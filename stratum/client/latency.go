package client

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// latencyReservoir bounds the memory of a Latency: past this many samples
// it keeps a uniform random sample (Vitter's algorithm R), so a long load
// run still reports fair percentiles in 512 KiB.
const latencyReservoir = 1 << 16

// Latency collects request→reply durations; safe for concurrent use, so
// many connections can share one (Options.Latency).
type Latency struct {
	mu      sync.Mutex
	samples []time.Duration
	count   uint64
	max     time.Duration
	sum     time.Duration
}

// NewLatency returns an empty collector.
func NewLatency() *Latency { return &Latency{} }

// Record adds one sample.
func (l *Latency) Record(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	l.sum += d
	l.max = max(l.max, d)
	if len(l.samples) < latencyReservoir {
		l.samples = append(l.samples, d)
		return
	}
	if i := rand.Uint64N(l.count); i < latencyReservoir {
		l.samples[i] = d
	}
}

// LatencyStats summarises a Latency. Percentiles are nearest-rank over the
// kept samples; all zero when nothing was recorded.
type LatencyStats struct {
	Count         uint64
	Mean, Max     time.Duration
	P50, P90, P99 time.Duration
	Samples       int // how many samples the percentiles come from (≤ Count)
}

// Stats returns the current summary.
func (l *Latency) Stats() LatencyStats {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	st := LatencyStats{Count: l.count, Max: l.max, Samples: len(s)}
	if l.count > 0 {
		st.Mean = l.sum / time.Duration(l.count)
	}
	l.mu.Unlock()
	slices.Sort(s)
	st.P50, st.P90, st.P99 = percentile(s, 50), percentile(s, 90), percentile(s, 99)
	return st
}

// percentile is the nearest-rank percentile p of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(rank, 1)-1]
}
