package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/randomx"
)

// rxEngine owns the RandomX memory: one cache (light mode) or dataset
// (fast mode) per seed, shared by every hash thread of every session and
// reference-counted. An unused seed is freed once another seed is newer;
// the newest is kept even when idle, so a reconnect does not rebuild it.
type rxEngine struct {
	fast        bool
	flags       randomx.Flags // VM flags (FULL_MEM in fast mode)
	initThreads int           // dataset initialisation threads
	logf        func(format string, args ...any)

	ctx    context.Context // ends builds when the engine closes
	cancel context.CancelFunc

	mu     sync.Mutex
	seeds  map[[32]byte]*seedMem
	newest [32]byte
	builds atomic.Uint64 // caches/datasets built: seed changes seen
}

// seedMem is the RandomX memory for one seed; ready closes when built.
type seedMem struct {
	seed  [32]byte
	ready chan struct{}
	cache *randomx.Cache   // light mode
	ds    *randomx.Dataset // fast mode
	err   error
	refs  int
}

func newRXEngine(fast bool, initThreads int, logf func(string, ...any)) *rxEngine {
	flags := randomx.GetFlags()
	if fast {
		flags |= randomx.FlagFullMem
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &rxEngine{fast: fast, flags: flags, initThreads: initThreads, logf: logf,
		ctx: ctx, cancel: cancel, seeds: map[[32]byte]*seedMem{}}
}

// acquire returns the memory for seed, building it (once, whoever asks
// first) and waiting for it. Every successful acquire needs a release.
func (e *rxEngine) acquire(ctx context.Context, seed [32]byte) (*seedMem, error) {
	e.mu.Lock()
	m := e.seeds[seed]
	if m == nil {
		m = &seedMem{seed: seed, ready: make(chan struct{})}
		e.seeds[seed] = m
		go e.build(m)
	}
	m.refs++
	if seed != e.newest {
		e.newest = seed
		e.sweepLocked()
	}
	e.mu.Unlock()

	select {
	case <-m.ready:
	case <-ctx.Done():
		e.release(m)
		return nil, ctx.Err()
	}
	if m.err != nil {
		e.release(m)
		return nil, m.err
	}
	return m, nil
}

func (e *rxEngine) release(m *seedMem) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m.refs--
	e.sweepLocked()
}

// sweepLocked frees built memory that nobody uses and is not the newest
// seed, and forgets failed builds so they are retried.
func (e *rxEngine) sweepLocked() {
	for seed, m := range e.seeds {
		if m.refs > 0 || (seed == e.newest && m.err == nil) {
			continue
		}
		select {
		case <-m.ready:
			delete(e.seeds, seed)
			m.free()
		default: // still building; the last release sweeps it
		}
	}
}

func (m *seedMem) free() {
	m.ds.Close()
	m.cache.Close()
}

func (e *rxEngine) build(m *seedMem) {
	defer close(m.ready)
	short := hex.EncodeToString(m.seed[:4])
	start := time.Now()
	cache, err := randomx.NewCache(randomx.GetFlags(), m.seed[:])
	if err != nil {
		m.err = err
		return
	}
	if !e.fast {
		m.cache = cache
		e.builds.Add(1)
		e.logf("seed %s: light cache ready in %v", short, time.Since(start).Round(time.Millisecond))
		return
	}
	// Fast VMs read only the dataset, so the cache goes once it is built.
	defer cache.Close()
	e.logf("seed %s: building the %d MiB dataset on %d threads", short, randomx.DatasetSize()>>20, e.initThreads)
	m.ds, m.err = randomx.NewDatasetContext(e.ctx, e.flags, cache, e.initThreads, nil)
	if m.err == nil {
		e.builds.Add(1)
		e.logf("seed %s: dataset ready in %v", short, time.Since(start).Round(time.Millisecond))
	}
}

// newVM makes a VM for m; each hash thread has its own.
func (e *rxEngine) newVM(m *seedMem) (*randomx.VM, error) {
	return randomx.NewVM(e.flags, m.cache, m.ds)
}

// seedChanges is how many caches or datasets were built.
func (e *rxEngine) seedChanges() uint64 { return e.builds.Load() }

// close stops builds and frees everything. No VM may still be in use.
func (e *rxEngine) close() {
	e.cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	for seed, m := range e.seeds {
		<-m.ready
		m.free()
		delete(e.seeds, seed)
	}
}

var errNoVM = errors.New("no RandomX VM")

// vmFor returns a VM for seed, switching the thread's VM and memory
// reference when the seed differs from the one it holds.
func (e *rxEngine) vmFor(ctx context.Context, seed [32]byte, vm *randomx.VM, held *seedMem) (*randomx.VM, *seedMem, error) {
	if held != nil && held.seed == seed && vm != nil {
		return vm, held, nil
	}
	m, err := e.acquire(ctx, seed)
	if err != nil {
		return vm, held, err
	}
	nvm, err := e.newVM(m)
	if err != nil {
		e.release(m)
		return vm, held, fmt.Errorf("%w: %w", errNoVM, err)
	}
	vm.Close()
	if held != nil {
		e.release(held)
	}
	return nvm, m, nil
}
