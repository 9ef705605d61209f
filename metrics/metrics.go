// Package metrics is the pool's Prometheus instrumentation. Everything
// lives in one Metrics value with its own registry (no global state), so
// tests and several pools in one process never share counters.
//
// What each process exports depends on what it runs: the stratum module
// wraps its sink with Sink and calls WatchStratum, the verifier's owner
// passes VerifierObserver and calls WatchVerifier, daemon and wallet clients
// report through RPCObserver placed in their context, and the API calls
// WatchPool with its cached pool snapshot. Each Watch* method registers a
// collector and each observer is meant to be installed once: call every one
// of them at most once per Metrics (a second Watch* call panics on the
// duplicate registration).
//
// Label values are all bounded by code (schemes, fixed rejection codes,
// configured ports, RPC method names): nothing a miner sends becomes a label.
package metrics

import (
	"context"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rxpool/internal/httpx"
	"rxpool/randomx"
	"rxpool/stratum"
)

const ns = "rxpool"

// Metrics holds the pool's metrics and the registry they are served from.
type Metrics struct {
	Registry *prometheus.Registry

	// Share path: children resolved once so Share/Reject do no label
	// lookups on the miners' hot path.
	accepted      map[string]prometheus.Counter // by scheme
	stale         prometheus.Counter
	difficulty    prometheus.Counter
	rejected      map[stratum.Outcome]prometheus.Counter // by the outcome's label
	storageErrors prometheus.Counter
	blocks        map[bool]prometheus.Counter // by "accepted"
	blockErrors   prometheus.Counter

	verifyHash  *prometheus.HistogramVec
	verifyQueue *prometheus.HistogramVec

	rpcSeconds *prometheus.HistogramVec
	rpcErrors  *prometheus.CounterVec
}

// verifyBuckets span a fast-mode hash (~4 ms) to a light-mode hash
// (~30 ms) and the queue waits of a loaded verifier, up to 2 s.
var verifyBuckets = []float64{.0005, .001, .002, .003, .004, .006, .008, .012, .016, .024, .032, .048, .064, .1, .15, .25, .5, 1, 2}

// rpcBuckets: a daemon answers in milliseconds, a wallet building a
// transaction in seconds; client timeouts are 10 to 30 s.
var rpcBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

var schemes = []string{stratum.SchemePPLNS, stratum.SchemeProp, stratum.SchemeSolo}

const reasonOther = "other"

// New creates the metrics and a registry holding them plus the Go runtime
// and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m := &Metrics{Registry: reg}

	accepted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "shares_accepted_total",
		Help: "Shares accepted and recorded, stale ones included, by reward scheme.",
	}, []string{"scheme"})
	m.stale = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "shares_stale_total",
		Help: "Accepted shares for the previous block, within the grace window (also in shares_accepted_total).",
	})
	m.difficulty = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "share_difficulty_total",
		Help: "Sum of the job difficulty of accepted shares (rate() of it is the pool's effective hashrate).",
	})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "shares_rejected_total",
		Help: "Shares refused, by reason.",
	}, []string{"reason"})
	m.storageErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "shares_storage_errors_total",
		Help: "Valid shares storage could not take (the miner was told; the share is lost).",
	})
	blocks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "blocks_submitted_total",
		Help: "Block candidates submitted to the daemon(s), by outcome.",
	}, []string{"result"})
	m.blockErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "blocks_storage_errors_total",
		Help: "Block candidates storage failed to record.",
	})
	m.verifyHash = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "verify_seconds",
		Help:    "Time in the RandomX hash of a share, by priority lane (possible block) and VM mode.",
		Buckets: verifyBuckets,
	}, []string{"priority", "mode"})
	m.verifyQueue = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "verify_queue_seconds",
		Help:    "Time a share waited for a verifier worker, by priority lane.",
		Buckets: verifyBuckets,
	}, []string{"priority"})
	m.rpcSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "rpc_seconds",
		Help:    "Duration of daemon and wallet requests.",
		Buckets: rpcBuckets,
	}, []string{"service", "name", "method"})
	m.rpcErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "rpc_errors_total",
		Help: "Daemon and wallet requests that failed.",
	}, []string{"service", "name", "method"})
	reg.MustRegister(accepted, m.stale, m.difficulty, rejected, m.storageErrors, blocks, m.blockErrors,
		m.verifyHash, m.verifyQueue, m.rpcSeconds, m.rpcErrors)

	// Every known series starts at 0 so rate() and alerts see the first
	// increment rather than a series appearing.
	m.accepted = map[string]prometheus.Counter{reasonOther: accepted.WithLabelValues(reasonOther)}
	for _, s := range schemes {
		m.accepted[s] = accepted.WithLabelValues(s)
	}
	m.rejected = map[stratum.Outcome]prometheus.Counter{}
	for _, o := range stratum.Outcomes() {
		if o.Label() != "" {
			m.rejected[o] = rejected.WithLabelValues(o.Label())
		}
	}
	m.blocks = map[bool]prometheus.Counter{
		true:  blocks.WithLabelValues("accepted"),
		false: blocks.WithLabelValues("rejected"),
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format. A
// failing collector drops only its own metrics from the scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Sink wraps next so that every call is counted and then passed on
// unchanged.
func (m *Metrics) Sink(next stratum.Sink) stratum.Sink {
	return &sink{m: m, next: next}
}

type sink struct {
	m    *Metrics
	next stratum.Sink
}

func (s *sink) Share(sh *stratum.Share) error {
	if err := s.next.Share(sh); err != nil {
		s.m.storageErrors.Inc()
		return err
	}
	c, ok := s.m.accepted[sh.Scheme]
	if !ok {
		c = s.m.accepted[reasonOther]
	}
	c.Inc()
	if sh.Stale {
		s.m.stale.Inc()
	}
	s.m.difficulty.Add(float64(sh.Difficulty))
	return nil
}

func (s *sink) Reject(r *stratum.Rejection) {
	c, ok := s.m.rejected[r.Outcome]
	if !ok {
		c = s.m.rejected[0] // "other"
	}
	c.Inc()
	s.next.Reject(r)
}

func (s *sink) Block(ctx context.Context, b *stratum.Block) error {
	s.m.blocks[b.SubmitError == ""].Inc()
	err := s.next.Block(ctx, b)
	if err != nil {
		s.m.blockErrors.Inc()
	}
	return err
}

func (s *sink) SetNetworkDifficulty(d uint64) { s.next.SetNetworkDifficulty(d) }

func (s *sink) MinerConnected(address, worker, ip string) {
	s.next.MinerConnected(address, worker, ip)
}

func (s *sink) MinerDisconnected(address, worker, ip string) {
	s.next.MinerDisconnected(address, worker, ip)
}

// VerifierObserver returns the hook for randomx.VerifierConfig.Observer:
// it records queue wait for every request and hash time for those hashed.
func (m *Metrics) VerifierObserver() func(randomx.HashEvent) {
	// Each series is resolved once, on its first use (so only series that
	// happen are exported): the observer runs on a verifier worker after
	// every share, where label lookups would hash strings each time.
	var queue [2]func() prometheus.Observer
	var hash [2][2]func() prometheus.Observer // [priority][fast]
	for p, prio := range []string{"false", "true"} {
		queue[p] = sync.OnceValue(func() prometheus.Observer { return m.verifyQueue.WithLabelValues(prio) })
		for f, mode := range []string{"light", "fast"} {
			hash[p][f] = sync.OnceValue(func() prometheus.Observer { return m.verifyHash.WithLabelValues(prio, mode) })
		}
	}
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return func(ev randomx.HashEvent) {
		queue[b(ev.Priority)]().Observe(ev.QueueWait.Seconds())
		if ev.Err == nil && ev.HashTime > 0 {
			hash[b(ev.Priority)][b(ev.Fast)]().Observe(ev.HashTime.Seconds())
		}
	}
}

// RPCObserver returns the httpx.Observer to put in the context of daemon
// and wallet calls (httpx.WithObserver).
func (m *Metrics) RPCObserver() httpx.Observer {
	return func(c httpx.Call) {
		m.rpcSeconds.WithLabelValues(c.Service, c.Name, c.Method).Observe(c.Duration.Seconds())
		// Created even on success, so the error ratio has a 0 to start from.
		errs := m.rpcErrors.WithLabelValues(c.Service, c.Name, c.Method)
		if c.Err != nil {
			errs.Inc()
		}
	}
}
