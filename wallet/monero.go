package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/secret"
)

// monero-wallet-rpc error codes (src/wallet/wallet_rpc_server_error_codes.h).
const (
	MoneroUnknownError           = -1
	MoneroWrongAddress           = -2
	MoneroGenericTransferError   = -4
	MoneroWrongTxID              = -8
	MoneroNotOpen                = -13
	MoneroTxNotPossible          = -16
	MoneroNotEnoughMoney         = -17
	MoneroTxTooLarge             = -18
	MoneroNotEnoughOutsToMix     = -19
	MoneroZeroDestination        = -20
	MoneroBadHex                 = -26
	MoneroBadTxMetadata          = -27
	MoneroNotEnoughUnlockedMoney = -37
	MoneroNoDaemonConnection     = -38
	MoneroZeroAmount             = -46
)

// Monero is a client for monero-wallet-rpc (JSON-RPC at /json_rpc,
// optional digest auth). It is safe for concurrent use.
//
// A wallet opened with OpenWallet is opened again when the RPC answers that
// no wallet is open (-13), as monero-wallet-rpc --wallet-dir does after a
// restart; the call is then made once more, except relay_tx, whose -13
// stays a refusal for the payments journal to settle.
type Monero struct {
	t        *transport
	priority atomic.Uint32

	mu       sync.Mutex
	network  string        // the wallet's network, from its primary address
	file     string        // the wallet OpenWallet opened, "" for none
	password secret.Secret // its password

	reopenMu sync.Mutex // one reopen at a time
}

var _ Wallet = (*Monero)(nil)

// NewMonero returns a client for monero-wallet-rpc at url
// ("http://127.0.0.1:18082", with or without /json_rpc). user and
// password are its --rpc-login; leave user empty for --disable-rpc-login
// (credentials in the URL are taken too). Every call is bounded by
// timeout as well as by its ctx. log may be nil.
func NewMonero(name, url, user string, password secret.Secret, timeout time.Duration, log logrus.FieldLogger) *Monero {
	base, urlUser, urlPassword := splitBase(url)
	base = strings.TrimSuffix(base, "/json_rpc")
	pw := password
	if user == "" && urlUser != "" {
		user, pw = urlUser, secret.Secret(urlPassword)
	}
	var rt http.RoundTripper = plainTransport()
	if user != "" {
		rt = &digestTransport{user: user, password: pw, next: rt}
	}
	if log == nil {
		log = logrus.StandardLogger()
	}
	return &Monero{t: newTransport(name, base, timeout, rt, log.WithField("wallet", name), pw)}
}

// Name is the name given to NewMonero.
func (m *Monero) Name() string { return m.t.name }

// SetPriority sets the transfer priority: 0 default, 1 unimportant,
// 2 normal, 3 elevated, 4 priority.
func (m *Monero) SetPriority(p uint32) error {
	if p > 4 {
		return fmt.Errorf("wallet %s: priority %d: must be 0..4", m.t.name, p)
	}
	m.priority.Store(p)
	return nil
}

// OpenWallet opens a wallet file from the RPC's --wallet-dir.
func (m *Monero) OpenWallet(ctx context.Context, filename string, password secret.Secret) error {
	m.t.secrets.add(password)
	err := m.call(ctx, "open_wallet", map[string]any{"filename": filename, "password": password.Reveal()}, nil)
	if err == nil {
		m.mu.Lock()
		m.file, m.password = filename, password
		m.mu.Unlock()
		m.t.log.WithField("file", filename).Info("wallet opened")
	}
	return err
}

// reopen opens the wallet OpenWallet opened again, after the RPC said no
// wallet is open; it reports whether the wallet is open now.
func (m *Monero) reopen(ctx context.Context) bool {
	m.mu.Lock()
	file, password := m.file, m.password
	m.mu.Unlock()
	if file == "" {
		return false
	}
	m.reopenMu.Lock()
	defer m.reopenMu.Unlock()
	err := m.callOnce(ctx, "open_wallet", map[string]any{"filename": file, "password": password.Reveal()}, nil)
	log := m.t.log.WithField("file", file)
	if err != nil {
		log.Errorf("the wallet RPC has no wallet open (restarted?) and opening it again failed: %v", err)
		return false
	}
	log.Warn("the wallet RPC had no wallet open (restarted?): wallet opened again")
	return true
}

// PrimaryAddress returns the address of account 0 (get_address).
func (m *Monero) PrimaryAddress(ctx context.Context) (string, error) {
	var r struct {
		Address string `json:"address"`
	}
	if err := m.call(ctx, "get_address", map[string]any{"account_index": 0}, &r); err != nil {
		return "", err
	}
	if r.Address == "" {
		return "", m.t.fail("get_address", fmt.Errorf("%w: no address", ErrBadReply))
	}
	if a, err := cryptonote.Monero.ParseAddress(r.Address); err == nil {
		m.mu.Lock()
		m.network = a.Network
		m.mu.Unlock()
	}
	return r.Address, nil
}

// Refresh makes the wallet scan new blocks now rather than at its next
// auto-refresh.
func (m *Monero) Refresh(ctx context.Context) error {
	return m.call(ctx, "refresh", nil, nil)
}

// Balance refreshes, then returns account 0's balance and unlocked
// balance (get_balance).
func (m *Monero) Balance(ctx context.Context) (total, unlocked uint64, err error) {
	if err := m.Refresh(ctx); err != nil {
		return 0, 0, err
	}
	var r struct {
		Balance  *uint64 `json:"balance"`
		Unlocked *uint64 `json:"unlocked_balance"`
	}
	if err := m.call(ctx, "get_balance", map[string]any{"account_index": 0}, &r); err != nil {
		return 0, 0, err
	}
	if r.Balance == nil || r.Unlocked == nil {
		return 0, 0, m.t.fail("get_balance", fmt.Errorf("%w: balance or unlocked_balance missing", ErrBadReply))
	}
	return *r.Balance, *r.Unlocked, nil
}

type moneroDest struct {
	Amount  uint64 `json:"amount"`
	Address string `json:"address"`
}

// Prepare builds a transaction with transfer {do_not_relay, get_tx_metadata}.
// The wallet never relays such a transfer, so every error object it
// answers is a *RefusedError (-2 names the bad address). Transport
// failures and garbage are ambiguous errors, but no money can move: the
// transaction exists only in the reply that was lost.
func (m *Monero) Prepare(ctx context.Context, dests []Destination) (*Prepared, error) {
	const method = "transfer"
	ds := make([]moneroDest, 0, len(dests))
	var sum uint64
	for _, d := range dests {
		ds = append(ds, moneroDest{Amount: d.Amount, Address: d.Address})
		sum += d.Amount
	}
	params := map[string]any{
		"destinations":    ds,
		"account_index":   0,
		"priority":        m.priority.Load(),
		"get_tx_key":      false,
		"do_not_relay":    true,
		"get_tx_metadata": true,
	}
	var r struct {
		Hash     string  `json:"tx_hash"`
		Fee      *uint64 `json:"fee"`
		Amount   *uint64 `json:"amount"`
		Metadata string  `json:"tx_metadata"`
	}
	err := m.call(ctx, method, params, &r)
	var ae *APIError
	if errors.As(err, &ae) {
		return nil, m.t.fail(method, withNotOpen(ae, m.refusal(ctx, ae, dests)))
	}
	if err != nil {
		return nil, err
	}
	if !validHash(r.Hash) || r.Fee == nil || r.Metadata == "" {
		return nil, m.t.fail(method, fmt.Errorf("%w: tx_hash, fee or tx_metadata missing", ErrBadReply))
	}
	if r.Amount != nil && *r.Amount != sum {
		// The wallet built something other than what was asked: never relay it.
		return nil, m.t.fail(method, fmt.Errorf("%w: transaction pays %d, asked for %d", ErrBadReply, *r.Amount, sum))
	}
	return &Prepared{TxHash: strings.ToLower(r.Hash), Fee: *r.Fee, Handle: r.Metadata}, nil
}

// refusal names the bad destination of a -2: the wallet puts it in the
// message ("WALLET_RPC_ERROR_CODE_WRONG_ADDRESS: <address>"); failing that
// it is the first one that does not parse, or is of another network than
// the wallet's, or the only one.
func (m *Monero) refusal(ctx context.Context, ae *APIError, dests []Destination) *RefusedError {
	r := &RefusedError{Code: ae.Code, Reason: ae.Message}
	if ae.Code != MoneroWrongAddress {
		return r
	}
	for _, d := range dests {
		if d.Address != "" && strings.HasSuffix(ae.Message, ": "+d.Address) {
			r.BadAddress = d.Address
			return r
		}
	}
	for _, d := range dests {
		if _, err := cryptonote.Monero.ParseAddress(d.Address); err != nil {
			r.BadAddress = d.Address
			return r
		}
	}
	if net := m.walletNetwork(ctx); net != "" {
		for _, d := range dests {
			if a, err := cryptonote.Monero.ParseAddress(d.Address); err == nil && a.Network != net {
				r.BadAddress = d.Address
				return r
			}
		}
	}
	if len(dests) == 1 {
		r.BadAddress = dests[0].Address
	}
	return r
}

func (m *Monero) walletNetwork(ctx context.Context) string {
	m.mu.Lock()
	net := m.network
	m.mu.Unlock()
	if net == "" {
		if _, err := m.PrimaryAddress(ctx); err == nil {
			m.mu.Lock()
			net = m.network
			m.mu.Unlock()
		}
	}
	return net
}

// Relay sends a prepared transaction (relay_tx with its metadata). -13 (no
// wallet open), -26 and -27 (metadata unreadable) are *RefusedError: the
// wallet did not get as far as the daemon. Every other failure, -4 "Failed
// to commit tx." included, is ambiguous. As with Pastella, a refusal is
// conclusive only for a first Relay.
func (m *Monero) Relay(ctx context.Context, p *Prepared) error {
	const method = "relay_tx"
	var r struct {
		Hash string `json:"tx_hash"`
	}
	err := m.call(ctx, method, map[string]any{"hex": p.Handle}, &r)
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case MoneroNotOpen, MoneroBadHex, MoneroBadTxMetadata:
			return m.t.fail(method, withNotOpen(ae, &RefusedError{Code: ae.Code, Reason: ae.Message}))
		}
	}
	if err != nil {
		return err
	}
	if !strings.EqualFold(r.Hash, p.TxHash) {
		return m.t.fail(method, fmt.Errorf("%w: relayed %q, expected %s", ErrBadReply, r.Hash, p.TxHash))
	}
	return nil
}

// moneroTransfer is the part of a transfer_entry we read.
type moneroTransfer struct {
	TxID   string `json:"txid"`
	Type   string `json:"type"`
	Height uint64 `json:"height"`
	Fee    uint64 `json:"fee"`
}

// Lookup refreshes, then asks get_transfer_by_txid. "out" (and "in") are
// confirmed at their height, "pending" and "pool" pending, "failed"
// failed; -8 "not found" is TxUnknown. The wallet records a relayed
// transaction as pending when it relays it, so a refresh failure cannot
// make a sent transaction look unknown; it is still reported.
func (m *Monero) Lookup(ctx context.Context, txHash string) (*TxInfo, error) {
	const method = "get_transfer_by_txid"
	if !validHash(txHash) {
		// -8 also means "malformed id"; never let a typo read as "unknown".
		return nil, m.t.fail(method, fmt.Errorf("invalid transaction hash %q", txHash))
	}
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	var r struct {
		Transfer  *moneroTransfer  `json:"transfer"`
		Transfers []moneroTransfer `json:"transfers"`
	}
	err := m.call(ctx, method, map[string]any{"txid": strings.ToLower(txHash)}, &r)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == MoneroWrongTxID {
		return &TxInfo{State: TxUnknown}, nil
	}
	if err != nil {
		return nil, err
	}
	entries := r.Transfers
	if len(entries) == 0 && r.Transfer != nil {
		entries = []moneroTransfer{*r.Transfer}
	}
	// One transaction can be several entries (out, and in for a payment to
	// ourselves); the most settled one wins.
	var info *TxInfo
	for _, e := range entries {
		if !strings.EqualFold(e.TxID, txHash) {
			continue
		}
		var cand TxInfo
		switch e.Type {
		case "out", "in":
			cand = TxInfo{State: TxConfirmed, Height: e.Height, Fee: e.Fee}
		case "pending", "pool":
			cand = TxInfo{State: TxPending, Fee: e.Fee}
		case "failed":
			cand = TxInfo{State: TxFailed, Fee: e.Fee}
		default:
			continue
		}
		if info == nil || settledRank(cand.State) > settledRank(info.State) {
			info = &cand
		}
	}
	if info == nil {
		return nil, m.t.fail(method, fmt.Errorf("%w: no entry for %s", ErrBadReply, txHash))
	}
	return info, nil
}

// withNotOpen keeps ErrNotOpen visible on a refusal for -13.
func withNotOpen(ae *APIError, r *RefusedError) error {
	if ae.Code == MoneroNotOpen {
		return fmt.Errorf("%w: %w", ErrNotOpen, r)
	}
	return r
}

func settledRank(s TxState) int {
	switch s {
	case TxConfirmed:
		return 3
	case TxPending:
		return 2
	case TxFailed:
		return 1
	}
	return 0
}

// call makes one JSON-RPC call. A JSON-RPC error object comes back as
// *APIError (-13 also matches ErrNotOpen), 401 as ErrAuth; anything else
// that is not a result is ambiguous. On -13 the wallet OpenWallet opened
// is opened again and the call repeated, except relay_tx: a relay refused
// for want of a wallet is settled by the payments journal, never retried
// here.
func (m *Monero) call(ctx context.Context, method string, params, out any) error {
	err := m.callOnce(ctx, method, params, out)
	if err == nil || method == "open_wallet" || !errors.Is(err, ErrNotOpen) {
		return err
	}
	if !m.reopen(ctx) || method == "relay_tx" {
		return err
	}
	return m.callOnce(ctx, method, params, out)
}

// callOnce makes one JSON-RPC call, as call describes, without reopening.
func (m *Monero) callOnce(ctx context.Context, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "0", "method": method, "params": params})
	if err != nil {
		return m.t.fail(method, err)
	}
	start := time.Now()
	status, raw, err := m.t.roundTrip(ctx, http.MethodPost, "/json_rpc", nil, body)
	if err == nil {
		err = m.decode(method, status, raw, out)
	} else {
		err = m.t.fail(method, err)
	}
	if err != nil {
		m.t.log.WithFields(logrus.Fields{"call": method, "took": time.Since(start).Round(time.Millisecond)}).
			Debugf("wallet call failed: %v", err)
	}
	return err
}

// decode reads a JSON-RPC reply into out.
func (m *Monero) decode(method string, status int, raw []byte, out any) error {
	switch {
	case status == http.StatusUnauthorized:
		return m.t.fail(method, fmt.Errorf("%w (HTTP 401)", ErrAuth))
	case status != http.StatusOK:
		return m.t.fail(method, fmt.Errorf("HTTP %d: %s", status, m.t.scrub(snippet(raw))))
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return m.t.fail(method, fmt.Errorf("%w: %s", ErrBadReply, m.t.scrub(snippet(raw))))
	}
	if env.Error != nil {
		ae := &APIError{Wallet: m.t.name, Call: method, Code: env.Error.Code, Message: m.t.scrub(env.Error.Message)}
		if ae.Code == MoneroNotOpen {
			return m.t.fail(method, fmt.Errorf("%w: %w", ErrNotOpen, ae))
		}
		return m.t.fail(method, ae)
	}
	if len(env.Result) == 0 || string(env.Result) == "null" {
		return m.t.fail(method, fmt.Errorf("%w: neither result nor error: %s", ErrBadReply, m.t.scrub(snippet(raw))))
	}
	if out != nil {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return m.t.fail(method, fmt.Errorf("%w: %v", ErrBadReply, err))
		}
	}
	return nil
}
