// Package proto holds the wire format of the xmrig CryptoNote stratum
// protocol (newline-delimited JSON-RPC over TCP), shared by the pool's
// server and the Go miner/load tools so both sides agree on every field and
// error text.
package proto

import (
	"encoding/json"
	"strconv"
)

// Algo is the only algorithm rxpool mines: Monero's RandomX as xmrig names it.
const Algo = "rx/0"

// Methods.
const (
	MethodLogin     = "login"
	MethodGetJob    = "getjob"
	MethodSubmit    = "submit"
	MethodKeepalive = "keepalived"
	MethodJob       = "job" // server-pushed notification
)

// Extensions advertised in the login result (xmrig recognises these names).
const (
	ExtAlgo      = "algo"
	ExtKeepalive = "keepalive"
	ExtNiceHash  = "nicehash"
)

// Error messages. xmrig treats errors starting with "Unauthenticated",
// "Invalid job id", "your IP is banned" or "IP Address currently banned" as
// fatal and reconnects; every other submit error is only counted as a
// rejected share. So stale jobs get "Block expired", never "Invalid job id".
const (
	ErrMsgUnauthenticated = "Unauthenticated"
	// ErrMsgForeignSession keeps the "Unauthenticated" prefix: fatal to xmrig.
	ErrMsgForeignSession = "Unauthenticated: not this connection's session"
	ErrMsgInvalidJobID   = "Invalid job id"
	ErrMsgBlockExpired   = "Block expired"
	ErrMsgInvalidNonce   = "Invalid nonce: must be 8 hex digits"
	ErrMsgNiceHashNonce  = "Invalid nonce; is miner not compatible with NiceHash?"
	ErrMsgNiceHashFull   = "No free nonce byte on this NiceHash port (255 connections); use another port"
	ErrMsgInvalidResult  = "Invalid result: must be 64 hex digits"
	ErrMsgWrongResult    = "Invalid share: result does not match"
	ErrMsgDuplicateShare = "Duplicate share"
	ErrMsgLowDifficulty  = "Low difficulty share"
	ErrMsgInvalidMethod  = "Invalid method"
	ErrMsgParse          = "Malformed request: not a JSON-RPC object"
	ErrMsgLineTooLong    = "Malformed request: line too long"
	ErrMsgBanned         = "IP Address currently banned"
	ErrMsgTooManyConns   = "Too many connections from your IP"
	ErrMsgNoAlgo         = "No compatible algorithm found, change algo option in your miner."
	ErrMsgBusy           = "Server busy, share not checked; retry"
	ErrMsgStorageDown    = "Pool storage unavailable, share not recorded"
	// ErrMsgInvalidAddrPrefix starts the error of a login whose address the
	// pool cannot pay (the reason follows).
	ErrMsgInvalidAddrPrefix = "Invalid address"
)

// Request is any message a miner sends. ID is kept raw so it is echoed back
// exactly: xmrig matches replies only by an integer id.
type Request struct {
	ID      json.RawMessage `json:"id"`
	JSONRPC string          `json:"jsonrpc,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// LoginParams are the params of "login".
type LoginParams struct {
	Login string   `json:"login"`
	Pass  string   `json:"pass"`
	Agent string   `json:"agent"`
	RigID string   `json:"rigid,omitempty"`
	Algo  []string `json:"algo,omitempty"`
}

// SubmitParams are the params of "submit".
type SubmitParams struct {
	ID     string `json:"id"`
	JobID  string `json:"job_id"`
	Nonce  string `json:"nonce"`
	Result string `json:"result"`
	Algo   string `json:"algo,omitempty"`
}

// SessionParams are the params of "keepalived" and "getjob".
type SessionParams struct {
	ID string `json:"id"`
}

// Job is a job as xmrig parses it: blob is the hashing blob, target the
// 4- or 8-byte little-endian target in hex, seed_hash required for RandomX.
type Job struct {
	Blob     string `json:"blob"`
	JobID    string `json:"job_id"`
	Target   string `json:"target"`
	Algo     string `json:"algo"`
	Height   uint64 `json:"height"`
	SeedHash string `json:"seed_hash"`
}

// LoginResult is the result object of a successful login.
type LoginResult struct {
	ID         string   `json:"id"`
	Job        *Job     `json:"job"`
	Extensions []string `json:"extensions"`
	Status     string   `json:"status"`
}

// StatusResult is the result object of submit and keepalived. xmrig only
// counts a share as accepted when result is an object.
type StatusResult struct {
	Status string `json:"status"`
}

// Status values.
const (
	StatusOK        = "OK"
	StatusKeepalive = "KEEPALIVED"
)

// Error is the JSON-RPC error object; xmrig reads message unchecked, so it
// is always a string.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Response is a reply to a request. On success Error is null and Result set;
// on failure Result is omitted.
type Response struct {
	ID      json.RawMessage `json:"id"`
	JSONRPC string          `json:"jsonrpc"`
	Error   *Error          `json:"error"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// Notification is a server push (method "job"); it has no id.
type Notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// nullID is echoed when a request had no usable id (e.g. malformed JSON).
var nullID = json.RawMessage("null")

// AppendResult appends a success reply line (with '\n') to dst.
func AppendResult(dst []byte, id json.RawMessage, result any) ([]byte, error) {
	res, err := json.Marshal(result)
	if err != nil {
		return dst, err
	}
	return appendLine(dst, Response{ID: orNull(id), JSONRPC: "2.0", Result: res})
}

// AppendError appends an error reply line (with '\n') to dst.
func AppendError(dst []byte, id json.RawMessage, code int, message string) []byte {
	out, _ := appendLine(dst, Response{ID: orNull(id), JSONRPC: "2.0", Error: &Error{Code: code, Message: message}})
	return out
}

// AppendJob appends a "job" notification line (with '\n') to dst.
//
// It is on the path that pushes a new block's jobs to every connection, so
// it writes the line by hand; its output is exactly encoding/json's (the
// tests compare them), which it falls back to for strings that would need
// escaping (never the hex and ids the pool sends).
func AppendJob(dst []byte, job *Job) ([]byte, error) {
	if !plain(job.Blob) || !plain(job.JobID) || !plain(job.Target) || !plain(job.Algo) || !plain(job.SeedHash) {
		return appendLine(dst, Notification{JSONRPC: "2.0", Method: MethodJob, Params: job})
	}
	dst = append(dst, `{"jsonrpc":"2.0","method":"job","params":{"blob":"`...)
	dst = append(dst, job.Blob...)
	dst = append(dst, `","job_id":"`...)
	dst = append(dst, job.JobID...)
	dst = append(dst, `","target":"`...)
	dst = append(dst, job.Target...)
	dst = append(dst, `","algo":"`...)
	dst = append(dst, job.Algo...)
	dst = append(dst, `","height":`...)
	dst = strconv.AppendUint(dst, job.Height, 10)
	dst = append(dst, `,"seed_hash":"`...)
	dst = append(dst, job.SeedHash...)
	return append(dst, "\"}}\n"...), nil
}

// plain reports whether encoding/json writes s unchanged between quotes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// AppendRequest appends a request line with an integer id (what xmrig sends).
func AppendRequest(dst []byte, id int64, method string, params any) ([]byte, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return dst, err
	}
	return appendLine(dst, Request{ID: json.RawMessage(strconv.FormatInt(id, 10)), JSONRPC: "2.0", Method: method, Params: p})
}

func appendLine(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

func orNull(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nullID
	}
	return id
}
