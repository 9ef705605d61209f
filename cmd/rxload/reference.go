package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/randomx"
	"rxpool/stratum/client"
)

// ReferenceResult is what `rxload reference` prints.
type ReferenceResult struct {
	Mode        string  `json:"mode"`
	Threads     int     `json:"threads"`
	Hashes      uint64  `json:"hashes"`
	Seconds     float64 `json:"seconds"`
	HashesPerS  float64 `json:"hashes_per_s"`
	PerThread   float64 `json:"hashes_per_s_per_thread"`
	InitSeconds float64 `json:"init_seconds"` // cache or dataset build, not in seconds
	Flags       string  `json:"flags"`
	Seed        string  `json:"seed"`
	// Impl says what was timed. The binding's plain C loop
	// (randomx/internal/ctest HashLoop) is internal and only reachable from
	// the package's benchmarks, so this is VM.Hash in a Go loop, one
	// locked OS thread per VM; BENCHMARKS.md measures it at 0.94–1.02× the
	// C loop on one thread.
	Impl string `json:"impl"`
}

// defaultRefSeed is a fixed key so runs are comparable.
const defaultRefSeed = "be4c000000000000000000000000000000000000000000000000000000000000"

func runReference(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reference", "rxload reference -mode fast|light -t N -duration 10s [-seed HEX]", stderr)
	var (
		mode        = fs.String("mode", "fast", "RandomX mode: fast (2 GiB dataset) or light (256 MiB cache)")
		threads     = fs.Int("t", runtime.NumCPU(), "hashing threads, one VM each")
		duration    = fs.Duration("duration", 10*time.Second, "how long to hash (after the VMs are built)")
		seedHex     = fs.String("seed", defaultRefSeed, "RandomX key (seed hash), 64 hex digits")
		initThreads = fs.Int("init-threads", runtime.NumCPU(), "threads building the fast-mode dataset")
		largePages  = fs.Bool("large-pages", false, "ask for huge pages (falls back without)")
		_           = fs.Bool("json", true, "print JSON (always on; accepted for symmetry with the other modes)")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fast, err := parseMode(*mode)
	if err != nil {
		return err
	}
	var seed [32]byte
	if b, err := hex.DecodeString(*seedHex); err != nil || len(b) != 32 {
		return usagef("-seed: want 64 hex digits")
	} else {
		copy(seed[:], b)
	}
	if *threads < 1 || *duration <= 0 {
		return usagef("-t must be ≥ 1 and -duration > 0")
	}
	log := newLogger(stderr)
	mem, err := newRXMem(ctx, seed, fast, *largePages, *initThreads, log)
	if err != nil {
		return err
	}
	defer mem.close()
	res, err := referenceRun(ctx, mem, *threads, *duration)
	if err != nil {
		return err
	}
	res.Seed = *seedHex
	log.printf("reference: %s mode, %d threads: %d hashes in %.2f s = %.1f H/s", res.Mode, res.Threads, res.Hashes, res.Seconds, res.HashesPerS)
	return writeJSON(stdout, res)
}

// referenceRun hashes on threads VMs for d. Every VM is built before the
// clock starts; each thread has its own blob and nonce sequence, so no
// input repeats (repeating one input keeps its dataset lines in cache).
func referenceRun(ctx context.Context, mem *rxMem, threads int, d time.Duration) (*ReferenceResult, error) {
	vms := make([]*randomx.VM, threads)
	defer func() {
		for _, vm := range vms {
			vm.Close()
		}
	}()
	for i := range vms {
		vm, err := mem.newVM()
		if err != nil {
			return nil, err
		}
		vms[i] = vm
	}
	var (
		stop   atomic.Bool
		total  atomic.Uint64
		wg     sync.WaitGroup
		begin  = make(chan struct{})
		ready  sync.WaitGroup
		blobSz = 76 // a Monero hashing blob
	)
	for k, vm := range vms {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // one OS thread per VM, as a miner runs
			defer runtime.UnlockOSThread()
			blob := make([]byte, blobSz)
			for i := range blob {
				blob[i] = byte(i*7 + 3)
			}
			blob[0] = byte(k) // threads hash different inputs
			ready.Done()
			<-begin
			var n uint64
			for nonce := uint32(0); !stop.Load(); nonce++ {
				binary.LittleEndian.PutUint32(blob[client.NonceOffset:], nonce)
				_ = vm.Hash(blob)
				n++
			}
			total.Add(n)
		}()
	}
	ready.Wait()
	start := time.Now()
	close(begin)
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	finished := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done(): // interrupted: report what was done so far
			stop.Store(true)
		case <-finished:
		}
	}()
	wg.Wait() // threads finish the hash they are in: counted and timed
	secs := time.Since(start).Seconds()
	close(finished)
	h := total.Load()
	return &ReferenceResult{
		Mode: modeName(mem.fast), Threads: threads, Hashes: h, Seconds: secs,
		HashesPerS: float64(h) / secs, PerThread: float64(h) / secs / float64(threads),
		InitSeconds: mem.initTime.Seconds(), Flags: vms[0].Flags().String(),
		Impl: "VM.Hash per thread (randomx/internal/ctest's C loop is internal, benchmark-only)",
	}, nil
}
