package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"rxpool/storage"
)

const (
	minerPayments = 20 // payments shown with a miner's stats
	minerBlocks   = 50 // newest pool blocks scanned for a miner's part
	maxLimit      = 100
)

// errUnknown: a valid address the pool has no record of.
var errUnknown = errors.New("no shares, balance or payments recorded for this address")

// snapshotOr503 returns the snapshot or answers 503 while there is none.
func (s *Server) snapshotOr503(c *gin.Context) *snapshot {
	sn := s.snap.Load()
	if sn == nil {
		fail(c, http.StatusServiceUnavailable, "statistics are not ready yet, try again in a few seconds")
	}
	return sn
}

// getStats is GET /stats, or a miner's stats with ?address=.
func (s *Server) getStats(c *gin.Context) {
	if _, ok := c.GetQuery("address"); ok {
		if m := s.minerOr4xx(c); m != nil {
			c.Data(http.StatusOK, jsonType, m.json)
		}
		return
	}
	if sn := s.snapshotOr503(c); sn != nil {
		c.Data(http.StatusOK, jsonType, sn.json)
	}
}

// address reads and validates ?address=; it answers 400 when invalid.
func (s *Server) address(c *gin.Context) (string, bool) {
	a := strings.TrimSpace(c.Query("address"))
	if a == "" {
		fail(c, http.StatusBadRequest, "missing address: add ?address=YOUR_ADDRESS")
		return "", false
	}
	if _, err := s.deps.Coin.ParseAddress(a); err != nil {
		fail(c, http.StatusBadRequest, "invalid address: "+err.Error())
		return "", false
	}
	return a, true
}

const jsonType = "application/json; charset=utf-8"

// cachedMiner is a miner's stats and their JSON, encoded once per build.
type cachedMiner struct {
	*Miner
	json []byte
}

// cachedMiner returns an address's stats from the cache, building them
// when missing or stale.
func (s *Server) cachedMiner(ctx context.Context, addr string) (*cachedMiner, error) {
	return s.miners.get(ctx, addr, func(ctx context.Context) (*cachedMiner, error) {
		m, err := s.miner(ctx, addr)
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(m)
		return &cachedMiner{m, raw}, err
	})
}

// minerOr4xx returns the miner's stats, or answers 400/404/503.
func (s *Server) minerOr4xx(c *gin.Context) *cachedMiner {
	addr, ok := s.address(c)
	if !ok {
		return nil
	}
	m, err := s.cachedMiner(c.Request.Context(), addr)
	switch {
	case errors.Is(err, errUnknown):
		fail(c, http.StatusNotFound, "unknown address: "+err.Error())
		return nil
	case err != nil:
		s.internal(c, "miner stats", err)
		return nil
	}
	return m
}

// miner reads everything about one address.
func (s *Server) miner(ctx context.Context, addr string) (*Miner, error) {
	st, now := s.deps.Store, s.now()
	ms0, series, err := st.MinerStatsSeries(ctx, addr, chartStep)
	if err != nil {
		return nil, err
	}
	bal, err := st.Balance(ctx, addr)
	if err != nil {
		return nil, err
	}
	imm, err := st.ImmatureBalances(ctx, addr)
	if err != nil {
		return nil, err
	}
	if ms0.Accepted == 0 && ms0.Invalid == 0 && ms0.Rejected == 0 && bal == (storage.Balance{}) && len(imm) == 0 {
		return nil, errUnknown
	}
	m := &Miner{
		Address: addr, Updated: now.UnixMilli(), Balance: bal.Balance, PendingPayment: bal.PendingPayment,
		Paid: bal.Sent(), FeesPaid: bal.FeesPaid, Hashrates: hashrates(ms0.Hashrate),
		LastShare: ms(ms0.LastShare), Shares: shares(ms0.Counters), Threshold: s.cfg.Public.MinPayment,
	}
	m.Hashrate = m.Hashrates.M10
	for _, i := range imm {
		m.Immature += i.Amount
	}
	if v, err := st.Threshold(ctx, addr); err != nil {
		return nil, err
	} else if v > 0 {
		m.Threshold, m.ThresholdCustom = v, true
	}
	if m.Workers, m.Charts.WorkerHashrate, err = s.workers(ctx, addr, now); err != nil {
		return nil, err
	}
	for _, w := range m.Workers {
		if w.Offline {
			m.WorkersOffline++
		} else {
			m.WorkersOnline++
		}
	}
	pays, err := st.MinerPayments(ctx, addr, 0, minerPayments)
	if err != nil {
		return nil, err
	}
	m.Payments = minerPaymentList(pays)
	if m.PaymentsTotal, err = st.MinerPaymentCount(ctx, addr); err != nil {
		return nil, err
	}
	blocks, err := st.MinerBlocks(ctx, addr, minerBlocks)
	if err != nil {
		return nil, err
	}
	m.Blocks = make([]MinerBlock, len(blocks))
	for i, b := range blocks {
		m.Blocks[i] = MinerBlock{Height: b.Height, Hash: b.Hash, Time: ms(b.Time), Status: b.Status, Scheme: b.Scheme,
			Share: b.Share(), Amount: b.Amount, Estimated: b.Estimated}
		if b.Scheme == "solo" && b.Address == addr {
			m.Blocks[i].Share = 100
		}
	}
	m.Charts.Hashrate = points(series)
	return m, nil
}

func minerPaymentList(pays []storage.PaymentHistory) []MinerPayment {
	out := make([]MinerPayment, len(pays))
	for i, p := range pays {
		out[i] = MinerPayment{ID: p.ID, Time: ms(p.Time), TxHash: p.TxHash, Amount: p.Amount, Fee: p.Fee, Imported: p.ID == 0, State: p.State}
	}
	return out
}

// workers reads an address's workers (offline = no share for
// OfflineAfter) and the hashrate series of the busiest.
func (s *Server) workers(ctx context.Context, addr string, now time.Time) ([]Worker, map[string][][2]float64, error) {
	ws, err := s.deps.Store.WorkerStatsSeries(ctx, addr, chartStep)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Worker, len(ws))
	var series map[string][][2]float64
	for i, w := range ws {
		hr := hashrates(w.Hashrate)
		out[i] = Worker{
			Name: w.Name, Hashrate: hr.M10, Hashrates: hr, LastShare: ms(w.LastShare), Accepted: w.Accepted,
			Stale: w.Stale, Invalid: w.Invalid, Rejected: w.Rejected, Hashes: w.Hashes, Connections: w.Online,
			Offline: w.LastShare.IsZero() || now.Sub(w.LastShare) > s.cfg.OfflineAfter,
		}
		if w.Series != nil {
			if series == nil {
				series = map[string][][2]float64{}
			}
			series[w.Name] = points(w.Series)
		}
	}
	return out, series, nil
}

// getWorkers is GET /workers?address=.
func (s *Server) getWorkers(c *gin.Context) {
	if m := s.minerOr4xx(c); m != nil {
		c.JSON(http.StatusOK, Workers{Address: m.Address, OfflineAfter: int64(s.cfg.OfflineAfter / time.Second), Workers: m.Workers})
	}
}

// paging reads ?page= (from 1) and ?limit= (1..100); it answers 400 when
// either is not a number in range.
func paging(c *gin.Context, defLimit int) (page, limit int, ok bool) {
	page, limit = 1, defLimit
	for _, q := range []struct {
		name     string
		v        *int
		min, max int
	}{{"page", &page, 1, 1_000_000}, {"limit", &limit, 1, maxLimit}} {
		raw, set := c.GetQuery(q.name)
		if !set {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < q.min || n > q.max {
			fail(c, http.StatusBadRequest, "bad "+q.name+" "+strconv.Quote(raw)+": want a whole number from "+strconv.Itoa(q.min)+" to "+strconv.Itoa(q.max))
			return 0, 0, false
		}
		*q.v = n
	}
	return page, limit, true
}

func pageOf(page, limit int, total int64) Page {
	return Page{Page: page, Limit: limit, Total: total, Pages: (total + int64(limit) - 1) / int64(limit)}
}

// getBlocks is GET /blocks?page=&limit=.
func (s *Server) getBlocks(c *gin.Context) {
	if blocks, pg, ok := s.pagedBlocks(c); ok {
		c.JSON(http.StatusOK, struct {
			Blocks []Block `json:"blocks"`
			Page
		}{blocks, pg})
	}
}

// pagedBlocks reads the page of blocks the request asks for; false when it
// answered an error instead.
func (s *Server) pagedBlocks(c *gin.Context) ([]Block, Page, bool) {
	page, limit, ok := paging(c, 20)
	if !ok {
		return nil, Page{}, false
	}
	ctx, st := c.Request.Context(), s.deps.Store
	total, err := st.BlockCount(ctx)
	if err != nil {
		s.internal(c, "blocks", err)
		return nil, Page{}, false
	}
	recs, err := st.Blocks(ctx, (page-1)*limit, limit)
	if err != nil {
		s.internal(c, "blocks", err)
		return nil, Page{}, false
	}
	var height uint64
	if sn := s.snap.Load(); sn != nil {
		height = sn.stats.Network.Height
	}
	out := make([]Block, len(recs))
	for i, b := range recs {
		out[i] = s.block(b, height)
	}
	return out, pageOf(page, limit, total), true
}

// getPayments is GET /payments?page=&limit=[&address=].
func (s *Server) getPayments(c *gin.Context) {
	pool, mine, _, pg, ok := s.pagedPayments(c)
	switch {
	case !ok:
	case mine != nil:
		c.JSON(http.StatusOK, struct {
			Payments []MinerPayment `json:"payments"`
			Page
		}{mine, pg})
	default:
		c.JSON(http.StatusOK, struct {
			Payments []Payment `json:"payments"`
			Page
		}{pool, pg})
	}
}

// pagedPayments reads the page of payments the request asks for: the
// pool's, or with ?address= that miner's (mine is then non-nil). False
// when it answered an error instead.
func (s *Server) pagedPayments(c *gin.Context) (pool []Payment, mine []MinerPayment, addr string, pg Page, ok bool) {
	page, limit, ok := paging(c, 20)
	if !ok {
		return nil, nil, "", Page{}, false
	}
	ctx, st := c.Request.Context(), s.deps.Store
	var total int64
	var err error
	if _, by := c.GetQuery("address"); by {
		if addr, ok = s.address(c); !ok {
			return nil, nil, "", Page{}, false
		}
		var hist []storage.PaymentHistory
		if hist, err = st.MinerPayments(ctx, addr, (page-1)*limit, limit); err == nil {
			total, err = st.MinerPaymentCount(ctx, addr)
		}
		mine = minerPaymentList(hist)
	} else {
		var sent []storage.SentPayment
		sent, total, err = st.SentPayments(ctx, (page-1)*limit, limit)
		pool = make([]Payment, len(sent))
		for i, p := range sent {
			pool[i] = Payment{ID: p.ID, Time: ms(p.Time), TxHash: p.TxHash, Amount: p.Amount, Fee: p.Fee, Destinations: p.Destinations, Imported: p.ID == 0, State: p.State}
		}
	}
	if err != nil {
		s.internal(c, "payments", err)
		return nil, nil, "", Page{}, false
	}
	return pool, mine, addr, pageOf(page, limit, total), true
}

// getTop is GET /top?by=hashrate|hashes&limit=.
func (s *Server) getTop(c *gin.Context) {
	by := c.DefaultQuery("by", "hashrate")
	_, limit, ok := paging(c, 10)
	if !ok {
		return
	}
	list, ok := s.top(c, by, limit)
	if ok {
		c.JSON(http.StatusOK, Top{By: by, Miners: list})
	}
}

// top returns the first limit miners by hashrate or hashes (400 otherwise).
func (s *Server) top(c *gin.Context, by string, limit int) ([]TopMiner, bool) {
	if s.snapshotOr503(c) == nil {
		return nil, false
	}
	s.slow.mu.Lock()
	defer s.slow.mu.Unlock()
	var l []TopMiner
	switch by {
	case "hashrate":
		l = s.slow.byRate
	case "hashes":
		l = s.slow.byHashes
	default:
		fail(c, http.StatusBadRequest, "bad by "+strconv.Quote(by)+": want hashrate or hashes")
		return nil, false
	}
	return append([]TopMiner{}, l[:min(limit, len(l))]...), true
}
