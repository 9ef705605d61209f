// The seed (epoch) lifecycle: a seed's light cache is built, the seed
// becomes next, current, previous and is retired and freed. Around a switch
// two caches are live (current and previous), three while a next seed is
// prepared.

package randomx

import (
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

type role int

const (
	roleNone role = iota // being built for SetSeed
	roleNext
	roleCurrent
	rolePrevious
	roleRetired
)

var roleNames = [...]string{"pending", "next", "current", "previous", "retired"}

// seedState is one seed's cache and dataset and their lifecycle.
type seedState struct {
	seed  [32]byte
	ready chan struct{} // closed once the cache build finished
	cache *Cache        // set before ready is closed; nil if err != nil
	err   error

	pending  sync.WaitGroup // accepted requests not yet answered
	builders sync.WaitGroup // dataset builds reading the cache

	progress atomic.Uint64           // dataset items initialised
	active   atomic.Pointer[Dataset] // the dataset workers may use

	// Guarded by Verifier.mu.
	role  role
	ds    *Dataset // owned dataset (also in active)
	build *dsBuild // running dataset build
	dsErr error    // why the last build failed; a failed seed is not retried
}

func (s *seedState) short() string { return hex.EncodeToString(s.seed[:4]) }

func (s *seedState) cacheDone() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

func (s *seedState) failed() bool { return s.cacheDone() && s.err != nil }

// SetSeed makes seed the current seed. It blocks until the seed's light
// cache is ready (at once if PrepareSeed built it already) and returns an
// error, leaving the seeds unchanged, if it cannot be built. The old current
// seed becomes the previous one (shares for it are still verified, in light
// mode) and the old previous seed is freed once its queued shares are done.
// In auto and fast mode the new current seed's dataset is built in the
// background if it was not prepared; workers use it once it is ready.
func (v *Verifier) SetSeed(seed [32]byte) error {
	v.seedMu.Lock()
	defer v.seedMu.Unlock()
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return ErrClosed
	}
	s := v.findLocked(seed)
	if s == v.cur && s != nil {
		v.mu.Unlock()
		return nil
	}
	if s == nil {
		s = v.newStateLocked(seed, roleNone)
	}
	v.mu.Unlock()

	<-s.ready

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed // Close frees s
	}
	if s.err != nil {
		if v.next == s {
			v.next = nil
		}
		delete(v.live, s) // nothing was allocated
		return fmt.Errorf("randomx: cache for seed %s: %w", s.short(), s.err)
	}
	v.promoteLocked(s)
	return nil
}

// PrepareSeed builds the cache (and in auto and fast mode the dataset) for
// the seed expected next, in the background, so that SetSeed(next) is
// instant. Preparing another seed discards the previously prepared one.
func (v *Verifier) PrepareSeed(next [32]byte) error {
	v.seedMu.Lock()
	defer v.seedMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if v.findLocked(next) != nil {
		return nil
	}
	if v.next != nil {
		v.retireLocked(v.next)
	}
	v.next = v.newStateLocked(next, roleNext)
	return nil
}

// findLocked returns the live state for seed, skipping failed builds.
func (v *Verifier) findLocked(seed [32]byte) *seedState {
	for _, s := range []*seedState{v.cur, v.prev, v.next} {
		if s != nil && s.seed == seed && !s.failed() {
			return s
		}
	}
	return nil
}

func (v *Verifier) newStateLocked(seed [32]byte, r role) *seedState {
	s := &seedState{seed: seed, ready: make(chan struct{}), role: r}
	v.live[s] = struct{}{}
	v.bg.Add(1)
	go v.buildCache(s)
	return s
}

// promoteLocked makes s (with its cache ready) the current seed.
func (v *Verifier) promoteLocked(s *seedState) {
	old := v.cur
	if v.next == s {
		v.next = nil
	}
	if v.prev != nil && v.prev != s {
		v.retireLocked(v.prev)
	}
	v.prev = nil
	if old != nil {
		// The previous seed only sees the stragglers of a switch: light mode
		// is enough, and freeing its dataset keeps us within maxDatasets.
		old.role = rolePrevious
		if ds := v.takeDatasetLocked(old); ds != nil {
			v.bg.Add(1)
			go v.dropDataset(old, ds)
		}
		v.prev = old
	}
	s.role = roleCurrent
	v.cur = s
	v.startDatasetLocked(s)
	mode := "light"
	if s.active.Load() != nil {
		mode = "fast"
	}
	v.log.WithFields(logrus.Fields{"seed": s.short(), "mode": mode}).Info("current seed set")
}

// retireLocked drops s from the seeds; its memory is freed in the background
// once its queued requests are answered and no worker uses it.
func (v *Verifier) retireLocked(s *seedState) {
	s.role = roleRetired
	ds := v.takeDatasetLocked(s)
	v.bg.Add(1)
	go v.retire(s, ds)
}

// takeDatasetLocked stops s's dataset build and hides its dataset from
// workers. It returns the dataset, to be freed once every worker let go.
func (v *Verifier) takeDatasetLocked(s *seedState) *Dataset {
	if s.build != nil {
		s.build.cancel()
		s.build = nil
	}
	ds := s.ds
	s.ds = nil
	s.active.Store(nil)
	return ds
}

func (v *Verifier) buildCache(s *seedState) {
	defer v.bg.Done()
	start := time.Now()
	c, err := NewCache(v.flags, s.seed[:])
	log := v.log.WithField("seed", s.short())
	if err == nil && c.LargePagesFallback() {
		log.Warn("large pages unavailable for the cache; using normal pages")
	}
	if err != nil {
		log.WithError(err).Error("cannot build RandomX cache")
	} else {
		log.WithField("took", time.Since(start).Round(time.Millisecond)).Info("cache ready (light mode)")
	}
	s.cache, s.err = c, err
	close(s.ready)
	if err != nil {
		return
	}
	v.mu.Lock()
	v.startDatasetLocked(s)
	v.mu.Unlock()
}

// retire frees a retired seed once its requests are answered, its builders
// have stopped and no worker holds a VM for it.
func (v *Verifier) retire(s *seedState, ds *Dataset) {
	defer v.bg.Done()
	<-s.ready
	s.builders.Wait()
	s.pending.Wait()
	v.syncWorkers(s, true)
	v.freeDataset(ds)
	s.cache.Close()
	v.mu.Lock()
	delete(v.live, s)
	v.mu.Unlock()
	v.log.WithField("seed", s.short()).Info("seed retired and freed")
}
