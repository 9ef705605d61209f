package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// runHelper runs the hidden helpers:
//
//	rxload -mine-block URL -mine-address ADDRESS [-mine-count 1] [-signal PID]
//
// has monerod (regtest, or any daemon that allows generateblocks) mine
// blocks to ADDRESS through its JSON-RPC at URL (http://host:port/json_rpc
// or host:port), then sends SIGUSR1 (the pool's block-notify signal) to
// PID. It is what an idle-mode -notify command runs on a test chain.
func runHelper(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("helper", "rxload -mine-block URL -mine-address ADDRESS [-mine-count N] [-signal PID]", stderr)
	var (
		url     = fs.String("mine-block", "", "monerod JSON-RPC URL (http://host:port/json_rpc or host:port)")
		address = fs.String("mine-address", "", "address the mined blocks pay")
		count   = fs.Int("mine-count", 1, "blocks to mine")
		pid     = fs.Int("signal", 0, "send SIGUSR1 to this process afterwards (the pool's block notify)")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *url == "" || *address == "" || *count < 1 {
		return usagef("-mine-block URL and -mine-address ADDRESS are required, -mine-count ≥ 1")
	}
	height, err := generateBlocks(ctx, *url, *address, *count)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mined %d block(s): height %d\n", *count, height)
	if *pid > 0 {
		if err := syscall.Kill(*pid, syscall.SIGUSR1); err != nil {
			return fmt.Errorf("signalling %d: %w", *pid, err)
		}
	}
	return nil
}

// generateBlocks calls monerod's generateblocks and returns the new height.
func generateBlocks(ctx context.Context, url, address string, n int) (uint64, error) {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	if !strings.HasSuffix(url, "/json_rpc") {
		url = strings.TrimSuffix(url, "/") + "/json_rpc"
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "0", "method": "generateblocks",
		"params": map[string]any{"amount_of_blocks": n, "wallet_address": address, "starting_nonce": 0}})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Result *struct {
			Height uint64 `json:"height"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, fmt.Errorf("generateblocks: HTTP %d: %.200s", resp.StatusCode, raw)
	}
	if r.Error != nil {
		return 0, fmt.Errorf("generateblocks: %d %s", r.Error.Code, r.Error.Message)
	}
	if r.Result == nil {
		return 0, fmt.Errorf("generateblocks: no result: %.200s", raw)
	}
	return r.Result.Height, nil
}
