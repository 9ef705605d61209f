package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"rxpool/api"
	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/internal/testenv"
	"rxpool/storage"
)

func TestExactAmountImport(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "150000000": 150000000, "3e+2": 300, "150.0": 150, "1.5e3": 1500} {
		if got, err := exactAmount(in); err != nil || got != want {
			t.Errorf("exactAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "12.5", "28999999.999999996", "-5", "1/2", "0x10", "1e999", " 5", "NaN", "3e+18"} {
		if got, err := exactAmount(in); err == nil {
			t.Errorf("exactAmount(%q) = %d, want an error", in, got)
		}
	}
}

// nodePoolFixture fills a Redis exactly as the Pastella Node pool leaves
// it (../shared/docs/pastella.md §7.6), bugs included, and says what an
// import must make of it.
type nodePoolFixture struct {
	a1, a2, a5, expired, bad string
}

func fillNodePool(t *testing.T, c *redis.Client) nodePoolFixture {
	t.Helper()
	ctx := context.Background()
	addr := func(k int) string { return testenv.Address(t, cryptonote.Pastella, k) }
	f := nodePoolFixture{a1: addr(1), a2: addr(2), a5: addr(5), expired: addr(4)}
	a3 := addr(3)
	// Right length and prefix, which is all the Node pool checks; wrong checksum.
	last := f.a1[len(f.a1)-1]
	f.bad = f.a1[:len(f.a1)-1] + map[bool]string{true: "2", false: "1"}[last == '1']
	tx := func(n int) string { return fmt.Sprintf("%064x", 0xa000+n) }
	blk := func(n int) string { return fmt.Sprintf("%064x", 0xb000+n) }
	p := "Pastella:"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Miners: HINCRBY'd balances and paid totals; minPayoutLevel = level × coinUnits, a float.
	must(c.HSet(ctx, p+"workers:"+f.a1, "hashes", "987654", "lastShare", "1772200000", "balance", "150000000",
		"paid", "400000000", "minPayoutLevel", "500000000").Err())
	must(c.HSet(ctx, p+"workers:"+f.a2, "hashes", "5000", "balance", "2500", "paid", "100000000",
		"minPayoutLevel", "28999999.999999996").Err())
	must(c.HSet(ctx, p+"workers:"+a3, "balance", "123.5", "paid", "0").Err())
	must(c.HSet(ctx, p+"workers:"+f.a5, "balance", "3e+2").Err())
	must(c.HSet(ctx, p+"workers:"+f.bad, "balance", "777", "paid", "0").Err())
	// Histories: the fee field is the whole transaction's fee (1000), not the miner's.
	must(c.ZAdd(ctx, p+"payments:"+f.a1, redis.Z{Score: 1772200000, Member: tx(1) + ":300000000:1000:0"},
		redis.Z{Score: 1772203600, Member: tx(2) + ":100000000:1000:0"}, redis.Z{Score: 1772203700, Member: "nothex:5:1000:0"}).Err())
	must(c.ZAdd(ctx, p+"payments:"+f.a2, redis.Z{Score: 1772200000, Member: tx(1) + ":100000000:1000:0"}).Err())
	// The pool's payments; the one to f.expired outlived its workers key.
	must(c.ZAdd(ctx, p+"payments:all",
		redis.Z{Score: 1772200000, Member: tx(1) + ":400000000:1000:0:2:" + f.a1},
		redis.Z{Score: 1772203600, Member: tx(2) + ":100000000:1000:0:1:" + f.a1},
		redis.Z{Score: 1772100000, Member: tx(3) + ":5000:1000:0:1:" + f.expired},
		redis.Z{Score: 1772100001, Member: "broken:1:2"}).Err())
	// Blocks: a confirmed one with a float total score, an orphan found by
	// an expired miner, one with a float reward and one by a bad address.
	must(c.ZAdd(ctx, p+"blocks:matured",
		redis.Z{Score: 100, Member: "prop:" + f.a1 + ":" + blk(100) + ":1772190000:5000:6000:4567.5:1500:0:400000000"},
		redis.Z{Score: 101, Member: "solo:" + f.expired + ":" + blk(101) + ":1772190030:5000:300:300:300:1"},
		redis.Z{Score: 102, Member: "prop:" + f.a2 + ":" + blk(102) + ":1772190060:5000:300:300:300:0:3.5"},
		redis.Z{Score: 103, Member: "prop:" + f.bad + ":" + blk(103) + ":1772190090:5000:300:300:300:0:400000000"}).Err())
	// Candidates stay with the Node pool, the orphaned one too.
	must(c.ZAdd(ctx, p+"blocks:candidates",
		redis.Z{Score: 105, Member: "prop:" + f.a1 + ":" + blk(105) + ":1772190150:5000:100:100.25:50"},
		redis.Z{Score: 110, Member: "prop:" + f.a2 + ":" + blk(110) + ":1772190300:5000:100:100:50"}).Err())
	must(c.HSet(ctx, p+"blocks:participants", "100", f.a1+":3000.5,"+f.a2+":1567").Err())
	// Round state and statistics, which are not money and not imported.
	must(c.HSet(ctx, p+"scores:prop:roundCurrent", f.a1, "1500.5").Err())
	must(c.ZAdd(ctx, p+"hashrate", redis.Z{Score: 1772200000, Member: "5000:" + f.a1 + "~rig:1772200000000:prop"}).Err())
	must(c.HSet(ctx, p+"stats", "lastBlockFoundprop", "1772190000000").Err())
	return f
}

// poolBinary runs the built pool command and checks its exit status.
func poolBinary(t *testing.T, bin, cfgPath string, want int, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-config", cfgPath}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("pool %v: exit %d, want %d\n%s", args, code, want, out)
	}
	return string(out)
}

// redisState is every key of a Redis with its type and content.
func redisState(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		var v any
		switch typ := c.Type(ctx, k).Val(); typ {
		case "hash":
			v = c.HGetAll(ctx, k).Val()
		case "zset":
			v = c.ZRangeWithScores(ctx, k, 0, -1).Val()
		case "stream":
			v = c.XRange(ctx, k, "-", "+").Val()
		case "string":
			v = c.Get(ctx, k).Val()
		default:
			v = typ
		}
		out[k] = fmt.Sprint(v)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// noDaemon is the API's daemon when the test needs none.
type noDaemon struct{}

var errNoDaemon = errors.New("no daemon in this test")

func (noDaemon) Name() string { return "none" }
func (noDaemon) GetBlockTemplate(context.Context, string, int) (*daemon.Template, error) {
	return nil, errNoDaemon
}
func (noDaemon) SubmitBlock(context.Context, []byte) error { return errNoDaemon }
func (noDaemon) LastBlockHeader(context.Context) (*daemon.BlockHeader, error) {
	return nil, errNoDaemon
}
func (noDaemon) BlockHeaderByHeight(context.Context, uint64) (*daemon.BlockHeader, error) {
	return nil, errNoDaemon
}
func (noDaemon) BlockHeaderByHash(context.Context, [32]byte) (*daemon.BlockHeader, error) {
	return nil, errNoDaemon
}
func (noDaemon) Info(context.Context) (*daemon.Info, error) { return nil, errNoDaemon }

// TestImportNodePool runs the real pool binary's `import nodepool` from a
// Node pool Redis into a second redis-server: dry run, import, audit, the
// API's view, a repeat, and the -force rule.
func TestImportNodePool(t *testing.T) {
	srcRedis, dstRedis := testenv.NewRedis(t), testenv.NewRedis(t)
	src, dst := srcRedis.Client(), dstRedis.Client()
	defer src.Close()
	defer dst.Close()
	ctx := context.Background()
	f := fillNodePool(t, src)
	srcBefore := redisState(t, src)

	bin := testenv.BuildBinary(t, "rxpool/cmd/pool")
	dir := t.TempDir()
	writeCfg := func(name string, db int) string {
		p := filepath.Join(dir, name)
		cfg := fmt.Sprintf(`{"coin":"pastella","poolAddress":%q,"daemon":{"port":21001},
			"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q,"db":%d}}`,
			testenv.Address(t, cryptonote.Pastella, 99), dstRedis.Socket, db)
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := writeCfg("c.json", 0)
	from := "unix://" + srcRedis.Socket + "?db=0"

	out := poolBinary(t, bin, cfg, 0, "import", "nodepool", "-from", from, "-dry-run")
	if n := dst.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("the dry run wrote %d keys:\n%s", n, out)
	}
	if !strings.Contains(out, "dry run") || !strings.Contains(out, "3 to import") {
		t.Fatalf("dry run output:\n%s", out)
	}

	out = poolBinary(t, bin, cfg, 0, "import", "nodepool", "-from", from)
	t.Logf("import output:\n%s", out)
	for _, want := range []string{
		"miners: 5 in the source: 3 imported, 0 imported before (unchanged), 0 with nothing to import, 2 skipped",
		"balances: 3 miners, Σ 150002800 ",
		"paid totals: 2 miners, Σ 500000000 ",
		"thresholds: 1; payment history entries: 3",
		"pool payments: 3 read (Σ sent 500005000 ", "3 added, 0 present before",
		"blocks: 2 matured read: 1 confirmed (Σ reward 400000000 ", "1 orphaned; 2 imported",
		"candidates left to the Node pool's unlocker (not imported): 2",
		"skipped: 7",
		"SKIP Pastella:workers:" + f.bad + ": ",
		`balance: "123.5" is not an exact integer (refusing to round); miner skipped`,
		"SKIP Pastella:workers:" + f.a2 + ` minPayoutLevel: "28999999.999999996" is not an exact integer`,
		"SKIP Pastella:payments:" + f.a1 + ` member "nothex:5:1000:0"`,
		`SKIP Pastella:payments:all member "broken:1:2"`,
		`reward "3.5" is not an exact integer (refusing to round); block skipped`,
		"SKIP Pastella:blocks:matured height 103", "finder: ",
		`score "4567.5" is not an exact integer (refusing to round); recorded as 0`,
		f.expired + ": named in the history but Pastella:workers:" + f.expired,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q", want)
		}
	}
	if !reflectEqual(srcBefore, redisState(t, src)) {
		t.Error("the import changed the source Redis")
	}

	// The money, to the atomic unit.
	store, err := storage.New(storage.Config{Socket: dstRedis.Socket}, cryptonote.Pastella, testLogrus(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(ctx)
	for a, want := range map[string]storage.Balance{
		f.a1: {Balance: 150000000, Paid: 400000000}, f.a2: {Balance: 2500, Paid: 100000000}, f.a5: {Balance: 300},
	} {
		if got, err := store.Balance(ctx, a); err != nil || got != want {
			t.Errorf("%s: balance %+v %v, want %+v", a, got, err, want)
		}
	}
	if th, err := store.Thresholds(ctx); err != nil || len(th) != 1 || th[f.a1] != 500000000 {
		t.Errorf("thresholds %v %v", th, err)
	}
	if acc, err := store.Accounts(ctx); err != nil || len(acc) != 3 {
		t.Errorf("accounts %v %v (the bad address and the float balance must not be imported)", acc, err)
	}
	if out := poolBinary(t, bin, cfg, 0, "audit"); !strings.Contains(out, "audit passed") {
		t.Fatalf("audit:\n%s", out)
	}

	// What the API answers.
	srv, err := api.New(api.Config{}, api.Deps{Store: store, Coin: cryptonote.Pastella, Daemon: noDaemon{}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, v any) {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var m api.Miner
	get("/stats?address="+f.a1, &m)
	if m.Balance != 150000000 || m.Paid != 400000000 || m.Threshold != 500000000 || !m.ThresholdCustom || m.PaymentsTotal != 2 ||
		len(m.Payments) != 2 || m.Payments[0].ID != 0 || m.Payments[0].Amount != 100000000 || m.Payments[0].Fee != 0 ||
		m.Payments[1].TxHash != fmt.Sprintf("%064x", 0xa001) || m.Payments[1].Time != 1772200000000 {
		t.Errorf("/stats?address= %+v", m)
	}
	var mine struct{ Payments []api.MinerPayment }
	get("/payments?address="+f.a2, &mine)
	if len(mine.Payments) != 1 || mine.Payments[0].Amount != 100000000 || mine.Payments[0].Fee != 0 || !mine.Payments[0].Imported {
		t.Errorf("/payments?address= %+v", mine)
	}
	var pool struct{ Payments []api.Payment }
	get("/payments", &pool)
	if len(pool.Payments) != 3 || pool.Payments[0].Amount != 100000000 || pool.Payments[1].Fee != 1000 || pool.Payments[1].Destinations != 2 ||
		!pool.Payments[0].Imported || !pool.Payments[2].Imported {
		t.Errorf("/payments %+v", pool)
	}
	var blocks struct{ Blocks []api.Block }
	get("/blocks", &blocks)
	if len(blocks.Blocks) != 2 || blocks.Blocks[0].Status != storage.StatusOrphaned || blocks.Blocks[1].Status != storage.StatusConfirmed ||
		blocks.Blocks[1].Reward != 400000000 || blocks.Blocks[1].Finder != f.a1 {
		t.Errorf("/blocks %+v", blocks)
	}

	// A second import changes nothing, even when the source changed since
	// (the Node pool was not stopped): that is noted for the operator.
	if err := src.HSet(ctx, "Pastella:workers:"+f.a1, "balance", "150000001").Err(); err != nil {
		t.Fatal(err)
	}
	before := redisState(t, dst)
	out = poolBinary(t, bin, cfg, 0, "import", "nodepool", "-from", from)
	if !strings.Contains(out, "0 imported, 3 imported before") || !strings.Contains(out, "0 added, 3 present before") ||
		!strings.Contains(out, "imported before with balance=150000000 paid=400000000; the source now has balance=150000001 paid=400000000") {
		t.Errorf("repeat output:\n%s", out)
	}
	if after := redisState(t, dst); !reflectEqual(before, after) {
		t.Errorf("the repeat changed the target: %v", diffKeys(before, after))
	}

	// A pool with books of its own refuses unless -force.
	cfg1 := writeCfg("c1.json", 1)
	dst1 := redis.NewClient(&redis.Options{Network: "unix", Addr: dstRedis.Socket, DB: 1})
	defer dst1.Close()
	if err := dst1.HSet(ctx, "{pastella}:balances", f.a5, "42").Err(); err != nil {
		t.Fatal(err)
	}
	out = poolBinary(t, bin, cfg1, 1, "import", "nodepool", "-from", from)
	if !strings.Contains(out, "refusing to mix books") || dst1.DBSize(ctx).Val() != 1 {
		t.Fatalf("import into a pool with its own books:\n%s", out)
	}
	out = poolBinary(t, bin, cfg1, 0, "import", "nodepool", "-from", from, "-force")
	if v := dst1.HGet(ctx, "{pastella}:balances", f.a5).Val(); v != "342" || !strings.Contains(out, "-force: importing") {
		t.Fatalf("-force: balance %q\n%s", v, out)
	}
}

func reflectEqual(a, b map[string]string) bool { return len(diffKeys(a, b)) == 0 }

// diffKeys lists the keys whose content differs.
func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func testLogrus(t *testing.T) *logrus.Logger {
	t.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
