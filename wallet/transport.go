package wallet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"rxpool/internal/httpx"
	"rxpool/internal/secret"
)

// maxReply bounds a reply body: the largest legitimate one is a
// transaction list, far below this.
const maxReply = 16 << 20

const redacted = "[redacted]"

// transport is the HTTP side both clients share: one request at a time
// under the client's timeout, the whole reply read, and secrets scrubbed
// from everything that could reach an error message or a log.
type transport struct {
	service string // the metrics' service label: "wallet", or "daemon" for a daemon the wallet client asks
	name    string
	base    string // scheme://host:port[/path], no trailing slash, no userinfo
	timeout time.Duration
	http    *http.Client
	log     logrus.FieldLogger
	secrets *secretList
}

// secretList holds the values to scrub. It is only ever reached through a
// pointer: fmt prints unexported fields raw, Secret or not, but a nested
// pointer only as an address.
type secretList struct {
	mu   sync.Mutex
	vals []secret.Secret
}

func (l *secretList) add(s secret.Secret) {
	if !s.IsSet() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.vals {
		if v == s {
			return
		}
	}
	l.vals = append(l.vals, s)
}

func (l *secretList) scrub(s string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.vals {
		s = strings.ReplaceAll(s, v.Reveal(), redacted)
	}
	return s
}

func newTransport(name, base string, timeout time.Duration, rt http.RoundTripper, log logrus.FieldLogger, secrets ...secret.Secret) *transport {
	if log == nil {
		log = logrus.StandardLogger()
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if rt == nil {
		rt = plainTransport()
	}
	t := &transport{service: "wallet", name: name, base: base, timeout: timeout, http: &http.Client{Transport: rt}, log: log, secrets: &secretList{}}
	for _, s := range secrets {
		t.secrets.add(s)
	}
	return t
}

// plainTransport: wallets are on loopback or the pool's LAN; an HTTP_PROXY
// meant for the outside world must not sit between the pool and its money.
func plainTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return tr
}

// splitBase normalises a configured URL ("host:port", "http://host:port/")
// and takes any user:password out of it, so that it never shows in errors.
func splitBase(raw string) (base, user, password string) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw, "", ""
	}
	user = u.User.Username()
	password, _ = u.User.Password()
	u.User = nil
	return strings.TrimRight(u.String(), "/"), user, password
}

// roundTrip sends one request and returns the status and the whole body.
// An error means no complete reply: the wallet may or may not have acted.
// Each request is reported through httpx.Observe (see observe).
func (t *transport) roundTrip(ctx context.Context, verb, path string, header http.Header, body []byte) (int, []byte, error) {
	start := time.Now()
	status, raw, err := httpx.RoundTrip(ctx, t.http, t.timeout, verb, t.base+path, header, body, maxReply)
	if errors.Is(err, httpx.ErrTooLong) {
		err = fmt.Errorf("%w: %v", ErrBadReply, err)
	} else if err != nil {
		err = t.noReply(ctx, err)
	}
	t.observe(ctx, path, body, status, raw, err, time.Since(start))
	if err != nil {
		return 0, nil, err
	}
	return status, raw, nil
}

// observe reports one request. The clients decide what a reply means
// above this layer, so the verdict here is the wire-level one: no reply,
// an HTTP status outside 2xx (but 404, which the Pastella API uses for
// "no such transaction"), or a JSON-RPC error object.
func (t *transport) observe(ctx context.Context, path string, body []byte, status int, raw []byte, err error, took time.Duration) {
	method := callLabel(path, body)
	switch {
	case err != nil:
		err = t.fail(method, err)
	case path == jsonRPCPath && status == http.StatusOK:
		var env struct {
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &env) == nil && env.Error != nil {
			err = t.fail(method, fmt.Errorf("JSON-RPC error %d", env.Error.Code))
		}
	case (status < 200 || status > 299) && (status != http.StatusNotFound || path == jsonRPCPath):
		err = t.fail(method, fmt.Errorf("HTTP %d", status))
	}
	httpx.Observe(ctx, httpx.Call{Service: t.service, Name: t.name, Method: method, Duration: took, Err: err})
}

const jsonRPCPath = "/json_rpc"

// callLabel names a request for metrics with bounded cardinality: the
// JSON-RPC method for /json_rpc, else the path with every segment that
// holds a value (a hash, a number) replaced by a placeholder.
func callLabel(path string, body []byte) string {
	path, _, _ = strings.Cut(path, "?")
	if path == jsonRPCPath {
		var req struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &req) == nil && isWord(req.Method) {
			return req.Method
		}
		return path
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		switch {
		case validHash(seg):
			segs[i] = ":hash"
		case !isWord(seg) && seg != "":
			segs[i] = ":id"
		}
	}
	return strings.Join(segs, "/")
}

// isWord: a short name of letters, "_" and "-", as route segments and RPC
// methods are; anything else (digits, hex, odd characters) is a value.
func isWord(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func (t *transport) noReply(ctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no reply within %s: %w", t.timeout, err)
	}
	return fmt.Errorf("no reply: %w", err)
}

// fail wraps err with the wallet and call names and scrubs secrets from
// its text; errors.Is/As still see the wrapped errors.
func (t *transport) fail(call string, err error) error {
	return &scrubbed{err: fmt.Errorf("wallet %s: %s: %w", t.name, call, err), secrets: t.secrets}
}

// scrub removes secrets from text that came from the wallet (a wallet may
// echo what it was sent: the Pastella API prints the expected key).
func (t *transport) scrub(s string) string { return t.secrets.scrub(s) }

type scrubbed struct {
	err     error
	secrets *secretList
}

func (e *scrubbed) Error() string { return e.secrets.scrub(e.err.Error()) }
func (e *scrubbed) Unwrap() error { return e.err }

// snippet quotes the start of a reply for an error message.
func snippet(raw []byte) string {
	const max = 120
	s := strings.TrimSpace(string(raw))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%q", s)
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// validHash reports whether h is a 64-character hex transaction hash.
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
