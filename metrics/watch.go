package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rxpool/randomx"
)

// The Watch* collectors read their source at scrape time, so the values
// are as fresh as the scrape and nothing runs between scrapes.

// collectorFunc is a Collector made of fixed descriptions and a function
// producing the metrics at scrape time.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c *collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
}

// WatchVerifier exports the verifier's queues and counters, calling stats
// once per scrape (Verifier.Stats takes a lock). Call at most once.
func (m *Metrics) WatchVerifier(stats func() randomx.Stats) {
	var (
		queue     = desc("verifier_queue_depth", "Shares of sessions with accepted work waiting for a verifier worker (normal lane).")
		queueCap  = desc("verifier_queue_capacity", "Capacity of the normal lane; beyond it shares are answered busy.")
		prio      = desc("verifier_priority_queue_depth", "Possible blocks waiting for a verifier worker.")
		prioCap   = desc("verifier_priority_queue_capacity", "Capacity of the priority lane.")
		stranger  = desc("verifier_stranger_queue_depth", "Shares of sessions without accepted work waiting; hashed only when no other lane has work.")
		strangCap = desc("verifier_stranger_queue_capacity", "Capacity of the stranger lane; beyond it strangers are answered busy.")
		inFlight  = desc("verifier_in_flight", "Requests being hashed.")
		workers   = desc("verifier_workers", "Verifier worker threads.")
		datasets  = desc("verifier_datasets", "RandomX datasets allocated (fast mode needs one per seed).")
		hashes    = desc("verifier_hashes_total", "RandomX hashes computed.")
		fast      = desc("verifier_fast_hashes_total", "RandomX hashes computed by fast-mode VMs.")
		rejected  = desc("verifier_rejected_total", "Requests refused because the queue was full.")
		failed    = desc("verifier_failed_total", "Requests a worker answered with an error.")
		allDescs  = []*prometheus.Desc{queue, queueCap, prio, prioCap, stranger, strangCap, inFlight, workers, datasets, hashes, fast, rejected, failed}
		collector = &collectorFunc{descs: allDescs}
	)
	collector.collect = func(ch chan<- prometheus.Metric) {
		st := stats()
		ch <- gauge(queue, float64(st.QueueDepth))
		ch <- gauge(queueCap, float64(st.QueueCapacity))
		ch <- gauge(prio, float64(st.PriorityQueueDepth))
		ch <- gauge(prioCap, float64(st.PriorityCapacity))
		ch <- gauge(stranger, float64(st.StrangerQueueDepth))
		ch <- gauge(strangCap, float64(st.StrangerCapacity))
		ch <- gauge(inFlight, float64(st.InFlight))
		ch <- gauge(workers, float64(st.Workers))
		ch <- gauge(datasets, float64(st.Datasets))
		ch <- counter(hashes, float64(st.HashesDone))
		ch <- counter(fast, float64(st.FastHashes))
		ch <- counter(rejected, float64(st.Rejected))
		ch <- counter(failed, float64(st.Failed))
	}
	m.Registry.MustRegister(collector)
}

// WatchStratum exports rxpool_connections{port}, the open connections per
// configured stratum port as ports reports them (Server.PortSessions).
// Call at most once.
func (m *Metrics) WatchStratum(ports func() map[int]int) {
	d := desc("connections", "Open stratum connections, by configured port.", "port")
	m.Registry.MustRegister(&collectorFunc{descs: []*prometheus.Desc{d}, collect: func(ch chan<- prometheus.Metric) {
		for port, n := range ports() {
			ch <- gauge(d, float64(n), strconv.Itoa(port))
		}
	}})
}

// WatchRefused exports rxpool_connections_refused_total{reason}, the
// stratum connections turned away before a session (banned address,
// per-address limit, server full) as refused reports them
// (Server.Refused). The log only summarises them per interval. Call at
// most once.
func (m *Metrics) WatchRefused(refused func() map[string]uint64) {
	d := desc("connections_refused_total", "Stratum connections refused before a session, by reason.", "reason")
	m.Registry.MustRegister(&collectorFunc{descs: []*prometheus.Desc{d}, collect: func(ch chan<- prometheus.Metric) {
		for reason, n := range refused() {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), reason)
		}
	}})
}

// PoolGauges is the pool-wide state the API reads from Redis. Every
// process sees the same values, so they are exported as gauges: summing
// them across processes would be wrong, and they are not this process's
// counts to reset.
type PoolGauges struct {
	Hashrate                                                    float64
	Miners, Workers, Connections                                int
	BlocksFound, BlocksPending, BlocksConfirmed, BlocksOrphaned uint64
	PaymentsSent, PaymentsFailed, PaymentsHalted                uint64
	// Payouts after sent (issue 20): waiting for their confirmations,
	// confirmed, dropped (paid again); when the oldest waiting one was sent
	// (zero when none).
	PayoutsUnconfirmed, PayoutsConfirmed, PayoutsDropped uint64
	OldestUnconfirmed                                    time.Time
	NetworkHeight, NetworkDifficulty                     uint64
}

// WatchPool exports the pool-wide gauges, calling read at scrape time.
// read should return a cached snapshot (a scrape must not query Redis);
// false means there is none yet, and then nothing is exported rather than
// zeros that would look like a pool with no miners. Call at most once.
func (m *Metrics) WatchPool(read func() (PoolGauges, bool)) {
	var (
		hashrate    = desc("pool_hashrate", "Pool hashrate in hashes per second, as the API computes it.")
		miners      = desc("pool_miners", "Miners (addresses) with recent shares.")
		workers     = desc("pool_workers", "Workers with recent shares.")
		connections = desc("pool_connections", "Stratum connections across all pool processes.")
		found       = desc("blocks_found", "Blocks the pool has found.")
		blocks      = desc("blocks", "Pool blocks by status.", "status")
		payments    = desc("payments", "Payments by state.", "state")
		halted      = desc("payments_halted", "Payments halted for an operator (ambiguous outcome).")
		payouts     = desc("payouts", "Payout records by state: sent (waiting for its confirmations), confirmed, dropped (paid again), failed.", "state")
		oldest      = desc("payout_oldest_unconfirmed_seconds", "Age of the oldest sent payout not yet confirmed or dropped; 0 when none.")
		height      = desc("network_height", "Network height.")
		netDiff     = desc("network_difficulty", "Network difficulty.")
	)
	descs := []*prometheus.Desc{hashrate, miners, workers, connections, found, blocks, payments, halted, payouts, oldest, height, netDiff}
	m.Registry.MustRegister(&collectorFunc{descs: descs, collect: func(ch chan<- prometheus.Metric) {
		g, ok := read()
		if !ok {
			return
		}
		ch <- gauge(hashrate, g.Hashrate)
		ch <- gauge(miners, float64(g.Miners))
		ch <- gauge(workers, float64(g.Workers))
		ch <- gauge(connections, float64(g.Connections))
		ch <- gauge(found, float64(g.BlocksFound))
		ch <- gauge(blocks, float64(g.BlocksPending), "pending")
		ch <- gauge(blocks, float64(g.BlocksConfirmed), "confirmed")
		ch <- gauge(blocks, float64(g.BlocksOrphaned), "orphaned")
		ch <- gauge(payments, float64(g.PaymentsSent), "sent")
		ch <- gauge(payments, float64(g.PaymentsFailed), "failed")
		ch <- gauge(halted, float64(g.PaymentsHalted))
		ch <- gauge(payouts, float64(g.PayoutsUnconfirmed), "sent")
		ch <- gauge(payouts, float64(g.PayoutsConfirmed), "confirmed")
		ch <- gauge(payouts, float64(g.PayoutsDropped), "dropped")
		ch <- gauge(payouts, float64(g.PaymentsFailed), "failed")
		// The age grows at scrape time from the snapshot's sent time, so a
		// stuck payout is not hidden by a snapshot refreshed seconds ago.
		age := 0.0
		if !g.OldestUnconfirmed.IsZero() {
			age = max(time.Since(g.OldestUnconfirmed).Seconds(), 0)
		}
		ch <- gauge(oldest, age)
		ch <- gauge(height, float64(g.NetworkHeight))
		ch <- gauge(netDiff, float64(g.NetworkDifficulty))
	}})
}
