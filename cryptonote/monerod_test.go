package cryptonote_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/randomx"
)

const regtestMiner = "48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se"

type liveTemplate struct {
	Blob           string `json:"blocktemplate_blob"`
	HashingBlob    string `json:"blockhashing_blob"`
	ReservedOffset int    `json:"reserved_offset"`
	Height         uint64 `json:"height"`
	Difficulty     uint64 `json:"difficulty"`
	SeedHash       string `json:"seed_hash"`
}

// TestLiveMonerodTemplatesAndBlocks checks our block code against a running
// monerod: for several templates (different heights and reserve sizes) our
// hashing blob equals the daemon's, and a block we build with our own extra
// nonce and nonce, hashed with our RandomX binding, is accepted with the
// block id we computed.
func TestLiveMonerodTemplatesAndBlocks(t *testing.T) {
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := md.GenerateBlocks(ctx, 3, regtestMiner, nil); err != nil {
		t.Fatal(err)
	}
	var vm *randomx.VM
	for i, reserve := range []int{8, 17, 60, 127} {
		var tmpl liveTemplate
		if err := md.Call(ctx, "get_block_template", map[string]any{"wallet_address": regtestMiner, "reserve_size": reserve}, &tmpl); err != nil {
			t.Fatal(err)
		}
		blob, _ := hex.DecodeString(tmpl.Blob)
		want, _ := hex.DecodeString(tmpl.HashingBlob)
		ct, err := cryptonote.NewTemplate(blob, tmpl.ReservedOffset, reserve)
		if err != nil {
			t.Fatalf("template %d: %v", i, err)
		}
		zero := make([]byte, reserve)
		got, err := ct.HashingBlob(zero)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("template %d (height %d, reserve %d): hashing blob\n got %x\nwant %x", i, tmpl.Height, reserve, got, want)
		}

		// Mine it with a non-zero extra nonce and a nonce of our choosing.
		extra := bytes.Repeat([]byte{byte(0xa0 + i)}, min(reserve, 8))
		nonce := [4]byte{byte(i), 0x42, 0, 0}
		hb, _ := ct.HashingBlob(extra)
		if err := ct.SetNonce(hb, nonce); err != nil {
			t.Fatal(err)
		}
		if vm == nil {
			seed, _ := hex.DecodeString(tmpl.SeedHash)
			cache, err := randomx.NewCache(randomx.GetFlags(), seed)
			if err != nil {
				t.Fatal(err)
			}
			defer cache.Close()
			if vm, err = randomx.NewVM(randomx.GetFlags(), cache, nil); err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
		}
		pow := vm.Hash(hb)
		if !cryptonote.CheckHash(&pow, tmpl.Difficulty) {
			t.Fatalf("difficulty %d not met by %x", tmpl.Difficulty, pow)
		}
		block, err := ct.Block(extra, nonce)
		if err != nil {
			t.Fatal(err)
		}
		var sub struct {
			Status string `json:"status"`
		}
		if err := md.Call(ctx, "submit_block", []string{hex.EncodeToString(block)}, &sub); err != nil {
			t.Fatalf("submit_block: %v", err)
		}
		var hdr struct {
			BlockHeader struct {
				Hash   string `json:"hash"`
				Height uint64 `json:"height"`
			} `json:"block_header"`
		}
		if err := md.Call(ctx, "get_last_block_header", nil, &hdr); err != nil {
			t.Fatal(err)
		}
		id := cryptonote.BlockID(hb)
		if hdr.BlockHeader.Height != tmpl.Height || hdr.BlockHeader.Hash != hex.EncodeToString(id[:]) {
			t.Fatalf("daemon tip %d %s, want our block %d %x", hdr.BlockHeader.Height, hdr.BlockHeader.Hash, tmpl.Height, id)
		}
		var pow2 struct {
			BlockHeader struct {
				PowHash string `json:"pow_hash"`
			} `json:"block_header"`
		}
		if err := md.Call(ctx, "get_block_header_by_height", map[string]any{"height": tmpl.Height, "fill_pow_hash": true}, &pow2); err != nil {
			t.Fatal(err)
		}
		if pow2.BlockHeader.PowHash != hex.EncodeToString(pow[:]) {
			t.Fatalf("daemon PoW hash %s, our RandomX hash %x", pow2.BlockHeader.PowHash, pow)
		}
	}
}
