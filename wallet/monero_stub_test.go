package wallet_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/edwards25519"

	"rxpool/cryptonote"
	"rxpool/wallet"
)

// stubRPC answers every JSON-RPC call through reply, which gets the method
// and writes the whole HTTP reply. It covers failures the real wallet
// cannot be made to produce on demand.
func stubRPC(t *testing.T, reply func(w http.ResponseWriter, method string)) *wallet.Monero {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string `json:"method"`
		}
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &req)
		reply(w, req.Method)
	}))
	t.Cleanup(srv.Close)
	return wallet.NewMonero("stub", srv.URL, "", "", 300*time.Millisecond, testLog(t))
}

func rpcError(w http.ResponseWriter, code int, msg string) {
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "0", "jsonrpc": "2.0", "error": map[string]any{"code": code, "message": msg}})
}

func rpcResult(w http.ResponseWriter, result any) {
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "0", "jsonrpc": "2.0", "result": result})
}

func TestMoneroFailuresAreTyped(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	prepared := &wallet.Prepared{TxHash: hash, Handle: "0011"}
	dest := []wallet.Destination{{Address: moneroAddr(t, 1), Amount: 5}}
	cases := []struct {
		name    string
		reply   func(http.ResponseWriter)
		prepare func(error) bool
		relay   func(error) bool
	}{
		{"500", func(w http.ResponseWriter) { w.WriteHeader(500) }, isAmbiguous, isAmbiguous},
		{"401", func(w http.ResponseWriter) { w.WriteHeader(401) }, func(err error) bool { return errors.Is(err, wallet.ErrAuth) }, func(err error) bool { return errors.Is(err, wallet.ErrAuth) }},
		{"garbage", func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>")) }, isAmbiguous, isAmbiguous},
		{"neither result nor error", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"id":"0"}`)) }, isAmbiguous, isAmbiguous},
		{"hang", func(w http.ResponseWriter) { time.Sleep(time.Second) }, isAmbiguous, isAmbiguous},
		{"drop", func(w http.ResponseWriter) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, isAmbiguous, isAmbiguous},
		{"-4 failed to commit", func(w http.ResponseWriter) { rpcError(w, -4, "Failed to commit tx.") }, wallet.IsRefused, isAmbiguous},
		{"-38 no daemon", func(w http.ResponseWriter) { rpcError(w, -38, "No connection to daemon") }, wallet.IsRefused, isAmbiguous},
		{"-13 not open", func(w http.ResponseWriter) { rpcError(w, -13, "No wallet file") }, wallet.IsRefused, func(err error) bool {
			return wallet.IsRefused(err) && errors.Is(err, wallet.ErrNotOpen)
		}},
		{"-27 bad metadata", func(w http.ResponseWriter) { rpcError(w, -27, "Failed to parse tx metadata.") }, wallet.IsRefused, wallet.IsRefused},
		{"relay answers another hash", func(w http.ResponseWriter) { rpcResult(w, map[string]any{"tx_hash": strings.Repeat("cd", 32)}) }, isAmbiguous, isAmbiguous},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := stubRPC(t, func(w http.ResponseWriter, _ string) { tc.reply(w) })
			if _, err := w.Prepare(ctxT(t), dest); !tc.prepare(err) {
				t.Fatalf("Prepare: %v", err)
			}
			if err := w.Relay(ctxT(t), prepared); !tc.relay(err) {
				t.Fatalf("Relay: %v", err)
			}
		})
	}
}

func TestMoneroBadAddressWithoutAName(t *testing.T) {
	good1, good2 := moneroAddr(t, 1), moneroAddr(t, 2)
	a, _ := cryptonote.Monero.ParseAddress(good2)
	stagenet, err := cryptonote.Monero.NewAddress("stagenet", cryptonote.AddressStandard, a.SpendKey, a.ViewKey, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	w := stubRPC(t, func(w http.ResponseWriter, method string) {
		switch method {
		case "get_address":
			rpcResult(w, map[string]any{"address": good1})
		default:
			rpcError(w, -2, "WALLET_RPC_ERROR_CODE_WRONG_ADDRESS")
		}
	})
	cases := []struct {
		dests []wallet.Destination
		bad   string
	}{
		{[]wallet.Destination{{good1, 1}, {"4nope", 1}}, "4nope"},
		{[]wallet.Destination{{good1, 1}, {stagenet.Text, 1}}, stagenet.Text},
		{[]wallet.Destination{{good2, 1}}, good2},
		{[]wallet.Destination{{good1, 1}, {good2, 1}}, ""},
	}
	for _, tc := range cases {
		var r *wallet.RefusedError
		if _, err := w.Prepare(ctxT(t), tc.dests); !errors.As(err, &r) || r.BadAddress != tc.bad {
			t.Fatalf("%v: %v; want bad address %q", tc.dests, err, tc.bad)
		}
	}
}

func TestMoneroLookupStates(t *testing.T) {
	hash := strings.Repeat("ef", 32)
	cases := []struct {
		entries []map[string]any
		want    wallet.TxState
		height  uint64
	}{
		{[]map[string]any{{"txid": hash, "type": "pending", "fee": 7}}, wallet.TxPending, 0},
		{[]map[string]any{{"txid": hash, "type": "pool"}}, wallet.TxPending, 0},
		{[]map[string]any{{"txid": hash, "type": "failed"}}, wallet.TxFailed, 0},
		{[]map[string]any{{"txid": hash, "type": "in", "height": 9}, {"txid": hash, "type": "out", "height": 9}}, wallet.TxConfirmed, 9},
	}
	for _, tc := range cases {
		w := stubRPC(t, func(w http.ResponseWriter, method string) {
			if method == "refresh" {
				rpcResult(w, map[string]any{"blocks_fetched": 0})
				return
			}
			rpcResult(w, map[string]any{"transfer": tc.entries[0], "transfers": tc.entries})
		})
		info, err := w.Lookup(ctxT(t), hash)
		if err != nil || info.State != tc.want || info.Height != tc.height {
			t.Fatalf("%v: %+v, %v; want %v at %d", tc.entries, info, err, tc.want, tc.height)
		}
	}
}

// moneroAddr is a valid mainnet address, a different one for each i.
func moneroAddr(t *testing.T, i uint64) string {
	t.Helper()
	point := func(k uint64) (key [32]byte) {
		var b [32]byte
		binary.LittleEndian.PutUint64(b[:], k)
		s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
		if err != nil {
			t.Fatal(err)
		}
		copy(key[:], new(edwards25519.Point).ScalarBaseMult(s).Bytes())
		return key
	}
	a, err := cryptonote.Monero.NewAddress("mainnet", cryptonote.AddressStandard, point(2*i+1), point(2*i+2), [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	return a.Text
}

// TestMoneroReopensItsWalletAfterARestart: monero-wallet-rpc restarted
// with --wallet-dir comes back with no wallet open (-13). The wallet
// OpenWallet opened is opened again and the call repeated, except a relay,
// whose -13 stays a refusal; without an OpenWallet there is nothing to
// reopen and -13 is returned as it is.
func TestMoneroReopensItsWalletAfterARestart(t *testing.T) {
	addr := moneroAddr(t, 1)
	var (
		mu     sync.Mutex
		open   bool
		called []string
	)
	w := stubRPC(t, func(w http.ResponseWriter, method string) {
		mu.Lock()
		defer mu.Unlock()
		called = append(called, method)
		switch {
		case method == "open_wallet":
			open = true
			rpcResult(w, map[string]any{})
		case !open:
			rpcError(w, -13, "No wallet file")
		case method == "get_address":
			rpcResult(w, map[string]any{"address": addr})
		default:
			rpcError(w, -1, "unexpected "+method)
		}
	})
	restart := func() {
		mu.Lock()
		defer mu.Unlock()
		open, called = false, nil
	}
	calls := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(called, ",")
	}

	// Nothing opened through this client: -13 as it is.
	if _, err := w.PrimaryAddress(ctxT(t)); !errors.Is(err, wallet.ErrNotOpen) || calls() != "get_address" {
		t.Fatalf("before OpenWallet: %v, calls %s", err, calls())
	}
	if err := w.OpenWallet(ctxT(t), "pool", "secret"); err != nil {
		t.Fatal(err)
	}

	restart()
	if got, err := w.PrimaryAddress(ctxT(t)); err != nil || got != addr || calls() != "get_address,open_wallet,get_address" {
		t.Fatalf("after a restart: %q, %v, calls %s", got, err, calls())
	}

	restart()
	err := w.Relay(ctxT(t), &wallet.Prepared{TxHash: strings.Repeat("ab", 32), Handle: "00"})
	if !wallet.IsRefused(err) || !errors.Is(err, wallet.ErrNotOpen) || calls() != "relay_tx,open_wallet" {
		t.Fatalf("relay after a restart: %v, calls %s; want a refusal, the wallet reopened, no second relay", err, calls())
	}
}
