package testenv

import (
	"testing"

	"filippo.io/edwards25519"

	"rxpool/cryptonote"
)

// MoneroAddress is Address for Monero mainnet, which regtest uses.
func MoneroAddress(t testing.TB, k int) string {
	t.Helper()
	return Address(t, cryptonote.Monero, k)
}

// Address makes a valid mainnet address of coin from the small scalars k+1
// (spend) and k+1000 (view), so tests have as many distinct, reproducible
// miners as they need without a wallet.
func Address(t testing.TB, coin *cryptonote.Coin, k int) string {
	t.Helper()
	point := func(b int) [32]byte {
		var sc [32]byte
		sc[0], sc[1] = byte(b), byte(b>>8)
		s, err := edwards25519.NewScalar().SetCanonicalBytes(sc[:])
		if err != nil {
			t.Fatal(err)
		}
		return [32]byte(new(edwards25519.Point).ScalarBaseMult(s).Bytes())
	}
	a, err := coin.NewAddress("mainnet", cryptonote.AddressStandard, point(k+1), point(k+1000), [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	return a.Text
}
