package stratum_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/stratum/proto"
)

// TestAddressSprayKeepsRedisBounded: any valid address is free to make, so
// a client logging in thousands of them with one invalid share each must
// not get storage to keep anything per address (issue 17: it created two
// keys with a 30-day TTL per share). Real Redis, real storage, real server.
func TestAddressSprayKeepsRedisBounded(t *testing.T) {
	rds := testenv.NewRedis(t)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	st, err := storage.New(storage.Config{Socket: rds.Socket}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	// A port difficulty the made-up result below does not meet: each share
	// is refused as low difficulty, before any hash.
	addr := stratum.StartTestPool(t, 1000, st)
	ctx := t.Context()
	before := scanKeys(t, ctx, rds)

	const addresses = 2000
	bad := strings.Repeat("ff", 32)
	for i := range addresses {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		sid, jobID := loginLine(t, c, r, testenv.MoneroAddress(t, 10+i))
		fmt.Fprintf(c, `{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":"01000000","result":%q}}`+"\n", sid, jobID, bad)
		if got := replyLine(t, c, r); !strings.Contains(got, proto.ErrMsgLowDifficulty) {
			t.Fatalf("address %d: share answered %s, want %q", i, got, proto.ErrMsgLowDifficulty)
		}
		c.Close()
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := scanKeys(t, ctx, rds)
	t.Logf("%d addresses with one invalid share each: Redis keys %d -> %d", addresses, before, after)
	if after-before >= 100 {
		t.Fatalf("%d addresses added %d Redis keys, want < 100", addresses, after-before)
	}
}

// scanKeys counts the keys of rds with SCAN (KEYS is not for production
// code; a test may count either way).
func scanKeys(t *testing.T, ctx context.Context, rds *testenv.Redis) int {
	t.Helper()
	n := 0
	it := rds.Client().Scan(ctx, 0, "*", 1000).Iterator()
	for it.Next(ctx) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// loginLine logs address in and returns the session id and job id.
func loginLine(t *testing.T, c net.Conn, r *bufio.Reader, address string) (sid, jobID string) {
	t.Helper()
	fmt.Fprintf(c, `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"x","algo":["rx/0"]}}`+"\n", address)
	line := replyLine(t, c, r)
	var resp struct {
		Result proto.LoginResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(line), &resp); err != nil || resp.Result.Job == nil {
		t.Fatalf("login of %s: %s", address, line)
	}
	return resp.Result.ID, resp.Result.Job.JobID
}

// replyLine returns the next line with an id, skipping job notifications.
func replyLine(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	for {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a reply: %v (%q)", err, line)
		}
		if !strings.Contains(line, `"method":"job"`) {
			return line
		}
	}
}
