package api

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestStatsBeforeTheFirstSnapshotIs503(t *testing.T) {
	e := newEnv(t, nil)
	e.wantError("GET", "/stats", "", http.StatusServiceUnavailable, "not ready")
}

func TestPoolStats(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	e.refresh()
	var st Stats
	e.get("/api/stats", http.StatusOK, &st)
	p := st.Pool
	if p.Miners != 1 || p.Workers != 1 || p.Connections != 1 || p.ActiveMiners != 2 {
		t.Errorf("miners %d workers %d connections %d active %d; want 1 1 1 2", p.Miners, p.Workers, p.Connections, p.ActiveMiners)
	}
	if p.Shares.Accepted != 4 || p.Shares.Invalid != 1 || p.Shares.Hashes != 130_000 {
		t.Errorf("shares %+v, want 4 accepted, 1 invalid, 130000 hashes", p.Shares)
	}
	if p.BlocksFound != 3 || p.BlocksPending != 1 || p.BlocksConfirmed != 1 || p.BlocksOrphaned != 1 {
		t.Errorf("blocks found %d pending %d confirmed %d orphaned %d", p.BlocksFound, p.BlocksPending, p.BlocksConfirmed, p.BlocksOrphaned)
	}
	if p.Hashrate <= 0 || p.Hashrate != p.Hashrates.M10 || p.Hashrates.H1 <= 0 || p.HashrateByScheme["pplns"] != p.Hashrate {
		t.Errorf("hashrates %v %+v by scheme %v", p.Hashrate, p.Hashrates, p.HashrateByScheme)
	}
	if p.PaymentsSent != 1 || p.TotalPaid != s.PaidA-s.FeeA+s.PaidB-s.FeeB {
		t.Errorf("payments sent %d total paid %d", p.PaymentsSent, p.TotalPaid)
	}
	// The network part comes from the real regtest daemon.
	h, err := monerod.Height(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	n := st.Network
	if !n.OK || n.Height != h || n.Difficulty == 0 || n.LastBlock.Height != h-1 || n.LastBlock.Reward == 0 || len(n.LastBlock.Hash) != 64 {
		t.Errorf("network %+v, want height %d and its last block", n, h)
	}
	// Candidates freeze the log's weights without emptying it: the window
	// (2 × difficulty) is full when the log holds more than that.
	if w := uint64(e.cfg.PPLNSWindow * float64(n.Difficulty)); p.PPLNSWindow.Size != w || p.PPLNSWindow.Filled != min(w, 130_000) ||
		p.PPLNSWindow.Percent != pct(float64(min(w, 130_000)), float64(w)) {
		t.Errorf("pplns window %+v, want size %d", p.PPLNSWindow, w)
	}
	if len(st.Blocks) != 3 || st.Blocks[0].Hash != s.Pending || st.Blocks[1].Status != "orphaned" || st.Blocks[2].Status != "confirmed" {
		t.Fatalf("recent blocks %+v", st.Blocks)
	}
	b := st.Blocks[2]
	if b.Finder != s.A || b.Reward != s.Reward || b.Difficulty != 100_000 || b.Depth != 60 || b.Confirmations != h-1 || b.Scheme != "pplns" {
		t.Errorf("confirmed block %+v", b)
	}
	if b.Effort != 130.0 { // 130,000 hashes of shares before it over difficulty 100,000
		t.Errorf("effort %v%%, want 130%%", b.Effort)
	}
	if p.LastBlockFound != st.Blocks[0].Time {
		t.Errorf("last block found %d, want %d", p.LastBlockFound, st.Blocks[0].Time)
	}
	if len(st.Payments) != 1 || st.Payments[0].TxHash != s.PayTx || st.Payments[0].Destinations != 2 || st.Payments[0].Fee != 50_000_000 {
		t.Errorf("recent payments %+v", st.Payments)
	}
	c := st.Config
	if c.Coin != "monero" || c.Symbol != "XMR" || c.Units != 1e12 || c.Decimals != 12 || c.PoolFee != 1 || c.FinderReward != 0.5 ||
		c.MinPayment != 100_000_000 || c.BlockTime != 120 || c.Algo != "rx/0" {
		t.Errorf("config %+v", c)
	}
	if len(c.Ports) != 2 || c.Ports[0] != (Port{3333, 5000, "Low end", false}) || c.Ports[1] != (Port{5555, 50000, "High end", true}) {
		t.Errorf("ports %+v, want 3333 and TLS 5555 (7777 is hidden)", c.Ports)
	}
	if len(st.Charts.Hashrate) != 144 || st.Charts.Hashrate[143][1] <= 0 || len(st.Charts.Difficulty) != 1 || st.Charts.Difficulty[0][1] != float64(n.Difficulty) {
		t.Errorf("charts: %d hashrate points (last %v), difficulty %v", len(st.Charts.Hashrate), st.Charts.Hashrate[len(st.Charts.Hashrate)-1], st.Charts.Difficulty)
	}
	// The same document at / and /api.
	var direct Stats
	e.get("/stats", http.StatusOK, &direct)
	if direct.Updated != st.Updated {
		t.Error("/stats and /api/stats differ")
	}
}

func TestMinerStats(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	e.refresh()
	var m Miner
	e.get("/api/stats?address="+s.A, http.StatusOK, &m)
	if m.Address != s.A || m.Shares.Accepted != 3 || m.Shares.Invalid != 1 || m.Shares.Hashes != 70_000 {
		t.Errorf("counters %+v", m.Shares)
	}
	credited := s.Credits[s.A]
	if m.Balance != int64(credited-s.PaidA) || m.Paid != s.PaidA-s.FeeA || m.FeesPaid != s.FeeA || m.PendingPayment != 0 {
		t.Errorf("balance %d paid %d fees %d; want %d %d %d", m.Balance, m.Paid, m.FeesPaid, credited-s.PaidA, s.PaidA-s.FeeA, s.FeeA)
	}
	if m.Threshold != e.cfg.Public.MinPayment || m.ThresholdCustom {
		t.Errorf("threshold %d custom %v", m.Threshold, m.ThresholdCustom)
	}
	if m.Hashrate <= 0 || m.Hashrate != m.Hashrates.M10 || m.LastShare == 0 {
		t.Errorf("hashrate %v last share %d", m.Hashrate, m.LastShare)
	}
	if len(m.Workers) != 2 || m.Workers[0].Name != "rig1" || m.Workers[0].Offline || m.Workers[0].Connections != 1 ||
		m.Workers[1].Name != "rig2" || !m.Workers[1].Offline || m.WorkersOnline != 1 || m.WorkersOffline != 1 {
		t.Errorf("workers %+v online %d offline %d", m.Workers, m.WorkersOnline, m.WorkersOffline)
	}
	if len(m.Payments) != 1 || m.Payments[0].Amount != s.PaidA-s.FeeA || m.Payments[0].Fee != s.FeeA || m.PaymentsTotal != 1 {
		t.Errorf("payments %+v total %d", m.Payments, m.PaymentsTotal)
	}
	// A took part in the confirmed block (credited, finder reward included)
	// and in the pending one (an estimate); the orphan credits nothing.
	byHash := map[string]MinerBlock{}
	for _, b := range m.Blocks {
		byHash[b.Hash] = b
	}
	if b := byHash[s.Confirmed]; b.Amount != credited || b.Estimated || b.Status != "confirmed" || b.Share <= 0 || b.Share > 100 {
		t.Errorf("confirmed block %+v, want amount %d", b, credited)
	}
	if b := byHash[s.Pending]; !b.Estimated || b.Amount == 0 || b.Amount >= s.Reward {
		t.Errorf("pending block %+v", b)
	}
	if m.Immature != byHash[s.Pending].Amount {
		t.Errorf("immature %d, want the pending block's estimate %d", m.Immature, byHash[s.Pending].Amount)
	}
	if len(m.Charts.Hashrate) != 144 {
		t.Errorf("%d chart points", len(m.Charts.Hashrate))
	}
	if len(m.Charts.WorkerHashrate["rig1"]) != 144 {
		t.Errorf("worker chart series %v: want 144 points for rig1", m.Charts.WorkerHashrate)
	}
	for name := range m.Charts.WorkerHashrate {
		if name != "rig1" && name != "rig2" {
			t.Errorf("worker chart series for %q, not a worker of the address", name)
		}
	}

	var w Workers
	e.get("/api/workers?address="+s.A, http.StatusOK, &w)
	if w.OfflineAfter != 600 || len(w.Workers) != 2 || w.Workers[1].Accepted != 1 || w.Workers[0].Invalid != 1 || !w.Workers[1].Offline {
		t.Errorf("workers %+v", w)
	}

	// Errors: invalid, unknown, missing.
	e.wantError("GET", "/api/stats?address=4notanaddress", "", http.StatusBadRequest, "invalid address")
	e.wantError("GET", "/api/stats?address="+s.C, "", http.StatusNotFound, "unknown address")
	e.wantError("GET", "/api/workers?address="+s.C, "", http.StatusNotFound, "unknown address")
	e.wantError("GET", "/api/workers", "", http.StatusBadRequest, "missing address")
	e.wantError("GET", "/api/stats?address="+strings.Repeat("4", 95), "", http.StatusBadRequest, "invalid address")
}

func TestBlocksAndPaymentsPaging(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	e.refresh()
	var bl struct {
		Blocks []Block
		Page
	}
	e.get("/api/blocks?page=1&limit=2", http.StatusOK, &bl)
	if bl.Total != 3 || bl.Pages != 2 || len(bl.Blocks) != 2 || bl.Blocks[0].Hash != s.Pending {
		t.Errorf("page 1: %+v", bl)
	}
	e.get("/api/blocks?page=2&limit=2", http.StatusOK, &bl)
	if len(bl.Blocks) != 1 || bl.Blocks[0].Hash != s.Confirmed || bl.Page.Page != 2 {
		t.Errorf("page 2: %+v", bl)
	}
	e.get("/api/blocks?page=9", http.StatusOK, &bl)
	if len(bl.Blocks) != 0 || bl.Total != 3 {
		t.Errorf("page past the end: %+v", bl)
	}
	for _, q := range []string{"page=0", "page=-1", "page=x", "limit=0", "limit=101", "limit=1e3"} {
		e.wantError("GET", "/api/blocks?"+q, "", http.StatusBadRequest, "bad ")
		e.wantError("GET", "/api/payments?"+q, "", http.StatusBadRequest, "bad ")
	}
	var pays struct {
		Payments []Payment
		Page
	}
	e.get("/api/payments", http.StatusOK, &pays)
	if pays.Total != 1 || len(pays.Payments) != 1 || pays.Payments[0].Amount != s.PaidA-s.FeeA+s.PaidB-s.FeeB {
		t.Errorf("payments %+v", pays)
	}
	var mine struct {
		Payments []MinerPayment
		Page
	}
	e.get("/api/payments?address="+s.B, http.StatusOK, &mine)
	if mine.Total != 1 || mine.Payments[0].Amount != s.PaidB-s.FeeB || mine.Payments[0].TxHash != s.PayTx {
		t.Errorf("B's payments %+v", mine)
	}
	e.get("/api/payments?address="+s.C, http.StatusOK, &mine)
	if mine.Total != 0 || len(mine.Payments) != 0 {
		t.Errorf("C's payments %+v", mine)
	}
	e.wantError("GET", "/api/payments?address=nope", "", http.StatusBadRequest, "invalid address")
}

func TestTopMiners(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	e.refresh()
	var top Top
	e.get("/api/top?by=hashes", http.StatusOK, &top)
	if len(top.Miners) != 2 || top.Miners[0].Address != s.A || top.Miners[0].Hashes != 70_000 || top.Miners[1].Hashes != 60_000 {
		t.Errorf("top by hashes %+v", top)
	}
	// Over the last 10 minutes A (rig2's share is 20 minutes old) and B
	// both sent 60,000: equal hashrates are ordered by address.
	e.get("/api/top?by=hashrate&limit=1", http.StatusOK, &top)
	if len(top.Miners) != 1 || top.Miners[0].Hashrate <= 0 || top.Miners[0].Address != min(s.A, s.B) {
		t.Errorf("top by hashrate %+v", top)
	}
	e.wantError("GET", "/api/top?by=luck", "", http.StatusBadRequest, "want hashrate or hashes")
}

func TestHealth(t *testing.T) {
	e := newEnv(t, nil)
	var h Health
	e.get("/health", http.StatusOK, &h)
	if h.Status != "ok" || !h.Redis.OK || len(h.Daemons) != 1 || !h.Daemons[0].OK || h.Daemons[0].Height == 0 || h.Wallet != nil {
		t.Fatalf("health %+v", h)
	}
	// A daemon that does not answer makes the pool unhealthy.
	bad := newEnv(t, func(c *envConfig) { c.daemonURL = "http://127.0.0.1:1" })
	bad.get("/api/health", http.StatusServiceUnavailable, &h)
	if h.Status != "unhealthy" || !h.Redis.OK || h.Daemons[0].OK || h.Daemons[0].Error == "" {
		t.Fatalf("health with the daemon down %+v", h)
	}
}

// TestHealthOldestUnconfirmedPayout: /health reports the seeded sent payout
// waiting for its confirmations, and once it has waited past the limit says
// degraded and why, still 200 (the pool mines and pays).
func TestHealthOldestUnconfirmedPayout(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.UnconfirmedLimit = time.Hour })
	e.seed()
	ps, err := e.store.PayoutStats(ctxT(t))
	if err != nil || ps.Unconfirmed != 1 || ps.OldestUnconfirmed.IsZero() {
		t.Fatalf("seeded payout stats %+v %v", ps, err)
	}
	sent := ps.OldestUnconfirmed
	e.api.now = func() time.Time { return sent.Add(30 * time.Minute) }
	var h Health
	e.get("/health", http.StatusOK, &h)
	if h.Status != "ok" || h.UnconfirmedPayouts != 1 || h.OldestUnconfirmedSeconds != 1800 || len(h.Reasons) != 0 {
		t.Fatalf("health 30 min after the payout %+v", h)
	}
	e.api.health = newCache[*Health](time.Second, 1) // a new check, not the cached one
	e.api.now = func() time.Time { return sent.Add(2 * time.Hour) }
	e.get("/health", http.StatusOK, &h)
	if h.Status != "degraded" || h.OldestUnconfirmedSeconds != 7200 || len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "2h0m0s") {
		t.Fatalf("health 2 h after the payout, limit 1 h: %+v", h)
	}
}

func TestThresholdNeedsAnIPThatMinesForTheAddress(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	body := func(a string, v any) string { return fmt.Sprintf(`{"address":%q,"threshold":%v}`, a, v) }
	// A mined from 127.0.0.1 (this client); B did not.
	e.wantError("POST", "/api/miner/threshold", body(s.B, 500_000_000), http.StatusForbidden, "submitted shares for this address")
	e.wantError("POST", "/api/miner/threshold", body(s.A, 1), http.StatusBadRequest, "below the pool's minimum payment")
	e.wantError("POST", "/api/miner/threshold", body("bad", 500_000_000), http.StatusBadRequest, "invalid address")
	e.wantError("POST", "/api/miner/threshold", `{"address":"`+s.A+`"}`, http.StatusBadRequest, "missing threshold")
	e.wantError("POST", "/api/miner/threshold", `{"address":`, http.StatusBadRequest, "bad request body")
	// A spoofed X-Forwarded-For does not help: no proxy is trusted.
	var r struct{ Error string }
	e.do("POST", "/api/miner/threshold", body(s.B, 500_000_000), map[string][]string{"X-Forwarded-For": {"10.1.1.1"}}, http.StatusForbidden, &r)

	var ok struct {
		Threshold       uint64
		ThresholdCustom bool
	}
	e.do("POST", "/api/miner/threshold", body(s.A, 500_000_000), nil, http.StatusOK, &ok)
	if ok.Threshold != 500_000_000 || !ok.ThresholdCustom {
		t.Fatalf("reply %+v", ok)
	}
	th, err := e.store.Thresholds(ctxT(t))
	if err != nil || th[s.A] != 500_000_000 {
		t.Fatalf("stored thresholds %v %v", th, err)
	}
	e.refresh()
	var m Miner
	e.get("/api/stats?address="+s.A, http.StatusOK, &m)
	if m.Threshold != 500_000_000 || !m.ThresholdCustom {
		t.Fatalf("miner threshold %d custom %v", m.Threshold, m.ThresholdCustom)
	}
}

func TestThresholdBehindATrustedProxy(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.TrustedProxies = []string{"127.0.0.1"} })
	s := e.seed()
	body := fmt.Sprintf(`{"address":%q,"threshold":200000000}`, s.B)
	// B mines from 10.1.1.1; nginx on 127.0.0.1 says the client is that IP.
	e.do("POST", "/api/miner/threshold", body, map[string][]string{"X-Forwarded-For": {"10.1.1.1"}}, http.StatusOK, nil)
	e.do("POST", "/api/miner/threshold", body, map[string][]string{"X-Forwarded-For": {"10.7.7.7"}}, http.StatusForbidden, nil)
}

func TestAdmin(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	auth := map[string][]string{"Authorization": {"Bearer " + adminToken}}
	for _, h := range []map[string][]string{nil, {"Authorization": {"Bearer wrong"}}, {"X-Forwarded-For": {"127.0.0.1"}}, {"Authorization": {adminToken}}} {
		var r struct{ Error string }
		e.do("GET", "/api/admin/stats", "", h, http.StatusUnauthorized, &r)
		if !strings.Contains(r.Error, "Bearer") {
			t.Errorf("error %q", r.Error)
		}
	}
	var st AdminStats
	e.do("GET", "/api/admin/stats", "", auth, http.StatusOK, &st)
	var owed uint64
	for _, c := range s.Credits {
		owed += c
	}
	owed -= s.PaidA + s.PaidB
	if st.Owed != owed || st.Paid != s.PaidA-s.FeeA+s.PaidB-s.FeeB || st.FeesPaid != s.FeeA+s.FeeB ||
		st.Rewards != s.Reward || st.Confirmed != 1 || st.Orphaned != 1 || st.Payments.Sent != 1 || st.Accounts != 2 || st.Wallet != nil {
		t.Errorf("admin stats %+v, want owed %d", st, owed)
	}
	if st.PoolFees != s.Reward/100 || st.FinderRewards != s.Reward/200 {
		t.Errorf("fees %d finder %d", st.PoolFees, st.FinderRewards)
	}
	var users struct{ Users []AdminUser }
	e.do("GET", "/api/admin/users", "", auth, http.StatusOK, &users)
	if len(users.Users) != 2 {
		t.Errorf("users %+v", users)
	}
	var pays struct {
		Open, Recent []JournalRecord
		Halted       []HaltedPayment
	}
	e.do("GET", "/api/admin/payments", "", auth, http.StatusOK, &pays)
	if len(pays.Open) != 0 || len(pays.Recent) != 1 || pays.Recent[0].State != "sent" || len(pays.Recent[0].Dests) != 2 {
		t.Errorf("journal %+v", pays)
	}
	var ports struct {
		Ports            []struct{ Port int }
		StratumInProcess bool
	}
	e.do("GET", "/api/admin/ports", "", auth, http.StatusOK, &ports)
	if len(ports.Ports) != 3 || ports.StratumInProcess {
		t.Errorf("ports %+v, want all three (hidden too)", ports)
	}

	off := newEnv(t, func(c *envConfig) { c.AdminToken = "" })
	off.do("GET", "/api/admin/stats", "", auth, http.StatusNotFound, nil)
}

func TestNodePoolAliases(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	e.refresh()
	var sa struct {
		Stats    map[string]any
		Payments []nodePayment
		Workers  []nodeWorker
		Error    string
	}
	e.get("/stats_address?address="+s.A, http.StatusOK, &sa)
	if sa.Stats["hashes"] != "70000" || len(sa.Payments) != 1 || sa.Payments[0].Amount != s.PaidA-s.FeeA || len(sa.Workers) != 2 {
		t.Errorf("stats_address %+v", sa)
	}
	if sa.Payments[0].Timestamp > time.Now().Unix()+1 || sa.Payments[0].Timestamp < time.Now().Unix()-60 {
		t.Errorf("timestamps must be unix seconds: %d", sa.Payments[0].Timestamp)
	}
	e.get("/api/stats_address?address="+s.C, http.StatusOK, &sa)
	if sa.Error != "Not found" {
		t.Errorf("unknown address: %+v", sa)
	}
	var gb struct {
		Blocks     []nodeBlock
		Total      int
		TotalPages int
	}
	e.get("/get_blocks?page=1&limit=2", http.StatusOK, &gb)
	if gb.Total != 3 || gb.TotalPages != 2 || len(gb.Blocks) != 2 || gb.Blocks[1].Status != "orphaned" {
		t.Errorf("get_blocks %+v", gb)
	}
	var gp struct {
		Payments []nodePayment
		Total    int
	}
	e.get("/get_payments?address="+s.A, http.StatusOK, &gp)
	if gp.Total != 1 || gp.Payments[0].Address != s.A {
		t.Errorf("get_payments %+v", gp)
	}
	var top struct {
		Miners []struct {
			Miner  string
			Hashes uint64
		}
		SortBy string
	}
	e.get("/get_top10miners?sortBy=hashes", http.StatusOK, &top)
	if len(top.Miners) != 2 || top.Miners[0].Miner != s.A || top.SortBy != "hashes" {
		t.Errorf("get_top10miners %+v", top)
	}
}

func TestRateLimitAndCORS(t *testing.T) {
	e := newEnv(t, func(c *envConfig) {
		c.RateLimit = 1
		c.CORSOrigins = []string{"https://pool.example.com"}
	})
	e.refresh()
	got429 := false
	for i := 0; i < 30 && !got429; i++ {
		req, _ := http.NewRequest("GET", e.http.URL+"/api/stats", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got429 = resp.StatusCode == http.StatusTooManyRequests
	}
	if !got429 {
		t.Fatal("30 requests at once at 1/s were all served")
	}
	// /health is never rate limited: monitors must always get an answer.
	e.get("/health", http.StatusOK, nil)

	req, _ := http.NewRequest("OPTIONS", e.http.URL+"/api/stats", nil)
	req.Header.Set("Origin", "https://pool.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://pool.example.com" || resp.StatusCode != http.StatusNoContent {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin allowed: %v", resp.Header)
	}
}

func TestUnknownEndpointIsJSON404(t *testing.T) {
	e := newEnv(t, nil)
	e.wantError("GET", "/api/nope", "", http.StatusNotFound, "no such endpoint")
}
