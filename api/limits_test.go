package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"rxpool/internal/httpx"
)

// serveReal runs the API on a loopback listener through httpx, as Run
// does (with lim), rather than httptest; it returns the address.
func (e *env) serveReal(lim httpx.Limits) string {
	e.t.Helper()
	e.api.cfg.Limits = lim
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.api.Serve(ctx, ln); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func TestBodyOverTheLimitIs413AndNothingIsStored(t *testing.T) {
	e := newEnv(t, nil)
	s := e.seed()
	big := fmt.Sprintf(`{"address":%q,"threshold":500000000,"pad":"%s"}`, s.A, strings.Repeat("x", MaxBody))
	// Declared length over the limit: refused before the body is read.
	e.wantError("POST", "/api/miner/threshold", big, http.StatusRequestEntityTooLarge, "larger than")
	// No declared length (chunked): cut off while reading.
	req, err := http.NewRequest("POST", e.http.URL+"/api/miner/threshold", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 || len(raw) > 200 {
		t.Fatalf("chunked over-limit body: status %d (declared length %d): %s", resp.StatusCode, req.ContentLength, raw)
	}
	if th, err := e.store.Thresholds(ctxT(t)); err != nil || len(th) != 0 {
		t.Fatalf("stored thresholds %v %v, want none", th, err)
	}
	// The same request under the limit is taken.
	e.do("POST", "/api/miner/threshold", fmt.Sprintf(`{"address":%q,"threshold":500000000}`, s.A), nil, http.StatusOK, nil)
}

func TestHugePathGetsASmallReply(t *testing.T) {
	e := newEnv(t, nil)
	// Through the handler: the 404 does not echo the path.
	path := "/api/" + strings.Repeat("a", 512<<10)
	resp, err := http.Get(e.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(raw) > 200 {
		t.Fatalf("512 KB path: status %d, %d bytes: %.200s", resp.StatusCode, len(raw), raw)
	}
	// A malformed query value quoted in an error is cut short too.
	resp, err = http.Get(e.http.URL + "/api/blocks?limit=" + strings.Repeat("9", 100<<10))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(raw) > 400 {
		t.Fatalf("100 KB query value: status %d, %d bytes: %.200s", resp.StatusCode, len(raw), raw)
	}
	// Through the real server: a 1 MB path is over the header limit.
	addr := e.serveReal(httpx.Limits{})
	resp, err = http.Get("http://" + addr + "/api/" + strings.Repeat("a", 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || len(raw) > 200 {
		t.Fatalf("1 MB path: status %d, %d bytes: %.200s", resp.StatusCode, len(raw), raw)
	}
}

func TestTrickledBodyIsCutOff(t *testing.T) {
	e := newEnv(t, nil)
	addr := e.serveReal(httpx.Limits{Read: 500 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /api/miner/threshold HTTP/1.1\r\nHost: pool\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	closed := make(chan error, 1)
	go func() {
		// Whatever the server answers, the connection must then end.
		_, err := io.Copy(io.Discard, bufio.NewReader(c))
		closed <- err
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	sent := 1
	for {
		select {
		case <-closed:
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("closed after %s, want about the 500 ms read timeout", d)
			}
			if sent >= 1000 {
				t.Fatal("the whole body was read")
			}
			return
		case <-tick.C:
			if time.Since(start) > 20*time.Second {
				t.Fatalf("still open after %s and %d bytes", time.Since(start), sent)
			}
			if _, err := c.Write([]byte(" ")); err == nil {
				sent++
			}
		}
	}
}
