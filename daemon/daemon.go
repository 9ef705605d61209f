// Package daemon talks to the coin daemons: monerod and Pastellad. Both are
// reached through one small typed API (Client) that the stratum job manager
// uses for templates and block submission and the block unlocker for
// headers; Failover puts several daemons of one coin behind the same API.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/big"
)

// Template is a block template as the daemon built it.
type Template struct {
	Height         uint64   // height of the block being built (= chain height)
	Difficulty     uint64   // network difficulty (low 64 bits on monerod)
	WideDifficulty *big.Int // full difficulty; equals Difficulty when the daemon has no wide value
	Blob           []byte   // blocktemplate_blob: the full block, reserved bytes zero
	ReservedOffset int      // first reserved byte in Blob (0 when ReserveSize is 0)
	ReserveSize    int      // as requested
	SeedHash       [32]byte // RandomX key for this height
	// NextSeedHash is the key that replaces SeedHash soon; HasNextSeed is
	// false when the daemon announces no change (monerod: "" unless the
	// seed changes within 64 blocks; Pastellad: equal to seed_hash unless
	// the next block starts an epoch).
	NextSeedHash   [32]byte
	HasNextSeed    bool
	PrevHash       [32]byte // parent block id, read from the blob header
	ExpectedReward uint64   // coinbase total in atomic units; 0 when the daemon does not say (Pastella)
}

// BlockHeader is a block as the daemon's block header calls describe it.
// Height is the block's index (genesis 0); Depth is how many blocks sit
// on top of it (0 for the tip).
type BlockHeader struct {
	Height, Depth, Timestamp, Difficulty, Reward uint64
	Hash, PrevHash                               [32]byte
	Orphan                                       bool // not on the main chain
	MajorVersion                                 uint64
}

// Info is the daemon's view of the chain.
type Info struct {
	Height     uint64   // chain height = number of blocks = the next block's height
	Difficulty uint64   // the next block's difficulty
	TopHash    [32]byte // id of the block at Height-1
	// Synced means the daemon serves templates and takes blocks. For
	// monerod that is its own sync flags. For Pastellad it is the check
	// guarding getblocktemplate and submitblock, not GET /info's "synced",
	// which compares heights and says true on a node that still answers
	// templates with "Daemon must be synced".
	Synced bool
	// NotReady says why, when Synced is false: the daemon's own words
	// where it gave any.
	NotReady string
}

// Client is one daemon (or a Failover over several).
type Client interface {
	Name() string
	GetBlockTemplate(ctx context.Context, walletAddress string, reserveSize int) (*Template, error)
	SubmitBlock(ctx context.Context, blob []byte) error
	LastBlockHeader(ctx context.Context) (*BlockHeader, error)
	BlockHeaderByHeight(ctx context.Context, height uint64) (*BlockHeader, error)
	BlockHeaderByHash(ctx context.Context, hash [32]byte) (*BlockHeader, error)
	Info(ctx context.Context) (*Info, error)
}

// Sentinel errors, for errors.Is.
var (
	// ErrNotReady: the daemon is syncing or busy and will serve the call
	// later (Pastellad's "Daemon must be synced…" body, monerod's -9 "Core
	// is busy", a "BUSY" status). Keep miners on their job and retry.
	ErrNotReady = errors.New("daemon not ready")
	// ErrMethodNotFound: the daemon does not know the method or path
	// (Pastellad: HTTP 404 with an empty body; monerod: -32601). Usually a
	// daemon of the wrong coin.
	ErrMethodNotFound = errors.New("method not found")
	// ErrBadReply: the reply is not JSON, lacks a required field or holds
	// a value that cannot be right (bad hex, a blob that does not parse).
	ErrBadReply = errors.New("bad reply")
	// ErrNoDaemon: a Failover was built without clients.
	ErrNoDaemon = errors.New("no daemon configured")
	// ErrNoTxLookup: none of the daemons can say whether it has a
	// transaction (Pastellad: its wallet API's lookup asks the daemon).
	ErrNoTxLookup = errors.New("no daemon can look up a transaction")
)

// Error is how every failed call is reported: which daemon, which RPC
// method (or REST path), and why. Err is one of the sentinels above, an
// *RPCError, a *StatusError, a *TransportError, the caller's ctx error or
// a local argument error.
type Error struct {
	Daemon string
	Method string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("daemon %s: %s: %v", e.Daemon, e.Method, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// RPCError is a JSON-RPC error object sent by the daemon, e.g. -7 "Block
// not accepted".
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// StatusError is a refusal outside JSON-RPC's error object: an HTTP 4xx
// (Pastellad answers a missing or mistyped parameter with 400
// {"status":"Failed","error":"…"} and a disabled method with 403), or a
// result whose status is neither "OK" nor "BUSY".
type StatusError struct {
	HTTPStatus int    // status code only: Pastellad's reason phrases are wrong
	Status     string // the body's "status", when it had one
	Message    string // the body's "error" (or "errorMessage"), else the body itself, shortened
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.HTTPStatus)
	if e.Status != "" {
		s += " status " + e.Status
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// TransportError means the daemon gave no usable answer: it could not be
// reached, did not answer within the timeout, dropped the connection, or
// answered HTTP 5xx. Another daemon may do better, so Failover switches.
type TransportError struct {
	Err error
}

func (e *TransportError) Error() string { return "transport: " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// IsTransport reports whether err is (or wraps) a *TransportError.
func IsTransport(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}
