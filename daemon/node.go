package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
)

// methods names a coin's JSON-RPC methods for the calls both coins share.
type methods struct {
	template, submit, lastHeader, byHeight, byHash string
}

// node is what monerod and Pastellad have in common: the same parameters
// and reply shapes under different method names. The coin types embed it
// and add GetBlockTemplate and Info.
type node struct {
	rpc        *rpc
	m          methods
	maxReserve int
}

func (n *node) Name() string { return n.rpc.name }

// SubmitBlock sends a full block blob (not the hashing blob). A refusal is
// the daemon's *RPCError, e.g. -7 "Block not accepted" (Pastellad's answer
// to anything from garbage to a nonce that misses the difficulty). Both
// daemons also say OK for a block they already have, and monerod for one it
// put on an alternative chain.
func (n *node) SubmitBlock(ctx context.Context, blob []byte) error {
	if len(blob) == 0 {
		return n.rpc.fail(n.m.submit, errors.New("empty block blob"))
	}
	_, err := n.rpc.call(ctx, n.m.submit, []string{hex.EncodeToString(blob)})
	return err
}

func (n *node) LastBlockHeader(ctx context.Context) (*BlockHeader, error) {
	return n.header(ctx, n.m.lastHeader, nil, nil)
}

func (n *node) BlockHeaderByHeight(ctx context.Context, height uint64) (*BlockHeader, error) {
	return n.header(ctx, n.m.byHeight, map[string]any{"height": height}, func(h *BlockHeader) error {
		if h.Height != height {
			return fmt.Errorf("%w: asked for height %d, got %d", ErrBadReply, height, h.Height)
		}
		return nil
	})
}

func (n *node) BlockHeaderByHash(ctx context.Context, hash [32]byte) (*BlockHeader, error) {
	return n.header(ctx, n.m.byHash, map[string]any{"hash": hex.EncodeToString(hash[:])}, func(h *BlockHeader) error {
		if h.Hash != hash {
			return fmt.Errorf("%w: asked for block %x, got %x", ErrBadReply, hash, h.Hash)
		}
		return nil
	})
}

// header makes a header call; check guards against a daemon answering a
// different question than the one asked, which the unlocker would
// otherwise take as an orphan or a confirmation.
func (n *node) header(ctx context.Context, method string, params any, check func(*BlockHeader) error) (*BlockHeader, error) {
	res, err := n.rpc.call(ctx, method, params)
	if err != nil {
		return nil, err
	}
	h, err := decodeHeader(res)
	if err == nil && check != nil {
		err = check(h)
	}
	if err != nil {
		return nil, n.rpc.fail(method, err)
	}
	return h, nil
}

// getTemplate fetches and checks a template; extras reads the coin's own
// members before the common checks run.
func (n *node) getTemplate(ctx context.Context, walletAddress string, reserveSize int, extras func(*decoder, *Template)) (*Template, error) {
	method := n.m.template
	if reserveSize < 0 || reserveSize > n.maxReserve {
		return nil, n.rpc.fail(method, fmt.Errorf("reserve size %d out of range 0..%d", reserveSize, n.maxReserve))
	}
	res, err := n.rpc.call(ctx, method, map[string]any{"wallet_address": walletAddress, "reserve_size": reserveSize})
	if err != nil {
		return nil, err
	}
	d := &decoder{f: res}
	t := decodeTemplate(d, reserveSize)
	if extras != nil {
		extras(d, t)
	}
	if t, err = finishTemplate(t, d); err != nil {
		return nil, n.rpc.fail(method, err)
	}
	return t, nil
}
