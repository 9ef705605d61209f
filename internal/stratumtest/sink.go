// Package stratumtest holds an in-memory stratum sink for tests, so the pool
// binary does not carry it.
//
// Sink is generic over stratum's event types instead of importing stratum:
// stratum's own tests are in package stratum, and they could not import a
// package that imports stratum (an import cycle). Instantiated as
// Sink[stratum.Share, stratum.Rejection, stratum.Block] it is a
// stratum.Sink.
package stratumtest

import (
	"context"
	"sync"
)

// Sink keeps everything a stratum server reports in memory.
type Sink[S, R, B any] struct {
	mu       sync.Mutex
	Shares   []S
	Rejects  []R
	Blocks   []B
	NetDiffs []uint64       // every network difficulty reported, in order
	Online   map[string]int // "address.worker" → sessions
	ShareErr error          // returned by Share when set (simulates storage down)
}

// New returns an empty Sink.
func New[S, R, B any]() *Sink[S, R, B] { return &Sink[S, R, B]{Online: map[string]int{}} }

func (s *Sink[S, R, B]) Share(sh *S) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ShareErr != nil {
		return s.ShareErr
	}
	s.Shares = append(s.Shares, *sh)
	return nil
}

func (s *Sink[S, R, B]) Reject(r *R) {
	s.mu.Lock()
	s.Rejects = append(s.Rejects, *r)
	s.mu.Unlock()
}

func (s *Sink[S, R, B]) Block(_ context.Context, b *B) error {
	s.mu.Lock()
	s.Blocks = append(s.Blocks, *b)
	s.mu.Unlock()
	return nil
}

func (s *Sink[S, R, B]) SetNetworkDifficulty(d uint64) {
	s.mu.Lock()
	s.NetDiffs = append(s.NetDiffs, d)
	s.mu.Unlock()
}

func (s *Sink[S, R, B]) MinerConnected(address, worker, _ string) {
	s.mu.Lock()
	s.Online[address+"."+worker]++
	s.mu.Unlock()
}

func (s *Sink[S, R, B]) MinerDisconnected(address, worker, _ string) {
	s.mu.Lock()
	k := address + "." + worker
	if s.Online[k]--; s.Online[k] <= 0 {
		delete(s.Online, k)
	}
	s.mu.Unlock()
}

// Snapshot returns copies of the recorded shares, rejections and blocks.
func (s *Sink[S, R, B]) Snapshot() (shares []S, rejects []R, blocks []B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]S(nil), s.Shares...), append([]R(nil), s.Rejects...), append([]B(nil), s.Blocks...)
}
