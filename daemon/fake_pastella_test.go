package daemon

import (
	"encoding/binary"
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

// fakePastellad answers like Pastellad (PastellaCore v1.0.3) for the calls
// whose error handling the real daemon cannot be made to show: a test
// replaces one method's reply with override (garbage, cut-off bodies, 5xx,
// hangs) and the fake serves the rest in the real daemon's format
// (rapidjson's compact output, no "id", 404 with an empty body for an
// unknown method). Everything the real daemon can show is tested against
// the real one (pastella_real_test.go), which also checks that this fake's
// templates have the real ones' shape.
type fakePastellad struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	blocks   uint64 // chain height: blocks 0..blocks-1 exist
	nextSeed *[32]byte
	override map[string]http.HandlerFunc // by JSON-RPC method or REST path
}

const (
	fakeWallet     = "PAS18z7m9DGbJFoVv6HiGoiwxNG5mLoniSEFWkguBKt59JSHPHjYaa"
	fakeDifficulty = 1000
	fakeTimestamp  = 1767225600
	fakeReward     = 400000000
)

func newFakePastellad(t *testing.T) *fakePastellad {
	f := &fakePastellad{t: t, blocks: 33, override: map[string]http.HandlerFunc{}}
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
	key := r.URL.Path
	var params json.RawMessage
	if key == "/json_rpc" {
		var req struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		raw, _ := io.ReadAll(r.Body)
		if json.Unmarshal(raw, &req) != nil {
			f.t.Errorf("fake Pastellad: request is not JSON: %q", raw)
		}
		key, params = req.Method, req.Params
	}
	f.mu.Lock()
	h := f.override[key]
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	switch key {
	case "getblocktemplate":
		f.getBlockTemplate(w)
	case "getlastblockheader":
		f.mu.Lock()
		top := f.blocks - 1
		f.mu.Unlock()
		f.header(w, top)
	case "getblockheaderbyheight":
		var p struct{ Height uint64 }
		_ = json.Unmarshal(params, &p)
		f.header(w, p.Height)
	case "/info":
		f.info(w)
	default:
		w.WriteHeader(http.StatusNotFound) // and no body at all
	}
}

func failRequest(w http.ResponseWriter, status int, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"status":"Failed","error":%q}`, msg)
}

func failJSONRPC(w http.ResponseWriter, code int, msg string) {
	fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"message":%q,"code":%d}}`, msg, code)
}

// getBlockTemplate answers as for reserve_size 17 to fakeWallet.
func (f *fakePastellad) getBlockTemplate(w http.ResponseWriter) {
	f.mu.Lock()
	height, next := f.blocks, fakeGenesis
	if f.nextSeed != nil {
		next = *f.nextSeed
	}
	f.mu.Unlock()
	blob, offset := pastellaTemplateBlob(height, fakeBlockHash(height-1))
	fmt.Fprintf(w, `{"jsonrpc":"2.0","result":{"height":%d,"difficulty":%d,"reserved_offset":%d,"blocktemplate_blob":"%x","seed_hash":"%x","next_seed_hash":"%x","status":"OK"}}`,
		height, fakeDifficulty, offset, blob, fakeGenesis, next)
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

func (f *fakePastellad) info(w http.ResponseWriter) {
	f.mu.Lock()
	h := f.blocks
	f.mu.Unlock()
	fmt.Fprintf(w, `{"height":%d,"difficulty":%d,"tx_count":0,"tx_pool_size":0,"alt_blocks_count":0,"outgoing_connections_count":0,"incoming_connections_count":0,"white_peerlist_size":0,"grey_peerlist_size":0,"last_known_block_index":%d,"network_height":%d,"upgrade_heights":[],"supported_height":0,"hashrate":%d,"synced":true,"major_version":2,"minor_version":0,"version":"1.0.3","status":"OK","start_time":1767225000}`,
		h, fakeDifficulty, h-1, h, fakeDifficulty/30)
}
