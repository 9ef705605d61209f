package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// RPCError is a JSON-RPC error object returned by monerod or the wallet.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

var rpcClient = &http.Client{Timeout: 5 * time.Minute} // generateblocks of a long chain takes a while

// callJSONRPC posts a JSON-RPC 2.0 request to url (…/json_rpc) and decodes
// result into out (when non-nil).
func callJSONRPC(ctx context.Context, url, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "0", "method": method, "params": params})
	if err != nil {
		return err
	}
	return postJSON(ctx, url, body, func(raw []byte) error { return decodeRPC(method, raw, out) })
}

// decodeRPC decodes a JSON-RPC 2.0 reply: its error object as an
// *RPCError, else its result into out (when non-nil).
func decodeRPC(method string, raw []byte, out any) error {
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: bad reply: %w", method, err)
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %w", method, env.Error)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Result, out)
}

func postJSON(ctx context.Context, url string, body []byte, decode func([]byte) error) error {
	return doJSON(ctx, http.MethodPost, url, "", body, decode)
}

// doJSON sends body (JSON) to url with an optional bearer token and hands a
// 200 answer's body to decode.
func doJSON(ctx context.Context, method, url, bearer string, body []byte, decode func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := rpcClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return decode(raw)
}
