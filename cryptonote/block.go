package cryptonote

import "fmt"

// Block blob layout, common to Monero and Pastella (blob type 0):
//
//	header:   varint major ‖ varint minor ‖ varint timestamp ‖ prev id (32) ‖ nonce (4, LE)
//	miner tx: varint version ‖ varint unlock_time ‖ inputs ‖ outputs ‖ extra
//	          [v2: rct base, a single type byte, 0 = RCTTypeNull for a coinbase]
//	tx list:  varint count ‖ count × 32-byte hashes
//
// A v1 coinbase has no signatures, so nothing follows its extra.

// BlockHeader is the fixed part of a block that miners hash.
type BlockHeader struct {
	MajorVersion uint8
	MinorVersion uint8
	Timestamp    uint64
	PrevID       Hash
	Nonce        [4]byte // as stored: little-endian uint32
}

// Output target tags.
const (
	txOutToKey       = 0x02 // 32-byte key
	txOutToTaggedKey = 0x03 // 32-byte key + 1-byte view tag (Monero HF 15+)
	txInGen          = 0xff // coinbase input: varint height
)

// TxOutput is one coinbase output.
type TxOutput struct {
	Amount     uint64
	Key        [32]byte
	HasViewTag bool
	ViewTag    byte
}

// MinerTx is a parsed coinbase transaction.
type MinerTx struct {
	Version    uint64
	UnlockTime uint64
	Height     uint64 // from the txin_gen input
	Outputs    []TxOutput
	Extra      []byte // aliases Raw
	RctType    byte   // v2 only; always 0 (RCTTypeNull) here
	// Raw is the whole serialised transaction and PrefixLen the length of
	// its prefix (version … extra); the rest is the v2 rct base.
	Raw       []byte
	PrefixLen int
	// ExtraOffset is where the extra bytes start inside Raw (after the
	// length varint).
	ExtraOffset int
}

// Block is a parsed block template or block blob. Offsets index the blob
// given to ParseBlock.
type Block struct {
	Header   BlockHeader
	MinerTx  MinerTx
	TxHashes []Hash

	NonceOffset      int // first of the 4 nonce bytes, in block and hashing blob alike
	MinerTxStart     int
	MinerTxPrefixEnd int // end of the miner tx prefix (= MinerTxEnd for v1)
	MinerTxEnd       int
	ExtraStart       int // first byte of the miner tx extra (after its length)
	ExtraEnd         int

	blob []byte
}

// BlockError reports why a blob does not parse. Err, when set, is the
// underlying varint error.
type BlockError struct {
	Offset int    // byte offset in the blob
	Field  string // what was being read
	Reason string
	Err    error
}

func (e *BlockError) Error() string {
	return fmt.Sprintf("bad block blob: %s at offset %d: %s", e.Field, e.Offset, e.Reason)
}

func (e *BlockError) Unwrap() error { return e.Err }

// Sizes that bound counts before anything is allocated: a count is refused
// unless that many minimal elements fit in the bytes that remain.
const (
	minOutputSize = 1 + 1 + 32 // amount varint, tag, key
	maxTxVersion  = 2
)

// reader is a bounds-checked cursor over a blob; base is the offset of b
// within the outer blob, for error messages.
type reader struct {
	b    []byte
	pos  int
	base int
}

func (r *reader) fail(field, format string, args ...any) error {
	return &BlockError{Offset: r.base + r.pos, Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (r *reader) left() int { return len(r.b) - r.pos }

func (r *reader) varint(field string) (uint64, error) {
	v, n, err := ReadVarint(r.b[r.pos:])
	if err != nil {
		return 0, &BlockError{Offset: r.base + r.pos, Field: field, Reason: err.Error(), Err: err}
	}
	r.pos += n
	return v, nil
}

func (r *reader) take(n int, field string) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, r.fail(field, "truncated: needs %d bytes, %d left", n, r.left())
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

func (r *reader) byte(field string) (byte, error) {
	s, err := r.take(1, field)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

// count reads a vector length and refuses it unless count elements of at
// least minSize bytes each fit in what is left, so a hostile count cannot
// make us allocate more than the blob's own size.
func (r *reader) count(field string, minSize int) (int, error) {
	at := r.pos
	v, err := r.varint(field)
	if err != nil {
		return 0, err
	}
	if v > uint64(r.left()/minSize) {
		r.pos = at
		return 0, r.fail(field, "count %d cannot fit in the %d bytes left", v, r.left())
	}
	return int(v), nil
}

func (r *reader) version(field string) (uint8, error) {
	at := r.pos
	v, err := r.varint(field)
	if err != nil {
		return 0, err
	}
	if v > 0xff {
		r.pos = at
		return 0, r.fail(field, "%d does not fit in a byte", v)
	}
	return uint8(v), nil
}

func (r *reader) header() (h BlockHeader, err error) {
	if h.MajorVersion, err = r.version("major version"); err != nil {
		return h, err
	}
	if h.MinorVersion, err = r.version("minor version"); err != nil {
		return h, err
	}
	if h.Timestamp, err = r.varint("timestamp"); err != nil {
		return h, err
	}
	prev, err := r.take(32, "previous block id")
	if err != nil {
		return h, err
	}
	copy(h.PrevID[:], prev)
	nonce, err := r.take(4, "nonce")
	if err != nil {
		return h, err
	}
	copy(h.Nonce[:], nonce)
	return h, nil
}

// minerTx parses a coinbase starting at the cursor.
func (r *reader) minerTx() (tx MinerTx, err error) {
	start := r.pos
	if tx.Version, err = r.varint("miner tx version"); err != nil {
		return tx, err
	}
	if tx.Version < 1 || tx.Version > maxTxVersion {
		return tx, r.fail("miner tx version", "unsupported transaction version %d (want 1 or 2)", tx.Version)
	}
	if tx.UnlockTime, err = r.varint("miner tx unlock time"); err != nil {
		return tx, err
	}
	nIn, err := r.varint("miner tx input count")
	if err != nil {
		return tx, err
	}
	if nIn != 1 {
		return tx, r.fail("miner tx input count", "a miner tx has exactly one input, this one has %d", nIn)
	}
	tag, err := r.byte("miner tx input tag")
	if err != nil {
		return tx, err
	}
	if tag != txInGen {
		return tx, r.fail("miner tx input tag", "input tag 0x%02x is not a coinbase input (0xff)", tag)
	}
	if tx.Height, err = r.varint("miner tx height"); err != nil {
		return tx, err
	}
	nOut, err := r.count("miner tx output count", minOutputSize)
	if err != nil {
		return tx, err
	}
	tx.Outputs = make([]TxOutput, nOut)
	for i := range tx.Outputs {
		if err := r.output(&tx.Outputs[i], i); err != nil {
			return tx, err
		}
	}
	extraLen, err := r.count("miner tx extra length", 1)
	if err != nil {
		return tx, err
	}
	tx.ExtraOffset = r.pos - start
	tx.Extra, _ = r.take(extraLen, "miner tx extra")
	tx.PrefixLen = r.pos - start
	if tx.Version >= 2 {
		if tx.RctType, err = r.byte("miner tx rct type"); err != nil {
			return tx, err
		}
		if tx.RctType != 0 {
			r.pos--
			return tx, r.fail("miner tx rct type", "type %d: a coinbase must be RCTTypeNull (0)", tx.RctType)
		}
	}
	tx.Raw = r.b[start:r.pos]
	return tx, nil
}

func (r *reader) output(o *TxOutput, i int) (err error) {
	if o.Amount, err = r.varint(fmt.Sprintf("output %d amount", i)); err != nil {
		return err
	}
	field := fmt.Sprintf("output %d target", i)
	tag, err := r.byte(field)
	if err != nil {
		return err
	}
	if tag != txOutToKey && tag != txOutToTaggedKey {
		r.pos--
		return r.fail(field, "unknown output tag 0x%02x (want 0x02 or 0x03)", tag)
	}
	key, err := r.take(32, field)
	if err != nil {
		return err
	}
	copy(o.Key[:], key)
	if tag == txOutToTaggedKey {
		o.HasViewTag = true
		o.ViewTag, err = r.byte(field)
	}
	return err
}

// rejectTrailing fails when bytes follow a complete object.
func (r *reader) rejectTrailing(what string) error {
	if r.left() != 0 {
		return r.fail(what, "%d bytes of trailing data", r.left())
	}
	return nil
}

// ParseMinerTx parses one serialised coinbase transaction. The result
// aliases raw (Raw, Extra); it must not be modified while in use.
func ParseMinerTx(raw []byte) (*MinerTx, error) {
	r := &reader{b: raw}
	tx, err := r.minerTx()
	if err != nil {
		return nil, err
	}
	if err := r.rejectTrailing("end of miner tx"); err != nil {
		return nil, err
	}
	return &tx, nil
}

// ParseBlock parses a block template or block blob. It copies blob, so the
// caller may reuse it. Any malformed input gives a *BlockError.
func ParseBlock(blob []byte) (*Block, error) {
	b := &Block{blob: append([]byte(nil), blob...)}
	r := &reader{b: b.blob}
	var err error
	if b.Header, err = r.header(); err != nil {
		return nil, err
	}
	b.NonceOffset = r.pos - 4
	b.MinerTxStart = r.pos
	if b.MinerTx, err = r.minerTx(); err != nil {
		return nil, err
	}
	b.MinerTxEnd = r.pos
	b.MinerTxPrefixEnd = b.MinerTxStart + b.MinerTx.PrefixLen
	b.ExtraStart = b.MinerTxStart + b.MinerTx.ExtraOffset
	b.ExtraEnd = b.ExtraStart + len(b.MinerTx.Extra)
	n, err := r.count("tx hash count", 32)
	if err != nil {
		return nil, err
	}
	b.TxHashes = make([]Hash, n)
	for i := range b.TxHashes {
		h, _ := r.take(32, "tx hash")
		copy(b.TxHashes[i][:], h)
	}
	if err := r.rejectTrailing("end of block"); err != nil {
		return nil, err
	}
	return b, nil
}

// Height is the height recorded in the coinbase input.
func (b *Block) Height() uint64 { return b.MinerTx.Height }

// Blob returns a copy of the parsed blob.
func (b *Block) Blob() []byte { return append([]byte(nil), b.blob...) }

// Hash is the transaction id of the coinbase. v1: H(tx). v2 with a null
// rct type: H(H(prefix) ‖ H(rct base) ‖ 32 zero bytes), the zero hash
// standing for the empty prunable part.
func (tx *MinerTx) Hash() Hash {
	if tx.Version < 2 {
		return Keccak256(tx.Raw)
	}
	return minerTxHashV2(Keccak256(tx.Raw[:tx.PrefixLen]), Keccak256(tx.Raw[tx.PrefixLen:]))
}

func minerTxHashV2(prefixHash, rctBaseHash Hash) Hash {
	var buf [96]byte
	copy(buf[:32], prefixHash[:])
	copy(buf[32:64], rctBaseHash[:])
	return Keccak256(buf[:])
}

// leaves returns the tree hash input: coinbase txid, then the tx hashes.
func (b *Block) leaves(coinbase Hash) []Hash {
	l := make([]Hash, 0, 1+len(b.TxHashes))
	return append(append(l, coinbase), b.TxHashes...)
}

// HashingBlob is what miners hash: header ‖ tree root ‖ varint(tx count + 1).
func (b *Block) HashingBlob() []byte {
	root := TreeHash(b.leaves(b.MinerTx.Hash()))
	return appendHashingBlob(nil, b.blob[:b.MinerTxStart], &root, len(b.TxHashes)+1)
}

func appendHashingBlob(dst, header []byte, root *Hash, leaves int) []byte {
	dst = append(dst, header...)
	dst = append(dst, root[:]...)
	return AppendVarint(dst, uint64(leaves))
}

// ID is the block hash.
func (b *Block) ID() Hash { return BlockID(b.HashingBlob()) }
