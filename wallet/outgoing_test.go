package wallet_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"rxpool/wallet"
)

// TestMoneroOutgoing reads get_transfers' out, pending and failed lists,
// and asks for exactly those from the height given.
func TestMoneroOutgoing(t *testing.T) {
	h1, h2, h3 := strings.Repeat("a1", 32), strings.Repeat("b2", 32), strings.Repeat("c3", 32)
	var params map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string         `json:"method"`
			Params map[string]any `json:"params"`
		}
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &req)
		if req.Method == "refresh" {
			rpcResult(w, map[string]any{"blocks_fetched": 0})
			return
		}
		params = req.Params
		rpcResult(w, map[string]any{
			"out": []any{map[string]any{"txid": strings.ToUpper(h1), "type": "out", "height": 12, "amount": 30, "fee": 2,
				"destinations": []any{map[string]any{"address": "A", "amount": 10}, map[string]any{"address": "B", "amount": 20}}}},
			"pending": []any{map[string]any{"txid": h2, "type": "pending", "height": 0, "amount": 5, "fee": 1}},
			"failed":  []any{map[string]any{"txid": h3, "type": "failed", "height": 0, "amount": 6, "fee": 1}},
		})
	}))
	t.Cleanup(srv.Close)
	w := wallet.NewMonero("stub", srv.URL, "", "", time.Second, testLog(t))
	got, err := w.Outgoing(ctxT(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []wallet.OutgoingTx{
		{TxHash: h1, State: wallet.TxConfirmed, Height: 12, Amount: 30, Fee: 2, Dests: []wallet.Destination{{Address: "A", Amount: 10}, {Address: "B", Amount: 20}}},
		{TxHash: h2, State: wallet.TxPending, Amount: 5, Fee: 1},
		{TxHash: h3, State: wallet.TxFailed, Amount: 6, Fee: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outgoing %+v\nwant %+v", got, want)
	}
	for k, v := range map[string]any{"out": true, "pending": true, "failed": true, "filter_by_height": true, "min_height": 9.0} {
		if params[k] != v {
			t.Fatalf("params %v: %s = %v, want %v", params, k, params[k], v)
		}
	}
	if params["in"] != nil || params["pool"] != nil {
		t.Fatalf("asked for incoming transfers: %v", params)
	}
}

func TestMoneroOutgoingBadReply(t *testing.T) {
	w := stubRPC(t, func(w http.ResponseWriter, method string) {
		if method == "refresh" {
			rpcResult(w, map[string]any{"blocks_fetched": 0})
			return
		}
		rpcResult(w, map[string]any{"out": []any{map[string]any{"txid": "zz", "amount": 1}}})
	})
	if _, err := w.Outgoing(ctxT(t), 0); !errors.Is(err, wallet.ErrBadReply) {
		t.Fatalf("bad txid: %v", err)
	}
}
