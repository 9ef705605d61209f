package cryptonote

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzParseBlock(f *testing.F) {
	fx := loadRegtest(f)
	for _, tc := range fx.Templates {
		f.Add(mustHex(f, tc.TemplateBlob))
	}
	for _, tc := range fx.Blocks {
		f.Add(mustHex(f, tc.Blob))
	}
	f.Add(mustHex(f, pastellaGenesisCoinbase))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBlock(data)
		if err != nil {
			var be *BlockError
			if !errors.As(err, &be) || be.Offset < 0 || be.Offset > len(data) {
				t.Fatalf("error %v is not a *BlockError with a valid offset", err)
			}
			return
		}
		if !bytes.Equal(encodeBlock(b), data) {
			t.Fatal("accepted blob does not re-encode to itself")
		}
		if b.NonceOffset+4 != b.MinerTxStart || b.MinerTxStart > b.ExtraStart || b.ExtraStart > b.ExtraEnd ||
			b.ExtraEnd != b.MinerTxPrefixEnd || b.MinerTxPrefixEnd > b.MinerTxEnd || b.MinerTxEnd > len(data) {
			t.Fatalf("inconsistent offsets %+v", b)
		}
		hb := b.HashingBlob()
		// Try the reserved area the daemons would use: just after a nonce tag.
		for i := 0; i+2 < len(b.MinerTx.Extra); i++ {
			if b.MinerTx.Extra[i] != extraTagNonce {
				continue
			}
			off, size := b.ExtraStart+i+2, int(b.MinerTx.Extra[i+1])
			tmpl, err := NewTemplate(data, off, size)
			if err != nil {
				if !errors.Is(err, ErrReservedArea) {
					t.Fatalf("unexpected template error %v", err)
				}
				continue
			}
			same, err := tmpl.HashingBlob(nil)
			if err != nil || !bytes.Equal(same, hb) {
				t.Fatalf("template hashing blob %x differs from block's %x (%v)", same, hb, err)
			}
			en := bytes.Repeat([]byte{0x5c}, size)
			fast, _ := tmpl.HashingBlob(en)
			full, _ := tmpl.Block(en, [4]byte{1, 2, 3, 4})
			pb, err := ParseBlock(full)
			if err != nil {
				t.Fatalf("block built from a valid template does not parse: %v", err)
			}
			_ = tmpl.SetNonce(fast, [4]byte{1, 2, 3, 4})
			if !bytes.Equal(fast, pb.HashingBlob()) {
				t.Fatal("fast and full hashing blobs differ")
			}
			break
		}
	})
}

func FuzzParseAddress(f *testing.F) {
	for _, w := range loadWalletVectors(f).Wallets {
		f.Add(w.Standard)
		f.Add(w.Integrated)
		f.Add(w.Subaddress)
	}
	f.Add(pastellaGenesisAddress)
	f.Add(pastellaGenesisAddress[:53] + "1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []*Coin{Pastella, Monero} {
			a, err := c.ParseAddress(s)
			if err != nil {
				var ae *AddressError
				if !errors.As(err, &ae) || ae.Reason == "" || ae.Err == nil {
					t.Fatalf("%s: error %v is not a complete *AddressError", c.Name, err)
				}
				continue
			}
			again, err := c.NewAddress(a.Network, a.Kind, a.SpendKey, a.ViewKey, a.PaymentID)
			if err != nil || again.Text != s {
				t.Fatalf("%s: accepted %q but re-encodes to %v (%v)", c.Name, s, again, err)
			}
		}
	})
}

func FuzzBase58(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0})
	f.Add([]byte(pastellaGenesisAddress))
	f.Fuzz(func(t *testing.T, data []byte) {
		back, err := Base58Decode(Base58Encode(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip of %x: %x, %v", data, back, err)
		}
		if dec, err := Base58Decode(string(data)); err == nil && Base58Encode(dec) != string(data) {
			t.Fatalf("%q decodes but is not canonical", data)
		}
	})
}

func FuzzVarint(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{0x80, 0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := ReadVarint(data)
		if err != nil {
			if !errors.Is(err, ErrVarintTruncated) && !errors.Is(err, ErrVarintOverflow) && !errors.Is(err, ErrVarintNonCanonical) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if enc := AppendVarint(nil, v); !bytes.Equal(enc, data[:n]) || VarintLen(v) != n {
			t.Fatalf("%x decodes to %d, which encodes as %x", data[:n], v, enc)
		}
	})
}
