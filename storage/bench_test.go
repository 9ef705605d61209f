package storage

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/internal/testenv"
	"rxpool/randomx"
	"rxpool/stratum"
)

// BenchmarkWriteShares measures how many shares per second storage absorbs
// from concurrent submitters (1,000 miners, 4 workers each, all schemes) with
// the default batching, and how many Redis round trips that costs.
func BenchmarkWriteShares(b *testing.B) {
	r := testenv.NewRedis(b)
	s := newTestStore(b, Config{Socket: r.Socket}, WithBatch(1000, 100*time.Millisecond))
	s.SetNetworkDifficulty(1_000_000)
	rt := countRoundTrips(s)
	rc := r.Client()
	defer rc.Close()
	cpu0, rcpu0 := processCPU(), redisCPU(b, rc)
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
	cpu, rcpu := processCPU()-cpu0, redisCPU(b, rc)-rcpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "shares/s")
	b.ReportMetric(float64(rt.n.Load())*1000/float64(b.N), "roundtrips/1000shares")
	per1000 := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 * 1000 / float64(b.N) }
	b.ReportMetric(per1000(cpu), "pool-cpu-ms/1000shares")
	b.ReportMetric(per1000(rcpu), "redis-cpu-ms/1000shares")
	// The reference: what verifying one share costs, a light-mode RandomX
	// hash, timed in the same run (fast mode is about 8× cheaper).
	hash := lightHashTime(b)
	b.ReportMetric(float64((cpu+rcpu).Nanoseconds())/float64(b.N)/float64(hash.Nanoseconds()), "storage-cpu/light-hash")
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the Redis server's user + system CPU time so far.
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// lightHashTime times light-mode RandomX hashes of a 76-byte input.
func lightHashTime(b *testing.B) time.Duration {
	flags := randomx.GetFlags()
	cache, err := randomx.NewCache(flags, []byte("storage bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	vm, err := randomx.NewVM(flags, cache, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close()
	in := make([]byte, 76)
	const n = 20
	start := time.Now()
	for i := range n {
		in[39] = byte(i)
		vm.Hash(in)
	}
	return time.Since(start) / n
}
