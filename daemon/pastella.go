package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// pastellaMaxReserve: Pastellad writes the extra-nonce length as one raw
// byte, not a varint. Below 128 the two are the same byte; from 128 on the
// blob no longer parses as CryptoNote (reserve 200 gave the length byte c8
// at reserved_offset 124, which a varint reader takes as the start of a
// two-byte number), so larger sizes are refused before asking.
const pastellaMaxReserve = 127

type pastellaClient struct{ node }

// NewPastella returns a client for Pastellad at baseURL
// ("http://host:21001"): JSON-RPC at /json_rpc plus GET /info. Every call
// is bounded by timeout as well as by its ctx. log may be nil.
func NewPastella(name, baseURL string, timeout time.Duration, log logrus.FieldLogger) Client {
	return &pastellaClient{node{rpc: newRPC(name, baseURL, timeout, log), maxReserve: pastellaMaxReserve, m: methods{
		template:   "getblocktemplate",
		submit:     "submitblock",
		lastHeader: "getlastblockheader",
		byHeight:   "getblockheaderbyheight",
		byHash:     "getblockheaderbyhash",
	}}}
}

// GetBlockTemplate calls getblocktemplate. Pastellad sends no prev_hash,
// wide_difficulty or expected_reward: PrevHash comes from the blob,
// WideDifficulty equals Difficulty and ExpectedReward is 0. While the
// node is not synced the call fails with ErrNotReady.
func (c *pastellaClient) GetBlockTemplate(ctx context.Context, walletAddress string, reserveSize int) (*Template, error) {
	return c.getTemplate(ctx, walletAddress, reserveSize, nil)
}

// Info combines GET /info (height, next difficulty) with
// getlastblockheader, because /info carries no top block hash. The two
// are retried until they describe the same tip, in case a block lands
// between them. Synced is /info's flag and the sync gate together (see
// syncGate).
func (c *pastellaClient) Info(ctx context.Context) (*Info, error) {
	const path, attempts = "/info", 3
	for i := 1; ; i++ {
		top, err := c.LastBlockHeader(ctx)
		if err != nil {
			return nil, err
		}
		res, err := c.rpc.get(ctx, path)
		if err != nil {
			return nil, err
		}
		d := &decoder{f: res}
		info := &Info{TopHash: top.Hash}
		d.req("height", &info.Height)
		d.req("difficulty", &info.Difficulty)
		d.req("synced", &info.Synced)
		if d.err != nil {
			return nil, c.rpc.fail(path, d.err)
		}
		if info.Height != top.Height+1 {
			if i == attempts {
				return nil, c.rpc.fail(path, fmt.Errorf("%w: height %d does not follow the tip header at %d (tried %d times)",
					ErrBadReply, info.Height, top.Height, attempts))
			}
			continue
		}
		if !info.Synced {
			info.NotReady = "GET /info: not synced"
			return info, nil
		}
		if info.NotReady, err = c.syncGate(ctx); err != nil {
			return nil, err
		}
		info.Synced = info.NotReady == ""
		return info, nil
	}
}

// syncGate tells whether Pastellad serves the calls its RPC middleware
// guards (getblocktemplate, submitblock): "" when it does, else the
// daemon's refusal. The middleware checks the node's P2P sync state
// before the handler runs, so a getblocktemplate with an empty address
// shows the gate alone: refused by the handler at once (-4, nothing
// built) when it is open, "Daemon must be synced…" when it is shut. That
// expected refusal is reported as a successful call, so it never counts
// as a daemon error in the metrics.
func (c *pastellaClient) syncGate(ctx context.Context) (string, error) {
	const label = "getblocktemplate (sync check)"
	body, err := rpcBody(c.m.template, map[string]any{"wallet_address": "", "reserve_size": 0})
	if err != nil {
		return "", c.rpc.fail(label, err)
	}
	handlerRan := func(err error) bool {
		var re *RPCError
		var se *StatusError
		return errors.As(err, &re) || errors.As(err, &se)
	}
	_, err = c.rpc.doExpecting(ctx, label, http.MethodPost, "/json_rpc", body, true, handlerRan)
	var ce *Error
	switch {
	case err == nil: // a template for no address: the gate is open
		return "", nil
	case handlerRan(err):
		return "", nil
	case errors.Is(err, ErrNotReady) && errors.As(err, &ce):
		return strings.TrimPrefix(ce.Err.Error(), ErrNotReady.Error()+": "), nil
	}
	return "", err
}
