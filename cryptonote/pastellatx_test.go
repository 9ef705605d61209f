package cryptonote

import (
	"encoding/hex"
	"errors"
	"testing"
)

// A payout of 110,000,000 atomic units made by the real Pastella-Wallet-API
// (PastellaCore v1.0.3) from a 400,000,000 coinbase output, as the daemon's
// POST /getrawtransaction returned it: change 289,999,000, fee 1000.
const realPastellaPayout = "010001028088debe01010036c451500a1a7082ebea84bdff765bc5597039227f5075ac0fbc9d12ec99d6de000280efb9340271f4ba7d6fcf4ea13e3e8d821808f148c0ec5d0dcbb99cddac329bb69a5132659891a48a0102261526d7d98d64d31d31084a52558c63d888d4e254e95819eb1a01ee257f34d82101cae1c282a79b3c5478fde92c5387e2d3e69e05c7e4123370ae6fa3e45e957ba8be8235aede6b9251f551a15a436c675fc9b0eddac2f639d2953159f433c77302c4d04c211695cfef4daac1836c1980537a4bf77173d4920c28d598168dd63604"

func TestParsePastellaTx(t *testing.T) {
	raw, _ := hex.DecodeString(realPastellaPayout)
	tx, err := ParsePastellaTx(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != 1 || tx.UnlockTime != 0 || len(tx.Inputs) != 1 || len(tx.Outputs) != 2 {
		t.Fatalf("parsed %+v", tx)
	}
	in := tx.Inputs[0]
	if in.Coinbase || in.Amount != 400_000_000 || in.PrevIndex != 0 || hex.EncodeToString(in.PrevTx[:2]) != "36c4" {
		t.Fatalf("input %+v", in)
	}
	if tx.Outputs[0].Amount != 110_000_000 || tx.Outputs[1].Amount != 289_999_000 {
		t.Fatalf("outputs %+v", tx.Outputs)
	}
	sumIn, ok1 := tx.InputSum()
	sumOut, ok2 := tx.OutputSum()
	if !ok1 || !ok2 || sumIn-sumOut != 1000 {
		t.Fatalf("fee = %d - %d, want 1000", sumIn, sumOut)
	}
	if len(tx.Extra) == 0 || tx.Extra[0] != 0x01 {
		t.Fatalf("extra %x, want the tx public key tag first", tx.Extra)
	}
	// Every truncation is an error, never a panic or a shorter transaction.
	prefix := len(raw) - 64*1 // some of the signature bytes are not read at all
	for n := 0; n < prefix-64; n++ {
		var be *BlockError
		if _, err := ParsePastellaTx(raw[:n]); !errors.As(err, &be) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	bad := append([]byte(nil), raw...)
	bad[3] = 0x05 // input tag
	if _, err := ParsePastellaTx(bad); err == nil {
		t.Fatal("unknown input tag accepted")
	}
}
