package daemon

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/randomx"
)

// Facts of a fresh private Pastella chain (PastellaCore v1.0.3).
const (
	pastellaGenesisHash = "c5b9f61b36604388205be8d6a9d1c0f9fde7f90f70fefce3e69e9353a652b7c7"
	pastellaGenesisTime = 1772132400
	pastellaPremine     = 80_000_000_000_000 // the genesis coinbase: 800,000 PAS
	pastellaReward      = 400_000_000        // 4 PAS a block
	pastellaStartDiff   = 1000
	poolReserve         = 8 // what the pool asks for (stratum.reserveSize)
)

// startPastellads starts a ready daemon and one that never completes a peer
// handshake (so it answers "Daemon must be synced"), side by side to save
// start-up time, each on its own fresh chain. Both stop at cleanup.
func startPastellads(t *testing.T) (ready, unsynced *testenv.Pastellad) {
	t.Helper()
	ds := make([]*testenv.Pastellad, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range ds {
		wg.Go(func() {
			ds[i], errs[i] = testenv.StartPastellad(testenv.PastelladOptions{DataDir: t.TempDir() + "/pastellad", Unsynced: i == 1})
		})
	}
	wg.Wait()
	for i, d := range ds {
		if d != nil {
			t.Cleanup(d.Stop)
		}
		if errs[i] != nil {
			t.Fatalf("testenv: Pastellad (unsynced %v): %v", i == 1, errs[i])
		}
	}
	return ds[0], ds[1]
}

// TestPastellaReal runs the Pastella client against the real Pastellad:
// every call the pool makes, its refusals, the "must be synced" reply, and
// a block built from our template with our extra nonce, mined and sent
// through our client (behind a Failover, to both daemons at once). The
// subtests share the two chains and run in order.
func TestPastellaReal(t *testing.T) {
	start := time.Now()
	s, u := startPastellads(t)
	t.Logf("two Pastellads up in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	log, hook := captureLogs(t)
	cs := NewPastella("pas-ready", s.URL(), 5*time.Second, log)
	cu := NewPastella("pas-unsynced", u.URL(), 5*time.Second, log)
	genesis, err := parseHash(pastellaGenesisHash)
	if err != nil {
		t.Fatal(err)
	}
	burn := testenv.PastellaBurnAddress

	t.Run("info and headers", func(t *testing.T) {
		info, err := cs.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Info{Height: 1, Difficulty: pastellaStartDiff, TopHash: genesis, Synced: true}); *info != want {
			t.Fatalf("info %+v, want %+v", info, want)
		}
		// The genesis block: index 0, the premine, difficulty 1.
		want := BlockHeader{Height: 0, Depth: 0, Timestamp: pastellaGenesisTime, Difficulty: 1, Reward: pastellaPremine,
			Hash: genesis, MajorVersion: 1}
		last, err := cs.LastBlockHeader(ctx)
		if err != nil || *last != want {
			t.Fatalf("last header %+v (%v), want %+v", last, err, want)
		}
		if h, err := cs.BlockHeaderByHeight(ctx, 0); err != nil || *h != want {
			t.Fatalf("header by height 0: %+v (%v)", h, err)
		}
		if h, err := cs.BlockHeaderByHash(ctx, genesis); err != nil || *h != want {
			t.Fatalf("header by hash: %+v (%v)", h, err)
		}

		_, err = cs.BlockHeaderByHeight(ctx, 1)
		wantCallError(t, err, "pas-ready", "getblockheaderbyheight")
		wantRPCError(t, err, -2, "Requested block header for a height that is higher than the current blockchain height! Current height: 0")
		_, err = cs.BlockHeaderByHash(ctx, [32]byte{1})
		wantCallError(t, err, "pas-ready", "getblockheaderbyhash")
		wantRPCError(t, err, -5, "Block hash specified does not exist!")
		if switchable(err) {
			t.Error("an unknown block must not make a failover switch daemons")
		}
	})

	t.Run("templates", func(t *testing.T) {
		for _, reserve := range []int{0, poolReserve, 17, pastellaMaxReserve} {
			tmpl, err := cs.GetBlockTemplate(ctx, burn, reserve)
			if err != nil {
				t.Fatalf("reserve %d: %v", reserve, err)
			}
			switch {
			case tmpl.Height != 1 || tmpl.Difficulty != pastellaStartDiff || tmpl.WideDifficulty.Uint64() != pastellaStartDiff:
				t.Errorf("reserve %d: height %d difficulty %d (wide %v), want 1 and %d", reserve, tmpl.Height, tmpl.Difficulty, tmpl.WideDifficulty, pastellaStartDiff)
			case tmpl.PrevHash != genesis || tmpl.SeedHash != genesis:
				t.Errorf("reserve %d: prev %x seed %x, want the genesis id for both", reserve, tmpl.PrevHash, tmpl.SeedHash)
			case tmpl.HasNextSeed || tmpl.ExpectedReward != 0:
				t.Errorf("reserve %d: next seed %v (%x), expected reward %d", reserve, tmpl.HasNextSeed, tmpl.NextSeedHash, tmpl.ExpectedReward)
			}
			if reserve == 0 {
				if tmpl.ReservedOffset != 0 {
					t.Errorf("reserve 0: reserved_offset %d, want 0", tmpl.ReservedOffset)
				}
				continue
			}
			// The reserved bytes are the data of the coinbase's extra-nonce
			// field (tag 02, one length byte), zero as the daemon sent them;
			// the nonce sits at 39, where the pool writes it.
			off := tmpl.ReservedOffset
			if tmpl.Blob[off-2] != 0x02 || int(tmpl.Blob[off-1]) != reserve || strings.Trim(string(tmpl.Blob[off:off+reserve]), "\x00") != "" {
				t.Errorf("reserve %d: bytes around reserved_offset %d: % x", reserve, off, tmpl.Blob[off-2:off+reserve])
			}
			ct, err := cryptonote.NewTemplate(tmpl.Blob, off, reserve)
			if err != nil || ct.NonceOffset() != 39 {
				t.Errorf("reserve %d: template %v, nonce offset %d", reserve, err, ct.NonceOffset())
			}
			if reserve == 17 {
				// The fake daemon of the unit tests builds its blobs in the
				// real one's shape.
				fake, fakeOff := pastellaTemplateBlob(33, fakeBlockHash(32))
				if off != 123 || fakeOff != off || len(fake) != len(tmpl.Blob) {
					t.Errorf("reserve 17: real offset %d, %d bytes; the fake's %d, %d bytes", off, len(tmpl.Blob), fakeOff, len(fake))
				}
			}
		}

		// Why 127 is our limit: Pastellad writes the extra-nonce length as
		// one raw byte (its reserved_offset stays right: 124 for 200), while
		// CryptoNote reads it as a varint, so from 128 on the blob no longer
		// parses the way the daemon wrote it.
		raw, err := s.Template(ctx, burn, 200)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := hex.DecodeString(raw.Blob)
		if err != nil {
			t.Fatal(err)
		}
		if raw.ReservedOffset != 124 || blob[raw.ReservedOffset-2] != 0x02 || blob[raw.ReservedOffset-1] != 200 {
			t.Fatalf("reserve 200: reserved_offset %d, bytes before it % x", raw.ReservedOffset, blob[raw.ReservedOffset-2:raw.ReservedOffset])
		}
		if _, err := cryptonote.NewTemplate(blob, raw.ReservedOffset, 200); err == nil {
			t.Fatal("a 200-byte reserve parsed as CryptoNote: the limit of 127 is no longer needed")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		_, err := cs.GetBlockTemplate(ctx, "PASnope", poolReserve)
		wantCallError(t, err, "pas-ready", "getblocktemplate")
		var re *RPCError
		if !errors.As(err, &re) || re.Code != -4 || !strings.Contains(re.Message, "54 characters") || switchable(err) {
			t.Fatalf("bad address: %v, want RPC error -4 (not a failover reason)", err)
		}
		r := cs.(*pastellaClient).rpc
		_, err = r.call(ctx, "getblocktemplate", map[string]any{"reserve_size": poolReserve})
		wantStatus(400, "Failed", "Missing JSON parameter: 'wallet_address'")(t, err)
		_, err = r.call(ctx, "getblocktemplate", map[string]any{"reserve_size": 300, "wallet_address": burn})
		wantRPCError(t, err, -3, "Too big reserved size, maximum allowed is 255")
		_, err = r.call(ctx, "f_block_json", map[string]any{"hash": pastellaGenesisHash})
		wantStatus(403, "Failed", "")(t, err)
		for _, call := range []func() error{
			func() error { _, err := r.call(ctx, "get_info", nil); return err },
			func() error { _, err := r.get(ctx, "/getinfo"); return err },
		} {
			if err := call(); !errors.Is(err, ErrMethodNotFound) {
				t.Errorf("unknown method or path: %v, want ErrMethodNotFound (HTTP 404, empty body)", err)
			}
		}

		err = cs.SubmitBlock(ctx, []byte{1, 2, 3})
		wantCallError(t, err, "pas-ready", "submitblock")
		wantRPCError(t, err, -7, "Block not accepted")
		if switchable(err) {
			t.Error("a refused block must not make a failover switch daemons")
		}
	})

	t.Run("must be synced", func(t *testing.T) {
		_, err := cu.GetBlockTemplate(ctx, burn, poolReserve)
		wantCallError(t, err, "pas-unsynced", "getblocktemplate")
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "Daemon must be synced") || !switchable(err) {
			t.Fatalf("template: %v, want ErrNotReady with the daemon's message", err)
		}
		err = cu.SubmitBlock(ctx, []byte{1, 2, 3})
		wantCallError(t, err, "pas-unsynced", "submitblock")
		if !errors.Is(err, ErrNotReady) {
			t.Fatalf("submit: %v, want ErrNotReady", err)
		}
		// GET /info's flag is another check and says synced all the same;
		// Info reads the gate itself. The header calls are not gated.
		raw, err := u.Info(ctx)
		if err != nil || !raw.Synced {
			t.Fatalf("GET /info of the unsynced daemon: %+v (%v); if it says so now, Info needs no sync check", raw, err)
		}
		info, err := cu.Info(ctx)
		if err != nil || info.Synced || info.NotReady != "Daemon must be synced to process this RPC method call, please retry when synced" ||
			info.Height != 1 || info.TopHash != genesis {
			t.Fatalf("info of the unsynced daemon: %+v (%v)", info, err)
		}
	})

	t.Run("block through a failover", func(t *testing.T) {
		// The unsynced daemon is preferred, so the template comes from the
		// other one.
		fo := NewFailover([]Client{cu, cs}, 100*time.Millisecond, log)
		tmpl, err := fo.GetBlockTemplate(ctx, burn, poolReserve)
		if err != nil {
			t.Fatal(err)
		}
		if fo.Active() != "pas-ready" || tmpl.Height != 1 {
			t.Fatalf("template at height %d, active %q", tmpl.Height, fo.Active())
		}
		wantLog(t, hook, "daemon: switching from pas-unsynced to pas-ready: daemon pas-unsynced: getblocktemplate: daemon not ready: Daemon must be synced")

		// Our extra nonce in the reserved bytes, our nonce at offset 39.
		ct, err := cryptonote.NewTemplate(tmpl.Blob, tmpl.ReservedOffset, poolReserve)
		if err != nil {
			t.Fatal(err)
		}
		extra := []byte("rxpool\x00\x01")
		mined := time.Now()
		block, err := testenv.SolvePastellaLight(ctx, ct, extra, tmpl.SeedHash, tmpl.Difficulty)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("block mined in %v", time.Since(mined).Round(time.Millisecond))
		nonce := [4]byte(block[ct.NonceOffset():])
		hb, err := ct.HashingBlob(extra)
		if err != nil {
			t.Fatal(err)
		}
		if err := ct.SetNonce(hb, nonce); err != nil {
			t.Fatal(err)
		}
		id := cryptonote.BlockID(hb)

		// The same block with a nonce whose hash misses the difficulty
		// (checked in light mode) is refused, and the chain stays.
		bad := badNonceBlock(t, ct, extra, nonce, tmpl)
		err = cs.SubmitBlock(ctx, bad)
		wantRPCError(t, err, -7, "Block not accepted")
		if h, _ := s.Height(ctx); h != 1 {
			t.Fatalf("height %d after a bad block", h)
		}

		// The preferred daemon comes back synced; the prober returns to it.
		if err := u.Restart(false); err != nil {
			t.Fatal(err)
		}
		runProber(t, fo)
		waitFor(t, "the failover back on pas-unsynced", func() bool { return fo.Active() == "pas-unsynced" })

		// A found block goes to both daemons; both chains take it.
		if err := fo.SubmitBlock(ctx, block); err != nil {
			t.Fatal(err)
		}
		for _, c := range []Client{cs, cu} {
			last, err := c.LastBlockHeader(ctx)
			want := BlockHeader{Height: 1, Timestamp: ct.Header().Timestamp, Difficulty: pastellaStartDiff, Reward: pastellaReward,
				Hash: id, PrevHash: genesis, MajorVersion: 1}
			if err != nil || *last != want {
				t.Errorf("%s: top %+v (%v), want our block %+v", c.Name(), last, err, want)
			}
			g, err := c.BlockHeaderByHeight(ctx, 0)
			if err != nil || g.Depth != 1 || g.Hash != genesis {
				t.Errorf("%s: genesis now %+v (%v), want depth 1", c.Name(), g, err)
			}
		}
		info, err := cs.Info(ctx)
		if err != nil || info.Height != 2 || info.TopHash != id {
			t.Fatalf("info after our block: %+v (%v)", info, err)
		}

		// Sending it again is "OK" too: the daemon already has it.
		if err := cs.SubmitBlock(ctx, block); err != nil {
			t.Fatalf("the same block again: %v", err)
		}
		// The next template builds on our block.
		next, err := cs.GetBlockTemplate(ctx, burn, poolReserve)
		if err != nil || next.Height != 2 || next.PrevHash != id {
			t.Fatalf("template after our block: %+v (%v)", next, err)
		}
	})
}

// badNonceBlock returns the block ct builds with extra and the first nonce
// after good whose RandomX hash (light mode) misses the difficulty; it also
// checks that good's hash meets it.
func badNonceBlock(t *testing.T, ct *cryptonote.Template, extra []byte, good [4]byte, tmpl *Template) []byte {
	t.Helper()
	flags := randomx.GetFlags()
	cache, err := randomx.NewCache(flags, tmpl.SeedHash[:])
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	vm, err := randomx.NewVM(flags, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	hb, err := ct.HashingBlob(extra)
	if err != nil {
		t.Fatal(err)
	}
	meets := func(n [4]byte) bool {
		_ = ct.SetNonce(hb, n)
		h := vm.Hash(hb)
		return cryptonote.CheckHash(&h, tmpl.Difficulty)
	}
	if !meets(good) {
		t.Fatalf("nonce %x does not meet difficulty %d in light mode", good, tmpl.Difficulty)
	}
	n := good
	for k := binary.LittleEndian.Uint32(good[:]) + 1; meets(n); k++ {
		binary.LittleEndian.PutUint32(n[:], k)
	}
	b, err := ct.Block(extra, n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
