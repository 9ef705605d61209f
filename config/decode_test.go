package config

import (
	"encoding/json"
	"errors"
	"testing"
)

// parseWith parses the base configuration with extra keys set; values are
// raw JSON so that wrong types can be written.
func parseWith(t *testing.T, changes map[string]string) error {
	t.Helper()
	m := baseConfig()
	for path, raw := range changes {
		set(m, path, json.RawMessage(raw))
	}
	_, err := parseObj(t, m)
	return err
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		name, path, raw, want string
	}{
		{"top level typo", "poolAdress", `"x"`, `unknown key "poolAdress" (did you mean "poolAddress"?)`},
		{"top level case", "PoolHost", `"x"`, `unknown key "PoolHost" (did you mean "poolHost"?)`},
		{"case beats distance", "varDIFF", `{}`, `unknown key "varDIFF" (did you mean "varDiff"?)`},
		{"nested transposition", "payments.minPaymnet", `1`, `unknown key "payments.minPaymnet" (did you mean "minPayment"?)`},
		{"nested missing letter", "blockUnlocker.finderRewad", `1`, `unknown key "blockUnlocker.finderRewad" (did you mean "finderReward"?)`},
		{"inside a port entry", "ports.3333.dif", `1`, `unknown key "ports.3333.dif" (did you mean "diff"?)`},
		{"node pool ssl key", "ports.3333.ssl", `true`, `unknown key "ports.3333.ssl" (did you mean "tls"?)`},
		{"deeper", "redis.sentinel.masterNmae", `"m"`, `unknown key "redis.sentinel.masterNmae" (did you mean "masterName"?)`},
		{"no close key", "redis.auth", `"pw"`,
			`unknown key "redis.auth" (known keys here: host, port, socket, db, password, prefix, sentinel, cluster, poolSize, tls, maxWorkersPerAddress, minReplicaAcks)`},
		{"inside an array element", "daemons", `[{"hots":"x","port":1}]`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := baseConfig()
			if tc.path == "daemons" {
				delete(m, "daemon")
				tc.want = `unknown key "daemons[0].hots" (did you mean "host"?)`
			}
			set(m, tc.path, json.RawMessage(tc.raw))
			_, err := parseObj(t, m)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	known := []string{"host", "port", "timeout", "name"}
	for key, want := range map[string]string{
		"HOST": "host", "hots": "host", "prot": "port", "timout": "timeout", "tiemout": "timeout",
		"x": "", "address": "", "nm": "", "nmae": "name",
	} {
		if got := nearest(key, known); got != want {
			t.Errorf("nearest(%q) = %q, want %q", key, got, want)
		}
	}
	if d := editDistance("minpaymnet", "minpayment"); d != 1 {
		t.Errorf("transposition distance = %d", d)
	}
}

func TestTypeErrors(t *testing.T) {
	cases := []struct{ path, raw, want string }{
		{"varDiff.minDiff", `"100"`, "varDiff.minDiff: expected a number, got string"},
		{"varDiff.variancePercent", `true`, "varDiff.variancePercent: expected a number, got boolean"},
		{"poolHost", `5`, "poolHost: expected a string, got number"},
		{"stratum.enabled", `"yes"`, "stratum.enabled: expected true or false, got string"},
		{"payments", `[]`, "payments: expected an object, got array"},
		{"ports", `[{"port":3333}]`, "ports: expected an object, got array"},
		{"ports.3333", `1000`, "ports.3333: expected an object, got number"},
		{"api.corsOrigins", `"*"`, "api.corsOrigins: expected an array, got string"},
		{"api.corsOrigins", `["*", 5]`, "api.corsOrigins[1]: expected a string, got number"},
		{"payments.minPayment", `-5`, "payments.minPayment: expected a whole number from 0 to 18446744073709551615, got -5"},
		{"payments.minPayment", `18446744073709551616`, "payments.minPayment: expected a whole number from 0 to 18446744073709551615, got 18446744073709551616"},
		{"payments.minPayment", `0.5`, "payments.minPayment: expected a whole number, got 0.5"},
		{"instanceId", `4294967296`, "instanceId: expected a whole number from 0 to 4294967295, got 4294967296"},
		{"instanceId", `1e99999999`, "instanceId: expected a whole number from 0 to 4294967295, got 1e99999999"},
		{"stratum.maxConnectionsPerIP", `1.5e3`, ""}, // whole number in exponent form is fine
		{"blockUnlocker.poolFee", `1e400`, "blockUnlocker.poolFee: number 1e400 is out of range"},
		{"walletApi.apiKey", `12345`, "walletApi.apiKey: expected a string, got number"},
	}
	for _, tc := range cases {
		err := parseWith(t, map[string]string{tc.path: tc.raw})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s = %s:\ngot  %q\nwant %q", tc.path, tc.raw, got, tc.want)
		}
	}
}

func TestDuplicateKey(t *testing.T) {
	_, err := Parse([]byte(`{"poolAddress":"` + genesisAddress + `","daemon":{"port":1,"port":2},
		"ports":{"3333":{"diff":1000},"3333":{"diff":2000}},"payments":{"enabled":false}}`))
	want := "daemon.port: key appears more than once in the same object\n" +
		"ports.3333: key appears more than once in the same object"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"{\n  \"coin\": \"pastella\",\n  \"poolHost\": \"x\",\n}\n",
			"line 4, column 1: invalid character '}' looking for beginning of object key string (JSON allows no comma after the last item)"},
		{"{\n  \"coin\": \"pastella\"\n  \"poolHost\": \"x\"\n}",
			"line 3, column 3: invalid character '\"' after object key:value pair"},
		{"{\n  // the coin\n  \"coin\": \"pastella\"\n}",
			"line 2, column 3: invalid character '/' looking for beginning of object key string (JSON has no comments; docs/configuration.md documents the keys)"},
		{"{\n  \"ports\": {\n    \"3333\": {\"diff\": 1000}\n", "line 3, column 27: unexpected end of file (a missing closing brace or bracket?)"},
		{"{\"a\": tru}", "line 1, column 10: invalid character '}' in literal true (expecting 'e')"},
		{"{\"é\": 1, \"b\": x}", "line 1, column 15: invalid character 'x' looking for beginning of value"},
		{"{} {}", "line 1, column 4: invalid character '{' after top-level value"},
		{"", "the configuration is empty"},
		{"[1]", "the configuration must be a JSON object, got array"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tc.in, err, tc.want)
		}
	}
	var se *SyntaxError
	if _, err := Parse([]byte("{\n\n   x")); !errors.As(err, &se) || se.Line != 3 || se.Column != 4 {
		t.Errorf("SyntaxError = %+v", se)
	}
	// A byte order mark is tolerated.
	if err := parseWithBOM(t); err != nil {
		t.Error(err)
	}
}

func parseWithBOM(t *testing.T) error {
	_, err := Parse(append([]byte("\xef\xbb\xbf"), mustJSON(t, baseConfig())...))
	return err
}
