package storage

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Who is connected: each Store counts its logged-in sessions and publishes
// them under its instance with a heartbeat; readers sum the live instances.

// MinerConnected counts a logged-in session; the heartbeat publishes it.
func (s *Store) MinerConnected(addr, worker, _ string) {
	s.mu.Lock()
	s.online[addr+":"+worker]++
	s.onDirty = true
	s.mu.Unlock()
}

// MinerDisconnected ends a session counted by MinerConnected.
func (s *Store) MinerDisconnected(addr, worker, _ string) {
	k := addr + ":" + worker
	s.mu.Lock()
	if s.online[k]--; s.online[k] <= 0 {
		delete(s.online, k)
	}
	s.onDirty = true
	s.mu.Unlock()
}

func (s *Store) onlineDirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.onDirty
}

// writeOnline replaces this Store's connected-miner hash and refreshes its
// heartbeat. Each stratum process owns its hash, so processes never
// overwrite each other, and a crashed one disappears after onlineTTL.
func (s *Store) writeOnline(ctx context.Context) error {
	s.mu.Lock()
	fields := make([]any, 0, 2*len(s.online))
	for k, n := range s.online {
		fields = append(fields, k, n)
	}
	s.onDirty = false
	s.mu.Unlock()
	now := s.now()
	key := s.k.online(s.instance)
	tx := s.rdb.TxPipeline() // one slot ({prefix:online}), so MULTI works on a cluster too
	tx.Del(ctx, key)
	if len(fields) > 0 {
		tx.HSet(ctx, key, fields...)
		tx.Expire(ctx, key, onlineTTL)
	}
	tx.ZAdd(ctx, s.k.onlineIndex, redis.Z{Score: float64(now.Unix()), Member: s.instance})
	tx.ZRemRangeByScore(ctx, s.k.onlineIndex, "-inf", strconv.FormatInt(now.Add(-onlineTTL).Unix(), 10))
	_, err := tx.Exec(ctx)
	if err == nil {
		err = s.rdb.ZRemRangeByScore(ctx, s.k.minersSeen, "-inf", strconv.FormatInt(now.Add(-statsTTL).Unix(), 10)).Err()
	}
	if err != nil {
		s.mu.Lock()
		s.onDirty = true
		s.mu.Unlock()
	}
	return err
}

func (s *Store) removeOnline(ctx context.Context) {
	key := s.k.online(s.instance)
	tx := s.rdb.TxPipeline()
	tx.Del(ctx, key)
	tx.ZRem(ctx, s.k.onlineIndex, s.instance)
	if _, err := tx.Exec(ctx); err != nil {
		s.log.Warnf("storage: removing connected miners: %v", err)
	}
}

// liveInstances lists the Stores whose heartbeat is recent.
func (s *Store) liveInstances(ctx context.Context) ([]string, error) {
	since := strconv.FormatInt(s.now().Add(-onlineTTL).Unix(), 10)
	return s.rdb.ZRangeByScore(ctx, s.k.onlineIndex, &redis.ZRangeBy{Min: since, Max: "+inf"}).Result()
}

// sessions counts one address's connected sessions per worker, reading only
// its fields of each process's hash.
func (s *Store) sessions(ctx context.Context, addr string, workers []string) (map[string]int, error) {
	ids, err := s.liveInstances(ctx)
	if err != nil || len(ids) == 0 || len(workers) == 0 {
		return map[string]int{}, err
	}
	fields := make([]string, len(workers))
	for i, w := range workers {
		fields[i] = addr + ":" + w
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, s.k.online(id), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, c := range cmds {
		for i, v := range c.Val() {
			if str, ok := v.(string); ok {
				n, _ := strconv.Atoi(str)
				out[workers[i]] += n
			}
		}
	}
	return out, nil
}

// Connected returns address → worker → sessions over all live stratum
// processes.
func (s *Store) Connected(ctx context.Context) (map[string]map[string]int, error) {
	ids, err := s.liveInstances(ctx)
	if err != nil {
		return nil, err
	}
	maps, err := s.hashes(ctx, ids, s.k.online)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int{}
	for _, m := range maps {
		for f, v := range m {
			i := strings.IndexByte(f, ':')
			n, _ := strconv.Atoi(v)
			if i < 0 || n <= 0 {
				continue
			}
			addr, worker := f[:i], f[i+1:]
			if out[addr] == nil {
				out[addr] = map[string]int{}
			}
			out[addr][worker] += n
		}
	}
	return out, nil
}
