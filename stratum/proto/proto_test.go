package proto

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReplyShapesMatchWhatXmrigParses(t *testing.T) {
	ok, err := AppendResult(nil, json.RawMessage("7"), StatusResult{Status: StatusOK})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(ok), `{"id":7,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}`+"\n"; got != want {
		t.Fatalf("success reply\n got %s\nwant %s", got, want)
	}
	bad := AppendError(nil, json.RawMessage("8"), -1, ErrMsgLowDifficulty)
	if got, want := string(bad), `{"id":8,"jsonrpc":"2.0","error":{"code":-1,"message":"Low difficulty share"}}`+"\n"; got != want {
		t.Fatalf("error reply\n got %s\nwant %s", got, want)
	}
	// A request whose id could not be read is answered with id null.
	if got, want := string(AppendError(nil, nil, -1, ErrMsgParse)), `{"id":null,"jsonrpc":"2.0","error":{"code":-1,"message":"`+ErrMsgParse+`"}}`+"\n"; got != want {
		t.Fatalf("null-id reply\n got %s\nwant %s", got, want)
	}
	job, err := AppendJob(nil, &Job{Blob: "10", JobID: "a", Target: "b88d0600", Algo: Algo, Height: 5, SeedHash: "00"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(job), `{"jsonrpc":"2.0","method":"job","params":{"blob":"10","job_id":"a","target":"b88d0600","algo":"rx/0","height":5,"seed_hash":"00"}}`+"\n"; got != want {
		t.Fatalf("job notification\n got %s\nwant %s", got, want)
	}
	req, err := AppendRequest(nil, 1, MethodLogin, LoginParams{Login: "x", Pass: "y", Algo: []string{Algo}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(req), `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"x","pass":"y","agent":"","algo":["rx/0"]}}`+"\n"; got != want {
		t.Fatalf("request\n got %s\nwant %s", got, want)
	}
}

// TestAppendJobIsEncodingJSON: the hand-written job line equals what
// encoding/json writes, for the pool's hex fields and for strings that need
// escaping (the fallback).
func TestAppendJobIsEncodingJSON(t *testing.T) {
	for _, j := range []Job{
		{Blob: strings.Repeat("0a", 76), JobID: "1f", Target: "b88d0600", Algo: Algo, Height: 3_123_456, SeedHash: strings.Repeat("ab", 32)},
		{Blob: "", JobID: "", Target: "", Algo: "", Height: 0, SeedHash: ""},
		{Blob: `a"b\c`, JobID: "<&>", Target: "é", Algo: "\n", Height: 1 << 63, SeedHash: "x"},
	} {
		got, err := AppendJob([]byte("prefix"), &j)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(Notification{JSONRPC: "2.0", Method: MethodJob, Params: &j})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "prefix"+string(want)+"\n" {
			t.Errorf("AppendJob:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

func BenchmarkAppendJob(b *testing.B) {
	j := Job{Blob: strings.Repeat("0a", 76), JobID: "1f2e3d", Target: "b88d0600", Algo: Algo, Height: 3_123_456, SeedHash: strings.Repeat("ab", 32)}
	buf := make([]byte, 0, 512)
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			buf, _ = AppendJob(buf[:0], &j)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			buf, _ = appendLine(buf[:0], Notification{JSONRPC: "2.0", Method: MethodJob, Params: &j})
		}
	})
}
