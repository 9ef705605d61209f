package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"runtime"
	"time"

	"rxpool/randomx"
)

// rxMem is the RandomX memory for one key: the 256 MiB cache (light mode)
// or the 2 GiB dataset (fast mode), shared read-only by one VM per thread.
type rxMem struct {
	seed     [32]byte
	fast     bool
	flags    randomx.Flags // VM flags
	cache    *randomx.Cache
	ds       *randomx.Dataset
	initTime time.Duration
}

// vmFlags are the flags rxminer and the pool's verifier use: the library's
// recommendation for this CPU, FULL_MEM in fast mode, large pages on
// request (falling back without them).
func vmFlags(fast, largePages bool) randomx.Flags {
	f := randomx.GetFlags()
	if fast {
		f |= randomx.FlagFullMem
	}
	if largePages {
		f |= randomx.FlagLargePages
	}
	return f
}

// newRXMem builds the memory for seed; a fast dataset is initialised on
// initThreads threads (all CPUs when ≤ 0).
func newRXMem(ctx context.Context, seed [32]byte, fast, largePages bool, initThreads int, log *logger) (*rxMem, error) {
	if initThreads <= 0 {
		initThreads = runtime.NumCPU()
	}
	m := &rxMem{seed: seed, fast: fast, flags: vmFlags(fast, largePages)}
	start := time.Now()
	cacheFlags := randomx.GetFlags()
	if largePages {
		cacheFlags |= randomx.FlagLargePages
	}
	cache, err := randomx.NewCache(cacheFlags, seed[:])
	if err != nil {
		return nil, err
	}
	short := hex.EncodeToString(seed[:4])
	if !fast {
		m.cache = cache
		m.initTime = time.Since(start)
		log.printf("seed %s: light cache ready in %v", short, m.initTime.Round(time.Millisecond))
		return m, nil
	}
	defer cache.Close() // fast VMs read only the dataset
	log.printf("seed %s: building the %d MiB dataset on %d threads", short, randomx.DatasetSize()>>20, initThreads)
	m.ds, err = randomx.NewDatasetContext(ctx, m.flags, cache, initThreads, nil)
	if err != nil {
		return nil, fmt.Errorf("dataset for seed %s: %w", short, err)
	}
	m.initTime = time.Since(start)
	log.printf("seed %s: dataset ready in %v", short, m.initTime.Round(time.Millisecond))
	return m, nil
}

// newVM makes one thread's VM.
func (m *rxMem) newVM() (*randomx.VM, error) { return randomx.NewVM(m.flags, m.cache, m.ds) }

// close frees the memory; no VM may still use it.
func (m *rxMem) close() {
	m.ds.Close()
	m.cache.Close()
}

func modeName(fast bool) string {
	if fast {
		return "fast"
	}
	return "light"
}

// parseMode reads -mode.
func parseMode(s string) (fast bool, err error) {
	switch s {
	case "fast":
		return true, nil
	case "light":
		return false, nil
	}
	return false, usagef("-mode %q: want fast or light", s)
}
