package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"rxpool/internal/testenv"
	"rxpool/stratum/proto"
)

// Results a flood makes up (little-endian 256-bit values, as the pool reads
// them): lowResult misses every port's difficulty, so it is refused before
// any hash; wrongResult is 2^232-1, difficulty about 2^24, so it meets every
// port of the example (at most 500,000) and is hashed, yet stays far from
// hostileNetDiff: a wrong result, not a block claim.
var (
	lowResult   = strings.Repeat("ff", 32)
	wrongResult = strings.Repeat("ff", 29) + "000000"
)

// hostileNetDiff keeps every share short of a block: one template throughout.
const hostileNetDiff = 1_000_000_000

// TestHostileExampleConfig is issue 17's "what it must show", against the
// pool binary running the shipped config.json.example (hostileExampleConfig
// says which keys change and why), on one running pool:
//   - address spraying: 2,000 fresh valid addresses each log in and send
//     one low-difficulty share; Redis gains fewer than 100 keys;
//   - a wrong-result flood from one address, pipelined on 4 connections,
//     costs at most 10 hashes (the pool's /metrics) and bans the address;
//   - 2,000 connections refused from one address (the example's
//     connectionRate 20/s, burst 200, refuses them before its
//     maxConnectionsPerIP 1000 could) write fewer than 50 log lines;
//   - the pool stays up, an honest login still works and `pool audit` passes.
func TestHostileExampleConfig(t *testing.T) {
	hostileFileLimit(t, 16384)
	md := testenv.NewMonerod(t, testenv.MonerodOptions{FixedDifficulty: hostileNetDiff})
	rds := testenv.NewRedis(t)
	rdb := rds.Client()
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ports := FreePorts(t, 5) // the example's four stratum ports, the API
	cfg, prefix := hostileExampleConfig(t, md, rds.Socket, ports)
	pool := StartPool(t, ctx, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[4])
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0]) // the example's 3333: diff 1000
	pool.WaitOK(t, base+"/health", time.Minute)
	WaitStratum(t, pool, addr, time.Minute)
	WaitLog(t, pool, "cache ready (light mode)", 2*time.Minute)

	t.Run("address spraying adds no keys", func(t *testing.T) {
		const addresses, sources = 2000, 100 // 20 per source: under banning.checkThreshold 30 and connectionBurst 200
		keys0 := hostileKeys(t, rdb)
		invalid0 := hostileInvalid(t, rdb, prefix)
		logins := make([]string, addresses) // made here: t.Fatal belongs to the test's goroutine
		for i := range logins {
			logins[i] = testenv.MoneroAddress(t, 10_000+i)
		}
		var low, other atomic.Int64
		var firstOther atomic.Value
		hostileParallel(32, addresses, func(i int) {
			src := fmt.Sprintf("127.0.0.%d", 100+i%sources)
			err := func() error {
				c, err := hostileDial(src, addr)
				if err != nil {
					return err
				}
				defer c.Close()
				sid, job, err := c.login(logins[i])
				if err != nil {
					return err
				}
				r, err := c.submit(1, sid, job.JobID, 0, lowResult)
				if err != nil {
					return err
				}
				if r.Error == nil || r.Error.Message != proto.ErrMsgLowDifficulty {
					return fmt.Errorf("reply %+v", r)
				}
				return nil
			}()
			if err != nil {
				other.Add(1)
				firstOther.CompareAndSwap(nil, fmt.Sprintf("address %d from %s: %v", i, src, err))
				return
			}
			low.Add(1)
		})
		if other.Load() > 0 {
			t.Errorf("%d of %d sprayed addresses were not answered %q; first: %v", other.Load(), addresses, proto.ErrMsgLowDifficulty, firstOther.Load())
		}
		// Every rejection is counted pool-wide (invalid work) before the keys
		// are: the share batches holding them have been written.
		WaitFor(t, 30*time.Second, "the sprayed rejections in Redis", func() error {
			if n := hostileInvalid(t, rdb, prefix) - invalid0; n < low.Load() {
				return fmt.Errorf("%d of %d rejections counted", n, low.Load())
			}
			return nil
		})
		time.Sleep(time.Second) // any write behind them (10 flush intervals)
		keys1 := hostileKeys(t, rdb)
		var added []string
		for k := range keys1 {
			if !keys0[k] {
				added = append(added, k)
			}
		}
		slices.Sort(added)
		t.Logf("address spraying: %d addresses from %d sources, %d answered %q; Redis keys %d → %d (+%d: %s)",
			addresses, sources, low.Load(), proto.ErrMsgLowDifficulty, len(keys0), len(keys1), len(added), Tail(strings.Join(added, " "), 2000))
		if len(added) >= 100 {
			t.Errorf("Redis gained %d keys for %d sprayed addresses, want fewer than 100", len(added), addresses)
		}
	})

	t.Run("wrong-result flood is cut off", func(t *testing.T) {
		const src, conns, perConn = "127.0.0.2", 4, 250
		hashes0 := Scrape(t, base+"/metrics")["rxpool_verifier_hashes_total"]
		logFrom := len(pool.Output())
		var cs []*hostileConn
		var sids []string
		var jobs []*proto.Job
		for i := range conns {
			c, err := hostileDial(src, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sid, job, err := c.login(testenv.MoneroAddress(t, 20_000+i))
			if err != nil {
				t.Fatal(err)
			}
			cs, sids, jobs = append(cs, c), append(sids, sid), append(jobs, job)
		}
		var mu sync.Mutex
		replies := map[string]int{}
		hostileParallel(conns, conns, func(i int) {
			got := cs[i].flood(sids[i], jobs[i].JobID, perConn, wrongResult)
			mu.Lock()
			defer mu.Unlock()
			for m, n := range got {
				replies[m] += n
			}
		})
		var m map[string]float64
		WaitFor(t, 30*time.Second, "the verifier idle", func() error {
			m = Scrape(t, base+"/metrics")
			if n := m["rxpool_verifier_in_flight"] + m["rxpool_verifier_queue_depth"] + m["rxpool_verifier_stranger_queue_depth"]; n > 0 {
				return fmt.Errorf("%v shares in verification", n)
			}
			return nil
		})
		hashes := m["rxpool_verifier_hashes_total"] - hashes0
		banned, err := hostileFirstLine(src, addr, 5*time.Second)
		t.Logf("wrong-result flood: %d submits on %d connections from %s; replies %v; %.0f hashes; reconnecting: %q (%v)",
			conns*perConn, conns, src, replies, hashes, banned, err)
		if replies[proto.ErrMsgWrongResult] == 0 {
			t.Errorf("no submit was answered %q", proto.ErrMsgWrongResult)
		}
		if hashes > 10 {
			t.Errorf("the flood cost %.0f hashes, want at most 10", hashes)
		}
		if !strings.Contains(banned, proto.ErrMsgBanned) {
			t.Errorf("reconnecting from %s: %q (%v), want %q", src, banned, err, proto.ErrMsgBanned)
		}
		// One ban, one line, though each connection had a share in
		// verification when the first was judged.
		if n := strings.Count(pool.Output()[logFrom:], "Ban: "+src+" "); n != 1 {
			t.Errorf("%d ban lines for %s, want 1", n, src)
		}
	})

	t.Run("refused connections log a summary", func(t *testing.T) {
		const src, want, maxAttempts = "127.0.0.3", 2000, 3000
		m0 := Scrape(t, base+"/metrics")
		logFrom := len(pool.Output())
		var attempts, refused, admitted, other atomic.Int64
		var firstOther atomic.Value
		start := time.Now()
		hostileParallel(64, maxAttempts, func(int) {
			if refused.Load() >= want {
				return // enough: the rest are not dialled
			}
			attempts.Add(1)
			line, err := hostileFirstLine(src, addr, time.Second)
			switch {
			case strings.Contains(line, proto.ErrMsgTooManyConns):
				refused.Add(1)
			case line == "" && errors.Is(err, os.ErrDeadlineExceeded):
				admitted.Add(1) // a session waiting for its login
			default:
				other.Add(1)
				firstOther.CompareAndSwap(nil, fmt.Sprintf("%q %v", line, err))
			}
		})
		took := time.Since(start)
		// The refusals are logged as one summary per address and interval
		// (stratum.RefusalLogInterval, 10 s): wait until the summaries name
		// every refused connection.
		summary := regexp.MustCompile(`Refused (\d+) connections from ` + regexp.QuoteMeta(src) + ` `)
		WaitFor(t, 30*time.Second, "the log's summary of the refusals from "+src, func() error {
			var logged int64
			for _, m := range summary.FindAllStringSubmatch(pool.Output()[logFrom:], -1) {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				logged += n
			}
			if logged < refused.Load() {
				return fmt.Errorf("%d of %d refusals logged", logged, refused.Load())
			}
			return nil
		})
		newLog := pool.Output()[logFrom:]
		lines := strings.Count(newLog, "\n")
		m1 := Scrape(t, base+"/metrics")
		t.Logf("refused-connection flood: %d attempts from %s in %v: %d refused %q, %d admitted, %d other (first: %v); pool counted refused %v; %d log lines:\n%s",
			attempts.Load(), src, took.Round(time.Millisecond), refused.Load(), proto.ErrMsgTooManyConns, admitted.Load(), other.Load(),
			firstOther.Load(), labelDelta(m0, m1, "rxpool_connections_refused_total"), lines, Tail(newLog, 3000))
		if refused.Load() < want {
			t.Errorf("%d connections refused, want at least %d", refused.Load(), want)
		}
		if lines >= 50 {
			t.Errorf("%d log lines for %d refused connections, want fewer than 50", lines, refused.Load())
		}
	})

	t.Run("pool stays up and audit passes", func(t *testing.T) {
		if !pool.Running() {
			t.Fatal("the pool exited")
		}
		pool.WaitOK(t, base+"/health", 30*time.Second)
		c, err := hostileDial("127.0.0.1", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, job, err := c.login(testenv.MoneroAddress(t, 1)); err != nil || job == nil {
			t.Fatalf("an honest login after the floods: %v", err)
		}
		PoolAudit(t, pool)
	})
}

// hostileExampleConfig is config.json.example with only what must change
// to run here, and the pool's Redis prefix:
//   - coin "monero" (regtest monerod; the Pastella daemon is not part of
//     this test), its profile's symbol, coinUnits, coinDecimalPlaces and
//     coinDifficultyTarget and blockUnlocker.depth (removed: the profile
//     sets them; Monero's coinbase matures after 60 blocks, not 10), a
//     Monero poolAddress;
//   - daemon.port: the test's monerod;
//   - stratum.bindIp and api.bindIp 127.0.0.1 (loopback only), the four
//     ports' numbers and api.port free test ports (their settings kept);
//   - randomx.mode "light", as the other e2e tests (fast mode needs 2 GB
//     and a minute of dataset per seed);
//   - redis.socket: the test's Redis (host and port then unused);
//   - payments off: they need the pool wallet, which is not running.
func hostileExampleConfig(t *testing.T, md *testenv.Monerod, redisSocket string, ports []int) (string, string) {
	t.Helper()
	root, err := testenv.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config.json.example"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	section := func(k string) map[string]any {
		s, ok := c[k].(map[string]any)
		if !ok {
			t.Fatalf("config.json.example has no %q object", k)
		}
		return s
	}
	c["coin"], c["poolAddress"] = "monero", testenv.MoneroAddress(t, 0)
	for _, k := range []string{"symbol", "coinUnits", "coinDecimalPlaces", "coinDifficultyTarget"} {
		delete(c, k)
	}
	delete(section("blockUnlocker"), "depth")
	section("daemon")["port"] = md.RPCPort
	section("stratum")["bindIp"] = "127.0.0.1"
	example := section("ports")
	moved := map[string]any{}
	for i, p := range []string{"3333", "5555", "7777", "9999"} {
		if example[p] == nil {
			t.Fatalf("config.json.example has no port %s", p)
		}
		moved[fmt.Sprint(ports[i])] = example[p]
	}
	if len(moved) != len(example) {
		t.Fatalf("config.json.example has ports %v, the test moves 3333, 5555, 7777, 9999", example)
	}
	c["ports"] = moved
	section("randomx")["mode"] = "light"
	section("redis")["socket"] = redisSocket
	section("payments")["enabled"] = false
	api := section("api")
	api["bindIp"], api["port"] = "127.0.0.1", ports[4]
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	prefix, _ := section("redis")["prefix"].(string)
	return string(out), prefix
}

// hostileFileLimit raises the test process's open-file limit (which the
// pool inherits) to at least n, within the hard limit: the floods hold
// hundreds of connections at once on both ends.
func hostileFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < n {
		rl.Cur = min(n, rl.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	if rl.Cur < 4096 {
		t.Fatalf("open-file limit %d (hard %d): the floods need at least 4096", rl.Cur, rl.Max)
	}
}

// hostileKeys lists the keys of Redis with SCAN, as an operator would.
func hostileKeys(t *testing.T, rdb *redis.Client) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	iter := rdb.Scan(context.Background(), 0, "*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys[iter.Val()] = true
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// hostileInvalid reads the pool-wide count of invalid shares
// (<prefix>:pool, field invalid).
func hostileInvalid(t *testing.T, rdb *redis.Client, prefix string) int64 {
	t.Helper()
	n, err := rdb.HGet(context.Background(), prefix+":pool", "invalid").Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return n
}

// hostileParallel runs f(0..n-1) on workers goroutines.
func hostileParallel(workers, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}

// hostileConn is a raw stratum connection from a chosen loopback address,
// speaking as an attacker does: its own lines, pipelined at will.
type hostileConn struct {
	net.Conn
	r *bufio.Reader
}

func hostileDial(src, addr string) (*hostileConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &hostileConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// hostileFirstLine connects from src and returns the first line the pool
// sends within wait ("" and the error when none).
func hostileFirstLine(src, addr string, wait time.Duration) (string, error) {
	c, err := hostileDial(src, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	line, err := c.r.ReadString('\n')
	return strings.TrimSpace(line), err
}

// reply reads the next reply, skipping job notifications.
func (c *hostileConn) reply() (*proto.Response, error) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := c.r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		var r proto.Response
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%v: %s", err, line)
		}
		if len(r.ID) > 0 && string(r.ID) != "null" || r.Error != nil {
			return &r, nil
		}
	}
}

func (c *hostileConn) login(address string) (string, *proto.Job, error) {
	if _, err := fmt.Fprintf(c, `{"id":0,"jsonrpc":"2.0","method":"login","params":{"login":%q,"pass":"x","agent":"hostile","algo":[%q]}}`+"\n",
		address, proto.Algo); err != nil {
		return "", nil, err
	}
	r, err := c.reply()
	if err != nil {
		return "", nil, fmt.Errorf("login: %w", err)
	}
	var res proto.LoginResult
	if r.Error != nil || json.Unmarshal(r.Result, &res) != nil || res.Job == nil {
		return "", nil, fmt.Errorf("login refused: %+v %s", r.Error, r.Result)
	}
	return res.ID, res.Job, nil
}

func submitLine(id int, sid, jobID string, nonce uint32, result string) string {
	return fmt.Sprintf(`{"id":%d,"jsonrpc":"2.0","method":"submit","params":{"id":%q,"job_id":%q,"nonce":"%08x","result":%q}}`+"\n",
		id, sid, jobID, nonce, result)
}

func (c *hostileConn) submit(id int, sid, jobID string, nonce uint32, result string) (*proto.Response, error) {
	if _, err := c.Write([]byte(submitLine(id, sid, jobID, nonce, result))); err != nil {
		return nil, err
	}
	return c.reply()
}

// flood writes n submits of result at once, without waiting for replies,
// and reads until the pool closes the connection; it returns the replies'
// error messages ("OK" for an accepted share) and their counts.
func (c *hostileConn) flood(sid, jobID string, n int, result string) map[string]int {
	var b strings.Builder
	for i := range n {
		b.WriteString(submitLine(1+i, sid, jobID, uint32(i), result))
	}
	go func() { _, _ = c.Write([]byte(b.String())) }() // the pool may close before reading it all
	got := map[string]int{}
	for {
		r, err := c.reply()
		if err != nil {
			return got
		}
		if r.Error != nil {
			got[r.Error.Message]++
		} else {
			got["OK"]++
		}
	}
}
