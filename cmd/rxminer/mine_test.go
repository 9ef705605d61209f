package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/randomx"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// A hashing blob and seed xmrig mined on (field-notes.md).
const (
	realBlob = "1010ebda8ed806eee8e1345609e89cbc124b941328ac0463ec701ab8ca60a711c43be825fa6a5d000000001148dbedc6dee04795616c682873df9c2658f1d0efaebf8bf5377174303867d001"
	realSeed = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3"
	// otherSeed stands for the next RandomX epoch's key.
	otherSeed = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// ref hashes independently of the miner's engine (own caches and VMs), so
// the tests compare the miner with plain VM.Hash calls.
var ref = struct {
	sync.Mutex
	vms    map[string]*randomx.VM
	caches []*randomx.Cache
}{vms: map[string]*randomx.VM{}}

func TestMain(m *testing.M) {
	code := m.Run()
	ref.Lock()
	for _, vm := range ref.vms {
		vm.Close()
	}
	for _, c := range ref.caches {
		c.Close()
	}
	ref.Unlock()
	os.Exit(code)
}

// refHash is VM.Hash of blob with nonce at offset 39, keyed by seed.
func refHash(tb testing.TB, seed string, blob []byte, nonce [4]byte) [32]byte {
	tb.Helper()
	warmRef(tb, seed)
	ref.Lock()
	defer ref.Unlock()
	in := append([]byte(nil), blob...)
	copy(in[client.NonceOffset:], nonce[:])
	return ref.vms[seed].Hash(in)
}

// warmRef builds the reference VMs for seeds in parallel, before the
// miner's threads take the CPUs.
func warmRef(tb testing.TB, seeds ...string) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(seeds))
	for i, seed := range seeds {
		ref.Lock()
		have := ref.vms[seed] != nil
		ref.Unlock()
		if have {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, _ := hex.DecodeString(seed)
			c, err := randomx.NewCache(randomx.GetFlags(), key)
			if err != nil {
				errs[i] = err
				return
			}
			vm, err := randomx.NewVM(randomx.GetFlags(), c, nil)
			ref.Lock()
			defer ref.Unlock()
			ref.caches = append(ref.caches, c)
			if err != nil || ref.vms[seed] != nil {
				vm.Close()
				errs[i] = err
				return
			}
			ref.vms[seed] = vm
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func testWork(tb testing.TB, blob, seed string, diff uint64) *work {
	tb.Helper()
	w, err := client.DecodeJob(&proto.Job{JobID: "j-" + seed[:4], Blob: blob, Target: cryptonote.TargetHex(diff), Algo: proto.Algo, SeedHash: seed})
	if err != nil {
		tb.Fatal(err)
	}
	return newWork(w, false)
}

// startHasher runs a light-mode hasher with its own engine. stop (also
// run at cleanup) ends the threads; the engine, which frees the cache they
// hash from, closes at cleanup after them.
func startHasher(t *testing.T, threads int) (h *hasher, eng *rxEngine, hashes *atomic.Uint64, stop func()) {
	t.Helper()
	eng = newRXEngine(false, 1, t.Logf)
	hashes = new(atomic.Uint64)
	h = newHasher(eng, threads, hashes)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(eng.close)
	t.Cleanup(stop) // cleanups run last-in first-out: threads stop first
	return h, eng, hashes, stop
}

func TestNonceRange(t *testing.T) {
	for _, nh := range []bool{false, true} {
		space := uint64(1) << 32
		if nh {
			space = 1 << 24
		}
		for _, n := range []int{1, 2, 3, 7} {
			next := uint64(0)
			for k := range n {
				start, count := nonceRange(k, n, nh)
				if start != next || count == 0 {
					t.Fatalf("nicehash %v, %d threads: thread %d starts at %d, want %d", nh, n, k, start, next)
				}
				next = start + count
			}
			if next != space {
				t.Fatalf("nicehash %v, %d threads cover %d of %d", nh, n, next, space)
			}
		}
	}
	w := &work{nicehash: true, blob: make([]byte, 76)}
	w.blob[42] = 0xab
	if got := nonceAt(w, 0x12345678); got != 0xab345678 {
		t.Fatalf("nicehash nonce %#x", got)
	}
	if got := nonceAt(&work{}, 0x12345678); got != 0x12345678 {
		t.Fatalf("nonce %#x", got)
	}
}

// nextShare waits for a share of w (skipping those of older jobs).
func nextShare(t *testing.T, h *hasher, w *work) share {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case s := <-h.shares():
			if s.work == w {
				return s
			}
		case <-deadline:
			t.Fatalf("no share for job %s", w.jobID)
		}
	}
}

// checkShare: the share's hash is VM.Hash of the blob with its nonce.
func checkShare(t *testing.T, s share, seed string) {
	t.Helper()
	blob := append([]byte(nil), s.work.blob...)
	if want := refHash(t, seed, blob, s.nonce); s.hash != want {
		t.Fatalf("nonce %x: miner hash %x, VM.Hash %x", s.nonce, s.hash, want)
	}
	if s.meets != client.MeetsTarget(&s.hash, s.work.target64) {
		t.Fatalf("share meets=%v for hash %x", s.meets, s.hash)
	}
}

// The real light-mode hash loop: shares at difficulty 2 on a real blob,
// the same hash as a separate VM.Hash, a nicehash job, a seed change and
// a requested miss.
func TestHashLoop(t *testing.T) {
	warmRef(t, realSeed, otherSeed)
	h, eng, hashes, stop := startHasher(t, 2)

	blob, _ := hex.DecodeString(realBlob)
	w := testWork(t, realBlob, realSeed, 2)
	h.setJob(w)
	seen := map[[4]byte]bool{}
	for range 3 {
		s := nextShare(t, h, w)
		if !s.meets || seen[s.nonce] {
			t.Fatalf("share %+v (seen %v)", s, seen[s.nonce])
		}
		seen[s.nonce] = true
		checkShare(t, s, realSeed)
		if !cryptonote.CheckHash(&s.hash, 2) {
			t.Fatalf("share %x fails the pool's 256-bit check at diff 2", s.hash)
		}
	}

	// Nicehash: the job's byte 42 stays the nonce's top byte.
	nb := append([]byte(nil), blob...)
	nb[42] = 0xab
	wn := testWork(t, hex.EncodeToString(nb), realSeed, 2)
	if !wn.nicehash {
		t.Fatal("non-zero nonce bytes did not mean nicehash")
	}
	h.setJob(wn)
	s := nextShare(t, h, wn)
	if s.nonce[3] != 0xab {
		t.Fatalf("nicehash nonce %x", s.nonce)
	}
	checkShare(t, s, realSeed)

	// A new seed: the engine builds its cache and the threads switch.
	w2 := testWork(t, realBlob, otherSeed, 2)
	h.setJob(w2)
	checkShare(t, nextShare(t, h, w2), otherSeed)
	if n := eng.seedChanges(); n != 2 {
		t.Fatalf("seed changes %d", n)
	}

	// A requested miss is a real hash that misses the target.
	h.requestMiss()
	for {
		s := nextShare(t, h, w2)
		if !s.meets {
			checkShare(t, s, otherSeed)
			break
		}
	}
	stop()
	if hashes.Load() < 6 {
		t.Fatalf("%d hashes", hashes.Load())
	}
	// Threads released their VMs and memory: only the newest seed stays.
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if len(eng.seeds) != 1 || eng.seeds[w2.seed] == nil || eng.seeds[w2.seed].refs != 0 {
		t.Fatalf("engine holds %d seeds", len(eng.seeds))
	}
}

// Each thread iterates its own nonce range from its start.
func TestThreadsUseDisjointRanges(t *testing.T) {
	h, _, _, _ := startHasher(t, 2)
	w := testWork(t, realBlob, realSeed, 1) // every hash is a share
	h.setJob(w)
	var low, high bool
	for !low || !high {
		s := nextShare(t, h, w)
		n := binary.LittleEndian.Uint32(s.nonce[:])
		low = low || n < 1<<31
		high = high || n >= 1<<31
		if n%(1<<31) > 1000 {
			t.Fatalf("nonce %#x is far from a thread's range start", n)
		}
	}
}
