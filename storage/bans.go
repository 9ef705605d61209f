package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/stratum"
)

// The pool-wide ban list (stratum.BanBoard): one stream, <p>:bans, that
// every stratum process appends its bans to and reads the others' from.
// Bans are made by strangers' misbehaviour, so the stream is bounded
// (banStreamMax entries, older ones trimmed) and expires once its last ban
// has (never before a day).

// banStreamMax bounds the ban stream: far more than the addresses banned at
// once in practice; beyond it the oldest bans are dropped from the board
// (each process still holds its own).
const banStreamMax = 10000

// banReadMax is how many bans one BansAfter returns.
const banReadMax = 2000

// scriptBan appends a ban. KEYS: 1 the ban stream. ARGV: 1 group, 2 until
// (unix ms), 3 time to live (ms), 4 max entries. The key's TTL only grows.
var scriptBan = redis.NewScript(`
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'g', ARGV[1], 'until', ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
`)

// PublishBan records a ban, or with a zero Until the lifting of one, for
// the pool's stratum processes.
func (s *Store) PublishBan(ctx context.Context, b stratum.BanNotice) error {
	until := int64(0)
	if !b.Until.IsZero() {
		until = b.Until.UnixMilli()
	}
	ttl := max(time.Until(b.Until)+time.Minute, 24*time.Hour)
	err := scriptBan.Run(ctx, s.rdb, []string{s.k.bans},
		b.Group, until, ttl.Milliseconds(), banStreamMax).Err()
	if err != nil {
		return fmt.Errorf("storage: publishing the ban of %s: %w", b.Group, err)
	}
	return nil
}

// BansAfter returns the bans appended after cursor ("" = every one kept)
// that have not expired and the lifts (zero Until), in order, and the
// cursor for the next call.
func (s *Store) BansAfter(ctx context.Context, cursor string) ([]stratum.BanNotice, string, error) {
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	msgs, err := s.rdb.XRangeN(ctx, s.k.bans, start, "+", banReadMax).Result()
	if err != nil {
		return nil, cursor, fmt.Errorf("storage: reading the ban list: %w", err)
	}
	now := time.Now()
	var out []stratum.BanNotice
	for _, m := range msgs {
		cursor = m.ID
		g, _ := m.Values["g"].(string)
		ms, err := strconv.ParseInt(fmt.Sprint(m.Values["until"]), 10, 64)
		if g == "" || err != nil {
			continue // not written by PublishBan: ignored, never guessed
		}
		switch until := time.UnixMilli(ms); {
		case ms == 0:
			out = append(out, stratum.BanNotice{Group: g})
		case until.After(now):
			out = append(out, stratum.BanNotice{Group: g, Until: until})
		}
	}
	return out, cursor, nil
}

// ActiveBans returns the bans in force now by address group, after the
// lifts: what every stratum process of the pool holds (`pool bans`).
func (s *Store) ActiveBans(ctx context.Context) (map[string]time.Time, error) {
	active := map[string]time.Time{}
	cursor := ""
	for {
		bans, next, err := s.BansAfter(ctx, cursor)
		if err != nil {
			return nil, err
		}
		for _, b := range bans {
			if b.Until.IsZero() {
				delete(active, b.Group)
			} else if b.Until.After(active[b.Group]) {
				active[b.Group] = b.Until
			}
		}
		if next == cursor {
			return active, nil
		}
		cursor = next
	}
}
