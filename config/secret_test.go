package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The secret values used below; none may appear in any output.
var secretValues = []string{"apikey-7f3a9c", "walletpw-51d2e8", "rpcpw-c0ffee", "admintok-9b8a7c6d5e4f", "redispw-aa11bb"}

func secretConfig(t *testing.T) obj {
	m := baseConfig()
	set(m, "walletApi.apiKey", secretValues[0])
	set(m, "walletApi.walletPassword", secretValues[1])
	set(m, "walletApi.rpcPassword", secretValues[2])
	set(m, "api.adminToken", secretValues[3])
	set(m, "redis.password", secretValues[4])
	return m
}

func assertNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range secretValues {
		if strings.Contains(out, s) {
			t.Errorf("%s leaks %q:\n%s", what, s, out)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	m := secretConfig(t)
	set(m, "walletApi.rpcPassword", nil) // pastella rejects rpc auth
	cfg, err := parseObj(t, m)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WalletAPI.RPCPassword = Secret(secretValues[2]) // as if set by code
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10.3s"} {
		assertNoSecret(t, verb+" of Config", fmt.Sprintf(verb, cfg))
		assertNoSecret(t, verb+" of *Config", fmt.Sprintf(verb, *cfg))
		assertNoSecret(t, verb+" of WalletAPIConfig", fmt.Sprintf(verb, cfg.WalletAPI))
		assertNoSecret(t, verb+" of Secret", fmt.Sprintf(verb, cfg.API.AdminToken))
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "json.Marshal", string(b))
	if !strings.Contains(string(b), `"apiKey":"[redacted]"`) {
		t.Errorf("json.Marshal does not show the redaction: %s", b)
	}
	s := Secret("x")
	if s.String() != "[redacted]" || s.GoString() != "[redacted]" || fmt.Sprint(s) != "[redacted]" {
		t.Error("Secret printed its value")
	}
	if cfg.WalletAPI.APIKey.Reveal() != secretValues[0] || !cfg.WalletAPI.APIKey.IsSet() {
		t.Error("Reveal lost the value")
	}
	if b, _ := json.Marshal(Secret("")); string(b) != `""` {
		t.Errorf("unset secret marshals as %s", b)
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	// Break every rule that involves a secret, plus many others, and make
	// sure no message echoes a secret value.
	m := secretConfig(t)
	shortToken := "short-" + secretValues[3][:9]
	set(m, "api.adminToken", shortToken)
	set(m, "walletApi.apiKey", secretValues[0]+"\n")
	set(m, "coin", "pastella")
	set(m, "redis.socket", "rel")
	set(m, "redis.cluster.addrs", []any{"x"})
	set(m, "payments.denomination", 0)
	_, err := parseObj(t, m)
	if err == nil {
		t.Fatal("no error")
	}
	assertNoSecret(t, "Parse error", err.Error())
	if !strings.Contains(err.Error(), "api.adminToken: must be at least 16") || strings.Contains(err.Error(), shortToken) {
		t.Errorf("short token error missing or leaking:\n%s", err)
	}

	// The same for monero, where the secrets are checked differently.
	m = moneroConfig(t)
	set(m, "walletApi.apiKey", secretValues[0])
	set(m, "walletApi.rpcUser", nil)
	set(m, "walletApi.rpcPassword", secretValues[2])
	set(m, "redis.password", secretValues[4])
	if _, err = parseObj(t, m); err == nil {
		t.Fatal("no error")
	}
	assertNoSecret(t, "Parse error", err.Error())

	// Wrong types and unknown keys with secret values.
	m = baseConfig()
	set(m, "walletApi.apiKey", []any{secretValues[0]})
	set(m, "redis.auth", secretValues[4])
	set(m, "api.adminToken", obj{secretValues[3]: 1})
	if _, err = parseObj(t, m); err == nil {
		t.Fatal("no error")
	}
	assertNoSecret(t, "Parse error", err.Error())
}
