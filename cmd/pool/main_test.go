package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rxpool/internal/testenv"
)

func TestCheckAcceptsTheExample(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-config", "../../config.json.example", "check", "-offline"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
	for _, want := range []string{"config OK: coin pastella", "port 3333: diff 1000", "daemon http://127.0.0.1:21001"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCheckReportsBadKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(`{"coin":"pastella","paymnets":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-config", path, "check"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), `unknown key "paymnets" (did you mean "payments"?)`) {
		t.Fatalf("stderr lacks the suggestion:\n%s", errOut.String())
	}
}

func TestAuditPassesThenFailsOnACorruptedLedger(t *testing.T) {
	rds := testenv.NewRedis(t)
	cfg := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"port":18081},
		"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q}}`,
		"48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se", rds.Socket)
	pool := poolCLI(t, cfg)
	if out := pool(0, "audit"); !strings.Contains(out, "audit passed") {
		t.Fatalf("clean ledger:\n%s", out)
	}
	// Money that no block or payment explains.
	c := rds.Client()
	defer c.Close()
	if err := c.HIncrBy(context.Background(), "{monero}:balances", "someone", 5).Err(); err != nil {
		t.Fatal(err)
	}
	out := pool(1, "audit")
	if !strings.Contains(out, "FAIL") {
		t.Fatalf("corrupted ledger:\n%s", out)
	}
	t.Logf("audit output on the corrupted ledger:\n%s", out)
}

// poolCLI writes cfg to a file and returns a function that runs the pool
// command with it, checks the exit status and returns what it printed.
func poolCLI(t *testing.T, cfg string) func(want int, args ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append([]string{"-config", path}, args...), &out, &errOut); code != want {
			t.Fatalf("pool %v: exit %d, want %d\n%s%s", args, code, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
}

// TestCheckReachesServices: `pool check` reaches Redis, the daemon and the
// wallet and says what works; a daemon that is down or a wallet whose
// address is not the pool's makes it fail with exit status 1.
func TestCheckReachesServices(t *testing.T) {
	rds := testenv.NewRedis(t)
	md := testenv.NewMonerod(t, testenv.MonerodOptions{})
	w := testenv.NewWallet(t, md, "pool")
	cfg := func(poolAddr string) string {
		return fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"host":"127.0.0.1","port":%d},
			"walletApi":{"host":"127.0.0.1","port":%d},"payments":{"enabled":true},
			"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q}}`, poolAddr, md.RPCPort, w.Port, rds.Socket)
	}
	out := poolCLI(t, cfg(w.Address))(0, "check")
	for _, want := range []string{"ok   redis unix:", "ok   daemon", "block template for the pool address ok", "ok   wallet", "check passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out = poolCLI(t, cfg(testenv.MoneroAddress(t, 3)))(1, "check")
	if !strings.Contains(out, "FAIL wallet") || !strings.Contains(out, "is not poolAddress") {
		t.Errorf("a wallet of another address passed:\n%s", out)
	}
	md.Stop()
	rds.Stop()
	out = poolCLI(t, cfg(w.Address))(1, "check")
	for _, want := range []string{"FAIL redis", "FAIL daemon", "check FAILED"} {
		if !strings.Contains(out, want) {
			t.Errorf("with redis and the daemon down, output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("check with services down:\n%s", out)
}

// `pool blocks settle-lost` records the operator's note on a block the
// unlocker marked lost, once, and refuses anything else.
func TestBlocksSettleLost(t *testing.T) {
	rds := testenv.NewRedis(t)
	cfg := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"port":18081},
		"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q}}`,
		"48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se", rds.Socket)
	pool := poolCLI(t, cfg)
	hash := strings.Repeat("ab", 32)
	pool(2, "blocks", "settle-lost", hash)
	if out := pool(1, "blocks", "settle-lost", hash, "absorbed"); !strings.Contains(out, "unknown block") {
		t.Fatalf("unknown block printed %q", out)
	}
	c := rds.Client()
	defer c.Close()
	key := "{monero}:block:" + hash
	if err := c.HSet(context.Background(), key, "status", "confirmed", "height", 7).Err(); err != nil {
		t.Fatal(err)
	}
	if out := pool(1, "blocks", "settle-lost", hash, "absorbed"); !strings.Contains(out, "not marked lost") {
		t.Fatalf("a block not marked lost: %q", out)
	}
	if err := c.HSet(context.Background(), key, "lostAt", 1, "lostReason", "reorged away").Err(); err != nil {
		t.Fatal(err)
	}
	if out := pool(0, "blocks", "settle-lost", strings.ToUpper(hash), "absorbed", "from the fee"); !strings.Contains(out, "settled") {
		t.Fatalf("settle-lost printed %q", out)
	}
	if out := pool(0, "blocks", "settle-lost", hash, "again"); !strings.Contains(out, "settled before") {
		t.Fatalf("second settle-lost printed %q", out)
	}
	if v := c.HGet(context.Background(), key, "lostSettled").Val(); !strings.HasSuffix(v, " absorbed from the fee") {
		t.Fatalf("lostSettled = %q", v)
	}
}
