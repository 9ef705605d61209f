package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"rxpool/daemon"
)

const checkTimeout = 3 * time.Second

// getHealth is GET /health: 200 when Redis, at least one synced daemon and
// the wallet (when configured) answer, 503 otherwise. Checks run live (cached
// for a second, so a monitor hammering it costs nothing). A payout waiting
// too long for its confirmations makes it "degraded", still 200: the pool
// mines and pays; an operator should look.
func (s *Server) getHealth(c *gin.Context) {
	h, _ := s.health.get(c.Request.Context(), "", s.checkHealth)
	code := http.StatusOK
	if h.Status == statusUnhealthy {
		code = http.StatusServiceUnavailable
	}
	c.JSON(code, h)
}

func (s *Server) checkHealth(ctx context.Context) (*Health, error) {
	h := &Health{Daemons: make([]Check, len(s.deps.Daemons))}
	var wg sync.WaitGroup
	wg.Go(func() {
		h.Redis = timed(ctx, "redis", func(ctx context.Context) (uint64, error) { return 0, s.deps.Store.Ping(ctx) })
		if h.Redis.OK {
			if halted, err := s.deps.Store.HaltedPayments(ctx); err == nil {
				h.PaymentsHalted = len(halted)
			}
			if pp, err := s.deps.Store.PaymentsPaused(ctx); err == nil && pp != nil {
				h.PaymentsPaused = fmt.Sprintf("since %s: %s", pp.Since.UTC().Format(time.RFC3339), pp.Reason)
			}
			if ps, err := s.deps.Store.PayoutStats(ctx); err == nil {
				h.UnconfirmedPayouts = ps.Unconfirmed
				h.OldestUnconfirmedSeconds = ps.OldestUnconfirmedAge(s.now()).Seconds()
			}
		}
	})
	for i, d := range s.deps.Daemons {
		wg.Go(func() {
			h.Daemons[i] = timed(ctx, d.Name(), func(ctx context.Context) (uint64, error) {
				info, err := d.Info(ctx)
				if err != nil {
					return 0, err
				}
				if !info.Synced {
					// It answers, but gives no templates: no mining.
					return info.Height, fmt.Errorf("%w: %s", daemon.ErrNotReady, info.NotReady)
				}
				return info.Height, nil
			})
		})
	}
	if w := s.deps.Wallet; w != nil {
		wg.Go(func() {
			ch := timed(ctx, w.Name(), func(ctx context.Context) (uint64, error) { _, _, err := w.Balance(ctx); return 0, err })
			h.Wallet = &ch
		})
	}
	wg.Wait()
	daemonUp := false
	for _, d := range h.Daemons {
		daemonUp = daemonUp || d.OK
	}
	h.Status = "ok"
	if limit := s.unconfirmedLimit(); h.OldestUnconfirmedSeconds > limit.Seconds() {
		h.Status = "degraded"
		h.Reasons = append(h.Reasons, fmt.Sprintf("a payout has waited %s for its confirmations (limit %s)",
			(time.Duration(h.OldestUnconfirmedSeconds)*time.Second).String(), limit))
	}
	if h.PaymentsPaused != "" {
		h.Status = "degraded"
		h.Reasons = append(h.Reasons, "payments paused "+h.PaymentsPaused)
	}
	if !h.Redis.OK || !daemonUp || (h.Wallet != nil && !h.Wallet.OK) {
		h.Status = statusUnhealthy
	}
	return h, nil
}

const statusUnhealthy = "unhealthy"

// unconfirmedLimit is Config.UnconfirmedLimit, or when unset the limit of
// the default payments settings: 10 confirmations plus 3 × a dropGrace of
// 10 blocks.
func (s *Server) unconfirmedLimit() time.Duration {
	if s.cfg.UnconfirmedLimit > 0 {
		return s.cfg.UnconfirmedLimit
	}
	return 40 * s.deps.Coin.BlockTime
}

// timed runs one check under checkTimeout and reports it.
func timed(ctx context.Context, name string, f func(context.Context) (uint64, error)) Check {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	start := time.Now()
	height, err := f(ctx)
	ch := Check{Name: name, OK: err == nil, LatencyMs: float64(time.Since(start).Microseconds()) / 1000, Height: height}
	if err != nil {
		ch.Error = err.Error()
	}
	return ch
}
