// Package httpx is the one HTTP round trip the daemon and wallet clients
// share: a request with its own timeout, a JSON body, and a bounded reply.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
