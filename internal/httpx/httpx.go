// Package httpx is the one HTTP round trip the daemon and wallet clients
// share: a request with its own timeout, a JSON body, and a bounded reply;
// and the context-scoped Observer through which those clients report each
// call (for metrics), so that no package needs a global hook.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// ErrTooLong: the reply exceeded the size limit (a misbehaving server must
// not make us buffer without bound).
var ErrTooLong = errors.New("reply too long")

// RoundTrip sends one request under timeout and reads the whole reply, at
// most max bytes. An error other than ErrTooLong means no complete reply
// arrived; callers decide what that means for them.
func RoundTrip(ctx context.Context, c *http.Client, timeout time.Duration, verb, url string, header http.Header, body []byte, max int64) (int, []byte, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(tctx, verb, url, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(raw)) > max {
		return 0, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLong, max)
	}
	return resp.StatusCode, raw, nil
}

// Call describes one finished request to a backend service.
type Call struct {
	Service  string // "daemon" or "wallet"
	Name     string // the client's configured name
	Method   string // RPC method or normalised REST path: bounded, no ids
	Duration time.Duration
	Err      error // nil when the service answered successfully
}

// Observer receives every Call made under a context that carries it. It
// runs on the caller's goroutine after the call, so it must be quick.
type Observer func(Call)

type observerKey struct{}

// WithObserver returns a context whose calls are reported to o. The
// observer travels with the context (not a global) so that tests and
// several pools in one process do not see each other's calls.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// Observe reports c to the Observer ctx carries, if any.
func Observe(ctx context.Context, c Call) {
	if o, _ := ctx.Value(observerKey{}).(Observer); o != nil {
		o(c)
	}
}

// Limits bound what a server reads from a client, so that a slow or huge
// request costs the client, not the server. Zero fields take the defaults
// (DefaultLimits).
type Limits struct {
	// ReadHeader is the time allowed for a request's headers, Read for
	// headers and body together: a body trickled slower is cut off.
	ReadHeader, Read time.Duration
	// Idle is how long a kept-alive connection waits for its next request.
	Idle time.Duration
	// MaxHeaderBytes caps the request line and headers (a 1 MB path is
	// refused by net/http with 431 before any handler runs).
	MaxHeaderBytes int
}

// DefaultLimits suit a public JSON API: its requests are small and quick.
var DefaultLimits = Limits{ReadHeader: 10 * time.Second, Read: 15 * time.Second, Idle: time.Minute, MaxHeaderBytes: 64 << 10}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.ReadHeader > 0 {
		d.ReadHeader = l.ReadHeader
	}
	if l.Read > 0 {
		d.Read = l.Read
	}
	if l.Idle > 0 {
		d.Idle = l.Idle
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	return d
}

// Serve serves handler on ln with DefaultLimits; see ServeLimited.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler) error {
	return ServeLimited(ctx, ln, handler, DefaultLimits)
}

// ServeLimited serves handler on ln under lim until ctx ends, then shuts the
// server down gracefully (requests in flight get 5 s). It returns nil after
// a shutdown.
func ServeLimited(ctx context.Context, ln net.Listener, handler http.Handler, lim Limits) error {
	lim = lim.withDefaults()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: lim.ReadHeader, ReadTimeout: lim.Read,
		IdleTimeout: lim.Idle, MaxHeaderBytes: lim.MaxHeaderBytes}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
