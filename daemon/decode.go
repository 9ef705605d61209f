package daemon

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"

	"rxpool/cryptonote"
)

// decoder reads members of a reply object with a sticky error, so a
// decode function lists the fields it needs and checks once at the end.
// A required member that is absent or null is ErrBadReply, never a zero.
type decoder struct {
	f   fields
	err error
}

func (d *decoder) member(name string, dst any, required bool) bool {
	if d.err != nil {
		return false
	}
	raw, ok := d.f[name]
	if !ok || isNull(raw) {
		if required {
			d.err = fmt.Errorf("%w: missing %q", ErrBadReply, name)
		}
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		d.err = fmt.Errorf("%w: %q: %v", ErrBadReply, name, err)
		return false
	}
	return true
}

func (d *decoder) req(name string, dst any)      { d.member(name, dst, true) }
func (d *decoder) opt(name string, dst any) bool { return d.member(name, dst, false) }

func (d *decoder) badf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadReply}, args...)...)
	}
}

// hexBytes reads a required, non-empty hex string.
func (d *decoder) hexBytes(name string) []byte {
	var s string
	if !d.member(name, &s, true) {
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		d.badf("%q is not hex data: %s", name, snippet([]byte(s)))
		return nil
	}
	return b
}

// hash reads a 64-hex-digit hash. An absent member is an error only when
// required; an empty string counts as absent (monerod's next_seed_hash).
func (d *decoder) hash(name string, dst *[32]byte, required bool) bool {
	var s string
	if !d.member(name, &s, required) {
		return false
	}
	if s == "" {
		if required {
			d.badf("%q is empty", name)
		}
		return false
	}
	h, err := parseHash(s)
	if err != nil {
		d.badf("%q: %v", name, err)
		return false
	}
	*dst = h
	return true
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("not a 32-byte hex hash: %s", snippet([]byte(s)))
	}
	copy(h[:], b)
	return h, nil
}

// decodeHeader reads result.block_header, which monerod and Pastellad
// spell the same way.
func decodeHeader(res fields) (*BlockHeader, error) {
	d := &decoder{f: res}
	var inner fields
	d.req("block_header", &inner)
	if d.err != nil {
		return nil, d.err
	}
	d.f = inner
	h := &BlockHeader{}
	d.req("height", &h.Height)
	d.req("depth", &h.Depth)
	d.req("timestamp", &h.Timestamp)
	d.req("difficulty", &h.Difficulty)
	d.req("reward", &h.Reward)
	d.hash("hash", &h.Hash, true)
	d.hash("prev_hash", &h.PrevHash, true)
	d.req("orphan_status", &h.Orphan)
	d.req("major_version", &h.MajorVersion)
	return h, d.err
}

// decodeTemplate reads the getblocktemplate members both daemons send.
// The caller adds its coin's extras and then calls finishTemplate.
func decodeTemplate(d *decoder, reserveSize int) *Template {
	t := &Template{ReserveSize: reserveSize}
	d.req("height", &t.Height)
	d.req("difficulty", &t.Difficulty)
	d.req("reserved_offset", &t.ReservedOffset)
	t.Blob = d.hexBytes("blocktemplate_blob")
	d.hash("seed_hash", &t.SeedHash, true)
	var next [32]byte
	if d.hash("next_seed_hash", &next, false) && next != t.SeedHash && next != ([32]byte{}) {
		t.NextSeedHash, t.HasNextSeed = next, true
	}
	return t
}

// finishTemplate checks what a pool would otherwise trip over later and
// fills PrevHash from the blob (Pastellad sends no prev_hash).
func finishTemplate(t *Template, d *decoder) (*Template, error) {
	if d.err != nil {
		return nil, d.err
	}
	if t.Difficulty == 0 {
		return nil, fmt.Errorf("%w: difficulty 0", ErrBadReply)
	}
	if t.SeedHash == ([32]byte{}) {
		// Pastellad writes zeros when it cannot look the seed block up;
		// hashing with that key would make every share and block invalid.
		return nil, fmt.Errorf("%w: seed_hash is all zeros", ErrBadReply)
	}
	if t.WideDifficulty == nil {
		t.WideDifficulty = new(big.Int).SetUint64(t.Difficulty)
	}
	var header cryptonote.BlockHeader
	if t.ReserveSize > 0 {
		// NewTemplate also proves the reserved bytes lie inside the
		// coinbase's extra-nonce field, so a wrong offset fails here
		// rather than as invalid blocks.
		ct, err := cryptonote.NewTemplate(t.Blob, t.ReservedOffset, t.ReserveSize)
		if err != nil {
			return nil, fmt.Errorf("%w: blocktemplate_blob (reserved_offset %d, reserve %d): %w",
				ErrBadReply, t.ReservedOffset, t.ReserveSize, err)
		}
		header = ct.Header()
	} else {
		b, err := cryptonote.ParseBlock(t.Blob)
		if err != nil {
			return nil, fmt.Errorf("%w: blocktemplate_blob: %w", ErrBadReply, err)
		}
		header = b.Header
	}
	t.PrevHash = header.PrevID
	return t, nil
}
