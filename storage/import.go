package storage

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Importing another pool's books (`pool import`): one script per miner
// credits the opening balance and the paid total with a ledger line of kind
// import, so the audit still proves credited = balance + pending + paid;
// imported payments carry id 0 (journal ids start at 1) and have no record
// in the journal, so payments can never send them again; imported blocks
// are settled already (status confirmed or orphaned, field imported) and
// never enter the pending index, so the unlocker never credits them.

// ImportLedgerKind is the ledger kind of an opening credit.
const ImportLedgerKind = "import"

// ErrImport: an import record is unusable (an amount out of range, an empty
// address, a bad hash); nothing was written for it.
var ErrImport = errors.New("storage: import refused")

// maxImported bounds each imported amount, so balance + paid, and adding
// them to what the pool holds already, stays within int64 (HINCRBY).
const maxImported = 1 << 61

// ImportedMiner is one miner's money and settings in the other pool.
type ImportedMiner struct {
	Address   string
	Balance   uint64 // unpaid, becomes the rxpool balance
	Paid      uint64 // paid out by the other pool, becomes the rxpool paid total
	Threshold uint64 // the miner's own minimum payout; 0 = none
	History   []ImportedPayment
}

// ImportedPayment is one payout the other pool sent to a miner.
type ImportedPayment struct {
	Time   time.Time
	TxHash string
	Amount uint64 // what reached the miner; the miner paid no fee
}

// ImportedTx is one payout transaction of the other pool, for /payments.
type ImportedTx struct {
	Time         time.Time
	TxHash       string
	Amount       uint64 // Σ sent to the destinations
	Fee          uint64 // the network fee, paid by the pool
	Destinations int
}

// ImportedBlock is a settled block of the other pool, for /blocks.
type ImportedBlock struct {
	Hash         string // lower-case hex
	Height       uint64
	Scheme       string // prop or solo
	Address      string // finder
	Time         time.Time
	NetDiff      uint64
	EffortHashes uint64 // the round's Σ share difficulty
	TotalWeight  uint64 // the round's Σ score
	Reward       uint64 // 0 when orphaned
	Orphaned     bool
}

// importMarker is the {p}:imports field of one imported miner.
func importMarker(source, addr string) string { return source + ":miner:" + addr }

// ImportMiner writes one miner atomically: balance, paid total, threshold
// (unless the pool already has one for the address), history and the
// ledger line, keyed by source (e.g. "nodepool:Pastella") and address. It
// returns false, writing nothing, when the miner was imported from source
// before.
func (s *Store) ImportMiner(ctx context.Context, source string, m ImportedMiner) (bool, error) {
	if m.Address == "" || strings.Contains(m.Address, ":") || source == "" {
		return false, fmt.Errorf("%w: miner %q from %q", ErrImport, m.Address, source)
	}
	if m.Balance > maxImported || m.Paid > maxImported || m.Threshold > maxImported {
		return false, fmt.Errorf("%w: %s: balance %d, paid %d, threshold %d beyond 2^61", ErrImport, m.Address, m.Balance, m.Paid, m.Threshold)
	}
	credited := m.Balance + m.Paid
	mark := fmt.Sprintf("balance=%d paid=%d threshold=%d payments=%d at=%d", m.Balance, m.Paid, m.Threshold, len(m.History), s.now().UnixMilli())
	args := []any{importMarker(source, m.Address), mark, m.Address, u64(m.Balance), u64(m.Paid), u64(credited),
		u64(m.Threshold), "import:" + strings.SplitN(source, ":", 2)[0], source}
	for _, p := range m.History {
		if !validHash(p.TxHash) || p.Amount == 0 || p.Amount > maxImported {
			return false, fmt.Errorf("%w: %s: payment %q of %d", ErrImport, m.Address, p.TxHash, p.Amount)
		}
		// "txHash:sent:fee:debit:id" as MinerPayments reads it; id 0 = imported.
		args = append(args, p.Time.UnixMilli(), fmt.Sprintf("%s:%d:0:%d:0", p.TxHash, p.Amount, p.Amount))
	}
	keys := []string{s.k.importsKey(), s.k.balances, s.k.paid, s.k.thresholds, s.k.ledger, s.k.history(m.Address)}
	st, err := scriptImportMiner.Run(ctx, s.rdb, keys, args...).Text()
	if err != nil {
		return false, fmt.Errorf("storage: importing %s: %w", m.Address, err)
	}
	return st == "done", nil
}

// ImportedMiners returns the miners imported from source, address → what
// was imported (HSCAN, for a dry run and the summary of a repeated import).
func (s *Store) ImportedMiners(ctx context.Context, source string) (map[string]string, error) {
	out := map[string]string{}
	prefix := importMarker(source, "")
	iter := s.rdb.HScan(ctx, s.k.importsKey(), 0, escapeMatch(prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		f := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		out[strings.TrimPrefix(f, prefix)] = iter.Val()
	}
	return out, iter.Err()
}

// escapeMatch quotes the glob characters of a SCAN MATCH pattern.
func escapeMatch(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// ImportPoolPayments adds the other pool's payout transactions to the
// pool's payment list (ZADD NX, so a repeat adds nothing) and returns how
// many were new.
func (s *Store) ImportPoolPayments(ctx context.Context, txs []ImportedTx) (int, error) {
	added := 0
	for start := 0; start < len(txs); start += 1000 {
		var zs []redis.Z
		for _, t := range txs[start:min(start+1000, len(txs))] {
			if !validHash(t.TxHash) || t.Destinations <= 0 || t.Amount > maxImported || t.Fee > maxImported {
				return added, fmt.Errorf("%w: payment %q", ErrImport, t.TxHash)
			}
			// "txHash:sent:networkFee:minerFees:destinations:id"; id 0 = imported.
			zs = append(zs, redis.Z{Score: float64(t.Time.UnixMilli()),
				Member: fmt.Sprintf("%s:%d:%d:0:%d:0", t.TxHash, t.Amount, t.Fee, t.Destinations)})
		}
		n, err := s.rdb.ZAddNX(ctx, s.k.payAll, zs...).Result()
		if err != nil {
			return added, fmt.Errorf("storage: importing payments: %w", err)
		}
		added += int(n)
	}
	return added, nil
}

// ImportBlock records a settled block of the other pool, marked imported
// (source tag, e.g. "import:nodepool"). It returns false, writing nothing,
// when the pool already has a block with that hash, and says whether that
// one was imported from the same source (a repeat) or not (a conflict).
func (s *Store) ImportBlock(ctx context.Context, tag string, b ImportedBlock) (added, repeat bool, err error) {
	if !validHash(b.Hash) || b.Address == "" || (b.Scheme != "prop" && b.Scheme != "solo") || b.Reward > maxImported ||
		(b.Orphaned && b.Reward != 0) {
		return false, false, fmt.Errorf("%w: block %q", ErrImport, b.Hash)
	}
	status := StatusConfirmed
	if b.Orphaned {
		status = StatusOrphaned
	}
	fields := []any{"height", u64(b.Height), "hash", b.Hash, "scheme", b.Scheme, "address", b.Address,
		"netDiff", u64(b.NetDiff), "reward", u64(b.Reward), "time", b.Time.UnixMilli(), "status", status,
		"totalWeight", u64(b.TotalWeight), "weightEntries", 0, "effortHashes", u64(b.EffortHashes),
		"imported", tag, "importedAt", s.now().UnixMilli()}
	args := append([]any{b.Hash, u64(b.Height), tag}, fields...)
	st, err := scriptImportBlock.Run(ctx, s.rdb, []string{s.k.block(b.Hash), s.k.blocks}, args...).Text()
	if err != nil {
		return false, false, fmt.Errorf("storage: importing block %s: %w", b.Hash, err)
	}
	return st == "done", st == "repeat", nil
}

// ForeignState describes the miner state the pool holds that did not come
// from an import of source: balances or paid totals of addresses not
// imported from it, miners with shares, payment records, pending blocks.
// Empty: importing cannot mix with the pool's own books.
func (s *Store) ForeignState(ctx context.Context, source string) ([]string, error) {
	imported, err := s.ImportedMiners(ctx, source)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, key := range []string{s.k.balances, s.k.paid} {
		n := 0
		iter := s.rdb.HScan(ctx, key, 0, "", 1000).Iterator()
		for i := 0; iter.Next(ctx); i++ {
			if _, ok := imported[iter.Val()]; i%2 == 0 && !ok {
				n++
			}
		}
		if err := iter.Err(); err != nil {
			return nil, err
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%s has %d addresses not imported from %s", key, n, source))
		}
	}
	for _, c := range []struct{ key, what string }{
		{s.k.minersSeen, "miners with shares"}, {s.k.payRecords, "payment records"}, {s.k.pending, "pending blocks"},
		{s.k.pplnsLog, "PPLNS log entries"}, {s.k.propRound, "PROP round miners"},
	} {
		typ, err := s.rdb.Type(ctx, c.key).Result()
		if err != nil {
			return nil, err
		}
		var n int64
		switch typ {
		case "zset":
			n, err = s.rdb.ZCard(ctx, c.key).Result()
		case "list":
			n, err = s.rdb.LLen(ctx, c.key).Result()
		case "hash":
			n, err = s.rdb.HLen(ctx, c.key).Result()
		}
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%s: %d %s", c.key, n, c.what))
		}
	}
	return out, nil
}

// importedLine reads an import line of the ledger: the address, what it
// credited (balance + paid) and the paid part.
func importedLine(v map[string]any) (addr string, credited, paid *big.Int, err error) {
	num := func(f string) *big.Int {
		s, _ := v[f].(string)
		n, ok := new(big.Int).SetString(s, 10)
		if !ok || n.Sign() < 0 {
			err = fmt.Errorf("%s %q", f, s)
			return new(big.Int)
		}
		return n
	}
	addr, _ = v["address"].(string)
	credited, paid = num("amount"), num("paid")
	bal := num("balance")
	if err == nil && new(big.Int).Add(bal, paid).Cmp(credited) != 0 {
		err = fmt.Errorf("balance %s + paid %s ≠ amount %s", bal, paid, credited)
	}
	if err == nil && addr == "" {
		err = errors.New("no address")
	}
	return addr, credited, paid, err
}

// importsKey is {p}:imports: source marker → what was imported.
func (k keys) importsKey() string { return k.tag + ":imports" }
