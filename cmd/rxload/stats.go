package main

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"rxpool/stratum/client"
)

// Percentiles is a latency summary in milliseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// fromLatency converts the stratum client's collector summary.
func fromLatency(s client.LatencyStats) Percentiles {
	return Percentiles{Count: s.Count, Mean: ms(s.Mean), P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), Max: ms(s.Max)}
}

// summarize computes nearest-rank percentiles of samples (sorted in place).
func summarize(samples []time.Duration) Percentiles {
	p := Percentiles{Count: uint64(len(samples))}
	if len(samples) == 0 {
		return p
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	p.Mean = ms(sum / time.Duration(len(samples)))
	p.P50, p.P90, p.P99 = ms(rank(samples, 50)), ms(rank(samples, 90)), ms(rank(samples, 99))
	p.Max = ms(samples[len(samples)-1])
	return p
}

// rank is the nearest-rank percentile of sorted samples, as the stratum
// client's Latency computes it.
func rank(sorted []time.Duration, pct int) time.Duration {
	r := (pct*len(sorted) + 99) / 100
	return sorted[max(r, 1)-1]
}

// errReason is a short, address-free reason for a transport error, so
// failures of many connections group into a few counts.
func errReason(err error) string {
	if err == nil {
		return ""
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Error() // e.g. "connect: cannot assign requested address"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	msg := err.Error()
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		msg = oe.Op + ": " + oe.Err.Error()
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return strings.TrimSpace(msg)
}
