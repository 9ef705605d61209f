package daemon

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rxpool/cryptonote"
)

func TestPastellaTemplateBlobMatchesFieldNotes(t *testing.T) {
	// Field notes: reserve 17 gave reserved_offset 123 on a young chain.
	blob, off := pastellaTemplateBlob(33, fakeBlockHash(32))
	if off != 123 {
		t.Fatalf("reserved offset %d, field notes saw 123", off)
	}
	if _, err := cryptonote.NewTemplate(blob, off, 17); err != nil {
		t.Fatal(err)
	}
}

func TestPastellaGetBlockTemplate(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	tmpl, err := c.GetBlockTemplate(context.Background(), fakeWallet, 17)
	if err != nil {
		t.Fatal(err)
	}
	wantBlob, _ := pastellaTemplateBlob(33, fakeBlockHash(32))
	switch {
	case tmpl.Height != 33:
		t.Errorf("height %d, want 33", tmpl.Height)
	case tmpl.Difficulty != fakeDifficulty || tmpl.WideDifficulty == nil || tmpl.WideDifficulty.Uint64() != fakeDifficulty:
		t.Errorf("difficulty %d wide %v, want %d for both", tmpl.Difficulty, tmpl.WideDifficulty, fakeDifficulty)
	case !bytes.Equal(tmpl.Blob, wantBlob):
		t.Errorf("blob differs")
	case tmpl.ReservedOffset != 123 || tmpl.ReserveSize != 17:
		t.Errorf("reserved %d+%d, want 123+17", tmpl.ReservedOffset, tmpl.ReserveSize)
	case tmpl.SeedHash != fakeGenesis:
		t.Errorf("seed %x, want the genesis hash", tmpl.SeedHash)
	case tmpl.HasNextSeed || tmpl.NextSeedHash != ([32]byte{}):
		t.Errorf("next seed %x (has %v): Pastellad repeats the seed when it does not change", tmpl.NextSeedHash, tmpl.HasNextSeed)
	case tmpl.PrevHash != fakeBlockHash(32):
		t.Errorf("prev hash %x, want the tip %x (from the blob header)", tmpl.PrevHash, fakeBlockHash(32))
	case tmpl.ExpectedReward != 0:
		t.Errorf("expected reward %d, Pastellad does not send one", tmpl.ExpectedReward)
	}

	// The request as the Node pool sends it: both params, a JSON object.
	calls := f.recorded()
	if len(calls) != 1 || calls[0].Method != "getblocktemplate" {
		t.Fatalf("calls %+v", calls)
	}
	var p map[string]any
	if err := json.Unmarshal(calls[0].Params, &p); err != nil {
		t.Fatal(err)
	}
	if p["reserve_size"] != 17.0 || p["wallet_address"] != fakeWallet || len(p) != 2 {
		t.Errorf("params %v", p)
	}

	// On the last block of an epoch next_seed_hash differs from seed_hash.
	next := fakeBlockHash(2048)
	f.set(func(f *fakePastellad) { f.nextSeed = &next })
	tmpl, err = c.GetBlockTemplate(context.Background(), fakeWallet, 17)
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.HasNextSeed || tmpl.NextSeedHash != next {
		t.Errorf("next seed %x (has %v), want %x", tmpl.NextSeedHash, tmpl.HasNextSeed, next)
	}
}

func TestPastellaReserveSizeLimit(t *testing.T) {
	f := newFakePastellad(t)
	for _, n := range []int{-1, 128, 255} {
		_, err := f.client().GetBlockTemplate(context.Background(), fakeWallet, n)
		wantCallError(t, err, "pas1", "getblocktemplate")
		if IsTransport(err) || errors.Is(err, ErrBadReply) {
			t.Errorf("reserve %d: %v", n, err)
		}
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Fatalf("reserve sizes Pastellad would mishandle were sent: %+v", calls)
	}
}

func TestPastellaNotSynced(t *testing.T) {
	f := newFakePastellad(t)
	f.set(func(f *fakePastellad) { f.notSynced = true })
	c := f.client()
	_, err := c.GetBlockTemplate(context.Background(), fakeWallet, 17)
	wantCallError(t, err, "pas1", "getblocktemplate")
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "Daemon must be synced") {
		t.Fatalf("template: %v, want ErrNotReady with the daemon's message", err)
	}
	err = c.SubmitBlock(context.Background(), []byte{1, 2, 3})
	wantCallError(t, err, "pas1", "submitblock")
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("submit: %v, want ErrNotReady", err)
	}
	// Header calls are not sync-gated.
	if _, err := c.LastBlockHeader(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// replyWith answers every request with status and body, as a daemon would.
func replyWith(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// templateReply is a getblocktemplate result with some members replaced
// (a nil value drops the member).
func templateReply(changes map[string]any) string {
	blob, off := pastellaTemplateBlob(33, fakeBlockHash(32))
	res := map[string]any{
		"height": 33, "difficulty": fakeDifficulty, "reserved_offset": off,
		"blocktemplate_blob": hex.EncodeToString(blob),
		"seed_hash":          hex.EncodeToString(fakeGenesis[:]), "next_seed_hash": hex.EncodeToString(fakeGenesis[:]),
		"status": "OK",
	}
	for k, v := range changes {
		if v == nil {
			delete(res, k)
		} else {
			res[k] = v
		}
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "result": res})
	return string(b)
}

func TestPastellaTemplateErrors(t *testing.T) {
	html := "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
	full := templateReply(nil)
	cases := []struct {
		name  string
		reply http.HandlerFunc
		check func(t *testing.T, err error)
	}{
		{"json-rpc error", replyWith(200, `{"jsonrpc":"2.0","error":{"message":"Failed to create block template: no wallet","code":-5}}`),
			func(t *testing.T, err error) {
				wantRPCError(t, err, -5, "Failed to create block template: no wallet")
				if switchable(err) {
					t.Error("a daemon's refusal must not count as a failover reason")
				}
			}},
		{"404 empty body", replyWith(404, ""), isErr(ErrMethodNotFound)},
		{"400 failed", replyWith(400, `{"status":"Failed","error":"Missing JSON parameter: 'wallet_address'"}`),
			wantStatus(400, "Failed", "Missing JSON parameter: 'wallet_address'")},
		{"handler error", replyWith(400, `{"errorCode":7,"errorMessage":"Invalid address"}`), wantStatus(400, "", "Invalid address")},
		{"html page", replyWith(200, html), isErr(ErrBadReply)},
		{"empty 200", replyWith(200, ""), isErr(ErrBadReply)},
		{"truncated json", replyWith(200, full[:len(full)/2]), isErr(ErrBadReply)},
		{"json array", replyWith(200, `[1,2]`), isErr(ErrBadReply)},
		{"no result", replyWith(200, `{"jsonrpc":"2.0"}`), isErr(ErrBadReply)},
		{"result not object", replyWith(200, `{"jsonrpc":"2.0","result":"OK"}`), isErr(ErrBadReply)},
		{"missing blob", replyWith(200, templateReply(map[string]any{"blocktemplate_blob": nil})), isErr(ErrBadReply)},
		{"null blob", replyWith(200, strings.Replace(full, `"blocktemplate_blob":"`, `"blocktemplate_blob":null,"x":"`, 1)), isErr(ErrBadReply)},
		{"missing height", replyWith(200, templateReply(map[string]any{"height": nil})), isErr(ErrBadReply)},
		{"missing seed", replyWith(200, templateReply(map[string]any{"seed_hash": nil})), isErr(ErrBadReply)},
		{"missing status", replyWith(200, templateReply(map[string]any{"status": nil})), isErr(ErrBadReply)},
		{"status failed", replyWith(200, templateReply(map[string]any{"status": "Failed"})), wantStatus(200, "Failed", "")},
		{"height as string", replyWith(200, templateReply(map[string]any{"height": "33"})), isErr(ErrBadReply)},
		{"blob not hex", replyWith(200, templateReply(map[string]any{"blocktemplate_blob": "zz00"})), isErr(ErrBadReply)},
		{"blob truncated", replyWith(200, templateReply(map[string]any{"blocktemplate_blob": "0200c0"})), isErr(ErrBadReply)},
		{"offset off by one", replyWith(200, templateReply(map[string]any{"reserved_offset": 122})), isErr(ErrBadReply)},
		{"offset past blob", replyWith(200, templateReply(map[string]any{"reserved_offset": 4000})), isErr(ErrBadReply)},
		{"zero seed", replyWith(200, templateReply(map[string]any{"seed_hash": strings.Repeat("0", 64)})), isErr(ErrBadReply)},
		{"short seed", replyWith(200, templateReply(map[string]any{"seed_hash": "418015bb"})), isErr(ErrBadReply)},
		{"zero difficulty", replyWith(200, templateReply(map[string]any{"difficulty": 0})), isErr(ErrBadReply)},
		{"500", replyWith(500, ""), isTransport},
		{"502 html", replyWith(502, html), isTransport},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePastellad(t)
			f.setOverride("getblocktemplate", tc.reply)
			tmpl, err := f.client().GetBlockTemplate(context.Background(), fakeWallet, 17)
			if tmpl != nil || err == nil {
				t.Fatalf("got template %+v, err %v", tmpl, err)
			}
			wantCallError(t, err, "pas1", "getblocktemplate")
			tc.check(t, err)
			t.Log(err)
		})
	}
}

func isErr(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("error %v is not %v", err, target)
		}
		if target == ErrBadReply && !switchable(err) {
			t.Fatal("garbage from a daemon must make a failover move on")
		}
	}
}

func isTransport(t *testing.T, err error) {
	t.Helper()
	if !IsTransport(err) {
		t.Fatalf("error %v is not a transport error", err)
	}
}

func wantStatus(code int, status, msg string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var se *StatusError
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a *StatusError", err)
		}
		if se.HTTPStatus != code || se.Status != status || (msg != "" && se.Message != msg) {
			t.Fatalf("got %+v, want %d %q %q", se, code, status, msg)
		}
		if IsTransport(err) || errors.Is(err, ErrNotReady) {
			t.Fatalf("a refusal is not a transport or not-ready error: %v", err)
		}
	}
}

// TestPastellaRealValidation drives the fake's own parameter checks, the
// way the real daemon refuses a malformed request.
func TestPastellaRealValidation(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client().(*pastellaClient)
	ctx := context.Background()

	_, err := c.rpc.call(ctx, "getblocktemplate", map[string]any{"reserve_size": 17})
	wantStatus(400, "Failed", "Missing JSON parameter: 'wallet_address'")(t, err)
	wantCallError(t, err, "pas1", "getblocktemplate")

	_, err = c.rpc.call(ctx, "getblocktemplate", map[string]any{"reserve_size": 17, "wallet_address": "PASnope"})
	wantRPCError(t, err, -4, "The address given is not a valid Pastella address!")

	_, err = c.rpc.call(ctx, "f_block_json", map[string]any{"hash": "00"})
	wantStatus(403, "Failed", "")(t, err)

	_, err = c.rpc.call(ctx, "get_info", nil)
	if !errors.Is(err, ErrMethodNotFound) {
		t.Fatalf("unknown method: %v, want ErrMethodNotFound", err)
	}
}

func TestPastellaWrongReasonPhrases(t *testing.T) {
	f := newFakePastellad(t)
	raw := func(statusLine, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(buf, "%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", statusLine, len(body), body)
			buf.Flush()
		}
	}
	f.setOverride("getblocktemplate", raw("HTTP/1.1 200 Internal Server Error", templateReply(nil)))
	f.setOverride("submitblock", raw("HTTP/1.1 400 OK", `{"status":"Failed","error":"JSON parameter is wrong type. Expected array, got Object"}`))
	c := f.client()
	if _, err := c.GetBlockTemplate(context.Background(), fakeWallet, 17); err != nil {
		t.Fatalf("200 with a wrong reason phrase is a success: %v", err)
	}
	err := c.SubmitBlock(context.Background(), []byte{1})
	wantStatus(400, "Failed", "JSON parameter is wrong type. Expected array, got Object")(t, err)
}

func TestPastellaTimeout(t *testing.T) {
	f := newFakePastellad(t)
	f.setOverride("getblocktemplate", func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	const timeout = 300 * time.Millisecond
	c := NewPastella("pas1", f.srv.URL, timeout, testLogger(t))
	start := time.Now()
	_, err := c.GetBlockTemplate(context.Background(), fakeWallet, 17)
	took := time.Since(start)
	wantCallError(t, err, "pas1", "getblocktemplate")
	if !IsTransport(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: %v, want a transport error wrapping DeadlineExceeded", err)
	}
	if took < timeout || took > timeout+time.Second {
		t.Fatalf("gave up after %v, timeout is %v", took, timeout)
	}

	// The caller's shorter ctx wins, and its end is not the daemon's fault.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.GetBlockTemplate(ctx, fakeWallet, 17)
	if time.Since(start) > timeout {
		t.Fatalf("ctx deadline ignored: took %v", time.Since(start))
	}
	if IsTransport(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller's deadline: %v, want context.DeadlineExceeded and no transport error", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = c.LastBlockHeader(ctx)
	if IsTransport(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestPastellaUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := NewPastella("gone", addr, time.Second, testLogger(t))
	_, err = c.Info(context.Background())
	wantCallError(t, err, "gone", "getlastblockheader")
	if !IsTransport(err) {
		t.Fatalf("refused connection: %v, want a transport error", err)
	}
}

func TestPastellaSubmitBlock(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	blob, _ := pastellaTemplateBlob(33, fakeBlockHash(32))
	if err := c.SubmitBlock(context.Background(), blob); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	var params []string
	if err := json.Unmarshal(calls[len(calls)-1].Params, &params); err != nil || len(params) != 1 || params[0] != hex.EncodeToString(blob) {
		t.Fatalf("submitblock params %s, want [\"<blob hex>\"]", calls[len(calls)-1].Params)
	}

	f.set(func(f *fakePastellad) { f.accept = false })
	err := c.SubmitBlock(context.Background(), blob)
	wantCallError(t, err, "pas1", "submitblock")
	wantRPCError(t, err, -7, "Block not accepted")
	if !strings.Contains(err.Error(), "Block not accepted") {
		t.Fatalf("message lost: %v", err)
	}
}

func TestPastellaHeaders(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	ctx := context.Background()
	last, err := c.LastBlockHeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := BlockHeader{Height: 32, Depth: 0, Timestamp: fakeTimestamp + 30*32, Difficulty: fakeDifficulty,
		Reward: fakeReward, Hash: fakeBlockHash(32), PrevHash: fakeBlockHash(31), MajorVersion: 2}
	if *last != want {
		t.Fatalf("last header %+v, want %+v", last, want)
	}
	byHeight, err := c.BlockHeaderByHeight(ctx, 32)
	if err != nil || *byHeight != want {
		t.Fatalf("by height: %+v, %v", byHeight, err)
	}
	byHash, err := c.BlockHeaderByHash(ctx, want.Hash)
	if err != nil || *byHash != want {
		t.Fatalf("by hash: %+v, %v", byHash, err)
	}
	old, err := c.BlockHeaderByHeight(ctx, 10)
	if err != nil || old.Depth != 22 || old.Hash != fakeBlockHash(10) {
		t.Fatalf("block 10: %+v, %v", old, err)
	}

	_, err = c.BlockHeaderByHeight(ctx, 33)
	wantCallError(t, err, "pas1", "getblockheaderbyheight")
	wantRPCError(t, err, -2, "Requested block header for a height that is higher than the current blockchain height! Current height: 32")
	_, err = c.BlockHeaderByHash(ctx, [32]byte{1})
	wantRPCError(t, err, -5, "Block hash specified does not exist!")

	// A daemon answering another block than the one asked for is garbage.
	f.setOverride("getblockheaderbyheight", func(w http.ResponseWriter, r *http.Request) { f.header(w, 5) })
	_, err = c.BlockHeaderByHeight(ctx, 6)
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("wrong block: %v", err)
	}
	f.setOverride("getlastblockheader", replyWith(200, `{"jsonrpc":"2.0","result":{"status":"OK","block_header":{"height":1}}}`))
	_, err = c.LastBlockHeader(ctx)
	if !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "depth") {
		t.Fatalf("header without fields: %v", err)
	}
}

func TestPastellaInfo(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Height: 33, Difficulty: fakeDifficulty, TopHash: fakeBlockHash(32), Synced: true}
	if *info != want {
		t.Fatalf("info %+v, want %+v", info, want)
	}

	// A block landing between the two requests: the pair is read again.
	var raced atomic.Bool
	f.setOverride("/info", func(w http.ResponseWriter, r *http.Request) {
		if !raced.Swap(true) {
			f.set(func(f *fakePastellad) { f.blocks++ })
		}
		f.info(w)
	})
	info, err = c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Height != 34 || info.TopHash != fakeBlockHash(33) {
		t.Fatalf("info after a new block %+v", info)
	}

	f.setOverride("/info", replyWith(200, `{"height":33,"status":"OK"}`))
	_, err = c.Info(context.Background())
	wantCallError(t, err, "pas1", "/info")
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("info without difficulty: %v", err)
	}
}
