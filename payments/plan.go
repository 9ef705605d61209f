package payments

import (
	"fmt"
	"sort"

	"rxpool/storage"
	"rxpool/wallet"
)

// payee is an address due a payout in this run, with the amount taken from
// its balance.
type payee struct {
	Address string
	Debit   uint64
}

// level is the balance an address needs before it is paid: minPayment or
// the miner's own higher threshold, but never above maxPayment (a miner
// whose threshold exceeds the cap would otherwise never be paid).
func (c *Config) level(threshold uint64) uint64 {
	l := max(c.MinPayment, threshold)
	if c.MaxPayment > 0 && l > c.MaxPayment {
		l = c.MaxPayment
	}
	return l
}

// debit is what is taken from a balance: capped at maxPayment, rounded
// down to the denomination (the remainder stays in the balance). 0 = do
// not pay.
func (c *Config) debit(balance uint64) uint64 {
	d := balance
	if c.MaxPayment > 0 && d > c.MaxPayment {
		d = c.MaxPayment
	}
	if c.Denomination > 1 {
		d -= d % c.Denomination
	}
	if c.fixedFee() && d <= c.TransferFee {
		return 0 // nothing would be left to send
	}
	return d
}

func (c *Config) fixedFee() bool   { return c.MinerPayFee && !c.DynamicTransferFee }
func (c *Config) dynamicFee() bool { return c.MinerPayFee && c.DynamicTransferFee }

// plan picks who is paid this run, in address order so runs are
// reproducible: balance ≥ level, not blocked, something to pay after
// rounding.
func (c *Config) plan(balances, thresholds map[string]uint64, blocked map[string]string) []payee {
	var out []payee
	for a, bal := range balances {
		if _, no := blocked[a]; no || bal < c.level(thresholds[a]) {
			continue
		}
		if d := c.debit(bal); d > 0 {
			out = append(out, payee{Address: a, Debit: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// batches splits the payees into transactions of at most maxAddresses
// destinations and maxTransactionAmount (debited) each; a single payee
// above the amount cap goes alone.
func (c *Config) batches(ps []payee) [][]payee {
	var out [][]payee
	var cur []payee
	var sum uint64
	for _, p := range ps {
		full := len(cur) >= c.MaxAddresses ||
			(c.MaxTransactionAmount > 0 && len(cur) > 0 && (sum+p.Debit > c.MaxTransactionAmount || sum+p.Debit < sum))
		if full {
			out = append(out, cur)
			cur, sum = nil, 0
		}
		cur = append(cur, p)
		sum += p.Debit
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// withFee gives every destination the same fee share; the amount sent is
// the rest of its debit.
func withFee(ps []payee, share uint64) []storage.PaymentDest {
	out := make([]storage.PaymentDest, len(ps))
	for i, p := range ps {
		out[i] = storage.PaymentDest{Address: p.Address, Debit: p.Debit, Fee: share, Amount: p.Debit - share}
	}
	return out
}

func walletDests(ds []storage.PaymentDest) []wallet.Destination {
	out := make([]wallet.Destination, len(ds))
	for i, d := range ds {
		out[i] = wallet.Destination{Address: d.Address, Amount: d.Amount}
	}
	return out
}

func debits(ps []payee) []storage.PaymentDest {
	out := make([]storage.PaymentDest, len(ps))
	for i, p := range ps {
		out[i] = storage.PaymentDest{Address: p.Address, Debit: p.Debit}
	}
	return out
}

func total(ps []payee) uint64 {
	var t uint64
	for _, p := range ps {
		t += p.Debit // each ≤ a balance, and CreatePayment checks the sum
	}
	return t
}

func without(ps []payee, addr string) []payee {
	out := make([]payee, 0, len(ps))
	for _, p := range ps {
		if p.Address != addr {
			out = append(out, p)
		}
	}
	return out
}

// maxFeeTries bounds how often a dynamic-fee transaction is prepared again
// because its fee changed with the amounts.
const maxFeeTries = 3

// dynamicShare decides the per-destination fee share for a prepared
// transaction whose real fee is fee, built with every destination paying
// share. The target is the exact split, fee / n, kept below the smallest
// debit so every destination receives something. accept: share is the
// target, or, after maxFeeTries, at most the split; otherwise next is the
// share to prepare with. An accepted share always has share × n ≤ fee:
// miners never pay more than the real fee, the pool pays the rest.
func dynamicShare(fee, share uint64, n int, minDebit uint64, try int) (accept bool, next uint64) {
	want := fee / uint64(n)
	target := min(want, minDebit-1)
	switch {
	case share == target:
		return true, share
	case try < maxFeeTries:
		return false, target
	case share <= want:
		return true, share // no agreement: miners pay less than their split
	}
	return false, 0 // no agreement and the fee fell: the pool pays it all
}

func describe(ps []payee) string {
	return fmt.Sprintf("%d destinations, %d debited", len(ps), total(ps))
}
