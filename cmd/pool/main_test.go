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
	code := run([]string{"-config", "../../config.json.example", "check"}, &out, &errOut)
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
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-config", path, "audit"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "audit passed") {
		t.Fatalf("clean ledger: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	// Money that no block or payment explains.
	c := rds.Client()
	defer c.Close()
	if err := c.HIncrBy(context.Background(), "{monero}:balances", "someone", 5).Err(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-config", path, "audit"}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "FAIL") {
		t.Fatalf("corrupted ledger: exit %d\n%s", code, out.String())
	}
	t.Logf("audit output on the corrupted ledger:\n%s", out.String())
}
