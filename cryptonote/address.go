package cryptonote

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"filippo.io/edwards25519"
)

// AddressKind tells which of a coin's address forms a string is.
type AddressKind int

const (
	AddressStandard   AddressKind = iota // public spend key (+ view key)
	AddressIntegrated                    // standard address + 8-byte payment id
	AddressSubaddress                    // Monero subaddress: different prefix, same layout
)

func (k AddressKind) String() string {
	switch k {
	case AddressStandard:
		return "standard"
	case AddressIntegrated:
		return "integrated"
	case AddressSubaddress:
		return "subaddress"
	}
	return fmt.Sprintf("AddressKind(%d)", int(k))
}

// Address is a parsed, validated address.
type Address struct {
	Coin      *Coin
	Network   string // Network.Name, e.g. "mainnet"
	Kind      AddressKind
	Prefix    uint64
	SpendKey  [32]byte
	ViewKey   [32]byte // zero when the coin has no view keys (Pastella)
	PaymentID [8]byte  // integrated addresses only
	Text      string   // the string that was parsed
}

// String returns the address text.
func (a *Address) String() string { return a.Text }

const (
	keySize          = 32
	paymentIDSize    = 8
	addrChecksumSize = 4
)

// Sentinel causes of an *AddressError, for errors.Is.
var (
	ErrAddressEmpty     = errors.New("empty address")
	ErrAddressEncoding  = errors.New("invalid base58")
	ErrAddressLength    = errors.New("wrong address length")
	ErrAddressChecksum  = errors.New("address checksum mismatch")
	ErrAddressPrefix    = errors.New("unknown address prefix")
	ErrAddressWrongCoin = errors.New("address of another coin or network")
	ErrAddressKind      = errors.New("address kind not supported")
	ErrAddressKey       = errors.New("invalid public key")
)

// AddressError is the error ParseAddress returns. Err is one of the
// ErrAddress* sentinels; Reason says in words what is wrong.
type AddressError struct {
	Coin   string // coin name the address was parsed for
	Err    error
	Reason string
}

func (e *AddressError) Error() string {
	return "invalid " + e.Coin + " address: " + e.Reason
}

func (e *AddressError) Unwrap() error { return e.Err }

func (c *Coin) addrErr(err error, format string, args ...any) error {
	return &AddressError{Coin: c.displayName(), Err: err, Reason: fmt.Sprintf(format, args...)}
}

// displayName is the coin name as written in prose ("Pastella").
func (c *Coin) displayName() string {
	if c.Name == "" {
		return "unnamed coin"
	}
	return strings.ToUpper(c.Name[:1]) + c.Name[1:]
}

// addressForm is one (network, kind) an address prefix stands for.
type addressForm struct {
	coin    *Coin
	network string
	kind    AddressKind
	prefix  uint64
}

// forms lists every address form of the coin, mainnet first.
func (c *Coin) forms() []addressForm {
	var out []addressForm
	for _, n := range c.Networks {
		for _, f := range []addressForm{
			{c, n.Name, AddressStandard, n.Standard},
			{c, n.Name, AddressIntegrated, n.Integrated},
			{c, n.Name, AddressSubaddress, n.Subaddress},
		} {
			// A zero prefix means the network has no such kind.
			if f.prefix != 0 {
				out = append(out, f)
			}
		}
	}
	return out
}

// dataLen is the decoded byte length of an address of this form.
func (f addressForm) dataLen() int {
	n := VarintLen(f.prefix) + keySize + addrChecksumSize
	if f.coin.ViewKey {
		n += keySize
	}
	if f.kind == AddressIntegrated {
		n += paymentIDSize
	}
	return n
}

func (f addressForm) describe() string {
	switch f.kind {
	case AddressStandard:
		return fmt.Sprintf("a %s %s address", f.coin.displayName(), f.network)
	case AddressSubaddress:
		return fmt.Sprintf("a %s %s subaddress", f.coin.displayName(), f.network)
	}
	return fmt.Sprintf("a %s %s %s address", f.coin.displayName(), f.network, f.kind)
}

// formByPrefix finds the form of coin c that uses prefix.
func (c *Coin) formByPrefix(prefix uint64) (addressForm, bool) {
	for _, f := range c.forms() {
		if f.prefix == prefix {
			return f, true
		}
	}
	return addressForm{}, false
}

// foreignForm finds a known coin other than c that uses prefix, so that a
// pasted address of the wrong coin gets a precise complaint.
func (c *Coin) foreignForm(prefix uint64) (addressForm, bool) {
	for _, o := range []*Coin{Pastella, Monero} {
		if o.Name == c.Name {
			continue
		}
		if f, ok := o.formByPrefix(prefix); ok {
			return f, true
		}
	}
	return addressForm{}, false
}

// foreignAddress recognises s as a well-formed address of another known
// coin. Only strings of such an address's length are decoded, so a long
// junk string costs nothing.
func (c *Coin) foreignAddress(s string) (addressForm, bool) {
	for _, o := range []*Coin{Pastella, Monero} {
		if o.Name == c.Name || !o.validTextLen(len(s)) {
			continue
		}
		if body, prefix, err := decodeChecked(s); err == nil {
			if f, ok := o.formByPrefix(prefix); ok && len(body) == f.dataLen()-addrChecksumSize {
				return f, true
			}
		}
	}
	return addressForm{}, false
}

// lengthsText describes the valid text lengths, e.g. "54" or
// "95 (standard, subaddress) or 106 (integrated)".
func (c *Coin) lengthsText() string {
	kinds := map[int][]string{}
	for _, f := range c.forms() {
		n := Base58EncodedLen(f.dataLen())
		k := f.kind.String()
		if !slices.Contains(kinds[n], k) {
			kinds[n] = append(kinds[n], k)
		}
	}
	lens := make([]int, 0, len(kinds))
	for n := range kinds {
		lens = append(lens, n)
	}
	sort.Ints(lens)
	if len(lens) == 1 {
		return fmt.Sprint(lens[0])
	}
	parts := make([]string, len(lens))
	for i, n := range lens {
		parts[i] = fmt.Sprintf("%d (%s)", n, strings.Join(kinds[n], ", "))
	}
	return strings.Join(parts, " or ")
}

func (c *Coin) validTextLen(n int) bool {
	for _, f := range c.forms() {
		if Base58EncodedLen(f.dataLen()) == n {
			return true
		}
	}
	return false
}

// decodeChecked decodes base58 text and verifies the trailing 4-byte
// Keccak checksum, returning the data without the checksum and its prefix.
func decodeChecked(s string) (body []byte, prefix uint64, err error) {
	data, err := Base58Decode(s)
	if err != nil {
		return nil, 0, err
	}
	if len(data) <= addrChecksumSize {
		return nil, 0, ErrAddressLength
	}
	body, sum := data[:len(data)-addrChecksumSize], data[len(data)-addrChecksumSize:]
	want := Keccak256(body)
	if !bytes.Equal(sum, want[:addrChecksumSize]) {
		return nil, 0, ErrAddressChecksum
	}
	prefix, _, err = ReadVarint(body)
	if err != nil {
		return nil, 0, ErrAddressPrefix
	}
	return body, prefix, nil
}

// ParseAddress validates s as an address of coin c the way the coin's wallet
// does (base58, length, checksum, prefix, keys on the curve) and returns it
// parsed. Errors are *AddressError.
func (c *Coin) ParseAddress(s string) (*Address, error) {
	if s == "" {
		return nil, c.addrErr(ErrAddressEmpty, "empty address")
	}
	if pos, r := firstNonBase58(s); pos > 0 {
		return nil, c.addrErr(ErrAddressEncoding, "invalid base58 character %q at position %d", r, pos)
	}
	if !c.validTextLen(len(s)) {
		// A well-formed address of another coin deserves a better message
		// than the length mismatch it also has.
		if f, ok := c.foreignAddress(s); ok {
			return nil, c.addrErr(ErrAddressWrongCoin, "prefix 0x%x is %s, not %s", f.prefix, f.describe(), c.displayName())
		}
		return nil, c.addrErr(ErrAddressLength, "wrong length: %d characters, a %s address has %s",
			len(s), c.displayName(), c.lengthsText())
	}
	body, prefix, err := decodeChecked(s)
	switch {
	case errors.Is(err, ErrAddressChecksum):
		return nil, c.addrErr(ErrAddressChecksum, "checksum mismatch")
	case errors.Is(err, ErrAddressPrefix):
		return nil, c.addrErr(ErrAddressPrefix, "unreadable prefix varint")
	case err != nil:
		return nil, c.addrErr(ErrAddressEncoding, "%v", err)
	}
	f, ok := c.formByPrefix(prefix)
	if !ok {
		if f, ok := c.foreignForm(prefix); ok {
			return nil, c.addrErr(ErrAddressWrongCoin, "prefix 0x%x is %s, not %s", prefix, f.describe(), c.displayName())
		}
		return nil, c.addrErr(ErrAddressPrefix, "unknown prefix 0x%x: not a %s address", prefix, c.displayName())
	}
	if want := f.dataLen() - addrChecksumSize; len(body) != want {
		return nil, c.addrErr(ErrAddressLength, "prefix 0x%x is %s, which has %d characters, not %d",
			prefix, f.describe(), Base58EncodedLen(f.dataLen()), len(s))
	}
	a := &Address{Coin: c, Network: f.network, Kind: f.kind, Prefix: prefix, Text: s}
	rest := body[VarintLen(prefix):]
	rest = rest[copy(a.SpendKey[:], rest):]
	if !validPoint(&a.SpendKey) {
		return nil, c.addrErr(ErrAddressKey, "public spend key is not a valid curve point")
	}
	if c.ViewKey {
		rest = rest[copy(a.ViewKey[:], rest):]
		if !validPoint(&a.ViewKey) {
			return nil, c.addrErr(ErrAddressKey, "public view key is not a valid curve point")
		}
	}
	if f.kind == AddressIntegrated {
		copy(a.PaymentID[:], rest)
	}
	return a, nil
}

// validPoint mirrors the daemons' check_key: the bytes must decode to a
// point on the ed25519 curve.
func validPoint(k *[32]byte) bool {
	_, err := new(edwards25519.Point).SetBytes(k[:])
	return err == nil
}

// NewAddress builds the address of the given form from its keys, for
// example to derive a test address or to show a key as an address. The keys
// are validated as ParseAddress would; view is ignored for coins without view
// keys and paymentID for kinds other than integrated.
func (c *Coin) NewAddress(network string, kind AddressKind, spend, view [32]byte, paymentID [8]byte) (*Address, error) {
	var form *addressForm
	for _, f := range c.forms() {
		if f.network == network && f.kind == kind {
			form = &f
			break
		}
	}
	if form == nil {
		return nil, c.addrErr(ErrAddressKind, "%s has no %s address on %q", c.displayName(), kind, network)
	}
	a := &Address{Coin: c, Network: network, Kind: kind, Prefix: form.prefix, SpendKey: spend}
	if !validPoint(&a.SpendKey) {
		return nil, c.addrErr(ErrAddressKey, "public spend key is not a valid curve point")
	}
	if c.ViewKey {
		a.ViewKey = view
		if !validPoint(&a.ViewKey) {
			return nil, c.addrErr(ErrAddressKey, "public view key is not a valid curve point")
		}
	}
	if kind == AddressIntegrated {
		a.PaymentID = paymentID
	}
	a.Text = a.encode()
	return a, nil
}

// encode serialises the address fields (prefix ‖ keys ‖ payment id ‖
// checksum) as base58 text.
func (a *Address) encode() string {
	data := AppendVarint(make([]byte, 0, 128), a.Prefix)
	data = append(data, a.SpendKey[:]...)
	if a.Coin.ViewKey {
		data = append(data, a.ViewKey[:]...)
	}
	if a.Kind == AddressIntegrated {
		data = append(data, a.PaymentID[:]...)
	}
	sum := Keccak256(data)
	return Base58Encode(append(data, sum[:addrChecksumSize]...))
}
