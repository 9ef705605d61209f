package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
