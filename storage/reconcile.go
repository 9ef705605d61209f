package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Reconciling the payment journal with the pool wallet's own list of what
// it sent (`pool audit`): a payout the wallet did not send, or sent
// differently, and money the wallet sent that no record explains, are both
// listed. Operators who move coins out of the pool wallet by hand record
// each such transaction with `pool payments record`.

// WalletTx is one outgoing transaction as the pool wallet lists it.
type WalletTx struct {
	TxHash string
	State  string // TxStatePending, TxStateConfirmed or TxStateFailed
	Height uint64 // when confirmed
	Amount uint64 // Σ sent, change excluded
	// Dests: address → sent; nil when the wallet does not know them (then
	// only Amount is compared).
	Dests map[string]uint64
}

// The wallet's states of an outgoing transaction.
const (
	TxStatePending   = "pending"
	TxStateConfirmed = "confirmed"
	TxStateFailed    = "failed"
)

// payOperator is the operator's own transfers out of the pool wallet:
// HASH txHash → "recorded(RFC 3339) note".
func (k keys) payOperator() string { return k.tag + ":payments:operator" }

// RecordOperatorTransfer records txHash as a transfer the operator made
// from the pool wallet, so the reconciliation does not list it.
func (s *Store) RecordOperatorTransfer(ctx context.Context, txHash, note string) error {
	h := strings.ToLower(txHash)
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return fmt.Errorf("storage: %q is not a transaction hash (64 hex digits)", txHash)
	}
	if strings.TrimSpace(note) == "" {
		return fmt.Errorf("storage: say what transaction %s was for", h)
	}
	return s.rdb.HSet(ctx, s.k.payOperator(), h, time.Now().UTC().Format(time.RFC3339)+" "+note).Err()
}

// OperatorTransfers returns the recorded operator transfers, txHash → note.
func (s *Store) OperatorTransfers(ctx context.Context) (map[string]string, error) {
	return s.rdb.HGetAll(ctx, s.k.payOperator()).Result()
}

// Reconcile adds two checks to r: every sent or confirmed payout is in the
// wallet's outgoing list with the recorded amounts (and no dropped or
// failed one is there, unless the wallet marks it failed too), and every
// transaction the wallet sent is a payout or an operator transfer. txs is
// the wallet's list from minHeight on (0: all); confirmed payouts mined
// below it are not looked for.
func (s *Store) Reconcile(ctx context.Context, r *AuditReport, txs []WalletTx, minHeight uint64) error {
	ids, err := s.rdb.ZRange(ctx, s.k.payRecords, 0, -1).Result()
	if err != nil {
		return err
	}
	var recs []*PaymentRecord
	const chunk = 500
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		m, err := s.hashes(ctx, part, s.k.payment)
		if err != nil {
			return err
		}
		d, err := s.hashes(ctx, part, s.k.paymentDests)
		if err != nil {
			return err
		}
		for j := range part {
			// A malformed record is listed by the "payment records" check.
			if p, err := parsePayment(m[j], d[j]); err == nil && len(m[j]) > 0 {
				recs = append(recs, p)
			}
		}
	}
	ops, err := s.OperatorTransfers(ctx)
	if err != nil {
		return err
	}
	reconcile(r, recs, ops, txs, minHeight)
	return nil
}

// reconcile compares the records and operator transfers with the wallet's list.
func reconcile(r *AuditReport, recs []*PaymentRecord, ops map[string]string, txs []WalletTx, minHeight uint64) {
	wallet := map[string]WalletTx{}
	for _, tx := range txs {
		h := strings.ToLower(tx.TxHash)
		if old, ok := wallet[h]; !ok || stateRank(tx.State) > stateRank(old.State) {
			tx.TxHash = h
			wallet[h] = tx
		}
	}
	byTx := map[string]*PaymentRecord{}
	var payViol []string
	checked := 0
	for _, p := range recs {
		h := strings.ToLower(p.TxHash)
		if h == "" {
			continue
		}
		byTx[h] = p
		tx, inWallet := wallet[h]
		sentByWallet := inWallet && tx.State != TxStateFailed
		switch {
		case p.Paid():
			if p.State == PaymentConfirmed && minHeight > 0 && p.Height < minHeight {
				continue
			}
			checked++
			switch {
			case !inWallet:
				payViol = append(payViol, fmt.Sprintf("payment %d (%s) tx %s: not in the wallet's outgoing transfers", p.ID, p.State, h))
			case !sentByWallet:
				payViol = append(payViol, fmt.Sprintf("payment %d (%s) tx %s: the wallet marks it failed", p.ID, p.State, h))
			default:
				if d := destDiff(p, tx); d != "" {
					payViol = append(payViol, fmt.Sprintf("payment %d (%s) tx %s: %s", p.ID, p.State, h, d))
				}
			}
		case (p.State == PaymentDropped || p.State == PaymentFailed) && sentByWallet:
			// The debit went back to the balances while the wallet sent the coins.
			payViol = append(payViol, fmt.Sprintf("payment %d is %s, but the wallet has its tx %s as %s (height %d)", p.ID, p.State, h, tx.State, tx.Height))
		}
	}
	sort.Strings(payViol)
	r.add("payouts in the wallet", fmt.Sprintf("%d sent or confirmed payouts are among the wallet's %d outgoing transfers with the recorded amounts; no dropped or failed one was sent",
		checked, len(wallet)), payViol)

	var walletViol []string
	nOps, nPay := 0, 0
	for _, h := range sortedTxKeys(wallet) {
		tx := wallet[h]
		switch {
		case tx.State == TxStateFailed:
			continue // nothing left the wallet
		case byTx[h] != nil:
			nPay++ // its state is checked above
		case ops[h] != "":
			nOps++
		default:
			walletViol = append(walletViol, fmt.Sprintf("tx %s (%s, height %d) sends %d to %s: neither a payout nor recorded with `pool payments record`",
				h, tx.State, tx.Height, tx.Amount, describeDests(tx.Dests)))
		}
	}
	r.add("wallet transfers recorded", fmt.Sprintf("the wallet's outgoing transfers are %d payouts and %d recorded operator transfers (%d recorded in all)",
		nPay, nOps, len(ops)), walletViol)
}

// destDiff says how the wallet's transaction differs from the record's
// destinations ("" when it does not).
func destDiff(p *PaymentRecord, tx WalletTx) string {
	if tx.Dests == nil {
		if tx.Amount != p.Sent {
			return fmt.Sprintf("the wallet sent %d in all, the record %d (the wallet does not list destinations)", tx.Amount, p.Sent)
		}
		return ""
	}
	var diffs []string
	seen := map[string]bool{}
	for _, d := range p.Dests {
		seen[d.Address] = true
		if got, ok := tx.Dests[d.Address]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: recorded %d, not paid by the wallet", d.Address, d.Amount))
		} else if got != d.Amount {
			diffs = append(diffs, fmt.Sprintf("%s: recorded %d, the wallet sent %d", d.Address, d.Amount, got))
		}
	}
	for a, v := range tx.Dests {
		if !seen[a] {
			diffs = append(diffs, fmt.Sprintf("%s: the wallet sent %d, not recorded", a, v))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

func describeDests(d map[string]uint64) string {
	if d == nil {
		return "destinations the wallet does not list"
	}
	parts := make([]string, 0, len(d))
	for a, v := range d {
		parts = append(parts, fmt.Sprintf("%s %d", a, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func sortedTxKeys(m map[string]WalletTx) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func stateRank(s string) int {
	switch s {
	case TxStateConfirmed:
		return 3
	case TxStatePending:
		return 2
	}
	return 1
}
