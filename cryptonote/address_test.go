package cryptonote

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

const pastellaGenesisAddress = "PAS18z7m9DGbJFoVv6HiGoiwxNG5mLoniSEFWkguBKt59JSHPHjYaa"

type walletVectors struct {
	Wallets []struct {
		Network     string `json:"network"`
		SecretSpend string `json:"secret_spend_key"`
		SecretView  string `json:"secret_view_key"`
		Standard    string `json:"standard"`
		Subaddress  string `json:"subaddress"`
		Integrated  string `json:"integrated"`
		PaymentID   string `json:"payment_id"`
	} `json:"wallets"`
}

// loadJSON reads testdata/name into v.
func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func loadWalletVectors(t testing.TB) walletVectors {
	t.Helper()
	var v walletVectors
	loadJSON(t, "monero_addresses.json", &v)
	if len(v.Wallets) != 3 {
		t.Fatalf("want 3 wallets, got %d", len(v.Wallets))
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publicKey derives secret·G the way a wallet derives its public keys.
func publicKey(t *testing.T, secretHex string) [32]byte {
	t.Helper()
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(mustHex(t, secretHex))
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], new(edwards25519.Point).ScalarBaseMult(s).Bytes())
	return out
}

func TestParsePastellaGenesisAddress(t *testing.T) {
	a, err := Pastella.ParseAddress(pastellaGenesisAddress)
	if err != nil {
		t.Fatal(err)
	}
	if a.Prefix != 0x198004 || a.Network != "mainnet" || a.Kind != AddressStandard || a.Coin != Pastella {
		t.Fatalf("got prefix %#x network %s kind %v", a.Prefix, a.Network, a.Kind)
	}
	key := hex.EncodeToString(a.SpendKey[:])
	if !strings.HasPrefix(key, "004a3390") || !strings.HasSuffix(key, "0a23") {
		t.Fatalf("spend key %s", key)
	}
	if a.ViewKey != ([32]byte{}) || a.PaymentID != ([8]byte{}) {
		t.Fatal("Pastella address must have no view key and no payment id")
	}
	raw, err := Base58Decode(pastellaGenesisAddress)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(raw); !strings.HasPrefix(got, "848066004a3390") || !strings.HasSuffix(got, "0a2311d3a1c7") || len(raw) != 39 {
		t.Fatalf("raw decode %s", got)
	}
	again, err := Pastella.NewAddress("mainnet", AddressStandard, a.SpendKey, [32]byte{}, [8]byte{})
	if err != nil || again.Text != pastellaGenesisAddress {
		t.Fatalf("re-encode: %v %q", err, again)
	}
}

func TestParseMoneroWalletAddresses(t *testing.T) {
	for _, w := range loadWalletVectors(t).Wallets {
		spend, view := publicKey(t, w.SecretSpend), publicKey(t, w.SecretView)
		var pid [8]byte
		copy(pid[:], mustHex(t, w.PaymentID))
		for _, tc := range []struct {
			text string
			kind AddressKind
		}{{w.Standard, AddressStandard}, {w.Integrated, AddressIntegrated}, {w.Subaddress, AddressSubaddress}} {
			a, err := Monero.ParseAddress(tc.text)
			if err != nil {
				t.Fatalf("%s %v: %v", w.Network, tc.kind, err)
			}
			if a.Network != w.Network || a.Kind != tc.kind || a.Text != tc.text {
				t.Fatalf("%s: got %s %v", tc.text, a.Network, a.Kind)
			}
			if tc.kind != AddressSubaddress && (a.SpendKey != spend || a.ViewKey != view) {
				t.Fatalf("%s %v: keys do not match the wallet's secret keys", w.Network, tc.kind)
			}
			if tc.kind == AddressSubaddress && (a.SpendKey == spend || a.ViewKey == view) {
				t.Fatalf("%s subaddress: keys should be derived, not the primary keys", w.Network)
			}
			if tc.kind == AddressIntegrated && a.PaymentID != pid {
				t.Fatalf("%s: payment id %x", w.Network, a.PaymentID)
			}
			b, err := Monero.NewAddress(w.Network, tc.kind, a.SpendKey, a.ViewKey, a.PaymentID)
			if err != nil || b.Text != tc.text {
				t.Fatalf("%s %v re-encode: %v %v", w.Network, tc.kind, err, b)
			}
		}
	}
}

// rawAddress encodes arbitrary address bytes with a valid checksum, to build
// addresses our own constructor refuses to make.
func rawAddress(prefix uint64, payload ...[]byte) string {
	data := AppendVarint(nil, prefix)
	for _, p := range payload {
		data = append(data, p...)
	}
	sum := Keccak256(data)
	return Base58Encode(append(data, sum[:4]...))
}

// notOnCurve returns 32 bytes that do not decode to a curve point.
func notOnCurve(t *testing.T) []byte {
	for i := 0; i < 256; i++ {
		k := make([]byte, 32)
		k[0] = byte(i)
		if _, err := new(edwards25519.Point).SetBytes(k); err != nil {
			return k
		}
	}
	t.Fatal("no invalid point found")
	return nil
}

func TestParseAddressErrors(t *testing.T) {
	w := loadWalletVectors(t).Wallets[0]
	good, _ := Monero.ParseAddress(w.Standard)
	bad := notOnCurve(t)
	replaceAt := func(s string, i int, c byte) string { return s[:i] + string(c) + s[i+1:] }
	changed := replaceAt(pastellaGenesisAddress, 9, 'X')
	if changed == pastellaGenesisAddress {
		changed = replaceAt(pastellaGenesisAddress, 9, 'Y')
	}
	cases := []struct {
		name string
		coin *Coin
		in   string
		err  error
		msg  string
	}{
		{"empty", Pastella, "", ErrAddressEmpty, "empty address"},
		{"bad char", Pastella, replaceAt(pastellaGenesisAddress, 16, 'l'), ErrAddressEncoding, "invalid base58 character 'l' at position 17"},
		{"space", Monero, " " + w.Standard, ErrAddressEncoding, "invalid base58 character ' ' at position 1"},
		{"non-ascii", Pastella, "PAS1é", ErrAddressEncoding, "invalid base58 character 'é' at position 5"},
		{"short", Pastella, pastellaGenesisAddress[:53], ErrAddressLength, "wrong length: 53 characters, a Pastella address has 54"},
		{"monero length", Monero, w.Standard + "1", ErrAddressLength, "wrong length: 96 characters, a Monero address has 95 (standard, subaddress) or 106 (integrated)"},
		{"checksum", Pastella, changed, ErrAddressChecksum, "checksum mismatch"},
		{"monero for pastella", Pastella, w.Standard, ErrAddressWrongCoin, "prefix 0x12 is a Monero mainnet address, not Pastella"},
		{"monero subaddress for pastella", Pastella, w.Subaddress, ErrAddressWrongCoin, "prefix 0x2a is a Monero mainnet subaddress, not Pastella"},
		{"pastella for monero", Monero, pastellaGenesisAddress, ErrAddressWrongCoin, "prefix 0x198004 is a Pastella mainnet address, not Monero"},
		{"overflow", Pastella, pastellaGenesisAddress[:44] + "zzzzzzzzzz", ErrAddressEncoding, "value too large"},
		{"bad spend key", Pastella, rawAddress(0x198004, bad), ErrAddressKey, "public spend key is not a valid curve point"},
		{"bad view key", Monero, rawAddress(18, good.SpendKey[:], bad), ErrAddressKey, "public view key is not a valid curve point"},
		{"integrated prefix, standard length", Monero, rawAddress(19, good.SpendKey[:], good.ViewKey[:]), ErrAddressLength,
			"prefix 0x13 is a Monero mainnet integrated address, which has 106 characters, not 95"},
		{"unknown prefix", Monero, rawAddress(7, good.SpendKey[:], good.ViewKey[:]), ErrAddressPrefix, "unknown prefix 0x7: not a Monero address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.coin.ParseAddress(tc.in)
			if err == nil {
				t.Fatalf("accepted %q as %v", tc.in, a.Kind)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v is not %v", err, tc.err)
			}
			var ae *AddressError
			if !errors.As(err, &ae) || !strings.Contains(ae.Reason, tc.msg) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestNewAddressUnsupportedKind(t *testing.T) {
	a, _ := Pastella.ParseAddress(pastellaGenesisAddress)
	for _, tc := range []struct {
		net  string
		kind AddressKind
	}{{"mainnet", AddressSubaddress}, {"mainnet", AddressIntegrated}, {"testnet", AddressStandard}} {
		_, err := Pastella.NewAddress(tc.net, tc.kind, a.SpendKey, [32]byte{}, [8]byte{})
		if !errors.Is(err, ErrAddressKind) {
			t.Errorf("%s %v: got %v", tc.net, tc.kind, err)
		}
	}
}

func TestAddressKindString(t *testing.T) {
	for k, want := range map[AddressKind]string{AddressStandard: "standard", AddressIntegrated: "integrated", AddressSubaddress: "subaddress", 7: "AddressKind(7)"} {
		if k.String() != want {
			t.Errorf("%d: %q", int(k), k.String())
		}
	}
}

func BenchmarkParseAddress(b *testing.B) {
	w := loadWalletVectors(b).Wallets[0]
	b.Run("pastella", func(b *testing.B) {
		for b.Loop() {
			if _, err := Pastella.ParseAddress(pastellaGenesisAddress); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("monero", func(b *testing.B) {
		for b.Loop() {
			if _, err := Monero.ParseAddress(w.Standard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
