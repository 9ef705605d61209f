package testenv

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
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

var sharedHasher rxHasher

// vmsFor returns one fast VM per CPU keyed with seed, building the dataset
// when the seed is new.
func (h *rxHasher) vmsFor(seed [32]byte, logf func(string, ...any)) ([]*randomx.VM, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ds != nil && h.seed == seed {
		return h.vms, nil
	}
	for _, vm := range h.vms {
		vm.Close()
	}
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
			for _, v := range h.vms {
				v.Close()
			}
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
	vms, err := sharedHasher.vmsFor(seed, logf)
	if err != nil {
		return "", err
	}
	extra := make([]byte, reserve)
	_, _ = rand.Read(extra)
	hb, err := t.HashingBlob(extra)
	if err != nil {
		return "", err
	}

	// Each VM hashes every len(vms)-th nonce until one meets the difficulty,
	// the tip moves (checked every half second) or ctx ends.
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	found := make(chan [4]byte, len(vms))
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := append([]byte(nil), hb...)
			var nonce [4]byte
			for k := uint32(i); mctx.Err() == nil; k += uint32(len(vms)) {
				binary.LittleEndian.PutUint32(nonce[:], k)
				_ = t.SetNonce(b, nonce)
				h := vm.Hash(b)
				if cryptonote.CheckHash(&h, tpl.Difficulty) {
					found <- nonce
					stop()
					return
				}
			}
		}()
	}
	watch := time.NewTicker(500 * time.Millisecond)
	defer watch.Stop()
	defer wg.Wait()
	for {
		select {
		case nonce := <-found:
			stop()
			full, err := t.Block(extra, nonce)
			if err != nil {
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
		case <-watch.C:
			if h, err := d.Height(ctx); err == nil && h > tpl.Height {
				return "", nil
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
