package main

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
	"time"

	"rxpool/cryptonote"
	"rxpool/storage"
)

// Reading the Node pool's values (../shared/docs/pastella.md §7.6–7.9):
// exact integers or a reason why not, never a rounded guess.

// numberRE is how JavaScript prints a number (String(x)): digits, an
// optional fraction and exponent. The exponent is bounded so a hostile
// value cannot make big.Rat allocate a huge integer.
var numberRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$`)

// maxImport keeps every imported amount within what storage accepts.
const maxImport = 1 << 61

// exactAmount converts a Node pool number to atomic units when it is
// exactly a non-negative integer ("1e+21" and "150.0" are; "0.5" is not).
func exactAmount(s string) (uint64, error) {
	if !numberRE.MatchString(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	r, ok := new(big.Rat).SetString(s)
	switch {
	case !ok:
		return 0, fmt.Errorf("%q is not a number", s)
	case r.Sign() < 0:
		return 0, fmt.Errorf("%q is negative", s)
	case !r.IsInt():
		return 0, fmt.Errorf("%q is not an exact integer (refusing to round)", s)
	case r.Num().Cmp(big.NewInt(maxImport)) > 0:
		return 0, fmt.Errorf("%q is beyond 2^61 atomic units", s)
	}
	return r.Num().Uint64(), nil
}

// unixSeconds converts a sorted-set score (unix seconds) to a time.
func unixSeconds(score float64) (time.Time, error) {
	if score < 0 || score > 1<<40 || math.IsNaN(score) {
		return time.Time{}, fmt.Errorf("score %v is not a unix time", score)
	}
	return time.UnixMilli(int64(math.Round(score * 1000))), nil
}

// txHash checks a transaction or block hash: 64 hex digits, lower-cased.
func txHash(h string) (string, error) {
	h = strings.ToLower(h)
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("hash %q is not 64 hex digits", h)
	}
	return h, nil
}

// parseMinerPayment reads a payments:<address> member
// "txHash:amount:txFee:mixin". txFee is the whole transaction's network
// fee, which the Node pool paid and never debited from the miner (§7.9):
// it is checked but not imported as the miner's fee.
func parseMinerPayment(e storage.SourceEntry) (storage.ImportedPayment, error) {
	f := strings.Split(e.Member, ":")
	if len(f) != 4 {
		return storage.ImportedPayment{}, errors.New("want txHash:amount:fee:mixin")
	}
	var p storage.ImportedPayment
	var err error
	if p.TxHash, err = txHash(f[0]); err != nil {
		return p, err
	}
	if p.Amount, err = exactAmount(f[1]); err != nil {
		return p, fmt.Errorf("amount %w", err)
	}
	if p.Amount == 0 {
		return p, errors.New("amount 0")
	}
	if _, err = exactAmount(f[2]); err != nil {
		return p, fmt.Errorf("fee %w", err)
	}
	p.Time, err = unixSeconds(e.Score)
	return p, err
}

// parsePoolPayment reads a payments:all member
// "txHash:sumAmount:txFee:mixin:destinations:firstAddress".
func parsePoolPayment(e storage.SourceEntry) (storage.ImportedTx, error) {
	f := strings.Split(e.Member, ":")
	if len(f) != 6 {
		return storage.ImportedTx{}, errors.New("want txHash:amount:fee:mixin:destinations:address")
	}
	var t storage.ImportedTx
	var err error
	if t.TxHash, err = txHash(f[0]); err != nil {
		return t, err
	}
	if t.Amount, err = exactAmount(f[1]); err != nil {
		return t, fmt.Errorf("amount %w", err)
	}
	if t.Fee, err = exactAmount(f[2]); err != nil {
		return t, fmt.Errorf("fee %w", err)
	}
	n, err := exactAmount(f[4])
	if err != nil || n == 0 || n > 1000 {
		return t, fmt.Errorf("destinations %q", f[4])
	}
	t.Destinations = int(n)
	t.Time, err = unixSeconds(e.Score)
	return t, err
}

// parseBlock reads a blocks:matured member: confirmed
// "type:finder:hash:unixSec:diff:shares:score:finderScore:0:reward", or
// orphaned "…:finderScore:1". Amounts must be exact; the statistics
// (difficulty, shares, score: floats in the Node pool) that are not exact
// integers are left 0, each with a note.
func parseBlock(e storage.SourceEntry, coin *cryptonote.Coin) (b storage.ImportedBlock, notes []string, err error) {
	f := strings.Split(e.Member, ":")
	if len(f) != 9 && len(f) != 10 {
		return b, nil, errors.New("want type:finder:hash:time:difficulty:shares:score:finderScore:orphaned[:reward]")
	}
	if b.Hash, err = txHash(f[2]); err != nil {
		return b, nil, err
	}
	if b.Scheme = strings.ToLower(f[0]); b.Scheme != "prop" && b.Scheme != "solo" {
		return b, nil, fmt.Errorf("type %q is neither prop nor solo", f[0])
	}
	if _, err := coin.ParseAddress(f[1]); err != nil {
		return b, nil, fmt.Errorf("finder: %w", err)
	}
	b.Address = f[1]
	if e.Score < 0 || e.Score > 1<<53 || e.Score != math.Trunc(e.Score) {
		return b, nil, fmt.Errorf("height %v", e.Score)
	}
	b.Height = uint64(e.Score)
	switch {
	case f[8] == "1":
		b.Orphaned = true
	case f[8] == "0" && len(f) == 10:
		if b.Reward, err = exactAmount(f[9]); err != nil {
			return b, nil, fmt.Errorf("reward %w", err)
		}
	default:
		return b, nil, fmt.Errorf("orphan flag %q with %d fields", f[8], len(f))
	}
	secs, err := exactAmount(f[3])
	if err != nil {
		return b, nil, fmt.Errorf("time %w", err)
	}
	b.Time = time.Unix(int64(secs), 0)
	for _, s := range []struct {
		name string
		v    string
		to   *uint64
	}{{"difficulty", f[4], &b.NetDiff}, {"shares", f[5], &b.EffortHashes}, {"score", f[6], &b.TotalWeight}} {
		if *s.to, err = exactAmount(s.v); err != nil {
			notes = append(notes, fmt.Sprintf("block %s (height %d): %s %v; recorded as 0", b.Hash, b.Height, s.name, err))
		}
	}
	return b, notes, nil
}

// parseMiner reads one miner's workers:<address> fields and payment
// history. A balance or paid total that is not an exact amount skips the
// miner (err); a bad threshold or history entry skips only itself (skips).
func parseMiner(addr string, fields map[string]string, hist []storage.SourceEntry, key func(string) string) (m storage.ImportedMiner, skips []string, err error) {
	m.Address = addr
	for _, a := range []struct {
		field string
		to    *uint64
	}{{"balance", &m.Balance}, {"paid", &m.Paid}} {
		v, ok := fields[a.field]
		if !ok {
			continue
		}
		if *a.to, err = exactAmount(v); err != nil {
			return m, nil, fmt.Errorf("%s: %w", a.field, err)
		}
	}
	if v, ok := fields["minPayoutLevel"]; ok {
		if m.Threshold, err = exactAmount(v); err != nil {
			skips = append(skips, fmt.Sprintf("%s minPayoutLevel: %v; threshold not imported, the pool's minimum applies", key("workers:"+addr), err))
			m.Threshold, err = 0, nil
		}
	}
	for _, e := range hist {
		p, perr := parseMinerPayment(e)
		if perr != nil {
			skips = append(skips, fmt.Sprintf("%s member %q: %v", key("payments:"+addr), e.Member, perr))
			continue
		}
		m.History = append(m.History, p)
	}
	return m, skips, nil
}
