package api

import (
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// limiter is a token bucket per client IP. Buckets idle for a minute are
// dropped, so the map stays as small as the set of recent clients.
type limiter struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64) *limiter {
	// A page load asks for a few resources at once; allow two seconds' worth.
	return &limiter{rate: rate.Limit(perSecond), burst: max(int(2*perSecond), 10), m: map[string]*bucket{}}
}

func (l *limiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.m {
			if now.Sub(b.seen) > time.Minute {
				delete(l.m, k)
			}
		}
		l.swept = now
	}
	b := l.m[ip]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(l.rate, l.burst)}
		l.m[ip] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}

// rateLimit answers 429 to a client over api.rateLimit. The client is the
// socket's address unless it is a trusted proxy (api.trustedProxies).
func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter != nil && !s.limiter.allow(c.ClientIP(), time.Now()) {
		c.Header("Retry-After", "1")
		fail(c, http.StatusTooManyRequests, "too many requests: slow down (api.rateLimit)")
		return
	}
	c.Next()
}
