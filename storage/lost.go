package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxRecentCredited bounds RecentCreditedBlocks: the unlocker asks for a few
// unlock depths below the tip, so more than this many blocks there means a
// wrong minHeight, not a busy pool.
const maxRecentCredited = 1000

var creditedFields = []string{"status", "height", "imported", "lostAt", "lostReason"}

// CreditedBlock is a confirmed block as the lost-block check needs it.
type CreditedBlock struct {
	Hash       string
	Height     uint64
	LostAt     time.Time // zero while it is (as far as we know) on the main chain
	LostReason string
}

// RecentCreditedBlocks returns the blocks this pool credited at height >=
// minHeight (lowest first, at most 1000). Imported blocks are left out:
// another pool credited them.
func (s *Store) RecentCreditedBlocks(ctx context.Context, minHeight uint64) ([]CreditedBlock, error) {
	hashes, err := s.rdb.ZRangeByScore(ctx, s.k.blocks, &redis.ZRangeBy{
		Min: strconv.FormatUint(minHeight, 10), Max: "+inf", Count: maxRecentCredited,
	}).Result()
	if err != nil || len(hashes) == 0 {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(hashes))
	for i, h := range hashes {
		cmds[i] = pipe.HMGet(ctx, s.k.block(h), creditedFields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var out []CreditedBlock
	for i, h := range hashes {
		m := map[string]string{} // absent fields stay absent, as record expects
		for j, v := range cmds[i].Val() {
			if v, ok := v.(string); ok {
				m[creditedFields[j]] = v
			}
		}
		if m["status"] != StatusConfirmed || m["imported"] != "" {
			continue
		}
		r := &record{m: m}
		b := CreditedBlock{Hash: h, Height: r.u("height"), LostAt: r.ms("lostAt"), LostReason: m["lostReason"]}
		if len(r.bad) > 0 {
			return nil, fmt.Errorf("storage: block %s has malformed fields: %v", h, r.bad)
		}
		out = append(out, b)
	}
	return out, nil
}

// scriptMarkLost marks a confirmed block lost once; it never touches money:
// its credits may already be paid out, so undoing them is the operator's call.
var scriptMarkLost = redis.NewScript(`
local b = redis.call('HMGET', KEYS[1], 'status', 'lostAt')
if not b[1] then return redis.error_reply('UNKNOWN block ' .. ARGV[1]) end
if b[1] ~= 'confirmed' then return redis.error_reply('NOTCONFIRMED block ' .. ARGV[1] .. ' is ' .. b[1]) end
if b[2] then return 0 end
redis.call('HSET', KEYS[1], 'lostAt', ARGV[2], 'lostReason', ARGV[3])
return 1
`)

// MarkBlockLost records that a credited block left the main chain (lostAt,
// lostReason on the block), so the audit fails until the operator acts. It
// returns false, nil when the block was marked before (the first reason
// stays), ErrUnknownBlock for no such block and an error for a block that
// is not confirmed.
func (s *Store) MarkBlockLost(ctx context.Context, hash, reason string) (bool, error) {
	if !validHash(hash) {
		return false, fmt.Errorf("%w: %q", ErrUnknownBlock, hash)
	}
	if reason == "" {
		return false, fmt.Errorf("storage: marking block %s lost: empty reason", hash)
	}
	n, err := scriptMarkLost.Run(ctx, s.rdb, []string{s.k.block(hash)}, hash, s.now().UnixMilli(), reason).Int()
	if err != nil {
		if strings.HasPrefix(err.Error(), "UNKNOWN") {
			return false, fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
		}
		return false, fmt.Errorf("storage: marking block %s lost: %w", hash, err)
	}
	return n == 1, nil
}

// scriptSettleLost records the operator's settlement of a lost block once.
var scriptSettleLost = redis.NewScript(`
local b = redis.call('HMGET', KEYS[1], 'status', 'lostAt', 'lostSettled')
if not b[1] then return redis.error_reply('UNKNOWN block ' .. ARGV[1]) end
if not b[2] then return redis.error_reply('NOTLOST block ' .. ARGV[1] .. ' is not marked lost') end
if b[3] then return 0 end
redis.call('HSET', KEYS[1], 'lostSettled', ARGV[2])
return 1
`)

// SettleLostBlock records that the operator has settled a block marked
// lost (absorbed the loss, or took the unpaid part back), with a note; the
// audit then lists it as settled instead of failing. The mark and its
// reason stay. It returns false when it was settled before (the first note
// stays).
func (s *Store) SettleLostBlock(ctx context.Context, hash, note string) (bool, error) {
	if !validHash(hash) {
		return false, fmt.Errorf("%w: %q", ErrUnknownBlock, hash)
	}
	if strings.TrimSpace(note) == "" {
		return false, fmt.Errorf("storage: say how block %s was settled", hash)
	}
	val := s.now().UTC().Format(time.RFC3339) + " " + note
	n, err := scriptSettleLost.Run(ctx, s.rdb, []string{s.k.block(hash)}, hash, val).Int()
	switch {
	case err != nil && strings.HasPrefix(err.Error(), "UNKNOWN"):
		return false, fmt.Errorf("%w: %s", ErrUnknownBlock, hash)
	case err != nil && strings.HasPrefix(err.Error(), "NOTLOST"):
		return false, fmt.Errorf("storage: block %s is not marked lost: nothing to settle", hash)
	case err != nil:
		return false, fmt.Errorf("storage: settling lost block %s: %w", hash, err)
	}
	return n == 1, nil
}

// lostViolation is the audit's line for a confirmed block marked lost and
// not settled by the operator, or "".
func lostViolation(hash string, height uint64, m map[string]string) string {
	if m["lostAt"] == "" || m["lostSettled"] != "" {
		return ""
	}
	return fmt.Sprintf("block %s (height %d) was credited but is no longer on the main chain: %s", hash, height, m["lostReason"])
}
