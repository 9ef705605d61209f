package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/daemon"
	"rxpool/internal/httpx"
	"rxpool/internal/stratumtest"
	"rxpool/metrics"
	"rxpool/randomx"
	"rxpool/stratum"
	"rxpool/wallet"
	"rxpool/wallet/wallettest"
)

// series gathers the registry and returns the value of every series of
// name, keyed by its labels as "k=v,k=v" ("" for none). Histograms give
// their sample count.
func series(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		out := map[string]float64{}
		for _, s := range f.GetMetric() {
			var kv []string
			for _, l := range s.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(kv)
			out[strings.Join(kv, ",")] = value(f.GetType(), s)
		}
		return out
	}
	return nil
}

func value(typ dto.MetricType, s *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return s.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return s.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(s.GetHistogram().GetSampleCount())
	}
	return -1
}

// want checks one series' value.
func want(t *testing.T, m *metrics.Metrics, name, labels string, v float64) {
	t.Helper()
	got, ok := series(t, m, name)[labels]
	if !ok || got != v {
		t.Errorf("%s{%s} = %v (present %v), want %v", name, labels, got, ok, v)
	}
}

func TestSinkCountsAndPassesEverythingOn(t *testing.T) {
	m := metrics.New()
	mem := newMemorySink()
	s := m.Sink(mem)
	ctx := context.Background()

	for _, sh := range []stratum.Share{
		{Scheme: stratum.SchemePPLNS, Difficulty: 100},
		{Scheme: stratum.SchemePPLNS, Difficulty: 250},
		{Scheme: stratum.SchemeSolo, Difficulty: 50, Stale: true},
		{Scheme: stratum.SchemeProp, Difficulty: 7},
	} {
		if err := s.Share(&sh); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []stratum.Outcome{
		stratum.LowDifficulty, stratum.LowDifficulty, stratum.Duplicate,
		stratum.WrongResult, stratum.Expired, stratum.InvalidJob,
	} {
		s.Reject(&stratum.Rejection{Address: "a", Outcome: o, Reason: o.Message()})
	}
	// A rejection without an outcome (a writer other than stratum).
	s.Reject(&stratum.Rejection{Address: "a", Reason: "Invalid submit params: something dynamic"})
	if err := s.Block(ctx, &stratum.Block{Height: 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.Block(ctx, &stratum.Block{Height: 11, SubmitError: "rpc error -7: Block not accepted"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Block(ctx, &stratum.Block{Height: 12}); err != nil {
		t.Fatal(err)
	}
	s.MinerConnected("a", "w", "1.2.3.4")
	// Storage down: the share is not accepted and the error reaches stratum.
	down := errors.New("redis down")
	mem.ShareErr = down
	if err := s.Share(&stratum.Share{Scheme: stratum.SchemePPLNS, Difficulty: 1000}); err != down {
		t.Fatalf("Share error = %v, want %v", err, down)
	}

	want(t, m, "rxpool_shares_accepted_total", "scheme=pplns", 2)
	want(t, m, "rxpool_shares_accepted_total", "scheme=solo", 1)
	want(t, m, "rxpool_shares_accepted_total", "scheme=prop", 1)
	want(t, m, "rxpool_shares_stale_total", "", 1)
	want(t, m, "rxpool_share_difficulty_total", "", 407)
	want(t, m, "rxpool_shares_storage_errors_total", "", 1)
	want(t, m, "rxpool_shares_rejected_total", "reason=low_difficulty", 2)
	want(t, m, "rxpool_shares_rejected_total", "reason=duplicate", 1)
	want(t, m, "rxpool_shares_rejected_total", "reason=wrong_result", 1)
	want(t, m, "rxpool_shares_rejected_total", "reason=block_expired", 1)
	want(t, m, "rxpool_shares_rejected_total", "reason=invalid_job", 1)
	want(t, m, "rxpool_shares_rejected_total", "reason=other", 1)
	want(t, m, "rxpool_shares_rejected_total", "reason=busy", 0) // pre-created
	want(t, m, "rxpool_blocks_submitted_total", "result=accepted", 2)
	want(t, m, "rxpool_blocks_submitted_total", "result=rejected", 1)
	want(t, m, "rxpool_blocks_storage_errors_total", "", 0)
	var rejected float64
	for _, v := range series(t, m, "rxpool_shares_rejected_total") {
		rejected += v
	}
	if rejected != 7 {
		t.Errorf("rejections sum to %v, want 7", rejected)
	}

	shares, rejects, blocks := mem.Snapshot()
	if len(shares) != 4 || len(rejects) != 7 || len(blocks) != 3 || mem.Online["a.w"] != 1 {
		t.Fatalf("passed on %d shares, %d rejections, %d blocks, online %v", len(shares), len(rejects), len(blocks), mem.Online)
	}
}

// The labels of shares_rejected_total are those dashboards know: each
// refusal has its own, as distinct as its message.
func TestOutcomeLabelsAreDistinct(t *testing.T) {
	labels, msgs := map[string]stratum.Outcome{}, map[string]stratum.Outcome{}
	for _, o := range stratum.Outcomes() {
		if o.Message() == "" {
			if o != 0 && o.Label() != "" {
				t.Errorf("accepted outcome %d has the label %q", o, o.Label())
			}
			continue
		}
		if prev, dup := labels[o.Label()]; dup || o.Label() == "" || o.Label() == "other" {
			t.Errorf("outcome %d: label %q (also outcome %d)", o, o.Label(), prev)
		}
		if prev, dup := msgs[o.Message()]; dup {
			t.Errorf("outcome %d: message %q (also outcome %d)", o, o.Message(), prev)
		}
		labels[o.Label()], msgs[o.Message()] = o, o
	}
	m := metrics.New()
	for _, l := range []string{
		"unauthenticated", "invalid_job", "block_expired", "invalid_nonce", "nicehash_nonce",
		"invalid_result", "wrong_result", "duplicate", "low_difficulty", "invalid_method",
		"malformed", "line_too_long", "banned", "too_many_connections", "no_algo", "busy",
		"storage_down", "invalid_address", "other",
	} {
		want(t, m, "rxpool_shares_rejected_total", "reason="+l, 0)
	}
}

type memorySink = stratumtest.Sink[stratum.Share, stratum.Rejection, stratum.Block]

func newMemorySink() *memorySink {
	return stratumtest.New[stratum.Share, stratum.Rejection, stratum.Block]()
}

// Storage sizes its PPLNS window by the network difficulty, which reaches it
// through the metrics wrapper.
func TestSinkPassesTheNetworkDifficultyOn(t *testing.T) {
	m := metrics.New()
	inner := newMemorySink()
	s := m.Sink(inner)
	s.SetNetworkDifficulty(123456)
	s.SetNetworkDifficulty(7)
	if len(inner.NetDiffs) != 2 || inner.NetDiffs[0] != 123456 || inner.NetDiffs[1] != 7 {
		t.Fatalf("the wrapped sink saw %v", inner.NetDiffs)
	}
	// Still counted and passed on.
	if err := s.Share(&stratum.Share{Scheme: stratum.SchemeSolo, Difficulty: 3}); err != nil {
		t.Fatal(err)
	}
	if sh, _, _ := inner.Snapshot(); len(sh) != 1 {
		t.Fatal("share not passed on")
	}
	want(t, m, "rxpool_shares_accepted_total", "scheme=solo", 1)
}

// fakeMonerod answers get_info and refuses submit_block, as monerod does.
func fakeMonerod(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(raw, &req)
		w.Header().Set("Content-Type", "application/json")
		switch req.Method {
		case "get_info":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "0", "jsonrpc": "2.0", "result": map[string]any{
				"status": "OK", "height": 100, "difficulty": 5000, "synchronized": true,
				"top_block_hash": strings.Repeat("11", 32),
			}})
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "0", "jsonrpc": "2.0",
				"error": map[string]any{"code": -7, "message": "Block not accepted"}})
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func TestRPCObserverWithRealClients(t *testing.T) {
	m := metrics.New()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	octx := httpx.WithObserver(ctx, m.RPCObserver())

	d := daemon.NewMonero("node-a", fakeMonerod(t), 5*time.Second, quietLog())
	for range 3 {
		if _, err := d.Info(octx); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SubmitBlock(octx, []byte{1, 2, 3}); err == nil {
		t.Fatal("submit_block refusal not reported")
	}
	if _, err := d.Info(ctx); err != nil { // no observer: not counted
		t.Fatal(err)
	}

	f := wallettest.Start(t, wallettest.Options{})
	w := wallet.NewPastella("pas", f.URL(), config.Secret(f.APIKey()), 5*time.Second, quietLog())
	for _, h := range []string{strings.Repeat("ab", 32), strings.Repeat("cd", 32)} {
		if _, err := w.Lookup(octx, h); err != nil {
			t.Fatal(err)
		}
	}

	want(t, m, "rxpool_rpc_seconds", "method=get_info,name=node-a,service=daemon", 3)
	want(t, m, "rxpool_rpc_errors_total", "method=get_info,name=node-a,service=daemon", 0)
	want(t, m, "rxpool_rpc_seconds", "method=submit_block,name=node-a,service=daemon", 1)
	want(t, m, "rxpool_rpc_errors_total", "method=submit_block,name=node-a,service=daemon", 1)
	// Two lookups of different hashes share one series per route.
	want(t, m, "rxpool_rpc_seconds", "method=/transactions/hash/:hash,name=pas,service=wallet", 4)
	want(t, m, "rxpool_rpc_seconds", "method=/transactions/unconfirmed,name=pas,service=wallet", 2)
	if n := len(series(t, m, "rxpool_rpc_seconds")); n != 4 {
		t.Errorf("%d rpc series, want 4: %v", n, series(t, m, "rxpool_rpc_seconds"))
	}
}

func TestVerifierObserver(t *testing.T) {
	m := metrics.New()
	obs := m.VerifierObserver()
	obs(randomx.HashEvent{Priority: false, Fast: true, QueueWait: time.Millisecond, HashTime: 4 * time.Millisecond})
	obs(randomx.HashEvent{Priority: false, Fast: false, QueueWait: 0, HashTime: 30 * time.Millisecond})
	obs(randomx.HashEvent{Priority: true, Fast: true, QueueWait: 0, HashTime: 3 * time.Millisecond})
	// Not hashed (the miner gave up): only the wait is recorded.
	obs(randomx.HashEvent{Priority: false, QueueWait: 2 * time.Second, Err: context.Canceled})

	want(t, m, "rxpool_verify_seconds", "mode=fast,priority=false", 1)
	want(t, m, "rxpool_verify_seconds", "mode=light,priority=false", 1)
	want(t, m, "rxpool_verify_seconds", "mode=fast,priority=true", 1)
	want(t, m, "rxpool_verify_queue_seconds", "priority=false", 3)
	want(t, m, "rxpool_verify_queue_seconds", "priority=true", 1)
}

func TestWatchVerifierWithARealVerifier(t *testing.T) {
	m := metrics.New()
	v := randomx.NewVerifier(randomx.VerifierConfig{Workers: 2, Mode: randomx.ModeLight, QueueSize: 16, Observer: m.VerifierObserver()}, quietLog())
	defer v.Close()
	m.WatchVerifier(v.Stats)
	var seed [32]byte
	if err := v.SetSeed(seed); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, lane := range []randomx.Lane{randomx.LaneBlock, randomx.LaneEarned, randomx.LaneStranger} {
		if _, err := v.Hash(ctx, seed, []byte{byte(lane), 1, 2, 3}, lane); err != nil {
			t.Fatal(err)
		}
	}
	want(t, m, "rxpool_verifier_workers", "", 2)
	want(t, m, "rxpool_verifier_queue_capacity", "", 16)
	want(t, m, "rxpool_verifier_queue_depth", "", 0)
	want(t, m, "rxpool_verifier_stranger_queue_capacity", "", 4)
	want(t, m, "rxpool_verifier_stranger_queue_depth", "", 0)
	want(t, m, "rxpool_verifier_in_flight", "", 0)
	want(t, m, "rxpool_verifier_hashes_total", "", 3)
	want(t, m, "rxpool_verifier_fast_hashes_total", "", 0)
	// The observer runs after the answer: wait for the last one.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := series(t, m, "rxpool_verify_seconds")
		if s["mode=light,priority=false"] == 2 && s["mode=light,priority=true"] == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	want(t, m, "rxpool_verify_seconds", "mode=light,priority=false", 2)
	want(t, m, "rxpool_verify_seconds", "mode=light,priority=true", 1)
}

func TestWatchStratum(t *testing.T) {
	m := metrics.New()
	ports := map[int]int{3333: 5, 5555: 0}
	m.WatchStratum(func() map[int]int { return ports })
	want(t, m, "rxpool_connections", "port=3333", 5)
	want(t, m, "rxpool_connections", "port=5555", 0)
	ports = map[int]int{3333: 1} // read at scrape time
	want(t, m, "rxpool_connections", "port=3333", 1)
	defer func() {
		if recover() == nil {
			t.Error("a second WatchStratum did not panic")
		}
	}()
	m.WatchStratum(func() map[int]int { return nil })
}

func TestWatchRefused(t *testing.T) {
	m := metrics.New()
	m.WatchRefused(func() map[string]uint64 { return map[string]uint64{"banned": 2, "server_full": 0} })
	want(t, m, "rxpool_connections_refused_total", "reason=banned", 2)
	want(t, m, "rxpool_connections_refused_total", "reason=server_full", 0)
}

func TestWatchPool(t *testing.T) {
	m := metrics.New()
	var snap metrics.PoolGauges
	ready := false
	m.WatchPool(func() (metrics.PoolGauges, bool) { return snap, ready })
	if s := series(t, m, "rxpool_pool_hashrate"); s != nil {
		t.Fatalf("exported %v before the first snapshot", s)
	}
	snap = metrics.PoolGauges{
		Hashrate: 1234.5, Miners: 3, Workers: 7, Connections: 9,
		BlocksFound: 20, BlocksPending: 2, BlocksConfirmed: 15, BlocksOrphaned: 3,
		PaymentsSent: 40, PaymentsFailed: 1, PaymentsHalted: 1,
		PayoutsUnconfirmed: 2, PayoutsConfirmed: 35, PayoutsDropped: 3,
		NetworkHeight: 123456, NetworkDifficulty: 987654321,
	}
	ready = true
	for _, c := range []struct {
		name, labels string
		v            float64
	}{
		{"rxpool_pool_hashrate", "", 1234.5},
		{"rxpool_pool_miners", "", 3},
		{"rxpool_pool_workers", "", 7},
		{"rxpool_pool_connections", "", 9},
		{"rxpool_blocks_found", "", 20},
		{"rxpool_blocks", "status=pending", 2},
		{"rxpool_blocks", "status=confirmed", 15},
		{"rxpool_blocks", "status=orphaned", 3},
		{"rxpool_payments", "state=sent", 40},
		{"rxpool_payments", "state=failed", 1},
		{"rxpool_payments_halted", "", 1},
		{"rxpool_payouts", "state=sent", 2},
		{"rxpool_payouts", "state=confirmed", 35},
		{"rxpool_payouts", "state=dropped", 3},
		{"rxpool_payouts", "state=failed", 1},
		{"rxpool_payout_oldest_unconfirmed_seconds", "", 0}, // none waiting
		{"rxpool_network_height", "", 123456},
		{"rxpool_network_difficulty", "", 987654321},
	} {
		want(t, m, c.name, c.labels, c.v)
	}
	// The age counts from the oldest waiting payout's sent time at scrape
	// time: an hour-old one is at least an hour old, however stale the
	// snapshot.
	snap.OldestUnconfirmed = time.Now().Add(-time.Hour)
	if age := series(t, m, "rxpool_payout_oldest_unconfirmed_seconds")[""]; age < 3600 || age > 2*3600 {
		t.Errorf("oldest unconfirmed age %v s, want about 3600", age)
	}
}

func TestHandlerServesTheRegistry(t *testing.T) {
	m := metrics.New()
	s := m.Sink(newMemorySink())
	_ = s.Share(&stratum.Share{Scheme: stratum.SchemePPLNS, Difficulty: 5})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`rxpool_shares_accepted_total{scheme="pplns"} 1`,
		`rxpool_share_difficulty_total 5`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("scrape lacks %q", line)
		}
	}
}
