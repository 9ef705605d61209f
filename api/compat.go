package api

// The paths and shapes the Node pool's frontend (cryptonote-nodejs-pool,
// Pastella's fork) calls, so an operator can keep that frontend while
// switching. Times are unix seconds there; amounts atomic units.

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

type nodeBlock struct {
	Height     uint64  `json:"height"`
	Type       string  `json:"type"`
	Miner      string  `json:"miner"`
	Hash       string  `json:"hash"`
	Timestamp  int64   `json:"timestamp"`
	Difficulty uint64  `json:"difficulty"`
	Shares     uint64  `json:"shares"`
	Effort     float64 `json:"effort"`
	Status     string  `json:"status"`
	Reward     uint64  `json:"reward"`
}

type nodePayment struct {
	TxHash    string `json:"txHash"`
	Amount    uint64 `json:"amount"`
	Fee       uint64 `json:"fee"`
	Timestamp int64  `json:"timestamp"`
	Address   string `json:"address,omitempty"`
}

type nodeWorker struct {
	Name        string  `json:"name"`
	Hashrate    float64 `json:"hashrate"`
	LastShare   int64   `json:"lastShare"`
	Hashes      uint64  `json:"hashes"`
	Hashrate1h  float64 `json:"hashrate_1h"`
	Hashrate6h  float64 `json:"hashrate_6h"`
	Hashrate24h float64 `json:"hashrate_24h"`
}

func sec(msec int64) int64 { return msec / 1000 }

// nodeStatsAddress is /stats_address?address=: {"error":"Not found"} for
// an address without data, as the Node pool answers.
func (s *Server) nodeStatsAddress(c *gin.Context) {
	addr, ok := s.address(c)
	if !ok {
		return
	}
	m, err := s.cachedMiner(c.Request.Context(), addr)
	if errors.Is(err, errUnknown) {
		c.JSON(http.StatusOK, gin.H{"error": "Not found"})
		return
	}
	if err != nil {
		s.internal(c, "miner stats", err)
		return
	}
	pays := make([]nodePayment, len(m.Payments))
	for i, p := range m.Payments {
		pays[i] = nodePayment{TxHash: p.TxHash, Amount: p.Amount, Fee: p.Fee, Timestamp: sec(p.Time)}
	}
	workers := make([]nodeWorker, len(m.Workers))
	for i, w := range m.Workers {
		workers[i] = nodeWorker{Name: w.Name, Hashrate: w.Hashrate, LastShare: sec(w.LastShare), Hashes: w.Hashes,
			Hashrate1h: w.Hashrates.H1, Hashrate6h: w.Hashrates.H6, Hashrate24h: w.Hashrates.H24}
	}
	blocks := make([]gin.H, len(m.Blocks))
	for i, b := range m.Blocks {
		blocks[i] = gin.H{"height": b.Height, "type": b.Scheme, "hash": b.Hash, "timestamp": sec(b.Time), "status": b.Status,
			"sharePercent": b.Share, "minerReward": b.Amount}
	}
	chart := make([][2]float64, len(m.Charts.Hashrate))
	for i, p := range m.Charts.Hashrate {
		chart[i] = [2]float64{float64(int64(p[0]) / 1000), p[1]}
	}
	c.JSON(http.StatusOK, gin.H{
		"stats": gin.H{
			"hashes": strconv.FormatUint(m.Shares.Hashes, 10), "lastShare": strconv.FormatInt(sec(m.LastShare), 10),
			"balance": strconv.FormatInt(m.Balance, 10), "paid": strconv.FormatUint(m.Paid, 10),
			"minPayoutLevel": m.Threshold, "hashrate": m.Hashrate, "hashrate_1h": m.Hashrates.H1,
			"hashrate_6h": m.Hashrates.H6, "hashrate_24h": m.Hashrates.H24,
		},
		"payments": pays, "blocks": blocks, "charts": gin.H{"hashrate": chart}, "workers": workers,
	})
}

// nodePayments is /get_payments[?address=]&page=&limit=.
func (s *Server) nodePayments(c *gin.Context) {
	pool, mine, addr, pg, ok := s.pagedPayments(c)
	if !ok {
		return
	}
	out := []nodePayment{}
	for _, p := range pool {
		out = append(out, nodePayment{TxHash: p.TxHash, Amount: p.Amount, Fee: p.Fee, Timestamp: sec(p.Time)})
	}
	for _, p := range mine {
		out = append(out, nodePayment{TxHash: p.TxHash, Amount: p.Amount, Fee: p.Fee, Timestamp: sec(p.Time), Address: addr})
	}
	c.JSON(http.StatusOK, gin.H{"payments": out, "total": pg.Total, "page": pg.Page, "limit": pg.Limit, "totalPages": pg.Pages})
}

// nodeBlocks is /get_blocks?page=&limit=.
func (s *Server) nodeBlocks(c *gin.Context) {
	blocks, pg, ok := s.pagedBlocks(c)
	if !ok {
		return
	}
	out := make([]nodeBlock, len(blocks))
	for i, b := range blocks {
		out[i] = nodeBlock{Height: b.Height, Type: b.Scheme, Miner: b.Finder, Hash: b.Hash, Timestamp: sec(b.Time),
			Difficulty: b.Difficulty, Effort: b.Effort, Status: b.Status, Reward: b.Reward}
	}
	c.JSON(http.StatusOK, gin.H{"blocks": out, "total": pg.Total, "page": pg.Page, "limit": pg.Limit, "totalPages": pg.Pages})
}

// nodeTop is /get_top10miners?sortBy=hashes|hashrate&limit=.
func (s *Server) nodeTop(c *gin.Context) {
	by := c.DefaultQuery("sortBy", "hashrate")
	_, limit, ok := paging(c, 10)
	if !ok {
		return
	}
	list, ok := s.top(c, by, limit)
	if !ok {
		return
	}
	out := make([]gin.H, len(list))
	for i, m := range list {
		out[i] = gin.H{"miner": m.Address, "hashrate": m.Hashrate, "lastShare": sec(m.LastShare), "hashes": m.Hashes}
	}
	c.JSON(http.StatusOK, gin.H{"miners": out, "sortBy": by, "excludeInactive": true, "total": len(out)})
}
