// What the verifier tells about itself: the per-request HashEvent for the
// Observer, and the Stats snapshot.

package randomx

import (
	"time"
)

// HashEvent describes one request answered by a worker.
type HashEvent struct {
	Lane      Lane
	Priority  bool          // Lane == LaneBlock (the metrics' priority label)
	Fast      bool          // hashed by a fast (dataset) VM
	QueueWait time.Duration // from Hash being called to a worker taking it
	HashTime  time.Duration // time in the RandomX call; 0 if not hashed
	Err       error         // why it was not hashed (caller gave up, VM error)
}

// Stats is a snapshot of a Verifier's state and counters.
type Stats struct {
	Workers            int
	QueueDepth         int // LaneEarned requests waiting
	QueueCapacity      int
	PriorityQueueDepth int // LaneBlock requests waiting
	PriorityCapacity   int
	StrangerQueueDepth int // LaneStranger requests waiting
	StrangerCapacity   int
	InFlight           int    // requests taken by workers and not yet answered
	HashesDone         uint64 // hashes computed
	FastHashes         uint64 // of which by fast VMs
	Rejected           uint64 // ErrQueueFull answers, all lanes
	Failed             uint64 // requests answered with an error by a worker
	HashTime           time.Duration
	QueueWait          time.Duration
	Caches             int // caches allocated
	Datasets           int // datasets allocated
	Seeds              []SeedStats
}

// SeedStats describes one seed the verifier holds.
type SeedStats struct {
	Seed            [32]byte
	Role            string  // "current", "previous" or "next"
	Mode            string  // "pending" (cache building), "light", "fast" or "failed"
	DatasetProgress float64 // fraction of the dataset initialised (1 when fast)
	DatasetError    string  // why the seed has no dataset, if it tried
}

// Stats returns a snapshot of the queues, counters and seeds.
func (v *Verifier) Stats() Stats {
	st := Stats{
		Workers:            len(v.workers),
		QueueDepth:         len(v.queues[LaneEarned]),
		QueueCapacity:      cap(v.queues[LaneEarned]),
		PriorityQueueDepth: len(v.queues[LaneBlock]),
		PriorityCapacity:   cap(v.queues[LaneBlock]),
		StrangerQueueDepth: len(v.queues[LaneStranger]),
		StrangerCapacity:   cap(v.queues[LaneStranger]),
		InFlight:           int(v.inFlight.Load()),
		HashesDone:         v.hashes.Load(),
		FastHashes:         v.fast.Load(),
		Rejected:           v.rejected.Load(),
		Failed:             v.failures.Load(),
		HashTime:           time.Duration(v.hashNanos.Load()),
		QueueWait:          time.Duration(v.waitNanos.Load()),
		Datasets:           len(v.slots),
	}
	total := float64(DatasetItemCount())
	v.mu.RLock()
	defer v.mu.RUnlock()
	for s := range v.live {
		if s.cacheDone() && s.cache != nil {
			st.Caches++
		}
	}
	for _, s := range []*seedState{v.cur, v.prev, v.next} {
		if s != nil {
			st.Seeds = append(st.Seeds, s.stats(total))
		}
	}
	return st
}

// stats describes s; the caller holds Verifier.mu (for role and dsErr).
func (s *seedState) stats(datasetItems float64) SeedStats {
	ss := SeedStats{Seed: s.seed, Role: roleNames[s.role], Mode: "light",
		DatasetProgress: float64(s.progress.Load()) / datasetItems}
	switch {
	case !s.cacheDone():
		ss.Mode = "pending"
	case s.err != nil:
		ss.Mode = "failed"
	case s.active.Load() != nil:
		ss.Mode = "fast"
	}
	if s.dsErr != nil {
		ss.DatasetError = s.dsErr.Error()
	}
	return ss
}
