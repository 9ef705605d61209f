package storage

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/internal/testenv"
	"rxpool/stratum"
)

// BenchmarkWriteShares measures how many shares per second storage absorbs
// from concurrent submitters (1,000 miners, 4 workers each, all schemes) with
// the default batching, and how many Redis round trips that costs.
func BenchmarkWriteShares(b *testing.B) {
	r := testenv.NewRedis(b)
	s := newTestStore(b, config.RedisConfig{Socket: r.Socket}, WithBatch(1000, 100*time.Millisecond))
	s.SetNetworkDifficulty(1_000_000)
	rt := countRoundTrips(s)
	schemes := []string{stratum.SchemePPLNS, stratum.SchemePPLNS, stratum.SchemeProp, stratum.SchemeSolo}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			sh := stratum.Share{
				Address: fmt.Sprintf("miner%04d", i%1000), Worker: fmt.Sprintf("rig%d", i%4),
				Scheme: schemes[i%4], Difficulty: 10_000, Time: time.Now(),
			}
			for {
				err := s.Share(&sh)
				if err == nil {
					break
				}
				if !errors.Is(err, ErrBacklog) {
					b.Fatal(err)
				}
				runtime.Gosched() // Redis is behind: wait, as a real pool's backlog would
			}
		}
	})
	if err := s.Flush(ctxT(b)); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "shares/s")
	b.ReportMetric(float64(rt.n.Load())*1000/float64(b.N), "roundtrips/1000shares")
}
