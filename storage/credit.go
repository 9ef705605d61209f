package storage

// Settling a block candidate: credit (durable before the unlocker counts it
// done) or orphan. Moved from blocks.go, which had grown past 500 lines.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// CreditBlock credits a pending block once, in one atomic script: the
// participants' credits, the finder reward and the fee (to feeAddress's
// balance when set, else only an operator ledger line) are added to
// balances, recorded on the block and in the ledger, and the block becomes
// confirmed. It returns false, nil when the block was already confirmed (a
// re-run after a crash), ErrNotPending for an orphaned block, and
// ErrMismatch, with nothing written, when credits + fee + finderReward ≠
// reward or reward/finder disagree with the candidate.
func (s *Store) CreditBlock(ctx context.Context, hash string, credits map[string]uint64, fee uint64, feeAddress, finder string, finderReward, reward uint64) (bool, error) {
	if !validHash(hash) {
		return false, fmt.Errorf("%w: %q", ErrUnknownBlock, hash)
	}
	sum, carry := bits.Add64(fee, finderReward, 0)
	addrs := make([]string, 0, len(credits))
	for a, v := range credits {
		var c uint64
		sum, c = bits.Add64(sum, v, 0)
		carry |= c
		if v > 0 {
			if a == "" {
				return false, fmt.Errorf("%w: credit to an empty address", ErrMismatch)
			}
			addrs = append(addrs, a)
		}
	}
	if carry != 0 || sum != reward || reward > math.MaxInt64 {
		return false, fmt.Errorf("%w: block %s: credits + fee %d + finder %d = %s, reward %d", ErrMismatch, hash, fee, finderReward, sumString(credits, fee, finderReward), reward)
	}
	if finderReward > 0 && finder == "" {
		return false, fmt.Errorf("%w: finder reward without a finder", ErrMismatch)
	}
	credited := reward
	if feeAddress == "" {
		credited -= fee
	}
	sort.Strings(addrs) // a deterministic ledger order
	args := []any{hash, reward, fee, feeAddress, finder, finderReward, credited, s.now().UnixMilli()}
	for _, a := range addrs {
		args = append(args, a, credits[a])
	}
	keys := []string{s.k.block(hash), s.k.credits(hash), s.k.balances, s.k.ledger, s.k.totals, s.k.pending}
	cmd, err := s.runDurable(ctx, scriptCredit, keys, args...)
	st, serr := cmd.Text()
	done, serr := settled(hash, StatusConfirmed, st, serr)
	if errors.Is(err, ErrNotDurable) {
		// Credited on the master; the caller waits again (Durable).
		return done, errors.Join(serr, fmt.Errorf("storage: credit of block %s: %w", hash, err))
	}
	return done, serr
}

// OrphanBlock marks a pending block orphaned and credits nothing; a PROP
// block's frozen weights are added back to the current PROP round, so its
// miners lose nothing. It returns false, nil when already orphaned and
// ErrNotPending for a confirmed block.
func (s *Store) OrphanBlock(ctx context.Context, hash string) (bool, error) {
	if !validHash(hash) {
		return false, fmt.Errorf("%w: %q", ErrUnknownBlock, hash)
	}
	keys := []string{s.k.block(hash), s.k.weights(hash), s.k.propRound, s.k.pending, s.k.totals}
	return s.settle(ctx, scriptOrphan, keys, []any{hash, s.now().UnixMilli()}, StatusOrphaned)
}

// settle runs a credit or orphan script and maps its answer: "done", the
// status it found instead (the same one: done before; the other: refused)
// or an error.
func (s *Store) settle(ctx context.Context, sc *redis.Script, keys []string, args []any, want string) (bool, error) {
	st, err := sc.Run(ctx, s.rdb, keys, args...).Text()
	return settled(args[0], want, st, err)
}

func settled(hash any, want, st string, err error) (bool, error) {
	switch {
	case err != nil && strings.HasPrefix(err.Error(), "UNKNOWN"):
		return false, fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
	case err != nil && strings.HasPrefix(err.Error(), "MISMATCH"):
		return false, fmt.Errorf("%w: %s", ErrMismatch, err.Error())
	case err != nil:
		return false, fmt.Errorf("storage: settling block %s: %w", hash, err)
	case st == "done":
		return true, nil
	case st == want: // settled this way before: a repeat is a no-op
		return false, nil
	}
	return false, fmt.Errorf("%w: block %s is %s", ErrNotPending, hash, st)
}

func sumString(credits map[string]uint64, extra ...uint64) string {
	t := new(big.Int)
	for _, v := range credits {
		t.Add(t, new(big.Int).SetUint64(v))
	}
	for _, v := range extra {
		t.Add(t, new(big.Int).SetUint64(v))
	}
	return t.String()
}
