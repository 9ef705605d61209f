package randomx

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"rxpool/randomx/internal/ctest"
)

// nonceOffset is where Monero hashing blobs keep the nonce.
const nonceOffset = 39

// cHashLoop hashes input n times with vm's C machine in a plain C loop (see
// internal/ctest), the nonce at nonceOffset set to first, first+1, ..., and
// returns the last hash: the reference VM.Hash and the Verifier are
// measured against.
func cHashLoop(vm *VM, input []byte, first uint32, n int) [HashSize]byte {
	return ctest.HashLoop(unsafe.Pointer(vm.ptr), input, nonceOffset, first, n)
}

// benchBlob is a 76-byte Monero-style hashing blob.
func benchBlob() []byte {
	b := make([]byte, 76)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

var sinkHash [HashSize]byte

// benchNonce hands out nonce ranges so that no two hashes in a run share an
// input (see internal/ctest for why that matters).
var benchNonce atomic.Uint32

func nonces(n int) uint32 { return benchNonce.Add(uint32(n)) - uint32(n) }

// setNonce writes nonce where cHashLoop does.
func setNonce(blob []byte, nonce uint32) {
	binary.LittleEndian.PutUint32(blob[nonceOffset:], nonce)
}

// benchVsC hashes b.N times through VM.Hash (timed) and b.N times through
// the plain C loop on the same VM, each hash with its own nonce,
// interleaved in chunks so drifts in CPU speed or machine load hit both
// alike.
func benchVsC(b *testing.B, vm *VM) {
	input := benchBlob()
	first := nonces(1)
	setNonce(input, first)
	if vm.Hash(input) != cHashLoop(vm, input, first, 1) {
		b.Fatal("Go and C loops disagree")
	}
	chunk := max(1, b.N/10)
	var goT, cT time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		first := nonces(n)
		t0 := time.Now()
		for i := range n {
			setNonce(input, first+uint32(i))
			sinkHash = vm.Hash(input)
		}
		goT += time.Since(t0)
		b.StopTimer()
		first = nonces(n)
		t1 := time.Now()
		sinkHash = cHashLoop(vm, input, first, n)
		cT += time.Since(t1)
		b.StartTimer()
	}
	goRate, cRate := float64(b.N)/goT.Seconds(), float64(b.N)/cT.Seconds()
	b.ReportMetric(goRate, "go-H/s")
	b.ReportMetric(cRate, "c-H/s")
	b.ReportMetric(goRate/cRate, "go/c")
}

func BenchmarkHashLight(b *testing.B) {
	benchVsC(b, newVM(b, GetFlags(), lightCache(b, key000), nil))
}

func BenchmarkHashFast(b *testing.B) {
	f := sharedFast(b)
	benchVsC(b, newVM(b, GetFlags()|FlagFullMem, nil, f.ds))
	b.ReportMetric(f.initTime.Seconds(), "dataset-init-s") // after ResetTimer, which drops metrics
}

// BenchmarkCacheInit measures allocating and initialising a cache (one
// thread); run with a small -benchtime such as 5x.
func BenchmarkCacheInit(b *testing.B) {
	for i := range b.N {
		c, err := NewCache(GetFlags(), []byte{byte(i), 'k'})
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkDatasetInit measures a whole dataset build on all CPUs (~23 s
// each); run with -benchtime 1x. It allocates a second dataset if the shared
// one is alive, which stays within the limit of two.
func BenchmarkDatasetInit(b *testing.B) {
	if testing.Short() {
		b.Skip("2 GiB dataset")
	}
	c := lightCache(b, key000)
	b.ResetTimer()
	for range b.N {
		ds, err := NewDataset(GetFlags(), c, runtime.NumCPU(), nil)
		if err != nil {
			b.Fatal(err)
		}
		ds.Close()
	}
	b.ReportMetric(float64(runtime.NumCPU()), "threads")
}

func BenchmarkVerifierLight(b *testing.B) { benchVerifier(b, ModeLight) }
func BenchmarkVerifierFast(b *testing.B)  { benchVerifier(b, ModeFast) }

// benchVerifier pushes b.N shares through a Verifier with one worker per
// CPU and compares the rate with the C loop run concurrently on as many
// threads with the same flags and the verifier's own cache or dataset. The
// two alternate in chunks so that load from elsewhere hits both alike.
func benchVerifier(b *testing.B, mode Mode) {
	if mode == ModeFast {
		if testing.Short() {
			b.Skip("2 GiB dataset")
		}
		releaseSharedFast() // stay within two datasets
	}
	workers := runtime.NumCPU()
	submitters := 4 * workers
	seed := [32]byte{0xbe, 0x4c}
	v := benchVerifierFor(b, mode, workers, submitters, seed)
	v.mu.RLock()
	cache, ds := v.cur.cache, v.cur.active.Load()
	v.mu.RUnlock()
	flags := GetFlags()
	if mode == ModeFast {
		flags |= FlagFullMem
	}
	raw := make([]*VM, workers)
	for i := range raw {
		raw[i] = newVM(b, flags, cache, ds)
	}
	input := benchBlob()
	before := v.Stats()
	chunk := max(workers, b.N/5)
	var verT, rawT, goParT time.Duration
	rawN := 0
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		t0 := time.Now()
		verifyN(b, v, seed, input, n, submitters)
		verT += time.Since(t0)

		b.StopTimer()
		per := max(1, n/workers)
		rawT += parallelHash(raw, input, per, true)
		goParT += parallelHash(raw, input, per, false)
		rawN += per * workers
		b.StartTimer()
	}
	st := v.Stats()
	verified, rawRate := float64(b.N)/verT.Seconds(), float64(rawN)/rawT.Seconds()
	b.ReportMetric(verified, "verified-H/s")
	b.ReportMetric(rawRate, "c-parallel-H/s")
	b.ReportMetric(verified/rawRate, "verified/c")
	b.ReportMetric(float64(rawN)/goParT.Seconds(), "go-parallel-H/s")
	hashes := float64(st.HashesDone - before.HashesDone)
	b.ReportMetric(float64((st.QueueWait-before.QueueWait).Microseconds())/hashes/1000, "queue-wait-ms")
	// Time inside the C call per hash, to tell slower hashing from gaps.
	b.ReportMetric(float64((st.HashTime-before.HashTime).Microseconds())/hashes/1000, "hash-ms")
	b.ReportMetric(rawT.Seconds()*1000/float64(rawN/workers), "c-hash-ms")
}

// parallelHash hashes per inputs on each VM at once, one goroutine per VM,
// in the C loop or through VM.Hash, and returns the wall time.
func parallelHash(vms []*VM, input []byte, per int, inC bool) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for _, vm := range vms {
		wg.Add(1)
		go func(first uint32) {
			defer wg.Done()
			if inC {
				cHashLoop(vm, input, first, per)
				return
			}
			blob := append([]byte(nil), input...)
			for i := range per {
				setNonce(blob, first+uint32(i))
				vm.Hash(blob)
			}
		}(nonces(per))
	}
	wg.Wait()
	return time.Since(start)
}

// verifyN verifies n shares from submitters goroutines and waits for them.
func verifyN(b *testing.B, v *Verifier, seed [32]byte, input []byte, n, submitters int) {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			blob := append([]byte(nil), input...)
			for left.Add(-1) >= 0 {
				setNonce(blob, nonces(1))
				if _, err := v.Hash(context.Background(), seed, blob, LaneEarned); err != nil {
					b.Error(err) // ErrQueueFull cannot happen: one slot per submitter
				}
			}
		}()
	}
	wg.Wait()
}

// benchVerifierFor returns a ready verifier for mode, kept for the rest of
// the run: the benchmark function runs more than once (b.N = 1 first) and
// a fast verifier costs a dataset build. TestMain closes it.
func benchVerifierFor(b *testing.B, mode Mode, workers, queue int, seed [32]byte) *Verifier {
	fixMu.Lock()
	defer fixMu.Unlock()
	if v := benchVerifiers[mode]; v != nil {
		return v
	}
	v := NewVerifier(VerifierConfig{Workers: workers, Mode: mode, QueueSize: queue}, quietLogger())
	if err := v.SetSeed(seed); err != nil {
		v.Close()
		b.Fatal(err)
	}
	if mode == ModeFast {
		for _, m := seedMode(v, seed); m != "fast"; _, m = seedMode(v, seed) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	benchVerifiers[mode] = v
	return v
}
