package daemon

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"rxpool/cryptonote"
)

// fakePastellad reproduces Pastellad's RPC (PastellaCore v1.0.3,
// src/rpc/RpcServer.cpp) as documented in pastella.md §1 and field-notes:
// rapidjson's compact output in the daemon's member order, no "id" in
// replies, 404 with an empty body for an unknown method, 400
// {"status":"Failed",…} for a missing parameter, the sync check's HTTP 200
// "Failed" body, JSON-RPC errors at HTTP 200. Tests change its state or
// replace one method's reply with override.
type fakePastellad struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	blocks    uint64 // chain height: blocks 0..blocks-1 exist
	notSynced bool   // the middleware's sync check fails
	accept    bool   // submitblock adds the block
	nextSeed  *[32]byte
	override  map[string]http.HandlerFunc // by JSON-RPC method or REST path
	calls     []fakeCall
}

type fakeCall struct {
	Method string
	Params json.RawMessage
	Raw    string
}

const (
	fakeWallet     = "PAS18z7m9DGbJFoVv6HiGoiwxNG5mLoniSEFWkguBKt59JSHPHjYaa"
	fakeDifficulty = 1000
	fakeTimestamp  = 1767225600
	fakeReward     = 400000000
)

func newFakePastellad(t *testing.T) *fakePastellad {
	f := &fakePastellad{t: t, blocks: 33, accept: true, override: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePastellad) client() Client {
	return NewPastella("pas1", f.srv.URL, fakeTimeout, testLogger(f.t))
}

func (f *fakePastellad) set(fn func(f *fakePastellad)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakePastellad) setOverride(key string, h http.HandlerFunc) {
	f.set(func(f *fakePastellad) { f.override[key] = h })
}

func (f *fakePastellad) recorded() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// fakeBlockHash is the id of block i of the fake chain; block 0 is the
// genesis, whose id seeds RandomX on a young chain.
func fakeBlockHash(i uint64) [32]byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], i)
	return cryptonote.Keccak256([]byte("fake pastella block"), b[:])
}

var fakeGenesis = fakeBlockHash(0)

// pastellaTemplateBlob builds a template blob the way Pastellad does
// (field-notes): major 2, minor 0, a v1 coinbase with unlock_time =
// height + 10, one output and extra 01 <tx key> 02 11 <17 zero bytes>,
// no other transactions. It returns the blob and the daemon's
// reserved_offset: position of the tx key + 32 + 2.
func pastellaTemplateBlob(height uint64, prev [32]byte) ([]byte, int) {
	txKey := cryptonote.Keccak256([]byte("tx key"))
	outKey := cryptonote.Keccak256([]byte("pool key"))
	b := []byte{2, 0}
	b = cryptonote.AppendVarint(b, fakeTimestamp)
	b = append(b, prev[:]...)
	b = append(b, 0, 0, 0, 0) // nonce
	b = append(b, 1)          // tx version
	b = cryptonote.AppendVarint(b, height+10)
	b = append(b, 1, 0xff) // one input: txin_gen
	b = cryptonote.AppendVarint(b, height)
	b = append(b, 1) // one output
	b = cryptonote.AppendVarint(b, fakeReward)
	b = append(b, 0x02)
	b = append(b, outKey[:]...)
	extra := append([]byte{0x01}, txKey[:]...)
	extra = append(extra, 0x02, 17)
	extra = append(extra, make([]byte, 17)...)
	b = cryptonote.AppendVarint(b, uint64(len(extra)))
	b = append(b, extra...)
	b = append(b, 0) // no transaction hashes
	keyAt := strings.Index(string(b), string(txKey[:]))
	return b, keyAt + 32 + 2
}

func (f *fakePastellad) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/json_rpc" {
		f.mu.Lock()
		h := f.override[r.URL.Path]
		f.calls = append(f.calls, fakeCall{Method: r.URL.Path})
		f.mu.Unlock()
		switch {
		case h != nil:
			h(w, r)
		case r.URL.Path == "/info" && r.Method == http.MethodGet:
			f.info(w)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var req struct {
		Method *string         `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(raw, &req) != nil {
		failRequest(w, 400, "Failed to parse request body as JSON")
		return
	}
	if req.Method == nil {
		failRequest(w, 400, "Missing JSON parameter: 'method'")
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{Method: *req.Method, Params: req.Params, Raw: string(raw)})
	h := f.override[*req.Method]
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	switch *req.Method {
	case "getblocktemplate":
		f.getBlockTemplate(w, req.Params)
	case "submitblock":
		f.submitBlock(w, req.Params)
	case "getlastblockheader":
		f.mu.Lock()
		top := f.blocks - 1
		f.mu.Unlock()
		f.header(w, top)
	case "getblockheaderbyheight":
		var p struct{ Height *uint64 }
		if !f.params(w, req.Params, &p) || p.Height == nil {
			failRequest(w, 400, "Missing JSON parameter: 'height'")
			return
		}
		f.header(w, *p.Height)
	case "getblockheaderbyhash":
		var p struct{ Hash *string }
		if !f.params(w, req.Params, &p) || p.Hash == nil {
			failRequest(w, 400, "Missing JSON parameter: 'hash'")
			return
		}
		f.headerByHash(w, *p.Hash)
	case "f_block_json":
		failRequest(w, 403, "You do not have permission to access this method. Please relaunch your daemon with the --enable-blockexplorer command line option to access this method.")
	default:
		w.WriteHeader(http.StatusNotFound) // and no body at all
	}
}

func (f *fakePastellad) params(w http.ResponseWriter, raw json.RawMessage, dst any) bool {
	if len(raw) == 0 {
		failRequest(w, 400, "Missing JSON parameter: 'params'")
		return false
	}
	if json.Unmarshal(raw, dst) != nil {
		failRequest(w, 400, "JSON parameter is wrong type. Expected object, got Array")
		return false
	}
	return true
}

func failRequest(w http.ResponseWriter, status int, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"status":"Failed","error":%q}`, msg)
}

func failJSONRPC(w http.ResponseWriter, code int, msg string) {
	fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"message":%q,"code":%d}}`, msg, code)
}

// syncCheck is the middleware's check on "sync required" methods.
func (f *fakePastellad) syncCheck(w http.ResponseWriter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notSynced {
		failRequest(w, 200, "Daemon must be synced to process this RPC method call, please retry when synced")
		return false
	}
	return true
}

func (f *fakePastellad) getBlockTemplate(w http.ResponseWriter, raw json.RawMessage) {
	if !f.syncCheck(w) {
		return
	}
	var p struct {
		ReserveSize   *uint64 `json:"reserve_size"`
		WalletAddress *string `json:"wallet_address"`
	}
	if !f.params(w, raw, &p) {
		return
	}
	switch {
	case p.ReserveSize == nil:
		failRequest(w, 400, "Missing JSON parameter: 'reserve_size'")
		return
	case *p.ReserveSize > 255:
		failJSONRPC(w, -3, "Too big reserved size, maximum allowed is 255")
		return
	case p.WalletAddress == nil:
		failRequest(w, 400, "Missing JSON parameter: 'wallet_address'")
		return
	case *p.WalletAddress != fakeWallet:
		failJSONRPC(w, -4, "The address given is not a valid Pastella address!")
		return
	}
	f.mu.Lock()
	height, next := f.blocks, fakeGenesis
	if f.nextSeed != nil {
		next = *f.nextSeed
	}
	f.mu.Unlock()
	blob, offset := pastellaTemplateBlob(height, fakeBlockHash(height-1))
	if *p.ReserveSize != 17 {
		f.t.Errorf("fake Pastellad builds 17-byte reserves only, asked for %d", *p.ReserveSize)
	}
	fmt.Fprintf(w, `{"jsonrpc":"2.0","result":{"height":%d,"difficulty":%d,"reserved_offset":%d,"blocktemplate_blob":"%x","seed_hash":"%x","next_seed_hash":"%x","status":"OK"}}`,
		height, fakeDifficulty, offset, blob, fakeGenesis, next)
}

func (f *fakePastellad) submitBlock(w http.ResponseWriter, raw json.RawMessage) {
	if !f.syncCheck(w) {
		return
	}
	var p []json.RawMessage
	if json.Unmarshal(raw, &p) != nil {
		failRequest(w, 400, "JSON parameter is wrong type. Expected array, got Object")
		return
	}
	if len(p) != 1 {
		failJSONRPC(w, -1, fmt.Sprintf("You must submit one and only one block blob! (Found %d)", len(p)))
		return
	}
	var s string
	if json.Unmarshal(p[0], &s) != nil {
		failRequest(w, 400, "JSON parameter is wrong type. Expected String, got Number")
		return
	}
	if _, err := hex.DecodeString(s); err != nil {
		failJSONRPC(w, -6, "Submitted block blob is not hex!")
		return
	}
	f.mu.Lock()
	ok := f.accept
	if ok {
		f.blocks++
	}
	f.mu.Unlock()
	if !ok {
		failJSONRPC(w, -7, "Block not accepted")
		return
	}
	io.WriteString(w, `{"jsonrpc":"2.0","result":{"status":"OK"}}`)
}

func (f *fakePastellad) header(w http.ResponseWriter, height uint64) {
	f.mu.Lock()
	top := f.blocks - 1
	f.mu.Unlock()
	if height > top {
		failJSONRPC(w, -2, fmt.Sprintf("Requested block header for a height that is higher than the current blockchain height! Current height: %d", top))
		return
	}
	var prev [32]byte
	if height > 0 {
		prev = fakeBlockHash(height - 1)
	}
	fmt.Fprintf(w, `{"jsonrpc":"2.0","result":{"status":"OK","block_header":{"major_version":%d,"minor_version":0,"timestamp":%d,"prev_hash":"%x","nonce":%d,"orphan_status":false,"height":%d,"depth":%d,"hash":"%x","difficulty":%d,"reward":%d,"num_txes":0,"block_size":123}}}`,
		min(2, height), fakeTimestamp+30*height, prev, 7*height, height, top-height, fakeBlockHash(height), fakeDifficulty, fakeReward)
}

func (f *fakePastellad) headerByHash(w http.ResponseWriter, s string) {
	want, err := parseHash(s)
	if err != nil {
		failJSONRPC(w, -1, "Block hash specified is not a valid hex!")
		return
	}
	f.mu.Lock()
	n := f.blocks
	f.mu.Unlock()
	for i := range n {
		if fakeBlockHash(i) == want {
			f.header(w, i)
			return
		}
	}
	failJSONRPC(w, -5, "Block hash specified does not exist!")
}

func (f *fakePastellad) info(w http.ResponseWriter) {
	f.mu.Lock()
	h := f.blocks
	f.mu.Unlock()
	fmt.Fprintf(w, `{"height":%d,"difficulty":%d,"tx_count":0,"tx_pool_size":0,"alt_blocks_count":0,"outgoing_connections_count":0,"incoming_connections_count":0,"white_peerlist_size":0,"grey_peerlist_size":0,"last_known_block_index":%d,"network_height":%d,"upgrade_heights":[],"supported_height":0,"hashrate":%d,"synced":true,"major_version":2,"minor_version":0,"version":"1.0.3","status":"OK","start_time":1767225000}`,
		h, fakeDifficulty, h-1, h, fakeDifficulty/30)
}
