package cryptonote

import (
	"errors"
	"fmt"
)

// Errors returned by Template methods, for errors.Is.
var (
	ErrReservedArea      = errors.New("reserved area is not usable")
	ErrExtraNonceTooLong = errors.New("extra nonce longer than the reserved area")
	ErrShortBlob         = errors.New("blob too short to hold the nonce")
)

// extra field tags (Monero tx_extra.h, Pastella TransactionExtra.h).
const (
	extraTagPadding = 0x00
	extraTagPubKey  = 0x01
	extraTagNonce   = 0x02
)

// Template is a daemon block template prepared for the pool's hot path:
// for each job the pool writes an extra nonce into the reserved bytes of the
// coinbase extra, and only the coinbase hash and its Merkle path need
// recomputing. A Template is immutable after NewTemplate, so any number of
// goroutines may use it at once.
type Template struct {
	block          *Block
	reservedOffset int
	reserveSize    int
	branch         []Hash // Merkle siblings of the coinbase, bottom-up
	rctBaseHash    Hash   // v2 coinbase only: H(rct base), independent of the extra
}

// NewTemplate parses a daemon template (blocktemplate_blob) and checks
// that the reserved area [reservedOffset, reservedOffset+reserveSize) lies
// inside the data of the extra-nonce field of the coinbase extra, so that
// writing there cannot change any length or break the extra's structure.
func NewTemplate(blob []byte, reservedOffset, reserveSize int) (*Template, error) {
	b, err := ParseBlock(blob)
	if err != nil {
		return nil, err
	}
	if reserveSize < 1 {
		return nil, fmt.Errorf("%w: reserve size %d, the pool needs at least 1 byte for an extra nonce", ErrReservedArea, reserveSize)
	}
	if reservedOffset < b.ExtraStart || reservedOffset > b.ExtraEnd || reserveSize > b.ExtraEnd-reservedOffset {
		return nil, fmt.Errorf("%w: bytes %d..%d are outside the coinbase extra (bytes %d..%d)",
			ErrReservedArea, reservedOffset, reservedOffset+reserveSize, b.ExtraStart, b.ExtraEnd)
	}
	rel := reservedOffset - b.ExtraStart
	if !insideExtraNonce(b.MinerTx.Extra, rel, rel+reserveSize) {
		return nil, fmt.Errorf("%w: bytes %d..%d are not inside the extra-nonce field of the coinbase extra",
			ErrReservedArea, reservedOffset, reservedOffset+reserveSize)
	}
	t := &Template{
		block:          b,
		reservedOffset: reservedOffset,
		reserveSize:    reserveSize,
		branch:         merkleBranch(b.leaves(Hash{})),
	}
	if b.MinerTx.Version >= 2 {
		t.rctBaseHash = Keccak256(b.MinerTx.Raw[b.MinerTx.PrefixLen:])
	}
	return t, nil
}

// insideExtraNonce reports whether extra[from:to] lies in the data of a
// TX_EXTRA_NONCE field. It walks the leading pubkey and nonce fields the
// daemons write and stops at anything else.
func insideExtraNonce(extra []byte, from, to int) bool {
	for i := 0; i < len(extra); {
		switch extra[i] {
		case extraTagPubKey:
			i += 1 + 32
		case extraTagNonce:
			n, w, err := ReadVarint(extra[i+1:])
			start := i + 1 + w
			if err != nil || n > uint64(len(extra)-start) {
				return false // malformed: the field overruns the extra
			}
			end := start + int(n)
			if from >= start && to <= end {
				return true
			}
			i = end
		default: // padding or a tag the pool never writes into
			return false
		}
	}
	return false
}

// Height is the height of the block being built.
func (t *Template) Height() uint64 { return t.block.Height() }

// Header returns the template's header fields.
func (t *Template) Header() BlockHeader { return t.block.Header }

// TxCount is the number of non-coinbase transactions.
func (t *Template) TxCount() int { return len(t.block.TxHashes) }

// NonceOffset is where the 4 nonce bytes sit in both blobs.
func (t *Template) NonceOffset() int { return t.block.NonceOffset }

// ReservedOffset and ReserveSize describe the extra-nonce area.
func (t *Template) ReservedOffset() int { return t.reservedOffset }
func (t *Template) ReserveSize() int    { return t.reserveSize }

// Parsed returns the parsed template. It is shared: do not modify it.
func (t *Template) Parsed() *Block { return t.block }

// coinbaseHash is the coinbase txid with extraNonce written at the start of
// the reserved area; the remaining reserved bytes keep the template's values.
func (t *Template) coinbaseHash(extraNonce []byte) Hash {
	tx := &t.block.MinerTx
	at := t.reservedOffset - t.block.MinerTxStart
	before, after := tx.Raw[:at], tx.Raw[at+len(extraNonce):]
	if tx.Version < 2 {
		return Keccak256(before, extraNonce, after)
	}
	prefix := Keccak256(before, extraNonce, after[:tx.PrefixLen-at-len(extraNonce)])
	return minerTxHashV2(prefix, t.rctBaseHash)
}

func (t *Template) checkExtraNonce(extraNonce []byte) error {
	if len(extraNonce) > t.reserveSize {
		return fmt.Errorf("%w: %d bytes, %d reserved", ErrExtraNonceTooLong, len(extraNonce), t.reserveSize)
	}
	return nil
}

// AppendHashingBlob appends to dst the hashing blob for this template with
// extraNonce written into the reserved area (nonce as in the template).
// It hashes only the coinbase and its Merkle path.
func (t *Template) AppendHashingBlob(dst, extraNonce []byte) ([]byte, error) {
	if err := t.checkExtraNonce(extraNonce); err != nil {
		return dst, err
	}
	root := rootFromBranch(t.coinbaseHash(extraNonce), t.branch)
	return appendHashingBlob(dst, t.block.blob[:t.block.MinerTxStart], &root, len(t.block.TxHashes)+1), nil
}

// HashingBlob returns the hashing blob (the job blob miners receive) for
// extraNonce.
func (t *Template) HashingBlob(extraNonce []byte) ([]byte, error) {
	return t.AppendHashingBlob(nil, extraNonce)
}

// Block returns the full block blob for submission: the template with
// extraNonce in the reserved area and nonce at the nonce offset.
func (t *Template) Block(extraNonce []byte, nonce [4]byte) ([]byte, error) {
	if err := t.checkExtraNonce(extraNonce); err != nil {
		return nil, err
	}
	out := append([]byte(nil), t.block.blob...)
	copy(out[t.reservedOffset:], extraNonce)
	copy(out[t.block.NonceOffset:], nonce[:])
	return out, nil
}

// SetNonce writes nonce at the nonce offset of a hashing blob or block blob
// made from this template.
func (t *Template) SetNonce(blob []byte, nonce [4]byte) error {
	if len(blob) < t.block.NonceOffset+4 {
		return fmt.Errorf("%w: %d bytes, nonce ends at %d", ErrShortBlob, len(blob), t.block.NonceOffset+4)
	}
	copy(blob[t.block.NonceOffset:], nonce[:])
	return nil
}
