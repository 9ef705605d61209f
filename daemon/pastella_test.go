package daemon

import (
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
)

// TestPastellaNextSeedAtEpochEnd: on the last block of a RandomX epoch
// next_seed_hash differs from seed_hash (2048 blocks into a chain, too far
// for the real daemon in a test); otherwise it repeats it, which is no
// news of a change.
func TestPastellaNextSeedAtEpochEnd(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	tmpl, err := c.GetBlockTemplate(context.Background(), fakeWallet, 17)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.HasNextSeed || tmpl.NextSeedHash != ([32]byte{}) {
		t.Fatalf("next seed %x (has %v) while it equals the seed", tmpl.NextSeedHash, tmpl.HasNextSeed)
	}
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

// TestPastellaReserveSizeLimit: sizes Pastellad would write in a form we
// cannot parse (pastella_real_test.go shows why) are refused before any
// request is made: against a closed port, a request would be a transport
// error.
func TestPastellaReserveSizeLimit(t *testing.T) {
	c := NewPastella("pas1", closedAddr(t), fakeTimeout, testLogger(t))
	for _, n := range []int{-1, pastellaMaxReserve + 1, 255} {
		_, err := c.GetBlockTemplate(context.Background(), fakeWallet, n)
		wantCallError(t, err, "pas1", "getblocktemplate")
		if IsTransport(err) || errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("reserve %d: %v, want a local refusal", n, err)
		}
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

// TestPastellaWrongReasonPhrases: only status codes are read, never reason
// phrases (PastellaCore's Wallet-API sends wrong ones, field notes).
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

// TestPastellaHeaderGarbage: a daemon answering another block than the one
// asked for, or a header without its fields, is a bad reply, not a block
// the unlocker could take as an orphan or a confirmation.
func TestPastellaHeaderGarbage(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	ctx := context.Background()
	f.setOverride("getblockheaderbyheight", func(w http.ResponseWriter, r *http.Request) { f.header(w, 5) })
	_, err := c.BlockHeaderByHeight(ctx, 6)
	wantCallError(t, err, "pas1", "getblockheaderbyheight")
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("wrong block: %v", err)
	}
	f.setOverride("getlastblockheader", replyWith(200, `{"jsonrpc":"2.0","result":{"status":"OK","block_header":{"height":1}}}`))
	_, err = c.LastBlockHeader(ctx)
	if !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "depth") {
		t.Fatalf("header without fields: %v", err)
	}
}

// TestPastellaInfoRace: a block landing between GET /info and the tip
// header makes Info read the pair again; a reply without a member is a bad
// reply.
func TestPastellaInfoRace(t *testing.T) {
	f := newFakePastellad(t)
	c := f.client()
	var raced atomic.Bool
	f.setOverride("/info", func(w http.ResponseWriter, r *http.Request) {
		if !raced.Swap(true) {
			f.set(func(f *fakePastellad) { f.blocks++ })
		}
		f.info(w)
	})
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Info{Height: 34, Difficulty: fakeDifficulty, TopHash: fakeBlockHash(33), Synced: true}); *info != want {
		t.Fatalf("info after a new block %+v, want %+v", info, want)
	}

	f.setOverride("/info", replyWith(200, `{"height":33,"status":"OK"}`))
	_, err = c.Info(context.Background())
	wantCallError(t, err, "pas1", "/info")
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("info without difficulty: %v", err)
	}
}
