package daemon

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"rxpool/internal/httpx"
)

// recorder collects the calls reported through the context.
type recorder struct {
	mu    sync.Mutex
	calls []httpx.Call
}

func (r *recorder) observe(c httpx.Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *recorder) take() []httpx.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func TestCallsAreReportedToTheContextObserver(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	rec := &recorder{}
	ctx := httpx.WithObserver(context.Background(), rec.observe)

	// Info is three requests: a JSON-RPC method, a REST route and the
	// sync check (whose refusal by a ready daemon is no error).
	if _, err := c.Info(ctx); err != nil {
		t.Fatal(err)
	}
	f.setOverride("getblocktemplate", func(w http.ResponseWriter, _ *http.Request) {
		failJSONRPC(w, -4, "The address should be 54 characters, but it is 0 characters.")
	})
	if info, err := c.Info(ctx); err != nil || !info.Synced {
		t.Fatalf("info %+v (%v), want synced", info, err)
	}
	calls := rec.take()
	if len(calls) != 6 {
		t.Fatalf("got %d calls, want 6: %+v", len(calls), calls)
	}
	for i, want := range []string{"getlastblockheader", "/info", "getblocktemplate (sync check)", "getlastblockheader", "/info", "getblocktemplate (sync check)"} {
		got := calls[i]
		if got.Service != "daemon" || got.Name != "pas1" || got.Method != want || got.Err != nil || got.Duration <= 0 {
			t.Errorf("call %d = %+v, want daemon/pas1/%s without error", i, got, want)
		}
	}

	// A refusal is reported with the error the caller gets.
	f.setOverride("getblockheaderbyheight", func(w http.ResponseWriter, _ *http.Request) {
		failRequest(w, http.StatusInternalServerError, "boom")
	})
	_, err := c.BlockHeaderByHeight(ctx, 3)
	if err == nil {
		t.Fatal("no error from a 500")
	}
	calls = rec.take()
	if len(calls) != 1 || calls[0].Method != "getblockheaderbyheight" || calls[0].Err != err {
		t.Fatalf("failed call reported as %+v, want getblockheaderbyheight with %v", calls, err)
	}
	wantCallError(t, calls[0].Err, "pas1", "getblockheaderbyheight")

	// Without an observer in the context nothing is reported (and nothing
	// breaks).
	if _, err := c.LastBlockHeader(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls := rec.take(); len(calls) != 0 {
		t.Fatalf("reported %+v without an observer", calls)
	}
}
