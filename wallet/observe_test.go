package wallet_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/internal/httpx"
	"rxpool/wallet"
	"rxpool/wallet/wallettest"
)

type callLog struct {
	mu    sync.Mutex
	calls []httpx.Call
}

func (l *callLog) observe(c httpx.Call) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

// take returns "method" or "method!" (failed) for each call since the last
// take, checking the fields every call must have.
func (l *callLog) take(t *testing.T, name string) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.calls {
		if c.Service != "wallet" || c.Name != name || c.Duration <= 0 {
			t.Errorf("call %+v: want service wallet, name %q and a duration", c, name)
		}
		if c.Err != nil {
			out = append(out, c.Method+"!")
		} else {
			out = append(out, c.Method)
		}
	}
	l.calls = nil
	return out
}

func TestPastellaCallsAreReportedWithBoundedLabels(t *testing.T) {
	f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
	w := newPastella(t, f, 5*time.Second)
	log := &callLog{}
	ctx := httpx.WithObserver(ctxT(t), log.observe)

	if _, _, err := w.Balance(ctx); err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("ab", 32)
	if _, err := w.Lookup(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Discard(ctx, &wallet.Prepared{TxHash: hash, Handle: hash}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(log.take(t, "pas"), " ")
	// 404 is the API's "no such transaction", a valid answer.
	want := "/balance /transactions/hash/:hash /transactions/unconfirmed /transactions/hash/:hash /transactions/prepared/:hash"
	if got != want {
		t.Fatalf("calls:\n got %s\nwant %s", got, want)
	}

	// A status outside 2xx (and not 404) is a failed call.
	f.Inject(wallettest.RouteBalance, wallettest.Status(http.StatusInternalServerError))
	if _, _, err := w.Balance(ctx); err == nil {
		t.Fatal("Balance succeeded against a 500")
	}
	if got := log.take(t, "pas"); len(got) != 1 || got[0] != "/balance!" {
		t.Fatalf("failed call reported as %v", got)
	}

	if _, _, err := w.Balance(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := log.take(t, "pas"); len(got) != 0 {
		t.Fatalf("reported %v without an observer", got)
	}
}

func TestMoneroCallsAreReportedByMethod(t *testing.T) {
	w := stubRPC(t, func(w http.ResponseWriter, method string) {
		switch method {
		case "refresh":
			rpcResult(w, map[string]any{"blocks_fetched": 0})
		case "get_balance":
			rpcError(w, -13, "No wallet file") // at HTTP 200
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	log := &callLog{}
	ctx := httpx.WithObserver(ctxT(t), log.observe)
	_, _, _ = w.Balance(ctx)
	_, _ = w.PrimaryAddress(ctx)
	got := strings.Join(log.take(t, "stub"), " ")
	if want := "refresh get_balance! get_address!"; got != want {
		t.Fatalf("calls: got %q, want %q", got, want)
	}
}
