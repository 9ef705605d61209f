package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/secret"
)

// Pastella-Wallet-API error codes (PastellaCore src/errors/Errors.h) that
// the calls used here can return.
const (
	PastellaWrongPassword         = 5
	PastellaNotEnoughBalance      = 11
	PastellaAddressWrongLength    = 12
	PastellaAddressWrongPrefix    = 13
	PastellaAddressNotBase58      = 14
	PastellaAddressNotValid       = 15
	PastellaFeeTooSmall           = 17
	PastellaNoDestinations        = 18
	PastellaAmountIsZero          = 19
	PastellaDaemonOffline         = 30
	PastellaDaemonError           = 31
	PastellaTooManyInputs         = 32
	PastellaDaemonStillProcessing = 55
	PastellaOutputDecomposition   = 56
	PastellaPreparedExpired       = 57
	PastellaPreparedNotFound      = 58
)

// Pastella is a client for Pastella-Wallet-API (REST, X-API-KEY). It is
// safe for concurrent use.
type Pastella struct {
	t      *transport
	apiKey *secret.Secret // a pointer, so that printing the client shows no key

	mu     sync.Mutex
	daemon *pastellaDaemon // sent with /wallet/open and /wallet/create
	dt     *transport      // that daemon's RPC, for Lookup; nil until SetDaemon
	opened *pastellaOpen   // how the wallet was opened, to reopen it
}

type pastellaDaemon struct {
	host string
	port int
	ssl  bool
}

type pastellaOpen struct {
	path     string // /wallet/open or /wallet/create
	filename string
	password secret.Secret
}

var _ Wallet = (*Pastella)(nil)

// NewPastella returns a client for the wallet API at baseURL
// ("http://127.0.0.1:21002"). Every call is bounded by timeout as well as
// by its ctx. apiKey is the API's --rpc-password. log may be nil.
func NewPastella(name, baseURL string, apiKey secret.Secret, timeout time.Duration, log logrus.FieldLogger) *Pastella {
	base, _, _ := splitBase(baseURL)
	if log == nil {
		log = logrus.StandardLogger()
	}
	return &Pastella{
		t:      newTransport(name, base, timeout, nil, log.WithField("wallet", name), apiKey),
		apiKey: &apiKey,
	}
}

// Name is the name given to NewPastella.
func (p *Pastella) Name() string { return p.t.name }

// SetDaemon sets the daemon Open and Create tell the wallet to use; without
// it the wallet API's default (127.0.0.1:21001) applies. Lookup asks that
// daemon too (name labels its calls), so that a transaction the wallet
// relayed but lost (killed before it saved) is still found.
func (p *Pastella) SetDaemon(name, host string, port int, ssl bool) {
	scheme := "http"
	if ssl {
		scheme = "https"
	}
	dt := newTransport(name, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port)), p.t.timeout, nil, p.t.log.WithField("daemon", name))
	dt.service = "daemon"
	p.mu.Lock()
	defer p.mu.Unlock()
	p.daemon = &pastellaDaemon{host: host, port: port, ssl: ssl}
	p.dt = dt
}

// Open opens the wallet file (a path on the wallet API's host). A wallet
// already open (HTTP 403) is fine: CheckAddress tells whether it is the
// right one. After it the client reopens the wallet by itself, as with
// OpenOnDemand.
func (p *Pastella) Open(ctx context.Context, filename string, password secret.Secret) error {
	return p.open(ctx, &pastellaOpen{path: "/wallet/open", filename: filename, password: password})
}

// OpenOnDemand makes the client open the wallet file whenever the API
// answers a call with 403 (no wallet open: it was never opened, or the
// Wallet-API restarted, which always comes back with none), then retry
// that call once: the 403 comes before the API acts, so the retry cannot
// do anything twice.
func (p *Pastella) OpenOnDemand(filename string, password secret.Secret) {
	p.t.secrets.add(password)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opened = &pastellaOpen{path: "/wallet/open", filename: filename, password: password}
}

// Create creates a new wallet file and opens it, as Open does. It fails
// with error 8 if the file exists.
func (p *Pastella) Create(ctx context.Context, filename string, password secret.Secret) error {
	return p.open(ctx, &pastellaOpen{path: "/wallet/create", filename: filename, password: password})
}

func (p *Pastella) open(ctx context.Context, o *pastellaOpen) error {
	call := "POST " + o.path
	p.t.secrets.add(o.password)
	status, raw, err := p.send(ctx, http.MethodPost, o.path, p.openBody(o))
	if err != nil {
		return p.t.fail(call, err)
	}
	switch {
	case status == http.StatusForbidden:
		p.t.log.WithField("file", o.filename).Info("wallet API already has a wallet open; using it")
	case status < 200 || status > 299:
		return p.failure(call, status, raw)
	default:
		p.t.log.WithField("file", o.filename).Info("wallet opened")
	}
	// Reopening always uses /wallet/open: the file exists by now.
	p.OpenOnDemand(o.filename, o.password)
	return nil
}

func (p *Pastella) openBody(o *pastellaOpen) map[string]any {
	body := map[string]any{"filename": o.filename, "password": o.password.Reveal()}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.daemon; d != nil {
		body["daemonHost"], body["daemonPort"], body["daemonSSL"] = d.host, d.port, d.ssl
	}
	return body
}

// PrimaryAddress returns the wallet's primary address (GET /addresses/primary).
func (p *Pastella) PrimaryAddress(ctx context.Context) (string, error) {
	var r struct {
		Address *string `json:"address"`
	}
	if err := p.get(ctx, "/addresses/primary", &r); err != nil {
		return "", err
	}
	if r.Address == nil || *r.Address == "" {
		return "", p.t.fail("GET /addresses/primary", fmt.Errorf("%w: no address", ErrBadReply))
	}
	return *r.Address, nil
}

// Balance returns unlocked+locked and unlocked (GET /balance).
func (p *Pastella) Balance(ctx context.Context) (total, unlocked uint64, err error) {
	var r struct {
		Unlocked *uint64 `json:"unlocked"`
		Locked   *uint64 `json:"locked"`
	}
	if err := p.get(ctx, "/balance", &r); err != nil {
		return 0, 0, err
	}
	if r.Unlocked == nil || r.Locked == nil {
		return 0, 0, p.t.fail("GET /balance", fmt.Errorf("%w: unlocked or locked missing", ErrBadReply))
	}
	return *r.Unlocked + *r.Locked, *r.Unlocked, nil
}

// PastellaStatus is GET /status. The block counts are one lower than the
// daemon's /info height.
type PastellaStatus struct {
	WalletBlockCount      uint64  `json:"walletBlockCount"`
	LocalDaemonBlockCount uint64  `json:"localDaemonBlockCount"`
	NetworkBlockCount     uint64  `json:"networkBlockCount"`
	PeerCount             uint64  `json:"peerCount"`
	Hashrate              float64 `json:"hashrate"`
	SubWalletCount        uint64  `json:"subWalletCount"`
}

// Status returns the wallet's sync status.
func (p *Pastella) Status(ctx context.Context) (*PastellaStatus, error) {
	var r PastellaStatus
	if err := p.get(ctx, "/status", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Synced fails with ErrNotSynced until the wallet has scanned every block
// its daemon has. A freshly opened wallet (after a Wallet-API restart)
// rescans from where it last saved, and until it is done its balance reads
// low or zero and it may take inputs that a transaction it lost already
// spent.
func (p *Pastella) Synced(ctx context.Context) error {
	st, err := p.Status(ctx)
	if err != nil {
		return err
	}
	if st.LocalDaemonBlockCount == 0 || st.WalletBlockCount < st.LocalDaemonBlockCount {
		return p.t.fail("GET /status", fmt.Errorf("%w: block %d of %d", ErrNotSynced, st.WalletBlockCount, st.LocalDaemonBlockCount))
	}
	return nil
}

type pastellaDest struct {
	Address string `json:"address"`
	Amount  uint64 `json:"amount"`
}

// Prepare builds a transaction without relaying it (POST
// /transactions/prepare/advanced). No fee is sent, so the wallet's minimum
// applies (1000 atomic units below height 10,000,000). The wallet locks
// the inputs the transaction spends until it is relayed; if it never is,
// they stay locked (see Discard). Every 400 is a *RefusedError: the
// prepare route never relays. Other failures are ambiguous only about the
// wallet's state; no money can move, since Relay needs the hash this call
// did not return.
func (p *Pastella) Prepare(ctx context.Context, dests []Destination) (*Prepared, error) {
	const call, path = "prepare", "/transactions/prepare/advanced"
	body := struct {
		Destinations []pastellaDest `json:"destinations"`
	}{Destinations: make([]pastellaDest, 0, len(dests))}
	for _, d := range dests {
		body.Destinations = append(body.Destinations, pastellaDest(d))
	}
	status, raw, err := p.request(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, p.t.fail(call, err)
	}
	if status == http.StatusBadRequest {
		if ae, ok := p.apiError(call, raw); ok {
			return nil, p.t.fail(call, p.refusal(ae, dests))
		}
	}
	if status < 200 || status > 299 {
		return nil, p.failure(call, status, raw)
	}
	var r struct {
		Hash    string  `json:"transactionHash"`
		Fee     *uint64 `json:"fee"`
		Relayed *bool   `json:"relayedToNetwork"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || !validHash(r.Hash) || r.Fee == nil {
		return nil, p.t.fail(call, fmt.Errorf("%w: HTTP %d: %s", ErrBadReply, status, snippet(raw)))
	}
	if r.Relayed != nil && *r.Relayed {
		// Never seen; if it happens, the transaction is out and the caller
		// must not treat this as "nothing sent".
		return nil, p.t.fail(call, fmt.Errorf("%w: prepare says transaction %s was relayed", ErrBadReply, r.Hash))
	}
	h := strings.ToLower(r.Hash)
	return &Prepared{TxHash: h, Fee: *r.Fee, Handle: h}, nil
}

// refusal turns the wallet's error for a prepare into a RefusedError,
// naming the bad destination for codes 12-15. The API does not name it, so
// it is found by parsing the destinations in order and stopping at the
// first bad one, as the wallet does.
func (p *Pastella) refusal(ae *APIError, dests []Destination) *RefusedError {
	r := &RefusedError{Code: ae.Code, Reason: ae.Message}
	if ae.Code < PastellaAddressWrongLength || ae.Code > PastellaAddressNotValid {
		return r
	}
	for _, d := range dests {
		if _, err := cryptonote.Pastella.ParseAddress(d.Address); err != nil {
			r.BadAddress = d.Address
			return r
		}
	}
	if len(dests) == 1 {
		r.BadAddress = dests[0].Address
	}
	return r
}

// Relay sends the prepared transaction (POST /transactions/send/prepared).
// Error 57 (its inputs are spent or gone; the wallet drops it) and an
// empty 400 are *RefusedError. Error 58 is ErrPreparedNotFound and, like
// 30, 31, 55, 5xx and lost replies, ambiguous. A refusal is conclusive
// only for a first Relay: after an ambiguous one the transaction may be
// out (the daemon has it though the wallet did not record it); settle
// such a payment with Lookup and the daemon, never by relaying again.
func (p *Pastella) Relay(ctx context.Context, pr *Prepared) error {
	const call, path = "relay", "/transactions/send/prepared"
	if !validHash(pr.Handle) {
		return p.t.fail(call, fmt.Errorf("invalid prepared transaction hash %q", pr.Handle))
	}
	status, raw, err := p.request(ctx, http.MethodPost, path, map[string]string{"transactionHash": pr.Handle})
	if err != nil {
		return p.t.fail(call, err)
	}
	if status == http.StatusBadRequest {
		if ae, ok := p.apiError(call, raw); ok {
			switch ae.Code {
			case 0, PastellaPreparedExpired:
				return p.t.fail(call, &RefusedError{Code: ae.Code, Reason: ae.Message})
			case PastellaPreparedNotFound:
				return p.t.fail(call, fmt.Errorf("%w: %w", ErrPreparedNotFound, ae))
			}
			return p.t.fail(call, ae)
		}
	}
	if status < 200 || status > 299 {
		return p.failure(call, status, raw)
	}
	var r struct {
		Hash string `json:"transactionHash"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || !validHash(r.Hash) {
		return p.t.fail(call, fmt.Errorf("%w: HTTP %d: %s", ErrBadReply, status, snippet(raw)))
	}
	if !strings.EqualFold(r.Hash, pr.TxHash) {
		return p.t.fail(call, fmt.Errorf("%w: relayed %s, expected %s", ErrBadReply, r.Hash, pr.TxHash))
	}
	return nil
}

// Discard drops a prepared transaction from the wallet (DELETE
// /transactions/prepared/<hash>), so that it can never be relayed, and
// reports whether the wallet still held it. The Wallet-API keeps the
// transaction's inputs locked all the same (also across a restart once it
// has saved); only PUT /reset, a rescan, frees them. A relay the wallet
// had already begun when the transaction was dropped still goes out: it
// works on a copy.
func (p *Pastella) Discard(ctx context.Context, pr *Prepared) (bool, error) {
	const call = "discard"
	if !validHash(pr.Handle) {
		return false, p.t.fail(call, fmt.Errorf("invalid prepared transaction hash %q", pr.Handle))
	}
	found, _, err := p.optional(ctx, call, http.MethodDelete, "/transactions/prepared/"+pr.Handle)
	return found, err
}

// optional makes a call whose 404 means "not there" rather than failure.
func (p *Pastella) optional(ctx context.Context, call, verb, path string) (bool, []byte, error) {
	status, raw, err := p.request(ctx, verb, path, nil)
	switch {
	case err != nil:
		return false, nil, p.t.fail(call, err)
	case status == http.StatusNotFound:
		return false, nil, nil
	case status < 200 || status > 299:
		return false, nil, p.failure(call, status, raw)
	}
	return true, raw, nil
}

// get makes a GET whose success is a JSON object decoded into out.
func (p *Pastella) get(ctx context.Context, path string, out any) error {
	call := "GET " + path
	status, raw, err := p.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return p.t.fail(call, err)
	}
	if status < 200 || status > 299 {
		return p.failure(call, status, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return p.t.fail(call, fmt.Errorf("%w: %s", ErrBadReply, snippet(raw)))
	}
	return nil
}

// request sends a call; on 403 it reopens the wallet once (see Open) and
// retries.
func (p *Pastella) request(ctx context.Context, verb, path string, in any) (int, []byte, error) {
	status, raw, err := p.send(ctx, verb, path, in)
	if err != nil || status != http.StatusForbidden {
		return status, raw, err
	}
	p.mu.Lock()
	o := p.opened
	p.mu.Unlock()
	if o == nil {
		return status, raw, nil
	}
	p.t.log.WithField("file", o.filename).Warn("wallet API has no wallet open (restarted?); opening it again")
	if err := p.open(ctx, o); err != nil {
		p.t.log.Errorf("reopening the wallet failed: %v", err)
		return status, raw, nil
	}
	return p.send(ctx, verb, path, in)
}

func (p *Pastella) send(ctx context.Context, verb, path string, in any) (int, []byte, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, nil, err
		}
	}
	h := http.Header{}
	h.Set("X-API-KEY", p.apiKey.Reveal())
	start := time.Now()
	status, raw, err := p.t.roundTrip(ctx, verb, path, h, body)
	// 404 is how lookups and Discard say "not here", not a failure.
	if err != nil || (status < 200 || status > 299) && status != http.StatusNotFound {
		fields := logrus.Fields{"call": verb + " " + path, "took": time.Since(start).Round(time.Millisecond)}
		if err != nil {
			p.t.log.WithFields(fields).Debugf("wallet call failed: %v", p.t.scrub(err.Error()))
		} else {
			p.t.log.WithFields(fields).Debugf("wallet call failed: HTTP %d %s", status, p.t.scrub(snippet(raw)))
		}
	}
	return status, raw, err
}

// apiError reads a 400 body: {"errorCode","errorMessage"} from a handler,
// or empty when a JSON key was missing (the API caught the exception
// before doing anything). Anything else is not the API talking.
func (p *Pastella) apiError(call string, raw []byte) (*APIError, bool) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return &APIError{Wallet: p.t.name, Call: call, Message: "bad request (a required key is missing)"}, true
	}
	var r struct {
		Code    *int   `json:"errorCode"`
		Message string `json:"errorMessage"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Code == nil {
		return nil, false
	}
	return &APIError{Wallet: p.t.name, Call: call, Code: *r.Code, Message: p.t.scrub(r.Message)}, true
}

// failure reads a reply that is not the call's success. 401 and 403 come
// from the API's middleware before any handler runs, so nothing was done;
// a 400 is the wallet's own error; anything else (5xx, a body that is not
// the API's) is ambiguous.
func (p *Pastella) failure(call string, status int, raw []byte) error {
	switch status {
	case http.StatusUnauthorized:
		return p.t.fail(call, fmt.Errorf("%w (HTTP 401)", ErrAuth))
	case http.StatusForbidden:
		return p.t.fail(call, fmt.Errorf("%w: %w (HTTP 403)", ErrAuth, ErrNotOpen))
	case http.StatusBadRequest:
		if ae, ok := p.apiError(call, raw); ok {
			return p.t.fail(call, ae)
		}
		return p.t.fail(call, fmt.Errorf("%w: HTTP 400: %s", ErrBadReply, p.t.scrub(snippet(raw))))
	}
	if status >= 200 && status <= 299 {
		return p.t.fail(call, fmt.Errorf("%w: HTTP %d: %s", ErrBadReply, status, p.t.scrub(snippet(raw))))
	}
	return p.t.fail(call, fmt.Errorf("HTTP %d: %s", status, p.t.scrub(snippet(raw))))
}
