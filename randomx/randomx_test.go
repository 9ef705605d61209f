package randomx

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/randomx/internal/ctest"
)

// vector is a published RandomX v1 test vector (tevador/RandomX
// src/tests/tests.cpp, hash tests 1a-1f).
type vector struct {
	name  string
	key   []byte
	input []byte
	want  string
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	key000 = []byte("test key 000")
	key001 = []byte("test key 001")
	// Test f's key is 32 bytes in tests.cpp of which the last (zero) byte
	// is not passed to the library.
	keyF     = mustHex("7797373ea4633194640bf8d8c3b66724d6aa7bd2dc20e009df2f8f1710abe8")
	sedInput = []byte("sed do eiusmod tempor incididunt ut labore et dolore magna aliqua")
)

var vectors = []vector{
	{"a", key000, []byte("This is a test"), "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"},
	{"b", key000, []byte("Lorem ipsum dolor sit amet"), "300a0adb47603dedb42228ccb2b211104f4da45af709cd7547cd049e9489c969"},
	{"c", key000, sedInput, "c36d4ed4191e617309867ed66a443be4075014e2b061bcdaf9ce7b721d2b77a8"},
	{"d", key001, sedInput, "e9ff4503201c0c2cca26d285c93ae883f9b1d30c9eb240b820756f2d5a7905fc"},
	{"e", key001, mustHex("0b0b98bea7e805e0010a2126d287a2a0cc833d312cb786385a7c2f9de69d25537f584a9bc9977b00000000666fd8753bf61a8631f12984e3fd44f4014eca629276817b56f32e9b68bd82f416"),
		"c56414121acda1713c2f2a819d8ae38aed7c80c35c2a769298d34f03833cd5f1"},
	{"f", keyF, mustHex("1010e1eaf8cf067b37b5f0ee031ab23ed1755e090a3af4415830145853e2be3e1f6821fed84dae58d00e00da5214d6c1f2d0622e0abd51f9373d04e0b0f8e6d6514d90689721c4aac5a9bb0d"),
		"78af2a1864c42abce36d2e8983e13df99b2af0ce1362999af09fab004d4435a8"},
}

// Dataset items for "test key 000" (tests.cpp "Dataset initialization"):
// the first 64-bit word of item i.
var datasetItems = map[uint64]uint64{
	0:        0x680588a85ae222db,
	10000000: 0x7943a1f6186ffb72,
	20000000: 0x9035244d718095e1,
	30000000: 0x145a5091f7853099,
}

// Shared test fixtures: light caches per key (cheap) and one fast-mode
// dataset for key000 (2 GiB, ~23 s), built at most once per run unless a
// test releases it to stay within two datasets; TestMain frees them.
var (
	fixMu          sync.Mutex
	lightCaches    = map[string]*Cache{}
	fast           *fastFixture
	benchVerifiers = map[Mode]*Verifier{}
)

type fastFixture struct {
	cache    *Cache
	ds       *Dataset
	initTime time.Duration
}

func TestMain(m *testing.M) {
	code := m.Run()
	releaseSharedFast()
	fixMu.Lock()
	for mode, v := range benchVerifiers {
		v.Close()
		delete(benchVerifiers, mode)
	}
	for k, c := range lightCaches {
		c.Close()
		delete(lightCaches, k)
	}
	fixMu.Unlock()
	os.Exit(code)
}

func lightCache(tb testing.TB, key []byte) *Cache {
	tb.Helper()
	fixMu.Lock()
	defer fixMu.Unlock()
	if c := lightCaches[string(key)]; c != nil {
		return c
	}
	c, err := NewCache(GetFlags(), key)
	if err != nil {
		tb.Fatal(err)
	}
	lightCaches[string(key)] = c
	return c
}

func sharedFast(tb testing.TB) *fastFixture {
	tb.Helper()
	if testing.Short() {
		tb.Skip("fast mode needs a 2 GiB dataset (~23 s to build); skipped with -short")
	}
	fixMu.Lock()
	defer fixMu.Unlock()
	if fast != nil {
		return fast
	}
	c, err := NewCache(GetFlags(), key000)
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	ds, err := NewDataset(GetFlags(), c, runtime.NumCPU(), nil)
	if err != nil {
		c.Close()
		tb.Fatal(err)
	}
	fast = &fastFixture{cache: c, ds: ds, initTime: time.Since(start)}
	tb.Logf("shared dataset initialised in %v on %d threads", fast.initTime.Round(time.Millisecond), runtime.NumCPU())
	return fast
}

// releaseSharedFast frees the shared dataset (tests that build their own
// call it first so the process never holds more than two).
func releaseSharedFast() {
	fixMu.Lock()
	defer fixMu.Unlock()
	if fast != nil {
		fast.ds.Close()
		fast.cache.Close()
		fast = nil
	}
}

func quietLogger() *logrus.Logger {
	l := logrus.New()
	if testing.Verbose() {
		l.SetOutput(os.Stderr)
	} else {
		l.SetOutput(io.Discard)
	}
	return l
}

func newVM(tb testing.TB, flags Flags, c *Cache, d *Dataset) *VM {
	tb.Helper()
	vm, err := NewVM(flags, c, d)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(vm.Close)
	return vm
}

func checkVector(t *testing.T, vm *VM, v vector) {
	t.Helper()
	if got := vm.Hash(v.input); hex.EncodeToString(got[:]) != v.want {
		t.Errorf("vector %s (flags %v): got %x, want %s", v.name, vm.Flags(), got, v.want)
	}
}

func TestFlags(t *testing.T) {
	f := GetFlags()
	t.Logf("randomx_get_flags() = %#x (%v)", uint32(f), f)
	if runtime.GOARCH == "amd64" && f&FlagJIT == 0 {
		t.Errorf("no JIT in %v on amd64", f)
	}
	if f&(FlagLargePages|FlagFullMem|FlagSecure) != 0 {
		t.Errorf("GetFlags set a flag the library never sets: %v", f)
	}
	if got := (FlagJIT | FlagHardAES).String(); got != "hard_aes|jit" {
		t.Errorf("String() = %q", got)
	}
	if FlagDefault.String() != "default" || FlagArgon2 != FlagArgon2SSSE3|FlagArgon2AVX2 {
		t.Error("flag constants")
	}
}

func TestKnownAnswersLight(t *testing.T) {
	variants := []struct {
		name  string
		flags Flags
	}{
		{"jit", GetFlags()},
		{"jit+secure", GetFlags() | FlagSecure},
		{"interpreter", FlagDefault},
	}
	for _, vr := range variants {
		t.Run(vr.name, func(t *testing.T) {
			// A VM per key, as the verifier's workers make one per seed.
			for _, v := range vectors {
				checkVector(t, newVM(t, vr.flags, lightCache(t, v.key), nil), v)
			}
		})
	}
}

func TestKnownAnswersFast(t *testing.T) {
	f := sharedFast(t)
	t.Logf("dataset init took %v", f.initTime.Round(time.Millisecond))
	for i, want := range datasetItems {
		if got := ctest.DatasetItemWord(f.ds.ptr.Load(), i); got != want {
			t.Errorf("dataset item %d: got %#x, want %#x", i, got, want)
		}
	}
	for _, flags := range []Flags{GetFlags() | FlagFullMem, GetFlags() | FlagFullMem | FlagSecure} {
		vm := newVM(t, flags, nil, f.ds)
		for _, v := range vectors {
			// Other keys would need another 2 GiB dataset; light mode covers them.
			if string(v.key) == string(key000) {
				checkVector(t, vm, v)
			}
		}
	}
}

// Flags returns the flags the cache was allocated with (without LARGE_PAGES
// if the large-page allocation failed); only this test asks.
func (c *Cache) Flags() Flags { return c.flags }

func TestLargePagesFallback(t *testing.T) {
	c, err := NewCache(GetFlags()|FlagLargePages, key000)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("large pages fallback: %v, flags %v", c.LargePagesFallback(), c.Flags())
	if c.LargePagesFallback() == (c.Flags()&FlagLargePages != 0) {
		t.Errorf("fallback %v inconsistent with flags %v", c.LargePagesFallback(), c.Flags())
	}
	vm := newVM(t, GetFlags()|FlagLargePages, c, nil)
	checkVector(t, vm, vectors[0])
}

func TestErrorsAndClose(t *testing.T) {
	c := lightCache(t, key000)
	if _, err := NewVM(GetFlags()|FlagFullMem, c, nil); err == nil {
		t.Error("fast VM without dataset")
	}
	if _, err := NewVM(GetFlags(), nil, nil); err == nil {
		t.Error("light VM without cache")
	}
	if _, err := NewDataset(GetFlags(), nil, 1, nil); err == nil {
		t.Error("dataset without cache")
	}
	closed, err := NewCache(FlagDefault, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	closed.Close() // idempotent
	if _, err := NewVM(GetFlags(), closed, nil); !errors.Is(err, errClosedObject) {
		t.Errorf("VM on closed cache: %v", err)
	}
	if _, err := NewDataset(GetFlags(), closed, 1, nil); !errors.Is(err, errClosedObject) {
		t.Errorf("dataset on closed cache: %v", err)
	}
	vm := newVM(t, GetFlags(), c, nil)
	vm.Close()
	vm.Close()
	(*VM)(nil).Close()
	(*Cache)(nil).Close()
	(*Dataset)(nil).Close()
	defer func() {
		if recover() == nil {
			t.Error("Hash on a closed VM did not panic")
		}
	}()
	vm.Hash(nil)
}

func TestHashNoAllocs(t *testing.T) {
	vm := newVM(t, GetFlags(), lightCache(t, key000), nil)
	blob := benchBlob()
	if n := testing.AllocsPerRun(3, func() { vm.Hash(blob) }); n != 0 {
		t.Errorf("VM.Hash allocates %v times per call", n)
	}
	checkVector(t, vm, vectors[0])
	var empty [0]byte
	if vm.Hash(nil) != vm.Hash(empty[:]) {
		t.Error("nil and empty input hash differently")
	}
}

func TestDatasetProgressAndCancel(t *testing.T) {
	// Abort after a few chunks: exercises the threads, the progress calls
	// and the cleanup without paying for a whole dataset.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last, calls uint64
	ds, err := NewDatasetContext(ctx, GetFlags(), lightCache(t, key000), 2, func(done, total uint64) {
		if done <= last || total != DatasetItemCount() {
			t.Errorf("progress went from %d to %d of %d", last, done, total)
		}
		last = done
		if calls++; calls == 4 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || ds != nil {
		t.Fatalf("cancelled build: %v, %v", ds, err)
	}
	if calls < 4 || last >= DatasetItemCount() {
		t.Errorf("progress: %d calls, last %d", calls, last)
	}
	t.Logf("%d progress calls before the build stopped (last %d items)", calls, last)
}

func TestCacheInitTime(t *testing.T) {
	start := time.Now()
	c, err := NewCache(GetFlags(), []byte("cache timing"))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	c.Close()
	t.Logf("cache init took %v (flags %v)", took.Round(time.Millisecond), GetFlags())
}
