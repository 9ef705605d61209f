// Package wallettest provides a fake Pastella-Wallet-API for tests: the
// real API's replies (PastellaCore src/walletapi/ApiDispatcher.cpp: 201 on
// prepare and send, 400 {errorCode, errorMessage}, empty 400/401/403/404/
// 500, wrong HTTP reason phrases, pretty-printed JSON), an internal ledger
// that says exactly what was paid, and fault injection per call. It also
// answers the daemon's POST /get_transactions_status from its ledger (and
// its GET /info), so a client told to use it as its daemon too can look
// transactions up there.
//
// It is for the faults the real programs cannot be made to produce on
// demand (a reply lost after the wallet acted, a hang, garbage, a 5xx, a
// secret echoed in an error) and for tests that need hundreds of payouts
// without mining (the crash test). What the real Wallet-API does is tested
// on it (wallet/pastella_real_test.go); where the two differ, the real one
// is right and this fake is fixed.
//
// In a test, NewFakePastella(t) serves it on a loopback port until the
// test ends. To drive a payments process in a subprocess (a crash test),
// build it with New, start it with Serve("127.0.0.1:0") in the test
// process, pass the returned URL and APIKey to the subprocess, and inspect
// the ledger between runs: the fake outlives every process that talks to
// it, as a real wallet would.
package wallettest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/edwards25519"

	"rxpool/cryptonote"
	"rxpool/wallet"
)

// Routes, as "METHOD path" (the hash in a path left out), for Inject,
// SetFaultFunc and Calls.
const (
	RouteOpen        = "POST /wallet/open"
	RouteCreate      = "POST /wallet/create"
	RoutePrimary     = "GET /addresses/primary"
	RouteBalance     = "GET /balance"
	RouteStatus      = "GET /status"
	RoutePrepare     = "POST /transactions/prepare/advanced"
	RouteSend        = "POST /transactions/send/advanced"
	RouteRelay       = "POST /transactions/send/prepared"
	RouteLookup      = "GET /transactions/hash"
	RouteUnconfirmed = "GET /transactions/unconfirmed"
	RouteDiscard     = "DELETE /transactions/prepared"
	// The daemon's routes (no API key).
	RouteDaemonStatus   = "POST /get_transactions_status"
	RouteDaemonInfo     = "GET /info"
	RouteDaemonSyncData = "POST /getwalletsyncdata"
)

// Defaults of Options.
const (
	DefaultAPIKey   = "fake-api-key"
	DefaultFile     = "pool.wallet"
	DefaultPassword = "fake-wallet-password"
	DefaultFee      = 1000 // the API's flat minimum fee below height 10,000,000
	maxOutputs      = 90   // NORMAL_TX_MAX_OUTPUT_COUNT_V1, change included
)

// Options configure a fake. Zero values take the defaults.
type Options struct {
	APIKey         string
	Address        string // the primary address; Address(0) by default
	WalletFile     string // a wallet file /wallet/open accepts
	WalletPassword string
	Closed         bool // start with no wallet open (as after a restart)
	Unlocked       uint64
	Locked         uint64
	Fee            uint64
	Height         uint64 // block count; 100 by default
}

// TxState is where a transaction is in the fake's ledger.
type TxState int

const (
	TxPrepared  TxState = iota // built, not relayed; its amount is held
	TxPending                  // relayed, not mined
	TxConfirmed                // mined (MineBlock)
	TxExpired                  // relay refused with 57; never sent
	TxDiscarded                // dropped by DELETE or a restart; never sent
)

func (s TxState) String() string {
	return [...]string{"prepared", "pending", "confirmed", "expired", "discarded"}[s]
}

// Tx is a transaction in the ledger.
type Tx struct {
	Hash   string
	Dests  []wallet.Destination
	Fee    uint64
	State  TxState
	Height uint64 // when confirmed
	// OffChain: confirmed in a block a reorg replaced (Reorg).
	OffChain bool
}

func (t Tx) sum() uint64 {
	var s uint64
	for _, d := range t.Dests {
		s += d.Amount
	}
	return s
}

// FakePastella is the fake wallet API. All methods are safe for concurrent
// use.
type FakePastella struct {
	apiKey  string
	address string

	mu       sync.Mutex
	files    map[string]string // wallet file -> password
	open     bool
	unlocked uint64
	locked   uint64
	held     uint64 // locked by prepared transactions: in neither balance
	behind   bool   // the daemon's /info says it is behind the network
	fee      uint64
	height   uint64
	txs      map[string]*Tx
	order    []string // hashes in the order they were prepared
	relayed  []string // hashes in the order they were relayed
	received map[string]uint64
	calls    map[string]int
	faults   map[string][]Fault
	faultFn  func(route string, n int) *Fault

	daemonStart time.Time // the daemon's /info start_time

	done     chan struct{}
	doneOnce sync.Once
	srv      *http.Server
	url      string
}

// New builds a fake that is not serving yet: see Handler and Serve.
func New(opts Options) *FakePastella {
	f := &FakePastella{
		apiKey:   opts.APIKey,
		address:  opts.Address,
		files:    map[string]string{},
		open:     !opts.Closed,
		unlocked: opts.Unlocked,
		locked:   opts.Locked,
		fee:      opts.Fee,
		height:   opts.Height,
		txs:      map[string]*Tx{},
		received: map[string]uint64{},
		calls:    map[string]int{},
		faults:   map[string][]Fault{},
		done:     make(chan struct{}),
		// Started a while ago, as a daemon the pool has used for long.
		daemonStart: time.Now().Add(-time.Hour),
	}
	if f.apiKey == "" {
		f.apiKey = DefaultAPIKey
	}
	if f.address == "" {
		f.address = Address(0)
	}
	if f.fee == 0 {
		f.fee = DefaultFee
	}
	if f.height == 0 {
		f.height = 100
	}
	file, pw := opts.WalletFile, opts.WalletPassword
	if file == "" {
		file, pw = DefaultFile, DefaultPassword
	}
	f.files[file] = pw
	return f
}

// NewFakePastella serves a fake with default options on a loopback port
// until t ends.
func NewFakePastella(t testing.TB) *FakePastella { return Start(t, Options{}) }

// Start serves a fake with opts on a loopback port until t ends.
func Start(t testing.TB, opts Options) *FakePastella {
	t.Helper()
	f := New(opts)
	if _, err := f.Serve("127.0.0.1:0"); err != nil {
		t.Fatalf("wallettest: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// Serve listens on addr ("127.0.0.1:0" for any free port) and serves the
// fake in the background. It returns the base URL to give a client.
func (f *FakePastella) Serve(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: f.Handler(), ReadHeaderTimeout: 10 * time.Second}
	f.mu.Lock()
	f.srv, f.url = srv, "http://"+ln.Addr().String()
	f.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return f.url, nil
}

// URL is the base URL Serve returned.
func (f *FakePastella) URL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.url
}

// APIKey is the key clients must send.
func (f *FakePastella) APIKey() string { return f.apiKey }

// PrimaryAddress is the fake wallet's address.
func (f *FakePastella) PrimaryAddress() string { return f.address }

// Close releases hanging calls and stops serving.
func (f *FakePastella) Close() {
	f.doneOnce.Do(func() { close(f.done) })
	f.mu.Lock()
	srv := f.srv
	f.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// ---- ledger ----

// Balance returns the wallet's unlocked and locked balance.
func (f *FakePastella) Balance() (unlocked, locked uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unlocked, f.locked
}

// Held is what prepared transactions hold: like the real wallet, prepare
// locks what a transaction spends, relay spends it, a 57 refusal gives it
// back, and a discard keeps it (PastellaCore forgets to unlock it).
func (f *FakePastella) Held() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

// SetBalance sets the unlocked and locked balance.
func (f *FakePastella) SetBalance(unlocked, locked uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unlocked, f.locked = unlocked, locked
}

// SetFee sets the fee of every later transaction.
func (f *FakePastella) SetFee(fee uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fee = fee
}

// Received is the total relayed to address so far (pending or confirmed).
func (f *FakePastella) Received(address string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received[address]
}

// ReceivedAll is Received for every address paid.
func (f *FakePastella) ReceivedAll() map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]uint64, len(f.received))
	for a, v := range f.received {
		out[a] = v
	}
	return out
}

// Relayed returns the relayed transactions in relay order.
func (f *FakePastella) Relayed() []Tx { return f.snapshot(func() []string { return f.relayed }) }

// Transactions returns every transaction ever prepared, in order, with
// its state.
func (f *FakePastella) Transactions() []Tx { return f.snapshot(func() []string { return f.order }) }

// snapshot copies the transactions listed by hashes (read under the lock).
func (f *FakePastella) snapshot(hashes func() []string) []Tx {
	f.mu.Lock()
	defer f.mu.Unlock()
	hs := hashes()
	out := make([]Tx, 0, len(hs))
	for _, h := range hs {
		out = append(out, f.txs[h].clone())
	}
	return out
}

// Tx returns one transaction by hash.
func (f *FakePastella) Tx(hash string) (Tx, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.txs[strings.ToLower(hash)]
	if !ok {
		return Tx{}, false
	}
	return t.clone(), true
}

func (t *Tx) clone() Tx {
	c := *t
	c.Dests = slices.Clone(t.Dests)
	return c
}

// Height is the daemon's height (the block count /info reports).
func (f *FakePastella) Height() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.height
}

// MineBlock confirms every pending transaction in a new block and returns
// its height.
func (f *FakePastella) MineBlock() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.height++
	for _, h := range f.relayed {
		if t := f.txs[h]; t.State == TxPending {
			t.State, t.Height = TxConfirmed, f.height
		}
	}
	return f.height
}

// Reorg replaces the blocks from height on as Pastellad v1.0.3 does (see
// wallet/pastella_mainchain.go): their transactions leave the main chain
// (/getwalletsyncdata no longer lists them), yet the daemon still says "in
// a block", none goes back to the pool, and the wallet keeps listing them
// at their old heights (a wallet that has not synced past the reorg).
func (f *FakePastella) Reorg(height uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.relayed {
		if t := f.txs[h]; t.State == TxConfirmed && t.Height >= height {
			t.OffChain = true
		}
	}
}

// Restart behaves like a crash and restart of the wallet API process: no
// wallet open, prepared transactions forgotten, and what they held free
// again (the locks were not saved). Relayed ones stay (they are in the
// wallet file and on the chain).
func (f *FakePastella) Restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open = false
	for _, t := range f.txs {
		if t.State == TxPrepared {
			t.State = TxDiscarded
			f.release(t)
		}
	}
}

// release gives a prepared transaction's held amount back.
func (f *FakePastella) release(t *Tx) {
	cost := t.sum() + t.Fee
	f.held -= cost
	f.unlocked += cost
}

// ---- faults ----

// Inject queues faults for the next calls of route, one per call.
func (f *FakePastella) Inject(route string, faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[route] = append(f.faults[route], faults...)
}

// SetFaultFunc decides faults for calls with no queued fault: fn gets the
// route and the call's number on it (1 for the first) and returns nil for
// a normal reply. It runs with the fake's lock held, so it must not call
// the fake. nil removes it.
func (f *FakePastella) SetFaultFunc(fn func(route string, n int) *Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faultFn = fn
}

// Calls is how many calls route has had.
func (f *FakePastella) Calls(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

// Address returns a valid Pastella address, a different one for each i.
func Address(i int) string {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i)+1)
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic(err)
	}
	var key [32]byte
	copy(key[:], new(edwards25519.Point).ScalarBaseMult(s).Bytes())
	a, err := cryptonote.Pastella.NewAddress("mainnet", cryptonote.AddressStandard, key, [32]byte{}, [8]byte{})
	if err != nil {
		panic(err)
	}
	return a.Text
}

// ---- HTTP ----

// reply is what a handler answers: status and body (nil for empty).
type reply struct {
	status int
	body   any
}

var hashPath = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// Handler serves the API.
func (f *FakePastella) Handler() http.Handler { return http.HandlerFunc(f.serve) }

func (f *FakePastella) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	route, arg := routeOf(r)

	f.mu.Lock()
	f.calls[route]++
	fault := f.nextFault(route)
	f.mu.Unlock()

	var rep reply
	if fault == nil || fault.Act {
		rep = f.handle(r, route, arg, raw)
	}
	if fault == nil {
		writeRaw(w, rep.status, encode(rep.body))
		return
	}
	switch fault.Reply {
	case ReplyError:
		msg := fault.Message
		if msg == "" {
			msg = fmt.Sprintf("injected error %d", fault.Code)
		}
		writeRaw(w, http.StatusBadRequest, encode(map[string]any{"errorCode": fault.Code, "errorMessage": msg}))
	case ReplyStatus:
		writeRaw(w, fault.Status, nil)
	case ReplyDrop:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	case ReplyHang:
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	case ReplyGarbage:
		writeRaw(w, successStatus(route), []byte("<html>\x00\xff garbage {\"transactionHash\":"))
	}
}

func (f *FakePastella) nextFault(route string) *Fault {
	if q := f.faults[route]; len(q) > 0 {
		fault := q[0]
		f.faults[route] = q[1:]
		return &fault
	}
	if f.faultFn != nil {
		return f.faultFn(route, f.calls[route])
	}
	return nil
}

func routeOf(r *http.Request) (route, arg string) {
	p := r.URL.Path
	for _, prefix := range []string{"/transactions/hash/", "/transactions/prepared/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			return r.Method + " " + strings.TrimSuffix(prefix, "/"), rest
		}
	}
	return r.Method + " " + p, ""
}

func successStatus(route string) int {
	switch route {
	case RoutePrepare, RouteSend, RouteRelay:
		return http.StatusCreated
	}
	return http.StatusOK
}

// handle is the API proper: authentication, the wallet-state check, then
// the route's handler, in the real middleware's order.
func (f *FakePastella) handle(r *http.Request, route, arg string, raw []byte) reply {
	switch route {
	case RouteDaemonStatus:
		return f.daemonStatus(raw)
	case RouteDaemonInfo:
		return f.daemonInfo()
	case RouteDaemonSyncData:
		return f.daemonSyncData(raw)
	}
	if r.Header.Get("X-API-KEY") != f.apiKey {
		return reply{status: http.StatusUnauthorized}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	wantOpen := route != RouteOpen && route != RouteCreate
	switch {
	case !knownRoute(route) || arg != "" && !hashPath.MatchString(arg):
		return reply{status: http.StatusNotFound}
	case wantOpen != f.open:
		return reply{status: http.StatusForbidden}
	}
	switch route {
	case RouteOpen, RouteCreate:
		return f.openWallet(route == RouteCreate, raw)
	case RoutePrimary:
		return reply{200, map[string]any{"address": f.address}}
	case RouteBalance:
		return reply{200, map[string]any{"unlocked": f.unlocked, "locked": f.locked}}
	case RouteStatus:
		return reply{200, map[string]any{"walletBlockCount": f.height, "localDaemonBlockCount": f.height,
			"networkBlockCount": f.height, "peerCount": 8, "hashrate": 0, "subWalletCount": 1}}
	case RoutePrepare, RouteSend:
		return f.prepare(raw, route == RouteSend)
	case RouteRelay:
		var req struct {
			Hash *string `json:"transactionHash"`
		}
		if json.Unmarshal(raw, &req) != nil || req.Hash == nil || !hashPath.MatchString(*req.Hash) {
			return reply{status: http.StatusBadRequest}
		}
		return f.relay(strings.ToLower(*req.Hash))
	case RouteLookup:
		t := f.txs[strings.ToLower(arg)]
		if t == nil || t.State != TxConfirmed {
			// The API searches only confirmed transactions here.
			return reply{status: http.StatusNotFound}
		}
		return reply{200, map[string]any{"transaction": f.txJSON(t)}}
	case RouteUnconfirmed:
		list := []any{}
		for _, h := range f.relayed {
			if t := f.txs[h]; t.State == TxPending {
				list = append(list, f.txJSON(t))
			}
		}
		return reply{200, map[string]any{"transactions": list}}
	case RouteDiscard:
		// What it held stays held, as in the real wallet.
		if t := f.txs[strings.ToLower(arg)]; t != nil && t.State == TxPrepared {
			t.State = TxDiscarded
			return reply{status: http.StatusOK}
		}
		return reply{status: http.StatusNotFound}
	}
	return reply{status: http.StatusNotFound}
}

// daemonStatus answers the daemon's POST /get_transactions_status from the
// ledger: relayed transactions are in the pool or in a block, any other
// hash is unknown (compact JSON, as Pastellad writes it).
func (f *FakePastella) daemonStatus(raw []byte) reply {
	var req struct {
		Hashes []string `json:"transactionHashes"`
	}
	if json.Unmarshal(raw, &req) != nil {
		return reply{http.StatusBadRequest, map[string]any{"status": "Failed", "error": "Failed to parse request body as JSON"}}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{"transactionsInPool": {}, "transactionsInBlock": {}, "transactionsUnknown": {}}
	for _, h := range req.Hashes {
		list := "transactionsUnknown"
		if t := f.txs[strings.ToLower(h)]; t != nil && t.State == TxPending {
			list = "transactionsInPool"
		} else if t != nil && t.State == TxConfirmed {
			list = "transactionsInBlock"
		}
		out[list] = append(out[list], strings.ToLower(h))
	}
	b, _ := json.Marshal(struct {
		InBlock []string `json:"transactionsInBlock"`
		InPool  []string `json:"transactionsInPool"`
		Unknown []string `json:"transactionsUnknown"`
		Status  string   `json:"status"`
	}{out["transactionsInBlock"], out["transactionsInPool"], out["transactionsUnknown"], "OK"})
	return reply{http.StatusOK, json.RawMessage(b)}
}

// daemonSyncData answers the daemon's POST /getwalletsyncdata from the
// ledger: the main chain's blocks from startHeight (from 1 when it is 0:
// the fake keeps no timestamps), up to blockCount, each listing the
// transactions confirmed at its height.
func (f *FakePastella) daemonSyncData(raw []byte) reply {
	var req struct {
		StartHeight uint64 `json:"startHeight"`
		BlockCount  uint64 `json:"blockCount"`
	}
	if json.Unmarshal(raw, &req) != nil {
		return reply{http.StatusBadRequest, map[string]any{"status": "Failed", "error": "Failed to parse request body as JSON"}}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	type tx struct {
		Hash string `json:"hash"`
	}
	type block struct {
		Height uint64 `json:"blockHeight"`
		Txs    []tx   `json:"transactions"`
	}
	top := f.height // the fake confirms at its height (MineBlock)
	items := []block{}
	for h := max(req.StartHeight, 1); h <= top && uint64(len(items)) < max(req.BlockCount, 1); h++ {
		b := block{Height: h, Txs: []tx{}}
		for _, x := range f.relayed {
			if t := f.txs[x]; t.State == TxConfirmed && t.Height == h && !t.OffChain {
				b.Txs = append(b.Txs, tx{x})
			}
		}
		items = append(items, b)
	}
	// As Pastellad: "synced" when the blocks reach the top, and only then
	// the top block.
	out := map[string]any{"items": items, "synced": false, "status": "OK"}
	if len(items) == 0 || items[len(items)-1].Height == top {
		out["synced"], out["topBlock"] = true, map[string]any{"height": top}
	}
	b, _ := json.Marshal(out)
	return reply{http.StatusOK, json.RawMessage(b)}
}

// RestartDaemon makes the daemon's /info report that it started now.
func (f *FakePastella) RestartDaemon() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.daemonStart = time.Now()
}

// SetDaemonBehind makes the daemon's /info say it is a block behind the
// network (true) or caught up (false, the default).
func (f *FakePastella) SetDaemonBehind(behind bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behind = behind
}

// daemonInfo is the part of the daemon's GET /info clients read.
func (f *FakePastella) daemonInfo() reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	network := f.height
	if f.behind {
		network++
	}
	b, _ := json.Marshal(map[string]any{"height": f.height, "network_height": network, "synced": !f.behind, "status": "OK",
		"start_time": f.daemonStart.Unix()})
	return reply{http.StatusOK, json.RawMessage(b)}
}

func knownRoute(route string) bool {
	switch route {
	case RouteOpen, RouteCreate, RoutePrimary, RouteBalance, RouteStatus, RoutePrepare,
		RouteSend, RouteRelay, RouteLookup, RouteUnconfirmed, RouteDiscard:
		return true
	}
	return false
}

func apiErr(code int, msg string) reply {
	return reply{http.StatusBadRequest, map[string]any{"errorCode": code, "errorMessage": msg}}
}

func (f *FakePastella) openWallet(create bool, raw []byte) reply {
	var req struct {
		Filename *string `json:"filename"`
		Password *string `json:"password"`
	}
	if json.Unmarshal(raw, &req) != nil || req.Filename == nil || req.Password == nil {
		return reply{status: http.StatusBadRequest}
	}
	pw, exists := f.files[*req.Filename]
	switch {
	case create && exists:
		return apiErr(8, "The wallet file you are attempting to create already exists. Please delete it first.")
	case create:
		f.files[*req.Filename] = *req.Password
	case !exists:
		return apiErr(1, "The filename you are attempting to open does not exist, or the wallet does not have permission to open it.")
	case pw != *req.Password:
		return apiErr(wallet.PastellaWrongPassword, "The password given for this wallet is incorrect.")
	}
	f.open = true
	return reply{status: http.StatusOK}
}

// prepare validates like the wallet (Core ValidateParameters.cpp, then
// Transfer.cpp): destinations present, amounts non-zero, addresses, no
// overflow, balance, outputs. A fake transaction spends exactly its
// amounts and fee; change is not modelled.
func (f *FakePastella) prepare(raw []byte, send bool) reply {
	var req struct {
		Destinations *[]struct {
			Address *string `json:"address"`
			Amount  *uint64 `json:"amount"`
		} `json:"destinations"`
	}
	if json.Unmarshal(raw, &req) != nil || req.Destinations == nil {
		return reply{status: http.StatusBadRequest}
	}
	var dests []wallet.Destination
	for _, d := range *req.Destinations {
		if d.Address == nil || d.Amount == nil {
			return reply{status: http.StatusBadRequest}
		}
		dests = append(dests, wallet.Destination{Address: *d.Address, Amount: *d.Amount})
	}
	if len(dests) == 0 {
		return apiErr(wallet.PastellaNoDestinations, "The destinations array (amounts/addresses) is empty.")
	}
	for _, d := range dests {
		if d.Amount == 0 {
			return apiErr(wallet.PastellaAmountIsZero, "One of the destination parameters has an amount given of zero.")
		}
	}
	for _, d := range dests {
		if rep, bad := validateAddress(d.Address); bad {
			return rep
		}
	}
	var sum uint64
	for _, d := range dests {
		if sum+d.Amount < sum {
			return apiErr(9, "This operation will cause integer overflow. Please decrease the amounts you are sending.")
		}
		sum += d.Amount
	}
	if sum > f.unlocked || sum+f.fee > f.unlocked || sum+f.fee < sum {
		return apiErr(wallet.PastellaNotEnoughBalance, "Not enough unlocked funds were found to cover this transaction in the subwallets specified (or all wallets, if not specified). (Sum of amounts + fee + node fee)")
	}
	if len(dests)+1 > maxOutputs {
		return apiErr(wallet.PastellaOutputDecomposition, "The transaction contains more outputs than what is permitted by the number of inputs that have been supplied for the transaction. Please try to send your transaction again. If the problem persists, please reduce the number of destinations that you are trying to send to.")
	}
	t := &Tx{Hash: newHash(), Dests: dests, Fee: f.fee, State: TxPrepared}
	f.txs[t.Hash] = t
	f.order = append(f.order, t.Hash)
	f.unlocked -= sum + f.fee
	f.held += sum + f.fee
	if send {
		if rep := f.relay(t.Hash); rep.status != http.StatusCreated {
			return rep
		}
	}
	return reply{http.StatusCreated, map[string]any{"transactionHash": t.Hash, "fee": t.Fee, "relayedToNetwork": send}}
}

// validateAddress mirrors validateAddresses: length, then the "PAS"
// prefix, then the full parse.
func validateAddress(a string) (reply, bool) {
	const length = 54
	switch {
	case len(a) != length:
		return apiErr(wallet.PastellaAddressWrongLength, fmt.Sprintf("The address should be %d characters, but it is %d characters. Integrated addresses are not supported in transparent mode.", length, len(a))), true
	case !strings.HasPrefix(a, "PAS"):
		return apiErr(wallet.PastellaAddressWrongPrefix, "The address does not have the correct prefix corresponding to this coin - it appears to be an address for another cryptocurrency."), true
	}
	if _, err := cryptonote.Pastella.ParseAddress(a); err != nil {
		return apiErr(wallet.PastellaAddressNotValid, "The address given is not valid. Possibly invalid checksum. Most likely a typo."), true
	}
	return reply{}, false
}

func (f *FakePastella) relay(hash string) reply {
	t := f.txs[hash]
	if t == nil || t.State != TxPrepared {
		return apiErr(wallet.PastellaPreparedNotFound, "The prepared transaction hash given does not exist, either because it never existed or because the wallet process was restarted and the previously prepared transactions were lost. Please re-prepare and re-send the transaction, ensuring you specify the correct transaction hash.")
	}
	f.held -= t.sum() + t.Fee
	t.State = TxPending
	f.relayed = append(f.relayed, hash)
	for _, d := range t.Dests {
		f.received[d.Address] += d.Amount
	}
	return reply{http.StatusCreated, map[string]any{"transactionHash": hash}}
}

// txJSON is WalletTypes::Transaction as the API prints it, from the
// sending wallet's side: one transfer, our address, minus what left. (The
// real API writes that while the transaction is unconfirmed; once mined it
// writes the change received instead, which the fake cannot know. Clients
// read only hash, fee and blockHeight.)
func (f *FakePastella) txJSON(t *Tx) map[string]any {
	height := uint64(0)
	if t.State == TxConfirmed {
		height = t.Height
	}
	return map[string]any{
		"transfers":             []any{map[string]any{"address": f.address, "amount": -int64(t.sum() + t.Fee)}},
		"hash":                  t.Hash,
		"fee":                   t.Fee,
		"blockHeight":           height,
		"timestamp":             height * 30,
		"unlockTime":            0,
		"isCoinbaseTransaction": false,
	}
}

func newHash() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encode prints a body as the API does (nlohmann dump(4) plus a newline;
// Go sorts map keys as nlohmann's std::map does).
func encode(body any) []byte {
	if body == nil {
		return nil
	}
	if b, ok := body.(json.RawMessage); ok {
		return b // written as it is (the daemon's compact JSON)
	}
	b, err := json.MarshalIndent(body, "", "    ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// writeRaw writes the reply on the raw connection so that the reason
// phrase can be as wrong as the real API's ("201 Internal Server Error").
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	defer conn.Close()
	phrase := "Internal Server Error"
	if status == http.StatusOK {
		phrase = "OK"
	}
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n", status, phrase, len(body))
	if len(body) > 0 {
		fmt.Fprintf(buf, "Content-Type: application/json\r\n")
	}
	fmt.Fprintf(buf, "\r\n")
	_, _ = buf.Write(body)
	_ = buf.Flush()
}
