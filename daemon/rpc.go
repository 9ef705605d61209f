package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"rxpool/internal/httpx"
)

// maxReply bounds a reply body. A template with a full mempool is a few
// hundred KB of hex; anything near this is not a daemon talking.
const maxReply = 32 << 20

// codeMethodNotFound is the JSON-RPC 2.0 code monerod uses for an unknown method.
const codeMethodNotFound = -32601

// rpc is the HTTP transport both clients share: JSON-RPC over POST
// /json_rpc, plain GETs for REST routes, and one reading of every reply
// shape the two daemons produce.
type rpc struct {
	name    string
	base    string // scheme://host:port, no trailing slash
	timeout time.Duration
	http    *http.Client
	log     logrus.FieldLogger
	// notReadyCode is the JSON-RPC error code that means "busy, retry"
	// (monerod's -9 CORE_RPC_ERROR_CODE_CORE_BUSY); 0 for none.
	notReadyCode int
}

func newRPC(name, baseURL string, timeout time.Duration, log logrus.FieldLogger) *rpc {
	if log == nil {
		log = logrus.StandardLogger()
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Daemons are on loopback or the pool's LAN; an HTTP_PROXY meant for
	// the outside world must not sit between the pool and its daemon.
	tr.Proxy = nil
	return &rpc{
		name:    name,
		base:    normalizeBase(baseURL),
		timeout: timeout,
		http:    &http.Client{Transport: tr},
		log:     log.WithField("daemon", name),
	}
}

// normalizeBase accepts "host:port", "http://host:port" and the full
// ".../json_rpc" endpoint, since all three turn up in configs and tests.
func normalizeBase(u string) string {
	u = strings.TrimRight(strings.TrimSpace(u), "/")
	u = strings.TrimSuffix(u, "/json_rpc")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return u
}

// fields is a reply object whose members are decoded on demand, so that a
// missing member is told apart from a zero value.
type fields map[string]json.RawMessage

// call makes a JSON-RPC call and returns its result object, status
// checked. The reply's "id" is ignored: Pastellad never sends one.
func (r *rpc) call(ctx context.Context, method string, params any) (fields, error) {
	body, err := rpcBody(method, params)
	if err != nil {
		return nil, r.fail(method, err)
	}
	return r.do(ctx, method, http.MethodPost, "/json_rpc", body, true)
}

func rpcBody(method string, params any) ([]byte, error) {
	if params == nil {
		params = struct{}{}
	}
	return json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "0", "method": method, "params": params})
}

// get fetches a REST route (Pastellad's GET /info) and returns the reply
// object, status checked.
func (r *rpc) get(ctx context.Context, path string) (fields, error) {
	return r.do(ctx, path, http.MethodGet, path, nil, false)
}

func (r *rpc) fail(method string, err error) error {
	return &Error{Daemon: r.name, Method: method, Err: err}
}

// do makes one request and reports it through httpx.Observe. label is the
// RPC method or the REST path; both come from code, never from data, so
// they are safe as metric labels.
func (r *rpc) do(ctx context.Context, label, verb, path string, body []byte, jsonRPC bool) (fields, error) {
	return r.doExpecting(ctx, label, verb, path, body, jsonRPC, nil)
}

// doExpecting is do for a request whose refusal is the answer sought:
// when expected(err) holds, the call is reported as a success (it is no
// daemon failure) and err is still returned to the caller.
func (r *rpc) doExpecting(ctx context.Context, label, verb, path string, body []byte, jsonRPC bool, expected func(error) bool) (fields, error) {
	start := time.Now()
	status, raw, err := r.roundTrip(ctx, verb, path, body)
	var f fields
	if err == nil {
		f, err = decodeReply(status, raw, jsonRPC, r.notReadyCode)
	}
	took := time.Since(start)
	if err != nil && expected != nil && expected(err) {
		httpx.Observe(ctx, httpx.Call{Service: "daemon", Name: r.name, Method: label, Duration: took})
		return nil, r.fail(label, err)
	}
	if err == nil {
		httpx.Observe(ctx, httpx.Call{Service: "daemon", Name: r.name, Method: label, Duration: took})
		return f, nil
	}
	r.log.WithFields(logrus.Fields{"method": label, "took": took.Round(time.Millisecond)}).
		Debugf("daemon call failed: %v", err)
	err = r.fail(label, err)
	httpx.Observe(ctx, httpx.Call{Service: "daemon", Name: r.name, Method: label, Duration: took, Err: err})
	return nil, err
}

// roundTrip sends one request under the client's timeout and reads the
// whole reply. Failures are TransportErrors, except when the caller's own
// ctx ended: that is the caller's doing, not the daemon's, and must not
// count against the daemon's health.
func (r *rpc) roundTrip(ctx context.Context, verb, path string, body []byte) (int, []byte, error) {
	status, raw, err := httpx.RoundTrip(ctx, r.http, r.timeout, verb, r.base+path, nil, body, maxReply)
	if errors.Is(err, httpx.ErrTooLong) {
		return 0, nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	if err != nil {
		return 0, nil, r.transport(ctx, err)
	}
	return status, raw, nil
}

func (r *rpc) transport(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", r.timeout, err)
	}
	return &TransportError{Err: err}
}

// decodeReply turns an HTTP status and body into a result object or a
// typed error. Only status codes are read, never reason phrases.
func decodeReply(status int, raw []byte, jsonRPC bool, notReadyCode int) (fields, error) {
	switch {
	case status == http.StatusNotFound:
		return nil, fmt.Errorf("%w (HTTP 404)", ErrMethodNotFound)
	case status >= 500:
		return nil, &TransportError{Err: failedBody(status, raw)}
	case status < 200 || status > 299:
		return nil, failedBody(status, raw)
	}
	var top fields
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, fmt.Errorf("%w: not a JSON object (cut short, or not from a daemon?): %s", ErrBadReply, snippet(raw))
	}
	obj := top
	if jsonRPC {
		if e, ok := top["error"]; ok && !isNull(e) {
			if rpcErr := new(RPCError); json.Unmarshal(e, rpcErr) == nil {
				return nil, classifyRPCError(rpcErr, notReadyCode)
			}
			// A string "error" is Pastellad's middleware body, read below.
		}
		res, ok := top["result"]
		if !ok || isNull(res) {
			if st := statusOf(top); st != "" && st != "OK" {
				// Pastellad's middleware refuses with a top-level
				// {"status":"Failed","error":"…"}; at HTTP 200 that is only
				// the sync check ("Daemon must be synced…").
				return nil, fmt.Errorf("%w: %s", ErrNotReady, messageOf(top, raw))
			}
			return nil, fmt.Errorf("%w: neither result nor error: %s", ErrBadReply, snippet(raw))
		}
		obj = nil
		if err := json.Unmarshal(res, &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("%w: result is not an object: %s", ErrBadReply, snippet(res))
		}
	}
	switch st := statusOf(obj); st {
	case "OK":
		return obj, nil
	case "BUSY":
		return nil, fmt.Errorf("%w: status BUSY", ErrNotReady)
	case "":
		return nil, fmt.Errorf("%w: no status: %s", ErrBadReply, snippet(raw))
	default:
		return nil, &StatusError{HTTPStatus: status, Status: st, Message: messageOf(obj, nil)}
	}
}

func classifyRPCError(e *RPCError, notReadyCode int) error {
	switch {
	case e.Code == codeMethodNotFound:
		return fmt.Errorf("%w: %w", ErrMethodNotFound, e)
	case notReadyCode != 0 && e.Code == notReadyCode:
		return fmt.Errorf("%w: %w", ErrNotReady, e)
	}
	return e
}

// failedBody reads a non-2xx body: Pastellad's {"status","error"}, its
// handler errors {"errorCode","errorMessage"}, or whatever text came.
func failedBody(status int, raw []byte) *StatusError {
	e := &StatusError{HTTPStatus: status}
	var obj fields
	if json.Unmarshal(raw, &obj) == nil && obj != nil {
		e.Status = statusOf(obj)
		e.Message = messageOf(obj, raw)
	} else {
		e.Message = snippet(raw)
	}
	return e
}

func isNull(m json.RawMessage) bool { return string(bytes.TrimSpace(m)) == "null" }

func statusOf(f fields) string {
	var s string
	_ = json.Unmarshal(f["status"], &s)
	return s
}

// messageOf finds the daemon's explanation in an object, falling back to
// the raw body (when given) if there is none.
func messageOf(f fields, raw []byte) string {
	for _, k := range []string{"error", "errorMessage", "message"} {
		var s string
		if json.Unmarshal(f[k], &s) == nil && s != "" {
			return s
		}
	}
	if raw == nil {
		return ""
	}
	return snippet(raw)
}

// snippet shortens a body for an error message, keeping it printable.
func snippet(raw []byte) string {
	const max = 120
	s := strings.TrimSpace(string(raw))
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return fmt.Sprintf("%q", s)
}
