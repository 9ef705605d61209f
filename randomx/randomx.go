// Package randomx binds the RandomX C library (librandomx 1.1.x, the
// tevador/RandomX reference implementation) and provides Verifier, the
// worker pool that checks share hashes for the stratum server.
//
// Thread safety: a VM computes one hash at a time and must be used by one
// goroutine at a time (the C VM keeps per-hash state in its scratchpad and
// registers). A Cache or Dataset is read-only once initialised and may be
// shared by any number of VMs in any goroutines, but it must outlive every
// VM built on it. Close methods are idempotent (Cache and Dataset Close may
// be called from any goroutine) but must not race with use of the object or
// of VMs that use it. Nothing is freed by finalizers: the C memory (256 MiB
// per cache, 2 GiB per dataset, 2 MiB per VM) is released only by Close.
//
// Typical use by the stratum server:
//
//	v := randomx.NewVerifier(randomx.VerifierConfig{Mode: randomx.ModeAuto}, log)
//	defer v.Close()
//	err := v.SetSeed(tmpl.SeedHash)     // on every template; instant when unchanged
//	err = v.PrepareSeed(nextSeedHash)   // once the next seed is known
//	h, err := v.Hash(ctx, job.SeedHash, hashingBlob, randomx.LaneEarned)
//	// ErrQueueFull: tell the miner to retry; ErrUnknownSeed: stale job.
//
// Verifier.Hash takes a Lane: LaneBlock for a plausible block from a session
// with accepted work, LaneEarned for other shares of such sessions and
// LaneStranger for sessions without accepted work. Workers always take
// Block before Earned before Stranger, and each lane has its own bound, so
// a junk flood from strangers is refused ("busy") in its own small lane
// instead of delaying honest miners.
package randomx

/*
#cgo LDFLAGS: -lrandomx
#cgo noescape randomx_calculate_hash
#cgo nocallback randomx_calculate_hash
#cgo noescape randomx_init_cache
#cgo nocallback randomx_init_cache
#include <randomx.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// cptr holds a C pointer that Close may clear while other goroutines read
// it (atomic.Pointer cannot hold cgo's incomplete struct types).
type cptr struct{ p unsafe.Pointer }

func (c *cptr) Load() unsafe.Pointer                 { return atomic.LoadPointer(&c.p) }
func (c *cptr) Store(p unsafe.Pointer)               { atomic.StorePointer(&c.p, p) }
func (c *cptr) Swap(p unsafe.Pointer) unsafe.Pointer { return atomic.SwapPointer(&c.p, p) }

// HashSize is the size of a RandomX hash in bytes.
const HashSize = C.RANDOMX_HASH_SIZE

// Flags select the RandomX implementation variant (randomx_flags).
type Flags uint32

// Flag values, identical to the C enum.
const (
	FlagDefault     Flags = C.RANDOMX_FLAG_DEFAULT
	FlagLargePages  Flags = C.RANDOMX_FLAG_LARGE_PAGES
	FlagHardAES     Flags = C.RANDOMX_FLAG_HARD_AES
	FlagFullMem     Flags = C.RANDOMX_FLAG_FULL_MEM
	FlagJIT         Flags = C.RANDOMX_FLAG_JIT
	FlagSecure      Flags = C.RANDOMX_FLAG_SECURE
	FlagArgon2SSSE3 Flags = C.RANDOMX_FLAG_ARGON2_SSSE3
	FlagArgon2AVX2  Flags = C.RANDOMX_FLAG_ARGON2_AVX2
	FlagArgon2      Flags = C.RANDOMX_FLAG_ARGON2
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagLargePages, "large_pages"},
	{FlagHardAES, "hard_aes"},
	{FlagFullMem, "full_mem"},
	{FlagJIT, "jit"},
	{FlagSecure, "secure"},
	{FlagArgon2SSSE3, "argon2_ssse3"},
	{FlagArgon2AVX2, "argon2_avx2"},
}

// String lists the set flags, e.g. "hard_aes|jit|argon2_ssse3|argon2_avx2".
func (f Flags) String() string {
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint32(f)))
	}
	if len(parts) == 0 {
		return "default"
	}
	return strings.Join(parts, "|")
}

// GetFlags returns the recommended flags for this CPU (randomx_get_flags):
// JIT where a compiler exists, HARD_AES and the Argon2 SIMD variants when
// the CPU has them. It never sets LARGE_PAGES, FULL_MEM or SECURE.
func GetFlags() Flags { return Flags(C.randomx_get_flags()) }

// ErrAlloc is wrapped by the errors returned when the C library cannot
// allocate a cache, dataset or VM.
var ErrAlloc = errors.New("randomx: allocation failed")

// errClosedObject is returned when a closed Cache or Dataset is passed in.
var errClosedObject = errors.New("randomx: use of closed object")

// allocRetry calls alloc with flags and, if that fails while LARGE_PAGES was
// requested, once more without it: huge pages are often not configured, and
// the normal allocator gives the same results, only a little slower. It
// returns the flags actually used and whether the large-page attempt failed.
func allocRetry(flags Flags, alloc func(Flags) unsafe.Pointer) (p unsafe.Pointer, used Flags, fellBack bool) {
	p = alloc(flags)
	if p == nil && flags&FlagLargePages != 0 {
		flags &^= FlagLargePages
		p = alloc(flags)
		fellBack = p != nil
	}
	return p, flags, fellBack
}

// Cache is an initialised RandomX cache (256 MiB) for one key. It is used by
// light VMs and to initialise a Dataset.
type Cache struct {
	ptr      cptr // *C.randomx_cache
	flags    Flags
	fellBack bool
}

// NewCache allocates a cache with flags and initialises it with key (for
// Monero-style coins the 32 raw bytes of the seed hash). If LARGE_PAGES was
// requested but cannot be had, it allocates without and reports that through
// LargePagesFallback. Initialisation takes about half a second of one core.
func NewCache(flags Flags, key []byte) (*Cache, error) {
	p, used, fb := allocRetry(flags, func(f Flags) unsafe.Pointer {
		return unsafe.Pointer(C.randomx_alloc_cache(C.randomx_flags(f)))
	})
	if p == nil {
		return nil, fmt.Errorf("%w: cache (flags %v)", ErrAlloc, flags)
	}
	// Hand the library our string copy: it holds no Go pointers whatever
	// the caller's slice points into, and the library copies it anyway.
	k := string(key)
	C.randomx_init_cache((*C.randomx_cache)(p), unsafe.Pointer(unsafe.StringData(k)), C.size_t(len(k)))
	c := &Cache{flags: used, fellBack: fb}
	c.ptr.Store(p)
	return c, nil
}

// LargePagesFallback reports whether LARGE_PAGES was requested but the cache
// had to be allocated with normal pages.
func (c *Cache) LargePagesFallback() bool { return c.fellBack }

// Close frees the cache. It is idempotent; no VM or dataset initialisation
// may be using the cache any more.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	if p := c.ptr.Swap(nil); p != nil {
		C.randomx_release_cache((*C.randomx_cache)(p))
	}
}

// DatasetItemCount is the number of 64-byte items in a dataset.
func DatasetItemCount() uint64 { return uint64(C.randomx_dataset_item_count()) }

// DatasetSize is the size of a dataset in bytes (about 2080 MiB).
func DatasetSize() uint64 { return DatasetItemCount() * C.RANDOMX_DATASET_ITEM_SIZE }

// datasetChunk is how many items one thread initialises per C call: about
// 40 ms of work, small enough for prompt progress reports and cancellation,
// large enough that the call overhead does not matter.
const datasetChunk = 1 << 16

// Dataset is an initialised RandomX dataset (about 2080 MiB) for fast VMs.
type Dataset struct {
	ptr      cptr // *C.randomx_dataset
	flags    Flags
	fellBack bool
}

// NewDataset allocates a dataset and initialises it from cache, splitting
// the items over threads goroutines (runtime.NumCPU() if threads <= 0), each
// on a disjoint item range. progress, if not nil, is called with the number
// of items done and the total after every chunk; calls are serialised and
// done never decreases. It takes about 23 s on two cores.
func NewDataset(flags Flags, cache *Cache, threads int, progress func(done, total uint64)) (*Dataset, error) {
	return NewDatasetContext(context.Background(), flags, cache, threads, progress)
}

// NewDatasetContext is NewDataset that gives up (freeing the memory and
// returning ctx.Err()) once ctx is done, within one chunk per thread.
func NewDatasetContext(ctx context.Context, flags Flags, cache *Cache, threads int, progress func(done, total uint64)) (*Dataset, error) {
	if cache == nil {
		return nil, errors.New("randomx: NewDataset needs a cache")
	}
	cp := (*C.randomx_cache)(cache.ptr.Load())
	if cp == nil {
		return nil, errClosedObject
	}
	up, used, fb := allocRetry(flags, func(f Flags) unsafe.Pointer {
		return unsafe.Pointer(C.randomx_alloc_dataset(C.randomx_flags(f)))
	})
	p := (*C.randomx_dataset)(up)
	if p == nil {
		return nil, fmt.Errorf("%w: dataset of %d MiB (flags %v)", ErrAlloc, DatasetSize()>>20, flags)
	}
	total := DatasetItemCount()
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	threads = int(min(uint64(threads), total))

	var (
		mu   sync.Mutex // serialises progress calls so done is monotonic
		done uint64
		wg   sync.WaitGroup
	)
	start := uint64(0)
	for i := range threads {
		n := total / uint64(threads)
		if uint64(i) < total%uint64(threads) {
			n++
		}
		wg.Add(1)
		go func(start, n uint64) {
			defer wg.Done()
			for n > 0 && ctx.Err() == nil {
				k := min(n, datasetChunk)
				C.randomx_init_dataset(p, cp, C.ulong(start), C.ulong(k))
				start, n = start+k, n-k
				mu.Lock()
				done += k
				if progress != nil {
					progress(done, total)
				}
				mu.Unlock()
			}
		}(start, n)
		start += n
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		C.randomx_release_dataset(p)
		return nil, err
	}
	d := &Dataset{flags: used, fellBack: fb}
	d.ptr.Store(up)
	return d, nil
}

// LargePagesFallback reports whether LARGE_PAGES was requested but the
// dataset had to be allocated with normal pages.
func (d *Dataset) LargePagesFallback() bool { return d.fellBack }

// Close frees the dataset. It is idempotent; no VM may be using it any more.
func (d *Dataset) Close() {
	if d == nil {
		return
	}
	if p := d.ptr.Swap(nil); p != nil {
		C.randomx_release_dataset((*C.randomx_dataset)(p))
	}
}

// VM is a RandomX virtual machine: light (hashing from a Cache) unless
// FlagFullMem is set, in which case it hashes from a Dataset. A VM is not
// safe for concurrent use; give each goroutine its own.
type VM struct {
	ptr      *C.randomx_vm
	flags    Flags
	cache    *Cache
	dataset  *Dataset
	fellBack bool
}

// NewVM creates a VM. Light VMs (no FlagFullMem) need cache and ignore
// dataset; fast VMs need dataset and ignore cache. The VM keeps pointers to
// them, so they must stay open until the VM is closed.
func NewVM(flags Flags, cache *Cache, dataset *Dataset) (*VM, error) {
	var cp *C.randomx_cache
	var dp *C.randomx_dataset
	if flags&FlagFullMem != 0 {
		if dataset == nil {
			return nil, errors.New("randomx: a fast (FULL_MEM) VM needs a dataset")
		}
		if dp = (*C.randomx_dataset)(dataset.ptr.Load()); dp == nil {
			return nil, errClosedObject
		}
		cache = nil
	} else {
		if cache == nil {
			return nil, errors.New("randomx: a light VM needs a cache")
		}
		if cp = (*C.randomx_cache)(cache.ptr.Load()); cp == nil {
			return nil, errClosedObject
		}
		dataset = nil
	}
	p, used, fb := allocRetry(flags, func(f Flags) unsafe.Pointer {
		return unsafe.Pointer(C.randomx_create_vm(C.randomx_flags(f), cp, dp))
	})
	if p == nil {
		return nil, fmt.Errorf("%w: VM (flags %v)", ErrAlloc, flags)
	}
	return &VM{ptr: (*C.randomx_vm)(p), flags: used, cache: cache, dataset: dataset, fellBack: fb}, nil
}

// Flags returns the flags the VM was created with.
func (vm *VM) Flags() Flags { return vm.flags }

// LargePagesFallback reports whether LARGE_PAGES was requested but the
// scratchpad had to be allocated with normal pages.
func (vm *VM) LargePagesFallback() bool { return vm.fellBack }

// Hash computes the RandomX hash of input. It does not allocate and does not
// copy input: the C call reads the Go memory directly, which the cgo rules
// allow because the library keeps no reference after returning. As cgo
// requires, input must not point into an object holding Go pointers (such as
// an array field of a struct with pointers); slices from make are fine.
// Hash panics if the VM is closed.
func (vm *VM) Hash(input []byte) (out [HashSize]byte) {
	if vm.ptr == nil {
		panic("randomx: Hash on a closed VM")
	}
	C.randomx_calculate_hash(vm.ptr, unsafe.Pointer(unsafe.SliceData(input)), C.size_t(len(input)), unsafe.Pointer(&out))
	return out
}

// Close destroys the VM (its 2 MiB scratchpad and JIT code). It is
// idempotent.
func (vm *VM) Close() {
	if vm == nil || vm.ptr == nil {
		return
	}
	C.randomx_destroy_vm(vm.ptr)
	vm.ptr = nil
	vm.cache, vm.dataset = nil, nil
}
