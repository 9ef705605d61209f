package stratum

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// xmrigLogin is the login line xmrig 6.26.0 sent on the wire (field notes),
// with our test address in place of the original one.
const xmrigLogin = `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"` + minerAddr + `","pass":"x","agent":"XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0","cn/1","cn/2","cn/r","cn/fast","cn/half","cn/xao","cn/rto","cn/rwz","cn/zls","cn/double","cn/ccx","cn-lite/0","cn-lite/1","cn-heavy/0","cn-heavy/tube","cn-heavy/xhv","cn-pico","cn-pico/tlo","cn/upx2","cn/0","rx/2","rx/wow","rx/arq","rx/graft","rx/sfx","rx/yada","argon2/chukwa","argon2/chukwav2","argon2/ninja","ghostrider"]}}`

// TestXmrigMessageShapes replays xmrig's exact messages and checks each
// reply the way xmrig parses it (Client.cpp parse/parseLogin/parseJob,
// Job.cpp setBlob/setTarget).
func TestXmrigMessageShapes(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: 2, portDiff: 1})
	c := p.dial()
	c.send(xmrigLogin)
	line := c.reply()

	// The reply must carry the integer id 1, error null and an object result.
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &top); err != nil {
		t.Fatal(err)
	}
	if string(top["id"]) != "1" || string(top["error"]) != "null" || string(top["jsonrpc"]) != `"2.0"` {
		t.Fatalf("login reply envelope: %s", line)
	}
	var res proto.LoginResult
	if err := json.Unmarshal(top["result"], &res); err != nil {
		t.Fatalf("login result is not an object: %s", line)
	}
	if res.ID == "" || res.Status != "OK" {
		t.Fatalf("login result lacks id/status (xmrig fails the login without an id): %s", line)
	}
	for _, ext := range res.Extensions {
		if !slices.Contains([]string{"algo", "nicehash", "connect", "keepalive", "tls"}, ext) {
			t.Errorf("extension %q is unknown to xmrig", ext)
		}
	}
	if !slices.Contains(res.Extensions, "algo") || !slices.Contains(res.Extensions, "keepalive") {
		t.Errorf("extensions %v: want algo and keepalive", res.Extensions)
	}
	if err := client.ValidateJob(res.Job); err != nil {
		t.Fatalf("xmrig would reject the login job: %v", err)
	}
	work, err := client.DecodeJob(res.Job)
	if err != nil {
		t.Fatal(err)
	}
	if work.NiceHash {
		t.Fatal("job blob has non-zero nonce bytes: xmrig would silently switch to nicehash mode")
	}
	if work.Diff < 1 {
		t.Fatalf("xmrig reads difficulty %d from target %s", work.Diff, res.Job.Target)
	}

	// xmrig's submit line, exactly as it sends it (with "algo" because we
	// advertised the extension).
	nonce, h := p.hash(res.Job, 0x99)
	c.send(fmt.Sprintf(`{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":"%s","job_id":"%s","nonce":"%s","result":"%s","algo":"rx/0"}}`,
		res.ID, res.Job.JobID, nonce, hex.EncodeToString(h[:])))
	if got, want := c.reply(), `{"id":2,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}`; got != want {
		t.Fatalf("submit reply\n got %s\nwant %s", got, want)
	}
	c.send(fmt.Sprintf(`{"id":3,"jsonrpc":"2.0","method":"keepalived","params":{"id":"%s"}}`, res.ID))
	if got := c.reply(); !strings.HasPrefix(got, `{"id":3,"jsonrpc":"2.0","error":null,"result":{`) {
		t.Fatalf("keepalived reply %s", got)
	}
}

// TestNoRepeatedJob drives many job changes through a client that applies
// xmrig's duplicate-job rule: xmrig disconnects on a job equal to the
// previous one, so none may ever arrive.
func TestNoRepeatedJob(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: 2, portDiff: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := client.Dial(ctx, p.addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Login(ctx, client.LoginParams{Login: minerAddr, Pass: "x", Algo: []string{"rx/0"}}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	take := func() {
		select {
		case j := <-conn.Jobs():
			if ids[j.JobID] {
				t.Fatalf("job id %s sent twice", j.JobID)
			}
			ids[j.JobID] = true
		case je := <-conn.JobErrors():
			t.Fatalf("xmrig would drop the connection: %v", je)
		case <-time.After(30 * time.Second):
			t.Fatal("no job arrived")
		}
	}
	take() // the login job
	for i := 0; i < 3; i++ {
		if _, err := p.daemon.GenerateBlocks(ctx, 1, minerAddr, nil); err != nil {
			t.Fatal(err)
		}
		take()
		if _, err := conn.GetJob(ctx); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case je := <-conn.JobErrors():
		t.Fatalf("xmrig would drop the connection: %v", je)
	default:
	}
}

// TestTargetsParseInXmrig checks that for every difficulty we may assign,
// xmrig's reading of our target gives at least that difficulty, so every
// share xmrig submits is one we accept.
func TestTargetsParseInXmrig(t *testing.T) {
	for _, d := range []uint64{1, 2, 3, 100, 1000, 5000, 10_000, 15_000, 25_000, 500_000, 1 << 31, 1<<32 - 1, 1 << 32, 1 << 40, 100_000_000_000} {
		target := cryptonote.TargetHex(d)
		t64, err := client.DecodeTarget(target)
		if err != nil {
			t.Fatalf("diff %d: target %q: %v", d, target, err)
		}
		if got := client.Difficulty(t64); got < d {
			t.Errorf("diff %d: xmrig reads target %s as difficulty %d", d, target, got)
		}
		if d >= 1<<32 && len(target) != 16 {
			t.Errorf("diff %d needs the 8-byte target form, got %q", d, target)
		}
	}
}
