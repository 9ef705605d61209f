package storage

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// AuditCheck is one invariant and what broke it.
type AuditCheck struct {
	Name       string
	Detail     string   // what was checked, with the totals
	Violations []string // empty when the invariant holds
}

// AuditReport lists every check the audit made.
type AuditReport struct {
	Checks []AuditCheck
}

// OK reports whether no check found a violation.
func (r *AuditReport) OK() bool {
	for _, c := range r.Checks {
		if len(c.Violations) > 0 {
			return false
		}
	}
	return true
}

// String prints one line per check and one per violation.
func (r *AuditReport) String() string {
	var sb strings.Builder
	for _, c := range r.Checks {
		mark := "ok  "
		if len(c.Violations) > 0 {
			mark = "FAIL"
		}
		fmt.Fprintf(&sb, "%s %s: %s\n", mark, c.Name, c.Detail)
		for _, v := range c.Violations {
			fmt.Fprintf(&sb, "       - %s\n", v)
		}
	}
	return sb.String()
}

// maxListed bounds the violations listed per check; the count is always given.
const maxListed = 50

func (r *AuditReport) add(name, detail string, violations []string) {
	if n := len(violations); n > maxListed {
		violations = append(violations[:maxListed:maxListed], fmt.Sprintf("… and %d more", n-maxListed))
	}
	r.Checks = append(r.Checks, AuditCheck{Name: name, Detail: detail, Violations: violations})
}

// ledger sums per address, in big integers so a corrupted value cannot
// overflow the audit itself.
type sums map[string]*big.Int

func (m sums) add(addr string, v *big.Int) {
	if m[addr] == nil {
		m[addr] = new(big.Int)
	}
	m[addr].Add(m[addr], v)
}

func (m sums) get(addr string) *big.Int {
	if v := m[addr]; v != nil {
		return v
	}
	return new(big.Int)
}

func (m sums) total() *big.Int {
	t := new(big.Int)
	for _, v := range m {
		t.Add(t, v)
	}
	return t
}

func bigOf(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

// Audit checks the ledger invariants from Redis alone:
//   - every block record is well-formed and the pending index matches the statuses;
//   - for every confirmed block, Σcredits + fee + finder reward = reward, and
//     only confirmed blocks have credits;
//   - no credited block was found off the main chain (MarkBlockLost);
//   - the ledger stream agrees with the blocks, block by block;
//   - per address and in total, Σ credited = balance + pending payment + paid;
//   - no balance, pending payment or paid total is negative or malformed;
//   - the payment journal explains the pending payments (Σ debits of open
//     records) and paid (Σ debits of sent records, = the ledger's payment
//     lines), and every record adds up;
//   - the operator totals agree with the blocks.
//
// Imported books (`pool import`) count too: an import line credits its
// address balance + paid and explains the paid part; an imported block was
// settled by the other pool, so it has no credits, lines or totals here.
//
// It reads everything (not a hot path; run it from `pool audit`).
func (s *Store) Audit(ctx context.Context) (*AuditReport, error) {
	r := &AuditReport{}
	hashes, err := s.rdb.ZRange(ctx, s.k.blocks, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	pendingIdx, err := s.rdb.ZRange(ctx, s.k.pending, 0, -1).Result()
	if err != nil {
		return nil, err
	}

	credited := sums{} // address → Σ credited by confirmed blocks
	perBlock := sums{} // block → Σ ledger amounts the block should have
	var splitViol, recViol, lostViol []string
	var rewards, fees, finder, creditedTotal = new(big.Int), new(big.Int), new(big.Int), new(big.Int)
	var nConfirmed, nOrphaned, nPending, nImported, nSettledLost int
	pendingSet := map[string]bool{}
	for _, h := range pendingIdx {
		pendingSet[h] = true
	}
	const chunk = 500
	for i := 0; i < len(hashes); i += chunk {
		part := hashes[i:min(i+chunk, len(hashes))]
		blocks, err := s.hashes(ctx, part, s.k.block)
		if err != nil {
			return nil, err
		}
		creds, err := s.hashes(ctx, part, s.k.credits)
		if err != nil {
			return nil, err
		}
		for j, h := range part {
			b, err := parseBlock(blocks[j])
			switch {
			case len(blocks[j]) == 0:
				recViol = append(recViol, fmt.Sprintf("block %s is indexed but has no record", h))
				continue
			case err != nil:
				recViol = append(recViol, err.Error())
				continue
			}
			c, err := parseUintMap(s.k.credits(h), creds[j])
			if err != nil {
				recViol = append(recViol, err.Error())
				continue
			}
			if (b.Status == StatusPending) != pendingSet[h] {
				recViol = append(recViol, fmt.Sprintf("block %s (height %d) is %s but pending index says %v", h, b.Height, b.Status, pendingSet[h]))
			}
			delete(pendingSet, h)
			if blocks[j]["imported"] != "" { // another pool's settled block: no credits, no ledger lines, not in the totals
				nImported++
				if (b.Status != StatusConfirmed && b.Status != StatusOrphaned) || len(c) > 0 || b.Credited != 0 {
					recViol = append(recViol, fmt.Sprintf("imported block %s (height %d) is %s with credits %d", h, b.Height, b.Status, b.Credited))
				}
				continue
			}
			switch b.Status {
			case StatusPending, StatusOrphaned:
				if b.Status == StatusPending {
					nPending++
				} else {
					nOrphaned++
				}
				if len(c) > 0 || b.Credited != 0 {
					splitViol = append(splitViol, fmt.Sprintf("block %s (height %d) is %s but has credits", h, b.Height, b.Status))
				}
				continue
			case StatusConfirmed:
				nConfirmed++
				if v := lostViolation(h, b.Height, blocks[j]); v != "" {
					lostViol = append(lostViol, v)
				} else if blocks[j]["lostSettled"] != "" {
					nSettledLost++
				}
			default:
				recViol = append(recViol, fmt.Sprintf("block %s (height %d) has status %q", h, b.Height, b.Status))
				continue
			}
			sum := new(big.Int)
			for a, v := range c {
				sum.Add(sum, bigOf(v))
				credited.add(a, bigOf(v))
			}
			total := new(big.Int).Add(sum, bigOf(b.Fee))
			total.Add(total, bigOf(b.FinderReward))
			if total.Cmp(bigOf(b.Reward)) != 0 {
				splitViol = append(splitViol, fmt.Sprintf("block %s (height %d): credits %s + fee %d + finder %d = %s ≠ reward %d",
					h, b.Height, sum, b.Fee, b.FinderReward, total, b.Reward))
			}
			if b.FinderReward > 0 {
				credited.add(b.Address, bigOf(b.FinderReward))
			}
			blockCredited := new(big.Int).Add(sum, bigOf(b.FinderReward))
			if b.FeeAddress != "" && b.Fee > 0 {
				credited.add(b.FeeAddress, bigOf(b.Fee))
				blockCredited.Add(blockCredited, bigOf(b.Fee))
			}
			if blockCredited.Cmp(bigOf(b.Credited)) != 0 {
				splitViol = append(splitViol, fmt.Sprintf("block %s (height %d): records %d credited to balances, its credits add up to %s",
					h, b.Height, b.Credited, blockCredited))
			}
			perBlock.add(h, bigOf(b.Reward))
			rewards.Add(rewards, bigOf(b.Reward))
			fees.Add(fees, bigOf(b.Fee))
			finder.Add(finder, bigOf(b.FinderReward))
			creditedTotal.Add(creditedTotal, blockCredited)
		}
	}
	for h := range pendingSet {
		recViol = append(recViol, fmt.Sprintf("pending index lists %s, which is not a pending block", h))
	}
	sort.Strings(recViol)
	r.add("block records", fmt.Sprintf("%d blocks: %d pending, %d confirmed, %d orphaned, %d imported", len(hashes), nPending, nConfirmed, nOrphaned, nImported), recViol)
	r.add("credited blocks on the main chain", fmt.Sprintf("no confirmed block was found reorged away after it was credited, but the %d the operator settled (`pool blocks settle-lost`)", nSettledLost), lostViol)
	r.add("block splits", fmt.Sprintf("%d confirmed blocks: Σcredits + fee + finder = reward (Σ rewards %s)", nConfirmed, rewards), splitViol)

	payLines, imported, importedPaid, err := s.auditLedger(ctx, r, perBlock)
	if err != nil {
		return nil, err
	}
	for a, v := range imported { // opening credits of imported miners
		credited.add(a, v)
	}
	pend, paid, err := s.auditBalances(ctx, r, credited)
	if err != nil {
		return nil, err
	}
	if err := s.auditPayments(ctx, r, pend, paid, payLines, importedPaid); err != nil {
		return nil, err
	}

	t, err := s.rdb.HGetAll(ctx, s.k.totals).Result()
	if err != nil {
		return nil, err
	}
	var totViol []string
	for _, c := range []struct {
		field string
		want  *big.Int
	}{
		{"rewards", rewards}, {"credited", creditedTotal}, {"fees", fees}, {"finder", finder},
		{"confirmed", big.NewInt(int64(nConfirmed))}, {"orphaned", big.NewInt(int64(nOrphaned))},
	} {
		got, ok := new(big.Int).SetString(orZero(t[c.field]), 10)
		if !ok || got.Cmp(c.want) != 0 {
			totViol = append(totViol, fmt.Sprintf("totals %s = %q, the blocks add up to %s", c.field, t[c.field], c.want))
		}
	}
	r.add("operator totals", fmt.Sprintf("%s agree with the blocks", s.k.totals), totViol)
	return r, nil
}

func orZero(v string) string {
	if v == "" {
		return "0"
	}
	return v
}

// auditLedger sums the ledger stream by block: each confirmed block's lines
// must add up to its reward, and no other block may have lines. Payment
// lines are summed by address and returned, for auditPayments, and so are
// import lines: what they credited (balance + paid) and the paid part.
func (s *Store) auditLedger(ctx context.Context, r *AuditReport, want sums) (payments, imported, importedPaid sums, err error) {
	got := sums{}
	payments, imported, importedPaid = sums{}, sums{}, sums{}
	var viol []string
	lines := 0
	start := "-"
	for {
		msgs, err := s.rdb.XRangeN(ctx, s.k.ledger, start, "+", 1000).Result()
		if err != nil {
			return nil, nil, nil, err
		}
		for _, m := range msgs {
			lines++
			if kind, _ := m.Values["kind"].(string); kind == ImportLedgerKind {
				addr, c, p, err := importedLine(m.Values)
				if err != nil {
					viol = append(viol, fmt.Sprintf("ledger %s: import line: %v", m.ID, err))
					continue
				}
				imported.add(addr, c)
				importedPaid.add(addr, p)
				continue
			}
			block, _ := m.Values["block"].(string)
			amount, _ := m.Values["amount"].(string)
			v, ok := new(big.Int).SetString(amount, 10)
			if !ok || v.Sign() < 0 {
				viol = append(viol, fmt.Sprintf("ledger %s: amount %q", m.ID, amount))
				continue
			}
			if kind, _ := m.Values["kind"].(string); kind == "payment" || kind == DroppedLedgerKind {
				addr, _ := m.Values["address"].(string)
				if kind == DroppedLedgerKind { // reverses a dropped payment's line
					v.Neg(v)
				}
				payments.add(addr, v)
				continue
			}
			got.add(block, v)
		}
		if len(msgs) < 1000 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	for _, h := range sortedKeys(want, got) {
		if want.get(h).Cmp(got.get(h)) != 0 {
			viol = append(viol, fmt.Sprintf("block %s: ledger lines add up to %s, the block's reward is %s", h, got.get(h), want.get(h)))
		}
	}
	r.add("ledger", fmt.Sprintf("%d lines in %s: credits add up to each confirmed block's reward (Σ %s), payments Σ %s, imported Σ %s (paid %s)",
		lines, s.k.ledger, got.total(), payments.total(), imported.total(), importedPaid.total()), viol)
	return payments, imported, importedPaid, nil
}

// auditBalances checks Σ credited = balance + pending payment + paid, per
// address and in total, and that none of those is negative. It returns the
// pending payments and paid totals it read.
func (s *Store) auditBalances(ctx context.Context, r *AuditReport, credited sums) (pend, paid sums, err error) {
	var neg []string
	read := func(key string) (sums, error) {
		out := sums{}
		iter := s.rdb.HScan(ctx, key, 0, "", 1000).Iterator()
		for iter.Next(ctx) {
			addr := iter.Val()
			if !iter.Next(ctx) {
				break
			}
			v, ok := new(big.Int).SetString(iter.Val(), 10)
			if !ok {
				neg = append(neg, fmt.Sprintf("%s %s: %q is not an integer", key, addr, iter.Val()))
				continue
			}
			if v.Sign() < 0 {
				neg = append(neg, fmt.Sprintf("%s %s = %s is negative", key, addr, v))
			}
			out.add(addr, v)
		}
		return out, iter.Err()
	}
	bal, err := read(s.k.balances)
	if err != nil {
		return nil, nil, err
	}
	if pend, err = read(s.k.payPending); err != nil {
		return nil, nil, err
	}
	if paid, err = read(s.k.paid); err != nil {
		return nil, nil, err
	}
	sort.Strings(neg)
	r.add("no negative balance", fmt.Sprintf("%d balances, %d pending payments, %d paid totals", len(bal), len(pend), len(paid)), neg)

	var viol []string
	for _, a := range sortedKeys(credited, bal, pend, paid) {
		have := new(big.Int).Add(bal.get(a), pend.get(a))
		have.Add(have, paid.get(a))
		if have.Cmp(credited.get(a)) != 0 {
			viol = append(viol, fmt.Sprintf("%s: credited %s ≠ balance %s + pending %s + paid %s = %s",
				a, credited.get(a), bal.get(a), pend.get(a), paid.get(a), have))
		}
	}
	r.add("balances per address", "Σ credited = balance + pending payment + paid, for every address", viol)

	have := new(big.Int).Add(bal.total(), pend.total())
	have.Add(have, paid.total())
	var tv []string
	if have.Cmp(credited.total()) != 0 {
		tv = []string{fmt.Sprintf("credited %s ≠ balances %s + pending %s + paid %s = %s (difference %s)",
			credited.total(), bal.total(), pend.total(), paid.total(), have, new(big.Int).Sub(have, credited.total()))}
	}
	r.add("balances total", fmt.Sprintf("Σ credited %s = Σ balances + Σ pending payments + Σ paid", credited.total()), tv)
	return pend, paid, nil
}

func sortedKeys(ms ...sums) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
