package cryptonote

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// pastellaGenesisCoinbase is GENESIS_COINBASE_TX_HEX from PastellaCore
// src/config/PastellaConfig.h.
const pastellaGenesisCoinbase = "010001ff00018080d49ca7981202004a339087cd0d26f4923abe48fac9a50f948b5e4b96d4c05ebfb4d18adb0a232101c18acd318998cdff799152afa2fd8a17c9b77cc4cc0eaed27e7dfe58e4143f09"

type regtestFixtures struct {
	Templates []struct {
		Height         uint64 `json:"height"`
		Difficulty     uint64 `json:"difficulty"`
		WideDifficulty string `json:"wide_difficulty"`
		ReservedOffset int    `json:"reserved_offset"`
		ReserveSize    int    `json:"reserve_size"`
		PrevHash       string `json:"prev_hash"`
		SeedHash       string `json:"seed_hash"`
		TemplateBlob   string `json:"blocktemplate_blob"`
		HashingBlob    string `json:"blockhashing_blob"`
		Note           string `json:"note"`
	} `json:"templates"`
	Blocks []regtestBlock `json:"blocks"`
}

type regtestBlock struct {
	Height       uint64 `json:"height"`
	Hash         string `json:"hash"`
	MinerTxHash  string `json:"miner_tx_hash"`
	NumTxes      int    `json:"num_txes"`
	Nonce        uint32 `json:"nonce"`
	Timestamp    uint64 `json:"timestamp"`
	MajorVersion uint8  `json:"major_version"`
	Blob         string `json:"blob"`
}

func (rb regtestBlock) prevHash(t *testing.T) string {
	b, err := ParseBlock(mustHex(t, rb.Blob))
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b.Header.PrevID[:])
}

func loadRegtest(t testing.TB) regtestFixtures {
	t.Helper()
	var f regtestFixtures
	loadJSON(t, "monero_regtest.json", &f)
	if len(f.Templates) < 10 || len(f.Blocks) < 5 {
		t.Fatalf("fixtures incomplete: %d templates, %d blocks", len(f.Templates), len(f.Blocks))
	}
	return f
}

// encodeMinerTx and encodeBlock serialise parsed values independently of
// the parser, so parse→encode must reproduce the input exactly.
func encodeMinerTx(tx *MinerTx) []byte {
	out := AppendVarint(nil, tx.Version)
	out = AppendVarint(out, tx.UnlockTime)
	out = append(AppendVarint(out, 1), txInGen)
	out = AppendVarint(out, tx.Height)
	out = AppendVarint(out, uint64(len(tx.Outputs)))
	for _, o := range tx.Outputs {
		out = AppendVarint(out, o.Amount)
		if o.HasViewTag {
			out = append(append(append(out, txOutToTaggedKey), o.Key[:]...), o.ViewTag)
		} else {
			out = append(append(out, txOutToKey), o.Key[:]...)
		}
	}
	out = append(AppendVarint(out, uint64(len(tx.Extra))), tx.Extra...)
	if tx.Version >= 2 {
		out = append(out, tx.RctType)
	}
	return out
}

func encodeBlock(b *Block) []byte {
	h := &b.Header
	out := AppendVarint(nil, uint64(h.MajorVersion))
	out = AppendVarint(out, uint64(h.MinorVersion))
	out = AppendVarint(out, h.Timestamp)
	out = append(append(out, h.PrevID[:]...), h.Nonce[:]...)
	out = append(out, encodeMinerTx(&b.MinerTx)...)
	out = AppendVarint(out, uint64(len(b.TxHashes)))
	for _, th := range b.TxHashes {
		out = append(out, th[:]...)
	}
	return out
}

func TestRegtestTemplatesHashingBlob(t *testing.T) {
	f := loadRegtest(t)
	sawTxs := map[int]bool{}
	for i, tc := range f.Templates {
		blob := mustHex(t, tc.TemplateBlob)
		b, err := ParseBlock(blob)
		if err != nil {
			t.Fatalf("template %d (%s): %v", i, tc.Note, err)
		}
		if got := hex.EncodeToString(b.HashingBlob()); got != tc.HashingBlob {
			t.Fatalf("template %d (%s): hashing blob\n got %s\nwant %s", i, tc.Note, got, tc.HashingBlob)
		}
		if b.Height() != tc.Height || hex.EncodeToString(b.Header.PrevID[:]) != tc.PrevHash || b.NonceOffset != 39 {
			t.Fatalf("template %d: height %d prev %x nonce offset %d", i, b.Height(), b.Header.PrevID, b.NonceOffset)
		}
		if b.MinerTx.Version != 2 || b.MinerTx.UnlockTime != tc.Height+60 || !b.MinerTx.Outputs[0].HasViewTag {
			t.Fatalf("template %d: unexpected coinbase %+v", i, b.MinerTx)
		}
		if !bytes.Equal(encodeBlock(b), blob) {
			t.Fatalf("template %d: re-encoding differs", i)
		}
		sawTxs[len(b.TxHashes)] = true
		// Young regtest chain: the seed is the genesis block, the parent of block 1.
		if SeedHeight(tc.Height, DefaultSeedEpochBlocks, DefaultSeedEpochLag) != 0 || tc.SeedHash != f.Blocks[0].prevHash(t) {
			t.Fatalf("template %d: seed %s", i, tc.SeedHash)
		}
		if wd, err := ParseWideDifficulty(tc.WideDifficulty); err != nil || wd != (WideDifficulty{Lo: tc.Difficulty}) {
			t.Fatalf("template %d: wide difficulty %q: %v", i, tc.WideDifficulty, err)
		}

		tmpl, err := NewTemplate(blob, tc.ReservedOffset, tc.ReserveSize)
		if err != nil {
			t.Fatalf("template %d: %v", i, err)
		}
		hb, err := tmpl.HashingBlob(make([]byte, tc.ReserveSize))
		if err != nil || hex.EncodeToString(hb) != tc.HashingBlob {
			t.Fatalf("template %d: fast hashing blob differs (%v)", i, err)
		}
		checkTemplateConsistency(t, tmpl, blob)
	}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 6} {
		if !sawTxs[n] {
			t.Errorf("no fixture with %d transactions", n)
		}
	}
}

// checkTemplateConsistency compares the template's fast path with a full
// re-parse of the block it builds, for several extra nonces.
func checkTemplateConsistency(t *testing.T, tmpl *Template, blob []byte) {
	t.Helper()
	for _, en := range [][]byte{nil, {1}, {0xde, 0xad, 0xbe, 0xef}, bytes.Repeat([]byte{0xa5}, tmpl.ReserveSize())} {
		if len(en) > tmpl.ReserveSize() {
			continue
		}
		nonce := [4]byte{9, 8, 7, 6}
		full, err := tmpl.Block(en, nonce)
		if err != nil {
			t.Fatal(err)
		}
		if len(full) != len(blob) || !bytes.Equal(full[tmpl.ReservedOffset():tmpl.ReservedOffset()+len(en)], en) {
			t.Fatalf("Block changed the length or misplaced the extra nonce")
		}
		pb, err := ParseBlock(full)
		if err != nil {
			t.Fatalf("built block does not parse: %v", err)
		}
		if pb.Header.Nonce != nonce {
			t.Fatalf("nonce %x", pb.Header.Nonce)
		}
		want := pb.HashingBlob()
		got, err := tmpl.AppendHashingBlob([]byte("keep"), en)
		if err != nil || !bytes.HasPrefix(got, []byte("keep")) {
			t.Fatalf("append: %v", err)
		}
		got = got[4:]
		if err := tmpl.SetNonce(got, nonce); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("extra nonce %x: fast hashing blob %x, full %x", en, got, want)
		}
	}
	if _, err := tmpl.HashingBlob(make([]byte, tmpl.ReserveSize()+1)); !errors.Is(err, ErrExtraNonceTooLong) {
		t.Fatalf("oversized extra nonce: %v", err)
	}
	if _, err := tmpl.Block(make([]byte, tmpl.ReserveSize()+1), [4]byte{}); !errors.Is(err, ErrExtraNonceTooLong) {
		t.Fatalf("oversized extra nonce: %v", err)
	}
	if err := tmpl.SetNonce(make([]byte, tmpl.NonceOffset()+3), [4]byte{}); !errors.Is(err, ErrShortBlob) {
		t.Fatalf("short blob: %v", err)
	}
}

func TestRegtestBlockIDs(t *testing.T) {
	for _, tc := range loadRegtest(t).Blocks {
		blob := mustHex(t, tc.Blob)
		b, err := ParseBlock(blob)
		if err != nil {
			t.Fatalf("block %d: %v", tc.Height, err)
		}
		id := b.ID()
		if hex.EncodeToString(id[:]) != tc.Hash {
			t.Fatalf("block %d: id %x, daemon says %s", tc.Height, id, tc.Hash)
		}
		if BlockID(b.HashingBlob()) != id {
			t.Fatal("BlockID and Block.ID disagree")
		}
		txid := b.MinerTx.Hash()
		if hex.EncodeToString(txid[:]) != tc.MinerTxHash {
			t.Fatalf("block %d: miner tx hash %x, daemon says %s", tc.Height, txid, tc.MinerTxHash)
		}
		if len(b.TxHashes) != tc.NumTxes || b.Height() != tc.Height || binary.LittleEndian.Uint32(b.Header.Nonce[:]) != tc.Nonce ||
			b.Header.Timestamp != tc.Timestamp || b.Header.MajorVersion != tc.MajorVersion {
			t.Fatalf("block %d: header fields differ: %+v", tc.Height, b.Header)
		}
		if !bytes.Equal(encodeBlock(b), blob) || !bytes.Equal(b.Blob(), blob) {
			t.Fatalf("block %d: re-encoding differs", tc.Height)
		}
	}
}

func TestPastellaGenesisCoinbase(t *testing.T) {
	raw := mustHex(t, pastellaGenesisCoinbase)
	tx, err := ParseMinerTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != 1 || tx.UnlockTime != 0 || tx.Height != 0 || len(tx.Outputs) != 1 || tx.PrefixLen != len(raw) {
		t.Fatalf("unexpected genesis coinbase %+v", tx)
	}
	out := tx.Outputs[0]
	if out.Amount != 800_000*100_000_000 || out.HasViewTag {
		t.Fatalf("output %+v", out)
	}
	addr, err := Pastella.ParseAddress(pastellaGenesisAddress)
	if err != nil {
		t.Fatal(err)
	}
	if out.Key != addr.SpendKey {
		t.Fatalf("output key %x, genesis address key %x", out.Key, addr.SpendKey)
	}
	if len(tx.Extra) != 33 || tx.Extra[0] != extraTagPubKey {
		t.Fatalf("extra %x", tx.Extra)
	}
	if tx.Hash() != Keccak256(raw) {
		t.Fatal("v1 txid must be the hash of the whole transaction")
	}
	if _, err := ParseMinerTx(append(raw, 0)); err == nil || !strings.Contains(err.Error(), "1 bytes of trailing data") {
		t.Fatalf("trailing byte: %v", err)
	}
}

// pastellaTemplate builds a template the way Pastellad does: major 2,
// v1 coinbase paying the genesis key, extra 01 <key> 02 <n> <n zero bytes>.
func pastellaTemplate(t *testing.T, timestamp uint64, reserve int, txs int) (blob []byte, reservedOffset int) {
	t.Helper()
	addr, err := Pastella.ParseAddress(pastellaGenesisAddress)
	if err != nil {
		t.Fatal(err)
	}
	b := &Block{Header: BlockHeader{MajorVersion: 2, Timestamp: timestamp, PrevID: Keccak256([]byte("prev"))}}
	txKey := Keccak256([]byte("tx key"))
	extra := append([]byte{extraTagPubKey}, txKey[:]...)
	extra = append(extra, extraTagNonce, byte(reserve))
	extra = append(extra, make([]byte, reserve)...)
	b.MinerTx = MinerTx{Version: 1, UnlockTime: 1010, Height: 1000, Extra: extra,
		Outputs: []TxOutput{{Amount: 4_00000000, Key: addr.SpendKey}}}
	for i := 0; i < txs; i++ {
		b.TxHashes = append(b.TxHashes, Keccak256([]byte{byte(i)}))
	}
	blob = encodeBlock(b)
	// Pastellad: position of the tx pubkey + 32 + 2.
	return blob, bytes.Index(blob, txKey[:]) + 32 + 2
}

func TestPastellaStyleTemplate(t *testing.T) {
	for _, tc := range []struct {
		timestamp   uint64
		txs         int
		nonceOffset int
	}{{1772132400, 0, 39}, {1772132400, 3, 39}, {100, 1, 35}, {1 << 40, 8, 40}} {
		blob, ro := pastellaTemplate(t, tc.timestamp, 17, tc.txs)
		tmpl, err := NewTemplate(blob, ro, 17)
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.NonceOffset() != tc.nonceOffset || tmpl.TxCount() != tc.txs || tmpl.Height() != 1000 || tmpl.Header().MajorVersion != 2 {
			t.Fatalf("%+v: nonce offset %d", tc, tmpl.NonceOffset())
		}
		en := []byte{1, 2, 3, 4, 5, 6, 7, 8}
		got, err := tmpl.HashingBlob(en)
		if err != nil {
			t.Fatal(err)
		}
		// Independent construction: v1 txid = H(whole tx), reference tree hash.
		full, _ := tmpl.Block(en, [4]byte{})
		b := tmpl.Parsed()
		leaves := append([]Hash{Keccak256(full[b.MinerTxStart:b.MinerTxEnd])}, b.TxHashes...)
		root := referenceTreeHash(leaves)
		want := append(append(append([]byte(nil), full[:b.MinerTxStart]...), root[:]...), AppendVarint(nil, uint64(tc.txs+1))...)
		if !bytes.Equal(got, want) {
			t.Fatalf("%+v: hashing blob\n got %x\nwant %x", tc, got, want)
		}
		checkTemplateConsistency(t, tmpl, blob)
	}
}

func TestNewTemplateRejectsBadReservedArea(t *testing.T) {
	blob, ro := pastellaTemplate(t, 1772132400, 17, 0)
	b, _ := ParseBlock(blob)
	for _, tc := range []struct {
		name     string
		off, n   int
		contains string
	}{
		{"zero size", ro, 0, "reserve size 0"},
		{"negative offset", -1, 17, "outside the coinbase extra"},
		{"before extra", b.ExtraStart - 1, 4, "outside the coinbase extra"},
		{"past extra", ro, 18, "outside the coinbase extra"},
		{"huge size", ro, int(^uint(0) >> 1), "outside the coinbase extra"},
		{"in the pubkey", b.ExtraStart + 1, 4, "not inside the extra-nonce field"},
		{"over the nonce tag", ro - 2, 4, "not inside the extra-nonce field"},
		{"nonce offset", b.NonceOffset, 4, "outside the coinbase extra"},
	} {
		_, err := NewTemplate(blob, tc.off, tc.n)
		if !errors.Is(err, ErrReservedArea) || !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := NewTemplate(blob[:len(blob)-1], ro, 17); err == nil {
		t.Error("truncated template accepted")
	}
}

func TestParseBlockTruncatedAndTrailing(t *testing.T) {
	f := loadRegtest(t)
	blob := mustHex(t, f.Blocks[len(f.Blocks)-1].Blob) // has transactions
	for i := 0; i < len(blob); i++ {
		if _, err := ParseBlock(blob[:i]); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
	}
	_, err := ParseBlock(append(append([]byte(nil), blob...), 0xaa, 0xbb))
	if err == nil || !strings.Contains(err.Error(), "2 bytes of trailing data") {
		t.Fatalf("trailing garbage: %v", err)
	}
}

func TestParseBlockRejects(t *testing.T) {
	f := loadRegtest(t)
	good, err := ParseBlock(mustHex(t, f.Templates[0].TemplateBlob))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(change func(b []byte) []byte) []byte {
		return change(append([]byte(nil), good.blob...))
	}
	txAt := good.MinerTxStart
	// Offsets inside the regtest coinbase: version(1) unlock(1..2) vin count, tag, height.
	tx := good.MinerTx
	afterUnlock := txAt + 1 + VarintLen(tx.UnlockTime)
	outCountAt := afterUnlock + 2 + VarintLen(tx.Height)
	cases := []struct {
		name, msg string
		blob      []byte
		err       error
	}{
		{"empty", "truncated", nil, nil},
		{"major version too big", "does not fit in a byte", append([]byte{0x80, 0x02}, good.blob[1:]...), nil},
		{"non-canonical varint", "non-canonical", append([]byte{0x90, 0x00}, good.blob[1:]...), ErrVarintNonCanonical},
		{"overflowing varint", "overflows", append(bytes.Repeat([]byte{0xff}, 10), 0x01), ErrVarintOverflow},
		{"tx version 3", "unsupported transaction version 3", mutate(func(b []byte) []byte { b[txAt] = 3; return b }), nil},
		{"tx version 0", "unsupported transaction version 0", mutate(func(b []byte) []byte { b[txAt] = 0; return b }), nil},
		{"two inputs", "has 2", mutate(func(b []byte) []byte { b[afterUnlock] = 2; return b }), nil},
		{"not a gen input", "not a coinbase input", mutate(func(b []byte) []byte { b[afterUnlock+1] = 0x02; return b }), nil},
		{"absurd output count", "cannot fit", mutate(func(b []byte) []byte {
			return append(append(b[:outCountAt:outCountAt], 0xff, 0xff, 0xff, 0xff, 0x0f), b[outCountAt+1:]...)
		}), nil},
		{"unknown output tag", "unknown output tag 0x04", mutate(func(b []byte) []byte { b[outCountAt+1+VarintLen(tx.Outputs[0].Amount)] = 4; return b }), nil},
		{"rct type 1", "must be RCTTypeNull", mutate(func(b []byte) []byte { b[good.MinerTxEnd-1] = 1; return b }), nil},
		{"absurd tx count", "cannot fit", mutate(func(b []byte) []byte {
			return append(b[:good.MinerTxEnd], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
		}), nil},
		{"absurd extra length", "cannot fit", mutate(func(b []byte) []byte {
			at := good.ExtraStart - VarintLen(uint64(len(tx.Extra)))
			return append(append(b[:at:at], 0xff, 0xff, 0xff, 0x7f), b[good.ExtraStart:]...)
		}), nil},
	}
	for _, tc := range cases {
		_, err := ParseBlock(tc.blob)
		var be *BlockError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.msg)
			continue
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v is not %v", tc.name, err, tc.err)
		}
	}
}

func BenchmarkHashingBlob(b *testing.B) {
	f := loadRegtest(b)
	for _, tc := range []int{0, len(f.Templates) - 2} {
		fx := f.Templates[tc]
		tmpl, err := NewTemplate(mustHex(b, fx.TemplateBlob), fx.ReservedOffset, fx.ReserveSize)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dtx", tmpl.TxCount()), func(b *testing.B) {
			buf := make([]byte, 0, 128)
			en := make([]byte, 8)
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				i++
				binary.LittleEndian.PutUint64(en, i)
				var err error
				if buf, err = tmpl.AppendHashingBlob(buf[:0], en); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTemplateConcurrentUse(t *testing.T) {
	f := loadRegtest(t)
	fx := f.Templates[len(f.Templates)-2]
	tmpl, err := NewTemplate(mustHex(t, fx.TemplateBlob), fx.ReservedOffset, fx.ReserveSize)
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]byte, 64)
	for i := range want {
		want[i], _ = tmpl.HashingBlob([]byte{byte(i), 1, 2, 3})
	}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			buf := make([]byte, 0, 128)
			for i := 0; i < 200; i++ {
				en := []byte{byte(i % 64), 1, 2, 3}
				buf, _ = tmpl.AppendHashingBlob(buf[:0], en)
				blk, _ := tmpl.Block(en, [4]byte{byte(i)})
				if !bytes.Equal(buf, want[i%64]) || blk[tmpl.NonceOffset()] != byte(i) {
					errs <- errors.New("concurrent result differs")
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
