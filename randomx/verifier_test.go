package randomx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	seedA = [32]byte{0xaa, 1}
	seedB = [32]byte{0xbb, 2}
	seedC = [32]byte{0xcc, 3}
	seedD = [32]byte{0xdd, 4}
)

// blob returns a 76-byte hashing blob whose first byte is id.
func blob(id int) []byte {
	b := benchBlob()
	b[0] = byte(id)
	b[39] = byte(id >> 8) // the nonce offset in Monero blobs
	return b
}

// refHashes computes expected hashes with a plain light VM.
type refHashes struct {
	mu   sync.Mutex
	memo map[string][HashSize]byte
}

func (r *refHashes) get(t testing.TB, seed [32]byte, b []byte) [HashSize]byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	k := string(seed[:]) + string(b)
	if h, ok := r.memo[k]; ok {
		return h
	}
	vm, err := NewVM(GetFlags(), lightCache(t, seed[:]), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if r.memo == nil {
		r.memo = map[string][HashSize]byte{}
	}
	h := vm.Hash(b)
	r.memo[k] = h
	return h
}

func newTestVerifier(t *testing.T, cfg VerifierConfig) *Verifier {
	t.Helper()
	v := NewVerifier(cfg, quietLogger())
	t.Cleanup(func() { v.Close() })
	return v
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seedMode(v *Verifier, seed [32]byte) (role, mode string) {
	for _, s := range v.Stats().Seeds {
		if s.Seed == seed {
			return s.Role, s.Mode
		}
	}
	return "", ""
}

// checkHash verifies one share and compares it with the reference.
func checkHash(t *testing.T, v *Verifier, ref *refHashes, seed [32]byte, b []byte, lane Lane) {
	t.Helper()
	got, err := v.Hash(context.Background(), seed, b, lane)
	if err != nil {
		t.Errorf("Hash(seed %x): %v", seed[:2], err)
		return
	}
	if want := ref.get(t, seed, b); got != want {
		t.Errorf("Hash(seed %x, blob %d) = %x, want %x", seed[:2], b[0], got, want)
	}
}

// blocker holds the first request a worker is about to hash until released,
// and records the order in which the worker hashes requests. It needs no
// hook in the verifier: it works through the requests' contexts (see
// heldCtx), so the tests drive the production code as it ships.
type blocker struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	order   []string
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}), release: make(chan struct{})}
}

// hashing is called by the worker about to hash the request labelled label.
func (b *blocker) hashing(label string) {
	b.mu.Lock()
	b.order = append(b.order, label)
	b.mu.Unlock()
	first := false
	b.once.Do(func() { first = true })
	if first {
		close(b.entered)
		<-b.release
	}
}

// hashAsync is hashAsync with the request's context watched by b.
func (b *blocker) hashAsync(v *Verifier, ctx context.Context, seed [32]byte, blob []byte, lane Lane) <-chan asyncResult {
	return hashAsync(v, &heldCtx{Context: ctx, b: b, label: fmt.Sprintf("%d/%v", blob[0], lane)}, seed, blob, lane)
}

// heldCtx tells its blocker when a worker is about to hash its request.
// Hash checks the context once when called; the worker checks it again
// right before hashing (a cancelled request is dropped unhashed). That
// second check, while the context is live, is the worker's.
type heldCtx struct {
	context.Context
	b     *blocker
	label string
	live  atomic.Int32 // Err calls while the parent was not done
}

func (c *heldCtx) Err() error {
	if c.Context.Err() == nil && c.live.Add(1) == 2 {
		c.b.hashing(c.label)
	}
	return c.Context.Err()
}

type asyncResult struct {
	hash [HashSize]byte
	err  error
}

func hashAsync(v *Verifier, ctx context.Context, seed [32]byte, b []byte, lane Lane) <-chan asyncResult {
	ch := make(chan asyncResult, 1)
	go func() {
		h, err := v.Hash(ctx, seed, b, lane)
		ch <- asyncResult{h, err}
	}()
	return ch
}

func TestVerifierConcurrentTwoSeeds(t *testing.T) {
	var events atomic.Int64
	v := newTestVerifier(t, VerifierConfig{Workers: 2, Mode: ModeLight,
		Observer: func(HashEvent) { events.Add(1) }})
	ref := &refHashes{}
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	if err := v.SetSeed(seedB); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 16, 4
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seed := seedA
				if (g+i)%2 == 0 {
					seed = seedB
				}
				lane := LaneEarned
				if i == 0 && g%5 == 0 {
					lane = LaneBlock
				}
				checkHash(t, v, ref, seed, blob((g*each+i)%6), lane)
			}
		}()
	}
	wg.Wait()
	// The observer runs after the answer is sent.
	waitFor(t, 5*time.Second, "observer", func() bool { return events.Load() == goroutines*each })
	st := v.Stats()
	if st.HashesDone != goroutines*each || st.InFlight != 0 {
		t.Errorf("stats %+v, %d events", st, events.Load())
	}
	if r, m := seedMode(v, seedA); r != "previous" || m != "light" {
		t.Errorf("seed A: %s %s", r, m)
	}
	t.Logf("%d hashes, mean %v per hash, mean queue wait %v", st.HashesDone,
		st.HashTime/time.Duration(st.HashesDone), st.QueueWait/time.Duration(st.HashesDone))
}

func TestVerifierSeedSwitch(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{Workers: 1, Mode: ModeLight})
	ref := &refHashes{}
	ctx := context.Background()
	if _, err := v.Hash(ctx, seedA, blob(1), LaneEarned); !errors.Is(err, ErrUnknownSeed) {
		t.Errorf("before SetSeed: %v", err)
	}
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	checkHash(t, v, ref, seedA, blob(1), LaneEarned)

	if err := v.PrepareSeed(seedB); err != nil {
		t.Fatal(err)
	}
	if r, _ := seedMode(v, seedB); r != "next" {
		t.Errorf("prepared seed has role %q", r)
	}
	if _, err := v.Hash(ctx, seedB, blob(1), LaneEarned); !errors.Is(err, ErrUnknownSeed) {
		t.Errorf("prepared but not current seed: %v", err)
	}
	waitFor(t, 10*time.Second, "prepared cache", func() bool { _, m := seedMode(v, seedB); return m == "light" })
	if err := v.SetSeed(seedB); err != nil {
		t.Fatal(err)
	}
	checkHash(t, v, ref, seedA, blob(2), LaneEarned) // previous still works
	checkHash(t, v, ref, seedB, blob(2), LaneEarned)

	if err := v.SetSeed(seedC); err != nil { // not prepared: builds now
		t.Fatal(err)
	}
	if _, err := v.Hash(ctx, seedA, blob(3), LaneEarned); !errors.Is(err, ErrUnknownSeed) {
		t.Errorf("seed two switches old: %v", err)
	}
	if _, err := v.Hash(ctx, seedD, blob(3), LaneEarned); !errors.Is(err, ErrUnknownSeed) {
		t.Errorf("never seen seed: %v", err)
	}
	checkHash(t, v, ref, seedB, blob(3), LaneEarned)
	checkHash(t, v, ref, seedC, blob(3), LaneBlock)
	// A's cache is freed in the background once no worker uses it.
	waitFor(t, 10*time.Second, "seed A freed", func() bool { return v.Stats().Caches == 2 })

	if err := v.SetSeed(seedB); err != nil { // back to the previous seed (reorg)
		t.Fatal(err)
	}
	checkHash(t, v, ref, seedB, blob(4), LaneEarned)
	checkHash(t, v, ref, seedC, blob(4), LaneEarned)
	if err := v.SetSeed(seedB); err != nil { // no-op
		t.Fatal(err)
	}
	st := v.Stats()
	if len(st.Seeds) != 2 || st.Caches != 2 || st.Datasets != 0 {
		t.Errorf("stats after switches: %+v", st)
	}
}

func TestVerifierQueueFull(t *testing.T) {
	bl := newBlocker()
	v := newTestVerifier(t, VerifierConfig{Workers: 1, QueueSize: 2, PriorityQueueSize: 1,
		Mode: ModeLight})
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var pending []<-chan asyncResult
	pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(0), LaneEarned))
	<-bl.entered // the only worker is now busy
	for i := 1; i <= 2; i++ {
		pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(i), LaneEarned))
		waitFor(t, 5*time.Second, "queued", func() bool { return v.Stats().QueueDepth == i })
	}
	start := time.Now()
	if _, err := v.Hash(ctx, seedA, blob(3), LaneEarned); !errors.Is(err, ErrQueueFull) {
		t.Errorf("third queued share: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("ErrQueueFull took %v", d)
	}
	// A full normal queue does not stop a possible block.
	pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(4), LaneBlock))
	waitFor(t, 5*time.Second, "priority queued", func() bool { return v.Stats().PriorityQueueDepth == 1 })
	if _, err := v.Hash(ctx, seedA, blob(5), LaneBlock); !errors.Is(err, ErrQueueFull) {
		t.Errorf("priority share beyond its queue: %v", err)
	}
	if st := v.Stats(); st.Rejected != 2 || st.InFlight != 1 {
		t.Errorf("stats %+v", st)
	}
	close(bl.release)
	for _, ch := range pending {
		if r := <-ch; r.err != nil {
			t.Error(r.err)
		}
	}
}

func TestVerifierPriorityOvertakes(t *testing.T) {
	bl := newBlocker()
	v := newTestVerifier(t, VerifierConfig{Workers: 1, Mode: ModeLight})
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pending := []<-chan asyncResult{bl.hashAsync(v, ctx, seedA, blob(0), LaneEarned)}
	<-bl.entered
	for i := 1; i <= 3; i++ { // queue one at a time so their order is known
		pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(i), LaneEarned))
		waitFor(t, 5*time.Second, "queued", func() bool { return v.Stats().QueueDepth == i })
	}
	pending = append(pending, bl.hashAsync(v, ctx, seedA, blob(9), LaneBlock))
	waitFor(t, 5*time.Second, "priority queued", func() bool { return v.Stats().PriorityQueueDepth == 1 })
	close(bl.release)
	for _, ch := range pending {
		if r := <-ch; r.err != nil {
			t.Error(r.err)
		}
	}
	want := "[0/earned 9/block 1/earned 2/earned 3/earned]"
	if got := fmt.Sprint(bl.order); got != want {
		t.Errorf("hash order %s, want %s", got, want)
	}
}

func TestVerifierCancelledRequestSkipped(t *testing.T) {
	bl := newBlocker()
	v := newTestVerifier(t, VerifierConfig{Workers: 1, Mode: ModeLight})
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	first := bl.hashAsync(v, context.Background(), seedA, blob(0), LaneEarned)
	<-bl.entered
	ctx, cancel := context.WithCancel(context.Background())
	second := bl.hashAsync(v, ctx, seedA, blob(1), LaneEarned)
	waitFor(t, 5*time.Second, "queued", func() bool { return v.Stats().QueueDepth == 1 })
	cancel()
	if r := <-second; !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled request: %v", r.err)
	}
	close(bl.release)
	if r := <-first; r.err != nil {
		t.Error(r.err)
	}
	waitFor(t, 5*time.Second, "skip", func() bool { return v.Stats().Failed == 1 })
	if st := v.Stats(); st.HashesDone != 1 {
		t.Errorf("cancelled request was hashed: %+v", st)
	}
}

func TestVerifierClose(t *testing.T) {
	bl := newBlocker()
	v := NewVerifier(VerifierConfig{Workers: 1, Mode: ModeLight}, quietLogger())
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	if err := v.PrepareSeed(seedB); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inFlight := bl.hashAsync(v, ctx, seedA, blob(0), LaneEarned)
	<-bl.entered
	queued := []<-chan asyncResult{bl.hashAsync(v, ctx, seedA, blob(1), LaneEarned)}
	waitFor(t, 5*time.Second, "queued", func() bool { return v.Stats().QueueDepth == 1 })
	queued = append(queued, bl.hashAsync(v, ctx, seedA, blob(2), LaneBlock))
	waitFor(t, 5*time.Second, "queued", func() bool { return v.Stats().PriorityQueueDepth == 1 })

	closed := make(chan error)
	go func() { closed <- v.Close() }()
	waitFor(t, 5*time.Second, "closing", func() bool {
		// An unknown seed is never queued: ErrUnknownSeed until closed.
		_, err := v.Hash(ctx, seedD, blob(3), LaneEarned)
		return errors.Is(err, ErrClosed)
	})
	close(bl.release)
	if r := <-inFlight; r.err != nil {
		t.Errorf("in-flight request: %v", r.err)
	}
	for _, ch := range queued {
		if r := <-ch; !errors.Is(r.err, ErrClosed) {
			t.Errorf("queued request: %v", r.err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Error(err)
	}
	if err := v.SetSeed(seedC); !errors.Is(err, ErrClosed) {
		t.Errorf("SetSeed after Close: %v", err)
	}
	if err := v.PrepareSeed(seedC); !errors.Is(err, ErrClosed) {
		t.Errorf("PrepareSeed after Close: %v", err)
	}
	if st := v.Stats(); st.Caches != 0 || st.Datasets != 0 || len(st.Seeds) != 0 {
		t.Errorf("memory left after Close: %+v", st)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "Fast": ModeFast, " light ": ModeLight, "auto": ModeAuto} {
		if m, err := ParseMode(in); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, m, err)
		}
	}
	if _, err := ParseMode("turbo"); err == nil {
		t.Error("ParseMode(turbo) succeeded")
	}
}

// TestVerifierFastMode builds two datasets (current and prepared next):
// about 46 s here. It frees the shared test dataset first so the process
// never holds more than two.
func TestVerifierFastMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two 2 GiB datasets; skipped with -short")
	}
	releaseSharedFast()
	v := newTestVerifier(t, VerifierConfig{Workers: 2, Mode: ModeFast, DatasetThreads: 2})
	ref := &refHashes{}
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	checkHash(t, v, ref, seedA, blob(1), LaneEarned) // light until the dataset is ready
	start := time.Now()
	waitFor(t, 5*time.Minute, "seed A fast", func() bool { _, m := seedMode(v, seedA); return m == "fast" })
	t.Logf("dataset A ready %v after SetSeed returned", time.Since(start).Round(time.Millisecond))

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				checkHash(t, v, ref, seedA, blob(g*5+i), LaneEarned)
			}
		}()
	}
	wg.Wait()
	if n := v.Stats().FastHashes; n != 40 {
		t.Errorf("%d of 40 hashes by fast VMs", n)
	}

	if err := v.PrepareSeed(seedB); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Minute, "seed B fast", func() bool { _, m := seedMode(v, seedB); return m == "fast" })
	if st := v.Stats(); st.Datasets != 2 {
		t.Errorf("%d datasets with current and next built", st.Datasets)
	}
	if err := v.SetSeed(seedB); err != nil {
		t.Fatal(err)
	}
	if _, m := seedMode(v, seedB); m != "fast" {
		t.Errorf("prepared seed is %s after the switch", m)
	}
	waitFor(t, 10*time.Second, "old dataset freed", func() bool { return v.Stats().Datasets == 1 })
	if r, m := seedMode(v, seedA); r != "previous" || m != "light" {
		t.Errorf("old seed: %s %s", r, m)
	}
	before := v.Stats().FastHashes
	checkHash(t, v, ref, seedA, blob(1), LaneEarned)
	checkHash(t, v, ref, seedB, blob(1), LaneBlock)
	if v.Stats().FastHashes != before+1 {
		t.Errorf("expected exactly the seed B hash to be fast")
	}
	v.Close()
	if st := v.Stats(); st.Datasets != 0 || st.Caches != 0 {
		t.Errorf("after Close: %+v", st)
	}
}

func TestVerifierAutoLowMemoryStaysLight(t *testing.T) {
	if avail, ok := readMemAvailable(); ok {
		t.Logf("MemAvailable %d MiB; a dataset needs %d MiB", avail>>20, DatasetSize()>>20)
	}
	orig := memAvailable
	memAvailable = func() (uint64, bool) { return 1 << 30, true }
	t.Cleanup(func() { memAvailable = orig })
	v := newTestVerifier(t, VerifierConfig{Workers: 1, Mode: ModeAuto})
	if err := v.SetSeed(seedA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "dataset decision", func() bool {
		st := v.Stats()
		return len(st.Seeds) == 1 && st.Seeds[0].DatasetError != ""
	})
	st := v.Stats()
	if st.Seeds[0].Mode != "light" || st.Datasets != 0 {
		t.Errorf("low memory: %+v", st)
	}
	t.Log(st.Seeds[0].DatasetError)
	checkHash(t, v, &refHashes{}, seedA, blob(1), LaneEarned)
}
