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

// Open connections per address group, by stratum process (stratum.
// ConnBoard): <p>:conns:<process> HASH group → count, rewritten every
// second with a short TTL, and <p>:conns:procs ZSET process → last write
// (unix ms), so a process that died stops counting within seconds.
const (
	connsTTL  = 5 * time.Second
	connsLive = 10 * time.Second
)

func (s *Store) connsKey(process string) string { return s.k.prefix + ":conns:" + process }

// PublishConns replaces process's counts.
func (s *Store) PublishConns(ctx context.Context, process string, counts map[string]int) error {
	now := time.Now()
	key, procs := s.connsKey(process), s.k.prefix+":conns:procs"
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if len(counts) > 0 {
			fields := make([]any, 0, 2*len(counts))
			for g, n := range counts {
				fields = append(fields, g, n)
			}
			p.HSet(ctx, key, fields...)
			p.PExpire(ctx, key, connsTTL)
		}
		p.ZAdd(ctx, procs, redis.Z{Score: float64(now.UnixMilli()), Member: process})
		p.ZRemRangeByScore(ctx, procs, "-inf", strconv.FormatInt(now.Add(-connsLive).UnixMilli(), 10))
		p.PExpire(ctx, procs, connsLive)
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: publishing connection counts: %w", err)
	}
	return nil
}

// OtherConns sums the counts of the live processes other than process.
func (s *Store) OtherConns(ctx context.Context, process string) (map[string]int, error) {
	since := strconv.FormatInt(time.Now().Add(-connsLive).UnixMilli(), 10)
	procs, err := s.rdb.ZRangeByScore(ctx, s.k.prefix+":conns:procs", &redis.ZRangeBy{Min: since, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: reading connection counts: %w", err)
	}
	sum := map[string]int{}
	for _, p := range procs {
		if p == process {
			continue
		}
		m, err := s.rdb.HGetAll(ctx, s.connsKey(p)).Result()
		if err != nil {
			return nil, fmt.Errorf("storage: reading connection counts: %w", err)
		}
		for g, v := range m {
			if n, err := strconv.Atoi(v); err == nil {
				sum[g] += n
			}
		}
	}
	return sum, nil
}
