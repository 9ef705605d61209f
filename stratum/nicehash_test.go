package stratum

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"rxpool/stratum/proto"
)

// niceHashLogin logs in on a NiceHash or ordinary port and returns the
// whole login result, extensions included.
func niceHashLogin(t *testing.T, addr, worker string) (*rawConn, proto.LoginResult) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawConn{t: t, c: nc, r: bufio.NewReader(nc)}
	c.send(fmt.Sprintf(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":%q,"agent":"XMRig/6.26.0","algo":["rx/0"]}}`, minerAddr, worker))
	var resp struct {
		Error  *proto.Error      `json:"error"`
		Result proto.LoginResult `json:"result"`
	}
	if line := c.reply(); json.Unmarshal([]byte(line), &resp) != nil || resp.Error != nil {
		t.Fatalf("login failed: %s", line)
	}
	return c, resp.Result
}

// topByte is the nonce's top byte in a job's blob (Monero's nonce is at 39).
func topByte(t *testing.T, job *proto.Job) byte {
	t.Helper()
	blob, err := hex.DecodeString(job.Blob)
	if err != nil || len(blob) < 43 {
		t.Fatalf("blob %q", job.Blob)
	}
	return blob[42]
}

func TestNiceHashPort(t *testing.T) {
	p := newTestPool(t, poolOptions{netDiff: unreachable, mutate: func(c *Config) {
		c.Ports = []Port{{Port: 0, Diff: 1, Desc: "nicehash", NiceHash: true}, {Port: 0, Diff: 1, Desc: "plain"}}
	}})
	nh, plain := p.srv.Addrs()[0].String(), p.srv.Addrs()[1].String()

	a, ra := niceHashLogin(t, nh, "a")
	_, rb := niceHashLogin(t, nh, "b") // stays connected, holding its byte
	for _, r := range []proto.LoginResult{ra, rb} {
		if !slices.Contains(r.Extensions, proto.ExtNiceHash) {
			t.Fatalf("a NiceHash port's login result lists %v, not %q", r.Extensions, proto.ExtNiceHash)
		}
	}
	ba, bb := topByte(t, ra.Job), topByte(t, rb.Job)
	if ba == 0 || bb == 0 || ba == bb {
		t.Fatalf("reserved bytes %d and %d: want two distinct non-zero values", ba, bb)
	}
	// Every job of a connection carries its byte.
	a.send(fmt.Sprintf(`{"id":2,"jsonrpc":"2.0","method":"getjob","params":{"id":%q}}`, ra.ID))
	var gj struct {
		Result proto.Job `json:"result"`
	}
	if err := json.Unmarshal([]byte(a.reply()), &gj); err != nil || topByte(t, &gj.Result) != ba {
		t.Fatalf("getjob: %v, byte %d, want %d", err, topByte(t, &gj.Result), ba)
	}

	// A share inside the reserved byte counts; one outside it is refused
	// before any hash, and counted as invalid.
	in := uint32(ba)<<24 | 5
	nonce, h := p.hash(ra.Job, in)
	if got, want := a.submit(3, ra.ID, ra.Job, nonce, hex.EncodeToString(h[:])), fmt.Sprintf(okLine, 3); got != want {
		t.Fatalf("share with the reserved byte:\n got %s\nwant %s", got, want)
	}
	nonce, h = p.hash(ra.Job, uint32(bb)<<24|5) // b's byte, in a's job
	if got, want := a.submit(4, ra.ID, ra.Job, nonce, hex.EncodeToString(h[:])), errLine("4", proto.ErrMsgNiceHashNonce); got != want {
		t.Fatalf("share outside the reserved byte:\n got %s\nwant %s", got, want)
	}
	shares, rejects, _ := p.sink.Snapshot()
	if len(shares) != 1 || len(rejects) != 1 || !rejects[0].Invalid || rejects[0].Reason != proto.ErrMsgNiceHashNonce {
		t.Fatalf("sink: %d shares, rejects %+v", len(shares), rejects)
	}

	// An ordinary port is as before: no extension, a zero nonce.
	_, rp := niceHashLogin(t, plain, "p")
	if slices.Contains(rp.Extensions, proto.ExtNiceHash) || topByte(t, rp.Job) != 0 {
		t.Fatalf("an ordinary port sent extensions %v and nonce top byte %d", rp.Extensions, topByte(t, rp.Job))
	}

	// A closed connection gives its byte back.
	a.c.Close()
	waitBytes := time.Now().Add(10 * time.Second)
	for {
		_, rc := niceHashLogin(t, nh, "c")
		if topByte(t, rc.Job) == ba {
			break
		}
		if time.Now().After(waitBytes) {
			t.Fatalf("byte %d not handed out again after its connection closed", ba)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// With every byte taken, a login is refused and closed.
	for {
		if _, ok := p.srv.cfg.Ports[0].nonces.take(); !ok {
			break
		}
	}
	d, err := net.DialTimeout("tcp", nh, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dc := &rawConn{t: t, c: d, r: bufio.NewReader(d)}
	dc.send(fmt.Sprintf(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"x","algo":["rx/0"]}}`, minerAddr))
	if got, want := dc.readLine(), errLine("1", proto.ErrMsgNiceHashFull); got != want {
		t.Fatalf("login on a full NiceHash port:\n got %s\nwant %s", got, want)
	}
	dc.expectClosed()
}

func TestNonceBytes(t *testing.T) {
	var b nonceBytes
	seen := map[byte]bool{}
	for range nonceBytesMax {
		v, ok := b.take()
		if !ok || v == 0 || seen[v] {
			t.Fatalf("take gave %d, %v (seen %v)", v, ok, seen[v])
		}
		seen[v] = true
	}
	if v, ok := b.take(); ok {
		t.Fatalf("a %dth byte was handed out: %d", nonceBytesMax+1, v)
	}
	b.release(77)
	if v, ok := b.take(); !ok || v != 77 {
		t.Fatalf("after releasing 77, take gave %d, %v", v, ok)
	}
}
