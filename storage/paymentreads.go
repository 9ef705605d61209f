package storage

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Reading the payment journal and the payout settings: records, halts,
// totals, a miner's history, balances due, thresholds, blocked addresses.

// Payment reads one record with its destinations.
func (s *Store) Payment(ctx context.Context, id uint64) (*PaymentRecord, error) {
	recs, err := s.paymentRecords(ctx, []string{u64(id)})
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// OpenPayments returns the unsettled records, oldest first.
func (s *Store) OpenPayments(ctx context.Context) ([]*PaymentRecord, error) {
	ids, err := s.index(ctx, s.k.payOpen, 0, -1)
	if err != nil {
		return nil, err
	}
	return s.paymentRecords(ctx, ids)
}

// Payments returns up to limit records, newest first, skipping offset.
func (s *Store) Payments(ctx context.Context, offset, limit int) ([]*PaymentRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	ids, err := s.index(ctx, s.k.payRecords, offset, limit)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return s.paymentRecords(ctx, ids)
}

func (s *Store) paymentRecords(ctx context.Context, ids []string) ([]*PaymentRecord, error) {
	recs, err := s.hashes(ctx, ids, s.k.payment)
	if err != nil {
		return nil, err
	}
	dests, err := s.hashes(ctx, ids, s.k.paymentDests)
	if err != nil {
		return nil, err
	}
	out := make([]*PaymentRecord, len(ids))
	for i, id := range ids {
		if len(recs[i]) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrUnknownPayment, id)
		}
		if out[i], err = parsePayment(recs[i], dests[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parsePayment(m, dests map[string]string) (*PaymentRecord, error) {
	r := &record{m: m}
	u, ms := r.u, r.ms
	p := &PaymentRecord{
		ID: u("id"), State: m["state"], Created: ms("created"), Updated: ms("updated"), Token: u("token"),
		TxHash: m["txHash"], Fee: u("fee"), MinerFee: u("minerFees"), Debited: u("debited"), Sent: u("sent"),
		Handle: m["handle"], RelayedAt: ms("relayedAt"), SettledAt: ms("settledAt"), SettledBy: m["settledBy"],
		Error: m["error"], Prepared: m["txHash"] != "",
		Height: u("height"), ConfirmedAt: ms("confirmedAt"), MissingSince: ms("missingSince"), Missing: m["missing"],
		DroppedAt: ms("droppedAt"), ResendOf: m["resendOf"],
	}
	for a, v := range dests {
		d, err := parseDest(a, v)
		if err != nil {
			r.bad = append(r.bad, err.Error())
			continue
		}
		p.Dests = append(p.Dests, d)
	}
	sort.Slice(p.Dests, func(i, j int) bool { return p.Dests[i].Address < p.Dests[j].Address })
	if len(r.bad) > 0 {
		return p, fmt.Errorf("storage: payment %s has malformed fields: %s", m["id"], strings.Join(r.bad, ", "))
	}
	return p, nil
}

// parseDest reads "debit" (preparing) or "debit:fee:sent".
func parseDest(addr, v string) (PaymentDest, error) {
	parts := strings.Split(v, ":")
	d := PaymentDest{Address: addr}
	var nums [3]uint64
	for i, s := range parts {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || i >= 3 {
			return d, fmt.Errorf("destination %s=%q", addr, v)
		}
		nums[i] = n
	}
	if len(parts) == 2 {
		return d, fmt.Errorf("destination %s=%q", addr, v)
	}
	d.Debit, d.Fee, d.Amount = nums[0], nums[1], nums[2]
	if len(parts) == 3 && d.Fee+d.Amount != d.Debit {
		return d, fmt.Errorf("destination %s=%q: fee + sent ≠ debit", addr, v)
	}
	return d, nil
}

// PaymentHalt is a record that stops payments until it is settled.
type PaymentHalt struct {
	ID     uint64
	Since  time.Time
	Reason string
}

// HaltedPayments lists the records that halt payments (empty: payments
// run), for the admin API and the log.
func (s *Store) HaltedPayments(ctx context.Context) ([]PaymentHalt, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.payHalted).Result()
	if err != nil {
		return nil, err
	}
	out := make([]PaymentHalt, 0, len(m))
	for id, v := range m {
		n, _ := strconv.ParseUint(id, 10, 64)
		since, reason, _ := strings.Cut(v, " ")
		ms, _ := strconv.ParseInt(since, 10, 64)
		out = append(out, PaymentHalt{ID: n, Since: time.UnixMilli(ms), Reason: reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PaymentStats are the journal's counters.
type PaymentStats struct {
	Sent   uint64 // records settled sent
	Failed uint64 // records settled failed
	Halts  uint64 // records that halted payments at least once
	// Confirmed and Dropped: sent records later settled so (Sent counts them too).
	Confirmed, Dropped uint64
}

// PaymentStats reads the counters.
func (s *Store) PaymentStats(ctx context.Context) (PaymentStats, error) {
	m, err := s.uintHash(ctx, s.k.payStats)
	return paymentStats(m), err
}

func paymentStats(m map[string]uint64) PaymentStats {
	return PaymentStats{Sent: m["sent"], Failed: m["failed"], Halts: m["halts"], Confirmed: m["confirmed"], Dropped: m["dropped"]}
}

// PaymentHistory is one entry of a miner's payment history.
type PaymentHistory struct {
	Time   time.Time
	TxHash string
	Amount uint64 // sent
	Fee    uint64 // paid by the miner
	Debit  uint64 // taken from the balance
	ID     uint64
	State  string // the record's: sent, or confirmed (a dropped one leaves the history); "" when imported
}

// MinerPayments returns up to limit of an address's payments, newest first.
func (s *Store) MinerPayments(ctx context.Context, addr string, offset, limit int) ([]PaymentHistory, error) {
	if limit <= 0 || offset < 0 {
		return nil, nil
	}
	zs, err := s.rdb.ZRevRangeWithScores(ctx, s.k.history(addr), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]PaymentHistory, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		f := strings.Split(m, ":")
		if len(f) != 5 {
			return nil, fmt.Errorf("storage: malformed payment history entry %q of %s", m, addr)
		}
		h := PaymentHistory{Time: time.UnixMilli(int64(z.Score)), TxHash: f[0]}
		for i, p := range []*uint64{&h.Amount, &h.Fee, &h.Debit, &h.ID} {
			if *p, err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("storage: malformed payment history entry %q of %s", m, addr)
			}
		}
		out = append(out, h)
	}
	return out, s.withStates(ctx, len(out), func(i int) (uint64, *string) { return out[i].ID, &out[i].State })
}

// --- What payments reads and the operator (or API) sets ---

// PayableBalances returns every positive balance.
func (s *Store) PayableBalances(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	iter := s.rdb.HScan(ctx, s.k.balances, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		addr := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		// A negative or malformed balance is not payable; the audit reports it.
		if v, err := strconv.ParseUint(iter.Val(), 10, 64); err == nil && v > 0 {
			out[addr] = v
		}
	}
	return out, iter.Err()
}

// Thresholds returns each address's own minimum payout.
func (s *Store) Thresholds(ctx context.Context) (map[string]uint64, error) {
	return s.uintHash(ctx, s.k.thresholds)
}

// SetThreshold sets an address's minimum payout; 0 removes it.
func (s *Store) SetThreshold(ctx context.Context, addr string, v uint64) error {
	if v == 0 {
		return s.rdb.HDel(ctx, s.k.thresholds, addr).Err()
	}
	return s.rdb.HSet(ctx, s.k.thresholds, addr, u64(v)).Err()
}

// BlockedAddresses returns the addresses payments skip, with the reason.
func (s *Store) BlockedAddresses(ctx context.Context) (map[string]string, error) {
	return s.rdb.HGetAll(ctx, s.k.payBlocked).Result()
}

// BlockAddress stops payments to addr; its balance stays.
func (s *Store) BlockAddress(ctx context.Context, addr, reason string) error {
	return s.rdb.HSet(ctx, s.k.payBlocked, addr, reason).Err()
}

// UnblockAddress lets payments pay addr again; false if it was not blocked.
func (s *Store) UnblockAddress(ctx context.Context, addr string) (bool, error) {
	n, err := s.rdb.HDel(ctx, s.k.payBlocked, addr).Result()
	return n == 1, err
}
