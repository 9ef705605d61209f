package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/cryptonote"
	"rxpool/stratum/client"
)

// Precomputing valid shares before the measured phase, so the generator
// spends no hashing while it measures the pool.

// strictDiff is the highest share difficulty a stratum target can stand
// for. The pool sends floor(0xFFFFFFFF/diff) (8 hex digits) or
// floor((2^64-1)/diff) (16), so a hash meeting this bound with the pool's
// 256-bit test meets the job's real difficulty, whatever it is. xmrig's
// 64-bit test alone can pass a hash the pool then calls low difficulty.
func strictDiff(target string) (uint64, error) {
	raw, err := hex.DecodeString(target)
	if err != nil {
		return 0, err
	}
	switch len(raw) {
	case 4:
		if t := binary.LittleEndian.Uint32(raw); t != 0 {
			return 0xFFFFFFFF / uint64(t), nil
		}
	case 8:
		if t := binary.LittleEndian.Uint64(raw); t != 0 {
			return ^uint64(0) / t, nil
		}
	}
	return 0, fmt.Errorf("target %q: want 8 or 16 hex digits, not zero", target)
}

// nonceAt is the nonce for counter value i, as rxminer (and xmrig) write
// it: under nicehash the job's byte 42 stays the top byte.
func nonceAt(w *client.Work, i uint64) uint32 {
	if w.NiceHash {
		return uint32(i)&0x00FFFFFF | uint32(w.Blob[client.NonceOffset+3])<<24
	}
	return uint32(i)
}

// precompute finds cfg.shares valid shares, spread evenly over the
// sessions, each for the session's current job exactly as a miner hashes
// it: the job's blob (the pool's extra nonce is already in it, through the
// coinbase and merkle root) with the nonce at offset 39, hashed with
// RandomX keyed by the job's seed hash, kept if it meets the target.
func precompute(ctx context.Context, cfg *submitConfig, sessions []*subSession, res *SubmitResult, log *logger) error {
	p := &res.Precompute
	bySeed := map[[32]byte][]*subSession{}
	var seeds [][32]byte
	diffs, heights := map[uint64]bool{}, map[uint64]bool{}
	for _, s := range sessions {
		j := s.conn.Job()
		if j == nil {
			return fmt.Errorf("session %d has no job", s.idx)
		}
		w, err := client.DecodeJob(j)
		if err != nil {
			return fmt.Errorf("session %d: %w", s.idx, err)
		}
		if s.strict, err = strictDiff(j.Target); err != nil {
			return fmt.Errorf("session %d: %w", s.idx, err)
		}
		s.work = w
		diffs[s.strict], heights[j.Height] = true, true
		if bySeed[w.Seed] == nil {
			seeds = append(seeds, w.Seed)
		}
		bySeed[w.Seed] = append(bySeed[w.Seed], s)
	}
	p.JobDiffs, p.Heights = slices.Sorted(maps.Keys(diffs)), slices.Sorted(maps.Keys(heights))
	p.Seeds = len(seeds)
	// Session k of n gets shares/n, the first shares%n one more.
	need := map[*subSession]int{}
	for k, s := range sessions {
		need[s] = cfg.shares / len(sessions)
		if k < cfg.shares%len(sessions) {
			need[s]++
		}
	}
	var initT, hashT time.Duration
	for _, seed := range seeds {
		mem, err := newRXMem(ctx, seed, cfg.fast, cfg.largePages, cfg.initThreads, log)
		if err != nil {
			return err
		}
		initT += mem.initTime
		t0 := time.Now()
		hashes, err := hashShares(ctx, mem, cfg.threads, bySeed[seed], need)
		hashT += time.Since(t0)
		mem.close()
		p.Hashes += hashes
		if err != nil {
			return err
		}
	}
	for _, s := range sessions {
		p.Shares += len(s.shares)
	}
	p.InitSeconds, p.HashSeconds = initT.Seconds(), hashT.Seconds()
	if hashT > 0 {
		p.HashesPerS = float64(p.Hashes) / hashT.Seconds()
	}
	return nil
}

// hashShares fills s.shares for sessions (all on mem's seed) with need[s]
// shares each, on threads threads with one VM each. Tasks (one share of
// one session) are interleaved over the sessions and taken in turn; each
// session hands out its nonces from one counter, so no nonce repeats.
func hashShares(ctx context.Context, mem *rxMem, threads int, sessions []*subSession, need map[*subSession]int) (uint64, error) {
	var tasks []*subSession
	for left := true; left; {
		left = false
		for _, s := range sessions {
			if need[s] > 0 {
				tasks = append(tasks, s)
				need[s]--
				left = left || need[s] > 0
			}
		}
	}
	found := make([]share, len(tasks))
	var (
		next     atomic.Int64
		hashes   atomic.Uint64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	setErr := func(err error) { errOnce.Do(func() { firstErr = err }) }
	for range min(threads, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			vm, err := mem.newVM()
			if err != nil {
				setErr(err)
				return
			}
			defer vm.Close()
			var buf []byte
			for ctx.Err() == nil {
				t := int(next.Add(1) - 1)
				if t >= len(tasks) {
					return
				}
				s := tasks[t]
				w := s.work
				buf = append(buf[:0], w.Blob...)
				space := uint64(1) << 32
				if w.NiceHash {
					space = 1 << 24
				}
				for ctx.Err() == nil {
					i := s.nonce.Add(1) - 1
					if i >= space {
						setErr(fmt.Errorf("session %d: nonce space of job %s used up", s.idx, w.Job.JobID))
						return
					}
					binary.LittleEndian.PutUint32(buf[client.NonceOffset:], nonceAt(w, i))
					hash := vm.Hash(buf)
					hashes.Add(1)
					if client.MeetsTarget(&hash, w.Target64) && cryptonote.CheckHash(&hash, s.strict) {
						sh := share{sess: s, jobID: w.Job.JobID, hash: hash}
						copy(sh.nonce[:], buf[client.NonceOffset:])
						found[t] = sh
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	for _, sh := range found {
		if sh.sess != nil {
			sh.sess.shares = append(sh.sess.shares, sh)
		}
	}
	return hashes.Load(), firstErr
}
