package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// moneroCoreBusy is CORE_RPC_ERROR_CODE_CORE_BUSY: monerod is syncing or
// otherwise cannot build or take blocks yet.
const moneroCoreBusy = -9

type moneroClient struct{ node }

// NewMonero returns a client for monerod's JSON-RPC at baseURL
// ("http://host:18081"; a trailing /json_rpc is accepted). Every call is
// bounded by timeout as well as by its ctx. log may be nil.
func NewMonero(name, baseURL string, timeout time.Duration, log logrus.FieldLogger) Client {
	r := newRPC(name, baseURL, timeout, log)
	r.notReadyCode = moneroCoreBusy
	return &moneroClient{node{rpc: r, maxReserve: 255, m: methods{
		template:   "get_block_template",
		submit:     "submit_block",
		lastHeader: "get_last_block_header",
		byHeight:   "get_block_header_by_height",
		byHash:     "get_block_header_by_hash",
	}}}
}

// GetBlockTemplate calls get_block_template. Besides the common checks it
// reads wide_difficulty and expected_reward and makes sure prev_hash
// agrees with the blob.
func (c *moneroClient) GetBlockTemplate(ctx context.Context, walletAddress string, reserveSize int) (*Template, error) {
	var prev [32]byte
	var hasPrev bool
	t, err := c.getTemplate(ctx, walletAddress, reserveSize, func(d *decoder, t *Template) {
		var wide string
		if d.opt("wide_difficulty", &wide) {
			t.WideDifficulty = parseWide(d, wide, t.Difficulty)
		}
		d.req("expected_reward", &t.ExpectedReward)
		hasPrev = d.hash("prev_hash", &prev, false)
	})
	if err != nil {
		return nil, err
	}
	if hasPrev && prev != t.PrevHash {
		return nil, c.rpc.fail(c.m.template, fmt.Errorf("%w: prev_hash %x but the blob builds on %x", ErrBadReply, prev, t.PrevHash))
	}
	return t, nil
}

// parseWide reads monerod's "0x…" 128-bit difficulty; its low 64 bits are
// what the plain difficulty member carries.
func parseWide(d *decoder, s string, low uint64) *big.Int {
	w, ok := new(big.Int).SetString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), 16)
	if !ok || w.Sign() <= 0 {
		d.badf("wide_difficulty %s is not a positive hex number", snippet([]byte(s)))
		return nil
	}
	mask := new(big.Int).SetUint64(^uint64(0))
	if new(big.Int).And(w, mask).Uint64() != low {
		d.badf("wide_difficulty %s disagrees with difficulty %d", s, low)
		return nil
	}
	return w
}

// Info calls get_info. Synced needs both "synchronized" and not
// "busy_syncing".
func (c *moneroClient) Info(ctx context.Context) (*Info, error) {
	const method = "get_info"
	res, err := c.rpc.call(ctx, method, nil)
	if err != nil {
		return nil, err
	}
	d := &decoder{f: res}
	info := &Info{}
	var synced, busy bool
	d.req("height", &info.Height)
	d.req("difficulty", &info.Difficulty)
	d.hash("top_block_hash", &info.TopHash, true)
	d.req("synchronized", &synced)
	d.opt("busy_syncing", &busy)
	if d.err != nil {
		return nil, c.rpc.fail(method, d.err)
	}
	info.Synced = synced && !busy
	switch {
	case busy:
		info.NotReady = "busy syncing"
	case !synced:
		info.NotReady = "not synchronized"
	}
	return info, nil
}

// HasTransaction reports whether monerod has the transaction, in its pool
// or in a block (the /get_transactions route). It is the payments
// watcher's second opinion when monero-wallet-rpc does not know a payout's
// transaction: after a reorg the wallet calls a transaction unknown for
// minutes while the daemon holds it again, so the wallet's word alone must
// never drop a payout.
func (c *moneroClient) HasTransaction(ctx context.Context, txHash string) (bool, error) {
	const method = "get_transactions"
	body, err := json.Marshal(map[string]any{"txs_hashes": []string{txHash}})
	if err != nil {
		return false, c.rpc.fail(method, err)
	}
	res, err := c.rpc.do(ctx, method, http.MethodPost, "/"+method, body, false)
	if err != nil {
		return false, err
	}
	d := &decoder{f: res}
	var txs []struct {
		Hash string `json:"tx_hash"`
	}
	var missed []string
	d.opt("txs", &txs)
	d.opt("missed_tx", &missed)
	if d.err != nil {
		return false, c.rpc.fail(method, d.err)
	}
	for _, t := range txs {
		if strings.EqualFold(t.Hash, txHash) {
			return true, nil
		}
	}
	if !slices.ContainsFunc(missed, func(h string) bool { return strings.EqualFold(h, txHash) }) {
		// Neither found nor missed: not a reply to this question.
		return false, c.rpc.fail(method, fmt.Errorf("%w: %s is neither in txs nor in missed_tx", ErrBadReply, txHash))
	}
	return false, nil
}
