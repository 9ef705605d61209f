package proto

import (
	"encoding/json"
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
