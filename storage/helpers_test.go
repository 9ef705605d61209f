package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/stratum"
)

// backend is a Redis the storage tests run against.
type backend struct {
	name string
	cfg  Config // without prefix
}

var (
	backendsOnce sync.Once
	backendsList []backend
	prefixSeq    atomic.Int64
)

// storeCase is one storage test; every case runs against a single Redis
// and against a three-master cluster.
type storeCase struct {
	name string
	opts []Option
	fn   func(t *testing.T, s *Store)
}

// TestStorage runs every storage case against both backends.
func TestStorage(t *testing.T) {
	runCases(t, slices.Concat(roundCases, creditCases, statsCases))
}

// runCases runs each case on both backends, in parallel: every case has its
// own key prefix, so cases sharing a Redis (or the cluster) never see each
// other's keys.
func runCases(t *testing.T, cases []storeCase) {
	single := testenv.NewRedis(t)
	cluster := testenv.NewRedisCluster(t)
	backends := []backend{
		{"single", Config{Socket: single.Socket}},
		{"cluster", Config{Cluster: ClusterConfig{Addrs: cluster.Addrs()}}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, newTestStore(t, be.cfg, tc.opts...))
				})
			}
		})
	}
}

// newTestStore opens a Store with a fresh prefix; flushes are manual unless
// the options say otherwise (interval 1 h, batches of 10,000).
func newTestStore(t testing.TB, cfg Config, opts ...Option) *Store {
	t.Helper()
	cfg.Prefix = fmt.Sprintf("t%d", prefixSeq.Add(1))
	opts = append([]Option{WithBatch(10_000, time.Hour)}, opts...)
	s, err := New(cfg, cryptonote.Pastella, testLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(logWriter{t})
	return l
}

// roundTrips counts what the client sends: each pipeline and each single
// command is one round trip (a cluster pipeline goes to the nodes in parallel).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "ping" { // the health check
			r.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

func countRoundTrips(s *Store) *roundTrips {
	r := &roundTrips{}
	s.rdb.AddHook(r)
	return r
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// share builds an accepted share.
func share(addr, scheme string, diff uint64) stratum.Share {
	return stratum.Share{Address: addr, Worker: "rig", Scheme: scheme, Difficulty: diff, Time: time.Now()}
}

// shares builds one share per "address:diff" spec, in order.
func shares(scheme string, specs ...string) []stratum.Share {
	out := make([]stratum.Share, len(specs))
	for i, sp := range specs {
		var d uint64
		a, ds, _ := strings.Cut(sp, ":")
		fmt.Sscan(ds, &d)
		out[i] = share(a, scheme, d)
	}
	return out
}

func mustWrite(t testing.TB, s *Store, sh []stratum.Share) {
	t.Helper()
	if err := s.WriteShares(ctxT(t), sh); err != nil {
		t.Fatal(err)
	}
}

// blockHash makes a distinct block hash from n.
func blockHash(n int) [32]byte {
	var h [32]byte
	copy(h[:], fmt.Sprintf("block-%d", n))
	return h
}

func hexHash(n int) string { h := blockHash(n); return hex.EncodeToString(h[:]) }

// candidate builds a block candidate found by finder.
func candidate(n int, scheme, finder string, netDiff, reward uint64) *stratum.Block {
	return &stratum.Block{
		Height: uint64(1000 + n), Hash: blockHash(n), PrevHash: blockHash(n - 1),
		Address: finder, Worker: "rig", Scheme: scheme, NetDifficulty: netDiff,
		ShareDiff: netDiff, Reward: reward, Time: time.Now(),
	}
}

func mustBlock(t testing.TB, s *Store, b *stratum.Block) *BlockRecord {
	t.Helper()
	if err := s.Block(ctxT(t), b); err != nil {
		t.Fatal(err)
	}
	rec, err := s.BlockByHash(ctxT(t), hex.EncodeToString(b.Hash[:]))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func mustWeights(t testing.TB, s *Store, hash string) map[string]uint64 {
	t.Helper()
	w, err := s.BlockWeights(ctxT(t), hash)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func equalMaps[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// pplnsLog returns the share log, newest first.
func pplnsLog(t testing.TB, s *Store) []string {
	t.Helper()
	l, err := s.rdb.LRange(ctxT(t), s.k.pplnsLog, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func propRound(t testing.TB, s *Store) map[string]string {
	t.Helper()
	m, err := s.rdb.HGetAll(ctxT(t), s.k.propRound).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// go-redis logs every failed dial on its own (global) logger; the Redis-down
// test makes many on purpose.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedisLog{}) }
