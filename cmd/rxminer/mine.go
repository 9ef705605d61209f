package main

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/randomx"
	"rxpool/stratum/client"
)

// work is one job as the hash threads see it.
type work struct {
	jobID    string
	blob     []byte
	target64 uint64
	seed     [32]byte
	nicehash bool // iterate the low 24 nonce bits, keep blob[42]
	received time.Time
	conn     uint64 // the session's connection the job came on
}

func newWork(w *client.Work, extNiceHash bool) *work {
	return &work{jobID: w.Job.JobID, blob: w.Blob, target64: w.Target64, seed: w.Seed,
		nicehash: w.NiceHash || extNiceHash, received: time.Now()}
}

// share is a hash a thread hands to its session: normally one that meets
// the target; for --bad lowdiff, on request, one that misses it.
type share struct {
	work  *work
	nonce [4]byte // as in the blob at offset 39
	hash  [32]byte
	meets bool
}

// shareSource is what a session needs from whatever finds its shares: the
// RandomX hasher here; a load generator could replay shares instead.
type shareSource interface {
	setJob(w *work) // switch to w at once; nil pauses
	shares() <-chan share
	requestMiss() // hand out the next hash that misses the target
}

// hasher runs one session's RandomX threads. Each thread has its own VM
// and its own slice of the nonce space and checks for a new job before
// every hash, so a pushed job is taken up within one hash.
type hasher struct {
	eng      *rxEngine
	threads  int
	hashes   *atomic.Uint64 // shared with the tally
	out      chan share
	wantMiss atomic.Bool

	mu      sync.Mutex
	cur     *work
	changed chan struct{} // closed and replaced by setJob
}

func newHasher(eng *rxEngine, threads int, hashes *atomic.Uint64) *hasher {
	return &hasher{eng: eng, threads: threads, hashes: hashes,
		out: make(chan share, 16), changed: make(chan struct{})}
}

func (h *hasher) setJob(w *work) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = w
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *hasher) shares() <-chan share { return h.out }

func (h *hasher) requestMiss() { h.wantMiss.Store(true) }

func (h *hasher) current() (*work, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur, h.changed
}

// run hashes until ctx ends or a thread cannot get a VM; it returns once
// every thread has exited and freed its VM.
func (h *hasher) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for k := range h.threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.thread(ctx, k); err != nil {
				errOnce.Do(func() { firstErr = err })
				cancel()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// nonceRange is thread k of n's slice of the nonce space: [start,
// start+count). Under nicehash the space is the low 24 bits.
func nonceRange(k, n int, nicehash bool) (start, count uint64) {
	space := uint64(1) << 32
	if nicehash {
		space = 1 << 24
	}
	per := space / uint64(n)
	start = uint64(k) * per
	if k == n-1 {
		return start, space - start
	}
	return start, per
}

// nonceAt is the nonce written for counter value i: under nicehash the
// job's byte 42 stays the top byte, as xmrig keeps it.
func nonceAt(w *work, i uint64) uint32 {
	if w.nicehash {
		return uint32(i)&0x00FFFFFF | uint32(w.blob[client.NonceOffset+3])<<24
	}
	return uint32(i)
}

func (h *hasher) thread(ctx context.Context, k int) error {
	var (
		vm        *randomx.VM
		mem       *seedMem
		w         *work
		buf       []byte
		next, end uint64
	)
	defer func() {
		vm.Close()
		if mem != nil {
			h.eng.release(mem)
		}
	}()
	for ctx.Err() == nil {
		cur, changed := h.current()
		if cur != w {
			w = cur
			if w != nil {
				var err error
				if vm, mem, err = h.eng.vmFor(ctx, w.seed, vm, mem); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				buf = append(buf[:0], w.blob...)
				start, count := nonceRange(k, h.threads, w.nicehash)
				next, end = start, start+count
			}
		}
		if w == nil || next >= end {
			select { // no job, or this thread's slice is used up
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		binary.LittleEndian.PutUint32(buf[client.NonceOffset:], nonceAt(w, next))
		next++
		hash := vm.Hash(buf)
		h.hashes.Add(1)
		meets := client.MeetsTarget(&hash, w.target64)
		if !meets && !h.wantMiss.CompareAndSwap(true, false) {
			continue
		}
		s := share{work: w, hash: hash, meets: meets}
		copy(s.nonce[:], buf[client.NonceOffset:])
		select {
		case h.out <- s:
		case <-changed: // the session moved on (or disconnected) meanwhile
		case <-ctx.Done():
		}
	}
	return nil
}
