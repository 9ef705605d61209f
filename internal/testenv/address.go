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
	a, err := MakeAddress(coin, k)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// MakeAddress is Address for callers without a testing.TB (the devnet).
func MakeAddress(coin *cryptonote.Coin, k int) (string, error) {
	point := func(b int) ([32]byte, error) {
		var sc [32]byte
		sc[0], sc[1] = byte(b), byte(b>>8)
		s, err := edwards25519.NewScalar().SetCanonicalBytes(sc[:])
		if err != nil {
			return [32]byte{}, err
		}
		return [32]byte(new(edwards25519.Point).ScalarBaseMult(s).Bytes()), nil
	}
	spend, err := point(k + 1)
	if err != nil {
		return "", err
	}
	view, err := point(k + 1000)
	if err != nil {
		return "", err
	}
	a, err := coin.NewAddress("mainnet", cryptonote.AddressStandard, spend, view, [8]byte{})
	if err != nil {
		return "", err
	}
	return a.Text, nil
}
