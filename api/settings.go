package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// controlWindow is how recent a share from the requesting IP must be for a
// miner's settings to change: whoever mines for an address from an IP in
// the last day is taken to control that address.
const controlWindow = 24 * time.Hour

// ThresholdRequest is the body of POST /miner/threshold.
type ThresholdRequest struct {
	Address string `json:"address" form:"address"`
	// Threshold is the minimum payout in atomic units; 0 goes back to the
	// pool's payments.minPayment.
	Threshold *uint64 `json:"threshold" form:"threshold"`
}

// setThreshold sets a miner's own payout threshold. The request must come
// from an IP that submitted an accepted share for the address within
// controlWindow (the client IP is the socket's address, or what a trusted
// proxy in api.trustedProxies says).
func (s *Server) setThreshold(c *gin.Context) {
	var req ThresholdRequest
	if err := c.ShouldBind(&req); err != nil {
		if tooLarge(err) {
			fail(c, http.StatusRequestEntityTooLarge, bodyTooLarge)
			return
		}
		fail(c, http.StatusBadRequest, "bad request body: "+err.Error()+` (want {"address": "...", "threshold": atomic units})`)
		return
	}
	if _, err := s.deps.Coin.ParseAddress(req.Address); err != nil {
		fail(c, http.StatusBadRequest, "invalid address: "+err.Error())
		return
	}
	if req.Threshold == nil {
		fail(c, http.StatusBadRequest, "missing threshold (atomic units; 0 = the pool's minimum payment)")
		return
	}
	pub, v := s.cfg.Public, *req.Threshold
	if v != 0 && (v < pub.MinPayment || (pub.MaxPayment > 0 && v > pub.MaxPayment)) {
		msg := fmt.Sprintf("threshold %d is below the pool's minimum payment %d", v, pub.MinPayment)
		if v >= pub.MinPayment {
			msg = fmt.Sprintf("threshold %d is above the pool's maximum payment %d", v, pub.MaxPayment)
		}
		fail(c, http.StatusBadRequest, msg+" (atomic units)")
		return
	}
	ctx, ip := c.Request.Context(), c.ClientIP()
	ok, err := s.deps.Store.SharedFrom(ctx, req.Address, ip, s.now().Add(-controlWindow))
	if err != nil {
		s.internal(c, "miner settings", err)
		return
	}
	if !ok {
		fail(c, http.StatusForbidden, "to change settings, send the request from an IP that submitted shares for this address in the last 24 hours (this request came from "+ip+")")
		return
	}
	if err := s.deps.Store.SetThreshold(ctx, req.Address, v); err != nil {
		s.internal(c, "miner settings", err)
		return
	}
	s.miners.drop(req.Address)
	s.log.Infof("api: %s set the payout threshold of %s to %d", ip, req.Address, v)
	if v == 0 {
		v = pub.MinPayment
	}
	c.JSON(http.StatusOK, gin.H{"address": req.Address, "threshold": v, "thresholdCustom": *req.Threshold != 0})
}
