package storage

// The audit of the payment journal (Audit calls it).

import (
	"context"
	"fmt"
	"math/big"
	"sort"
)

// auditPayments checks the payment journal against the money it holds:
// every record is well-formed and adds up (Σ debits = debited, and once
// prepared each debit = fee + amount sent, Σ fees and Σ sent as recorded);
// the open index lists exactly the unsettled records; per address, the
// pending payments are the debits of the open records and paid is the
// debits of the sent records, which is also what the ledger's payment
// lines add up to; an imported miner's paid also holds what its import
// line says the other pool paid.
func (s *Store) auditPayments(ctx context.Context, r *AuditReport, pend, paid, lines, importedPaid sums) error {
	ids, err := s.rdb.ZRange(ctx, s.k.payRecords, 0, -1).Result()
	if err != nil {
		return err
	}
	openIdx, err := s.rdb.ZRange(ctx, s.k.payOpen, 0, -1).Result()
	if err != nil {
		return err
	}
	openSet := map[string]bool{}
	for _, id := range openIdx {
		openSet[id] = true
	}
	inFlight, sent := sums{}, sums{}
	states, stateOf := map[string]int{}, map[string]string{}
	var recViol []string
	const chunk = 500
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		recs, err := s.hashes(ctx, part, s.k.payment)
		if err != nil {
			return err
		}
		dests, err := s.hashes(ctx, part, s.k.paymentDests)
		if err != nil {
			return err
		}
		for j, id := range part {
			if len(recs[j]) == 0 {
				recViol = append(recViol, fmt.Sprintf("payment %s is indexed but has no record", id))
				continue
			}
			p, err := parsePayment(recs[j], dests[j])
			if err != nil {
				recViol = append(recViol, err.Error())
				continue
			}
			states[p.State]++
			stateOf[id] = p.State
			if p.Open() != openSet[id] {
				recViol = append(recViol, fmt.Sprintf("payment %s is %s but the open index says %v", id, p.State, openSet[id]))
			}
			delete(openSet, id)
			recViol = append(recViol, paymentViolations(p)...)
			for _, d := range p.Dests {
				switch {
				case p.Open():
					inFlight.add(d.Address, bigOf(d.Debit))
				case p.Paid():
					sent.add(d.Address, bigOf(d.Debit))
				}
			}
		}
	}
	for id := range openSet {
		recViol = append(recViol, fmt.Sprintf("open index lists payment %s, which is not an open record", id))
	}
	uv, err := s.auditUnconfirmed(ctx, stateOf)
	if err != nil {
		return err
	}
	recViol = append(recViol, uv...)
	sort.Strings(recViol)
	r.add("payment records", fmt.Sprintf("%d records: %d preparing, %d prepared, %d relaying, %d sent, %d confirmed, %d dropped, %d failed", len(ids),
		states[PaymentPreparing], states[PaymentPrepared], states[PaymentRelaying], states[PaymentSent], states[PaymentConfirmed],
		states[PaymentDropped], states[PaymentFailed]), recViol)

	var pv []string
	for _, a := range sortedKeys(pend, inFlight) {
		if pend.get(a).Cmp(inFlight.get(a)) != 0 {
			pv = append(pv, fmt.Sprintf("%s: pending payment %s, its open payment records debit %s", a, pend.get(a), inFlight.get(a)))
		}
	}
	r.add("pending payments", fmt.Sprintf("%s = Σ debits of open payment records (Σ %s)", s.k.payPending, inFlight.total()), pv)

	var paidViol []string
	for _, a := range sortedKeys(paid, sent, lines, importedPaid) {
		want := new(big.Int).Add(sent.get(a), importedPaid.get(a))
		if paid.get(a).Cmp(want) != 0 || lines.get(a).Cmp(sent.get(a)) != 0 {
			paidViol = append(paidViol, fmt.Sprintf("%s: paid %s, sent payment records debit %s, ledger payment lines %s, imported paid %s",
				a, paid.get(a), sent.get(a), lines.get(a), importedPaid.get(a)))
		}
	}
	r.add("paid", fmt.Sprintf("%s = Σ debits of sent payment records (= ledger payment lines, Σ %s) + imported paid (Σ %s)",
		s.k.paid, sent.total(), importedPaid.total()), paidViol)
	return nil
}

// paymentViolations checks that one record adds up.
func paymentViolations(p *PaymentRecord) []string {
	var v []string
	switch p.State {
	case PaymentPreparing, PaymentPrepared, PaymentRelaying, PaymentSent, PaymentFailed, PaymentConfirmed, PaymentDropped:
	default:
		return []string{fmt.Sprintf("payment %d has state %q", p.ID, p.State)}
	}
	if len(p.Dests) == 0 {
		v = append(v, fmt.Sprintf("payment %d (%s) has no destinations", p.ID, p.State))
	}
	debit, fee, amount := new(big.Int), new(big.Int), new(big.Int)
	for _, d := range p.Dests {
		debit.Add(debit, bigOf(d.Debit))
		fee.Add(fee, bigOf(d.Fee))
		amount.Add(amount, bigOf(d.Amount))
	}
	if debit.Cmp(bigOf(p.Debited)) != 0 {
		v = append(v, fmt.Sprintf("payment %d: destinations debit %s, the record says %d", p.ID, debit, p.Debited))
	}
	// Sent, or relaying/prepared, need a transaction; a failed record may
	// have failed before it had one.
	if p.State != PaymentPreparing && (p.State != PaymentFailed || p.TxHash != "") {
		if p.TxHash == "" {
			v = append(v, fmt.Sprintf("payment %d (%s) has no transaction hash", p.ID, p.State))
		}
		for _, d := range p.Dests {
			if d.Fee+d.Amount != d.Debit || d.Amount == 0 {
				v = append(v, fmt.Sprintf("payment %d: %s debit %d ≠ fee %d + sent %d", p.ID, d.Address, d.Debit, d.Fee, d.Amount))
			}
		}
		if fee.Cmp(bigOf(p.MinerFee)) != 0 || amount.Cmp(bigOf(p.Sent)) != 0 {
			v = append(v, fmt.Sprintf("payment %d: destinations pay fees %s and send %s, the record says %d and %d", p.ID, fee, amount, p.MinerFee, p.Sent))
		}
	}
	return v
}
