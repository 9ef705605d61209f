package testenv

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"rxpool/cryptonote"
	"rxpool/randomx"
)

// rxHasher is the RandomX memory the harness mines with, built once per
// test process and kept for its life: a Pastella chain below height 2113 has
// one seed (the genesis id), so one dataset serves every test of a package.
// Fast mode (2 GiB, ~30 s to build on 2 cores) because a private chain
// starts at difficulty 1000, which light mode needs ~15 s a block for here.
type rxHasher struct {
	mu   sync.Mutex
	seed [32]byte
	ds   *randomx.Dataset
	vms  []*randomx.VM
}

var (
	sharedHasher rxHasher
	solving      sync.Mutex // held by SolvePastella while it uses the VMs
)

// vmsFor returns one fast VM per CPU keyed with seed, building the dataset
// when the seed is new.
func (h *rxHasher) vmsFor(seed [32]byte, logf func(string, ...any)) ([]*randomx.VM, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ds != nil && h.seed == seed {
		return h.vms, nil
	}
	closeVMs(h.vms)
	if h.ds != nil {
		h.ds.Close()
	}
	h.vms, h.ds = nil, nil
	flags := randomx.GetFlags()
	start := time.Now()
	cache, err := randomx.NewCache(flags, seed[:])
	if err != nil {
		return nil, err
	}
	defer cache.Close() // the dataset holds what it needs
	threads := runtime.NumCPU()
	ds, err := randomx.NewDataset(flags|randomx.FlagFullMem, cache, threads, nil)
	if err != nil {
		return nil, err
	}
	for range threads {
		vm, err := randomx.NewVM(flags|randomx.FlagFullMem, nil, ds)
		if err != nil {
			closeVMs(h.vms)
			ds.Close()
			h.vms = nil
			return nil, err
		}
		h.vms = append(h.vms, vm)
	}
	h.ds, h.seed = ds, seed
	if logf != nil {
		logf("testenv: RandomX dataset for seed %x… built in %s", seed[:4], time.Since(start).Round(100*time.Millisecond))
	}
	return h.vms, nil
}

// MineBlocks mines n blocks to address with the harness's own RandomX
// hashing against getblocktemplate/submitblock, using every CPU, and returns
// their ids. It takes a fresh template when the chain moves under it (a
// pool mining at the same time), so blocks it finds are always on the tip.
// logf, when non-nil, reports each block.
func (d *Pastellad) MineBlocks(ctx context.Context, n int, address string, logf func(string, ...any)) ([]string, error) {
	var ids []string
	for len(ids) < n {
		id, err := d.mineOne(ctx, address, logf)
		if err != nil {
			return ids, fmt.Errorf("mining block %d of %d: %w", len(ids)+1, n, err)
		}
		if id == "" {
			continue // the tip moved; mine on the new one
		}
		ids = append(ids, id)
		if logf != nil {
			logf("testenv: mined Pastella block %d/%d (%s…)", len(ids), n, id[:12])
		}
	}
	return ids, nil
}

// mineOne mines on one template until a block is found ("" when the tip
// moved first) and submits it.
func (d *Pastellad) mineOne(ctx context.Context, address string, logf func(string, ...any)) (string, error) {
	const reserve = 8
	tpl, err := d.Template(ctx, address, reserve)
	if err != nil {
		return "", err
	}
	blob, err := hex.DecodeString(tpl.Blob)
	if err != nil {
		return "", err
	}
	t, err := cryptonote.NewTemplate(blob, tpl.ReservedOffset, reserve)
	if err != nil {
		return "", err
	}
	var seed [32]byte
	if _, err := hex.Decode(seed[:], []byte(tpl.SeedHash)); err != nil {
		return "", fmt.Errorf("seed_hash %q: %w", tpl.SeedHash, err)
	}
	extra := make([]byte, reserve)
	_, _ = rand.Read(extra)

	// The search stops when the tip moves (checked every half second).
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	var moved atomic.Bool
	go func() {
		watch := time.NewTicker(500 * time.Millisecond)
		defer watch.Stop()
		for {
			select {
			case <-mctx.Done():
				return
			case <-watch.C:
				if h, err := d.Height(mctx); err == nil && h > tpl.Height {
					moved.Store(true)
					stop()
					return
				}
			}
		}
	}()
	full, err := SolvePastella(mctx, t, extra, seed, tpl.Difficulty, logf)
	stop()
	if err != nil {
		if moved.Load() && ctx.Err() == nil {
			return "", nil
		}
		return "", err
	}
	if err := d.SubmitBlock(ctx, hex.EncodeToString(full)); err != nil {
		if h, _ := d.Height(ctx); h > tpl.Height {
			return "", nil // someone else's block came first
		}
		return "", err
	}
	var hdr struct {
		BlockHeader struct {
			Hash string `json:"hash"`
		} `json:"block_header"`
	}
	if err := d.Call(ctx, "getblockheaderbyheight", map[string]any{"height": tpl.Height}, &hdr); err != nil {
		return "", err
	}
	return hdr.BlockHeader.Hash, nil
}

// SolvePastella searches nonces for the block t builds with extraNonce
// until its RandomX hash (key seed) meets difficulty, and returns the full
// block blob. It hashes with the harness's fast-mode RandomX on every CPU
// (the dataset is built on first use and kept), so tests that build blocks
// through their own code share the harness's dataset. It gives up when ctx
// ends. Concurrent calls take turns: a RandomX VM hashes for one caller at
// a time.
func SolvePastella(ctx context.Context, t *cryptonote.Template, extraNonce []byte, seed [32]byte, difficulty uint64, logf func(string, ...any)) ([]byte, error) {
	solving.Lock()
	defer solving.Unlock()
	vms, err := sharedHasher.vmsFor(seed, logf)
	if err != nil {
		return nil, err
	}
	return solveWith(ctx, vms, t, extraNonce, difficulty)
}

// SolvePastellaLight is SolvePastella in light mode: one 256 MiB cache
// built for the call (about a second) instead of the 2 GiB dataset (about
// 30 s once), at some 30 ms a hash instead of 4. For a test process that
// mines a block or two, it is the cheaper of the two.
func SolvePastellaLight(ctx context.Context, t *cryptonote.Template, extraNonce []byte, seed [32]byte, difficulty uint64) ([]byte, error) {
	flags := randomx.GetFlags()
	cache, err := randomx.NewCache(flags, seed[:])
	if err != nil {
		return nil, err
	}
	defer cache.Close()
	vms := make([]*randomx.VM, runtime.NumCPU())
	for i := range vms {
		if vms[i], err = randomx.NewVM(flags, cache, nil); err != nil {
			closeVMs(vms[:i])
			return nil, err
		}
	}
	defer closeVMs(vms)
	return solveWith(ctx, vms, t, extraNonce, difficulty)
}

func closeVMs(vms []*randomx.VM) {
	for _, vm := range vms {
		vm.Close()
	}
}

// solveWith is the nonce search: each VM hashes every len(vms)-th nonce
// until one meets the difficulty or ctx ends.
func solveWith(ctx context.Context, vms []*randomx.VM, t *cryptonote.Template, extraNonce []byte, difficulty uint64) ([]byte, error) {
	hb, err := t.HashingBlob(extraNonce)
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	found := make(chan [4]byte, len(vms))
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Go(func() {
			b := append([]byte(nil), hb...)
			var nonce [4]byte
			for k := uint32(i); sctx.Err() == nil; k += uint32(len(vms)) {
				binary.LittleEndian.PutUint32(nonce[:], k)
				_ = t.SetNonce(b, nonce)
				h := vm.Hash(b)
				if cryptonote.CheckHash(&h, difficulty) {
					found <- nonce
					stop()
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case nonce := <-found:
		return t.Block(extraNonce, nonce)
	default:
		return nil, ctx.Err()
	}
}
