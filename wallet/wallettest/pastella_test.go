package wallettest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/wallet"
)

// rawCall sends one request on a fresh connection and returns the status
// line and body exactly as written.
func rawCall(t *testing.T, f *FakePastella, method, path, key, body string) (statusLine, respBody string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\n", method, path)
	if key != "" {
		fmt.Fprintf(conn, "X-API-KEY: %s\r\n", key)
	}
	fmt.Fprintf(conn, "Content-Length: %d\r\n\r\n%s", len(body), body)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Proto + " " + resp.Status, string(b)
}

func TestFakeRepliesLikeTheRealAPI(t *testing.T) {
	f := Start(t, Options{Unlocked: 500_000_000})
	key := f.APIKey()

	line, body := rawCall(t, f, "GET", "/balance", "", "")
	if line != "HTTP/1.1 401 Internal Server Error" || body != "" {
		t.Fatalf("no key: %q %q", line, body)
	}
	line, body = rawCall(t, f, "POST", "/wallet/open", key, `{"filename":"x","password":"y"}`)
	if line != "HTTP/1.1 403 Internal Server Error" || body != "" {
		t.Fatalf("open while open: %q %q", line, body)
	}
	line, body = rawCall(t, f, "GET", "/balance", key, "")
	if line != "HTTP/1.1 200 OK" || body != "{\n    \"locked\": 0,\n    \"unlocked\": 500000000\n}\n" {
		t.Fatalf("balance: %q %q", line, body)
	}
	dests := fmt.Sprintf(`{"destinations":[{"address":%q,"amount":150000000},{"address":%q,"amount":250000000}]}`, Address(1), Address(2))
	line, body = rawCall(t, f, "POST", "/transactions/prepare/advanced", key, dests)
	var prep struct {
		Hash    string `json:"transactionHash"`
		Fee     uint64 `json:"fee"`
		Relayed bool   `json:"relayedToNetwork"`
	}
	if line != "HTTP/1.1 201 Internal Server Error" || json.Unmarshal([]byte(body), &prep) != nil || prep.Fee != 1000 || prep.Relayed {
		t.Fatalf("prepare: %q %q", line, body)
	}
	line, body = rawCall(t, f, "POST", "/transactions/prepare/advanced", key, `{"destinations":[{"address":"PAS1"}]}`)
	if line != "HTTP/1.1 400 Internal Server Error" || body != "" {
		t.Fatalf("missing amount: %q %q", line, body)
	}
	line, body = rawCall(t, f, "POST", "/transactions/prepare/advanced", key, `{"destinations":[{"address":"PAS1","amount":1}]}`)
	if !strings.HasPrefix(body, "{\n    \"errorCode\": 12,\n    \"errorMessage\": \"The address should be 54 characters") {
		t.Fatalf("short address: %q %q", line, body)
	}
	line, body = rawCall(t, f, "POST", "/transactions/send/prepared", key, `{"transactionHash":"`+prep.Hash+`"}`)
	if line != "HTTP/1.1 201 Internal Server Error" || body != "{\n    \"transactionHash\": \""+prep.Hash+"\"\n}\n" {
		t.Fatalf("send prepared: %q %q", line, body)
	}
	line, _ = rawCall(t, f, "GET", "/transactions/hash/"+prep.Hash, key, "")
	if line != "HTTP/1.1 404 Internal Server Error" {
		t.Fatalf("unmined tx by hash: %q", line)
	}
	_, body = rawCall(t, f, "GET", "/transactions/unconfirmed", key, "")
	if !strings.Contains(body, prep.Hash) || !strings.Contains(body, `"blockHeight": 0`) || !strings.Contains(body, `"amount": -400001000`) {
		t.Fatalf("unconfirmed: %q", body)
	}
	status := `{"transactionHashes":["` + prep.Hash + `"]}`
	line, body = rawCall(t, f, "POST", "/get_transactions_status", "", status)
	if line != "HTTP/1.1 200 OK" || body != `{"transactionsInBlock":[],"transactionsInPool":["`+prep.Hash+`"],"transactionsUnknown":[],"status":"OK"}` {
		t.Fatalf("daemon status: %q %q", line, body)
	}
	h := f.MineBlock()
	_, body = rawCall(t, f, "GET", "/transactions/hash/"+prep.Hash, key, "")
	if !strings.Contains(body, fmt.Sprintf(`"blockHeight": %d`, h)) {
		t.Fatalf("mined tx by hash: %q", body)
	}
	if _, body = rawCall(t, f, "POST", "/get_transactions_status", "", status); !strings.Contains(body, `"transactionsInBlock":["`+prep.Hash+`"]`) {
		t.Fatalf("daemon status after the block: %q", body)
	}
	if f.Received(Address(1)) != 150_000_000 || f.Received(Address(2)) != 250_000_000 {
		t.Fatalf("ledger: %v", f.ReceivedAll())
	}
	if u, _ := f.Balance(); u != 500_000_000-400_001_000 {
		t.Fatalf("unlocked %d", u)
	}
	line, _ = rawCall(t, f, "GET", "/transactions/hash/nothex", key, "")
	if line != "HTTP/1.1 404 Internal Server Error" {
		t.Fatalf("bad hash route: %q", line)
	}
}

func TestAddressesAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		a := Address(i)
		if _, err := cryptonote.Pastella.ParseAddress(a); err != nil {
			t.Fatalf("Address(%d) = %s: %v", i, a, err)
		}
		if seen[a] {
			t.Fatalf("Address(%d) repeats", i)
		}
		seen[a] = true
	}
}

// Many clients at once (the fake must be race-free), random faults: the
// ledger still balances to the atomic unit.
func TestFakeLedgerBalancesUnderConcurrencyAndFaults(t *testing.T) {
	const start = 1_000_000_000_000
	f := Start(t, Options{Unlocked: start})
	kinds := []Fault{DropAfterActing(), DropBeforeActing(), Status(500), StatusAfterActing(500), GarbageAfterActing(), Refuse(31)}
	f.SetFaultFunc(func(route string, n int) *Fault {
		if route != RouteRelay || n%3 != 0 {
			return nil
		}
		fault := kinds[(n/3)%len(kinds)]
		return &fault
	})
	w := wallet.NewPastella("fake", f.URL(), config.Secret(f.APIKey()), 5*time.Second, nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; i < 20; i++ {
				p, err := w.Prepare(ctx, []wallet.Destination{{Address: Address(g), Amount: uint64(1000 + i)}, {Address: Address(100 + i), Amount: 7}})
				if err != nil {
					t.Error(err)
					return
				}
				_ = w.Relay(ctx, p)
				if i%5 == 0 {
					f.MineBlock()
				}
			}
		}(g)
	}
	wg.Wait()
	var sent, fees uint64
	for _, tx := range f.Relayed() {
		sent += tx.sum()
		fees += tx.Fee
	}
	var received uint64
	for _, v := range f.ReceivedAll() {
		received += v
	}
	unlocked, _ := f.Balance()
	if received != sent || unlocked+f.Held()+sent+fees != start {
		t.Fatalf("received %d, sent %d, fees %d, unlocked %d, held %d: does not add up to %d", received, sent, fees, unlocked, f.Held(), start)
	}
	if n := len(f.Relayed()); n == 0 || n == 160 {
		t.Fatalf("%d relayed: faults did not apply", n)
	}
	if f.Calls(RouteRelay) != 160 || f.Calls(RoutePrepare) != 160 {
		t.Fatalf("calls: relay %d prepare %d", f.Calls(RouteRelay), f.Calls(RoutePrepare))
	}
}

// Close must not wait for a client that never gives up on a hanging call.
func TestCloseReleasesHangingCalls(t *testing.T) {
	f := New(Options{})
	url, err := f.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.Inject(RouteBalance, TimeoutBeforeActing())
	w := wallet.NewPastella("fake", url, DefaultAPIKey, time.Minute, nil)
	errc := make(chan error, 1)
	go func() { _, _, err := w.Balance(context.Background()); errc <- err }()
	for f.Calls(RouteBalance) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { f.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	select {
	case err := <-errc:
		if err == nil || wallet.IsRefused(err) {
			t.Fatalf("Balance on a closed fake: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client still waiting after Close")
	}
}
