package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/randomx"
	"rxpool/stratum"
)

// genesisAddress is Pastella's genesis address, a valid standard address.
const genesisAddress = "PAS18z7m9DGbJFoVv6HiGoiwxNG5mLoniSEFWkguBKt59JSHPHjYaa"

// edBasePoint is the ed25519 base point, a valid public key for building
// Monero test addresses.
var edBasePoint = [32]byte{0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66}

func moneroAddress(t *testing.T, kind cryptonote.AddressKind) string {
	t.Helper()
	a, err := cryptonote.Monero.NewAddress("mainnet", kind, edBasePoint, edBasePoint, [8]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	return a.Text
}

type obj = map[string]any

// baseConfig is a small valid Pastella configuration with payments on, so
// that every rule can be broken by changing one key.
func baseConfig() obj {
	return obj{
		"poolAddress": genesisAddress,
		"daemon":      obj{"host": "127.0.0.1", "port": 21001},
		"walletApi":   obj{"port": 21002, "apiKey": "wallet-api-key", "walletFile": "pool.wallet"},
		"payments":    obj{"enabled": true},
		"ports":       obj{"3333": obj{"diff": 1000}},
	}
}

func moneroConfig(t *testing.T) obj {
	return obj{
		"coin":        "monero",
		"poolAddress": moneroAddress(t, cryptonote.AddressStandard),
		"daemons": []any{
			obj{"name": "main", "host": "127.0.0.1", "port": 18081},
			obj{"host": "10.0.0.2", "port": 18081, "timeout": 5000},
		},
		"walletApi": obj{"port": 18082, "rpcUser": "pool", "rpcPassword": "rpc-secret"},
		"payments":  obj{"enabled": true, "priority": 1},
		"ports":     obj{"3333": obj{"diff": 5000}},
		"redis":     obj{"sentinel": obj{"masterName": "pool", "addrs": []any{"10.0.0.5:26379"}}},
	}
}

// set assigns value at a dotted path, creating objects on the way; a nil
// value deletes the key.
func set(m obj, path string, value any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(obj)
		if !ok {
			next = obj{}
			m[k] = next
		}
		m = next
	}
	if value == nil {
		delete(m, keys[len(keys)-1])
	} else {
		m[keys[len(keys)-1]] = value
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseObj(t *testing.T, m obj) (*Config, error) {
	t.Helper()
	return Parse(mustJSON(t, m))
}

func TestBaseConfigsAreValid(t *testing.T) {
	if _, err := parseObj(t, baseConfig()); err != nil {
		t.Fatalf("pastella base: %v", err)
	}
	if _, err := parseObj(t, moneroConfig(t)); err != nil {
		t.Fatalf("monero base: %v", err)
	}
}

// TestValidationRules has one case per rule, each breaking exactly that rule.
func TestValidationRules(t *testing.T) {
	type change struct {
		path  string
		value any // nil deletes
	}
	del := func(p string) change { return change{p, nil} }
	monero := func() obj { return moneroConfig(t) }
	cases := []struct {
		name    string
		base    func() obj
		changes []change
		want    string
	}{
		// top level
		{"unknown coin", nil, []change{{"coin", "bitcoin"}}, `coin: unknown coin "bitcoin" (supported: monero, pastella)`},
		{"empty symbol", nil, []change{{"symbol", ""}}, "symbol: must not be empty"},
		{"poolHost spaces", nil, []change{{"poolHost", "my pool"}}, `poolHost: must not contain spaces, got "my pool"`},
		{"poolAddress missing", nil, []change{del("poolAddress")}, "poolAddress: required (the pool wallet's address, to which block rewards are paid)"},
		{"poolAddress checksum", nil, []change{{"poolAddress", genesisAddress[:53] + "b"}}, "poolAddress: checksum mismatch"},
		{"poolAddress length", nil, []change{{"poolAddress", "PAS1abc"}}, "poolAddress: wrong length: 7 characters, a Pastella address has 54"},
		{"poolAddress integrated", monero, []change{{"poolAddress", moneroAddress(t, cryptonote.AddressIntegrated)}},
			"poolAddress: must be a standard address (the daemon cannot mine to an integrated address)"},
		{"poolAddress subaddress", monero, []change{{"poolAddress", moneroAddress(t, cryptonote.AddressSubaddress)}},
			"poolAddress: must be a standard address (the daemon cannot mine to a subaddress)"},
		{"coinUnits", nil, []change{{"coinUnits", 1000}}, "coinUnits: must be 100000000 (set by the pastella profile), got 1000"},
		{"coinDecimalPlaces", nil, []change{{"coinDecimalPlaces", 12}}, "coinDecimalPlaces: must be 8 (set by the pastella profile), got 12"},
		{"coinDifficultyTarget", nil, []change{{"coinDifficultyTarget", 120}}, "coinDifficultyTarget: must be 30 (set by the pastella profile), got 120"},
		{"cnAlgorithm", nil, []change{{"cnAlgorithm", "cn/r"}}, `cnAlgorithm: must be "randomx" (rxpool only mines RandomX), got "cn/r"`},
		{"isRandomX", nil, []change{{"isRandomX", false}}, "isRandomX: must be true (rxpool only mines RandomX), got false"},
		{"cnVariant", nil, []change{{"cnVariant", 2}}, "cnVariant: must be 0 (RandomX rx/0), got 2"},
		{"cnHalfVariant", nil, []change{{"cnHalfVariant", 1}}, "cnHalfVariant: must be 0 (not used by RandomX), got 1"},
		{"cnBlobType", nil, []change{{"cnBlobType", 2}}, "cnBlobType: must be 0 (the plain CryptoNote block format), got 2"},
		{"no module", nil, []change{{"stratum.enabled", false}, {"api.enabled", false}, {"blockUnlocker.enabled", false}, {"payments.enabled", false}},
			"no module is enabled: set stratum.enabled, api.enabled, blockUnlocker.enabled or payments.enabled to true"},

		// log
		{"log.level", nil, []change{{"log.level", "verbose"}}, `log.level: unknown level "verbose" (use one of: panic, fatal, error, warning, info, debug, trace)`},
		{"log.format", nil, []change{{"log.format", "xml"}}, `log.format: must be one of ["text" "json"], got "xml"`},

		// daemons
		{"daemon and daemons", nil, []change{{"daemons", []any{obj{"port": 21001}}}}, `daemons: use either "daemon" or "daemons", not both`},
		{"no daemon", nil, []change{del("daemon")}, `daemon: required when stratum or blockUnlocker is enabled (or "daemons" for a failover list)`},
		{"daemon.host empty", nil, []change{{"daemon.host", ""}}, "daemon.host: required"},
		{"daemon.host url", nil, []change{{"daemon.host", "http://127.0.0.1"}}, `daemon.host: must be a host name or IP address, without scheme, port or path, got "http://127.0.0.1"`},
		{"daemon.port missing", nil, []change{del("daemon.port")}, "daemon.port: required"},
		{"daemon.port range", nil, []change{{"daemon.port", 70000}}, "daemon.port: must be 1..65535, got 70000"},
		{"daemon.timeout", nil, []change{{"daemon.timeout", 0}}, "daemon.timeout: must be > 0"},
		{"daemons duplicate name", monero, []change{{"daemons", []any{obj{"name": "a", "port": 1}, obj{"name": "a", "port": 2}}}},
			`daemons[1].name: "a" is already the name of daemons[0]`},
		{"daemons duplicate endpoint", monero, []change{{"daemons", []any{obj{"name": "a", "port": 1}, obj{"name": "b", "port": 1}}}},
			"daemons[1]: same host and port as daemons[0]"},

		// walletApi
		{"walletApi.host", nil, []change{{"walletApi.host", ""}}, "walletApi.host: required"},
		{"walletApi.port", nil, []change{del("walletApi.port")}, "walletApi.port: required"},
		{"walletApi.timeout", nil, []change{{"walletApi.timeout", 0}}, "walletApi.timeout: must be > 0"},
		{"walletApi.apiKey missing", nil, []change{del("walletApi.apiKey")},
			"walletApi.apiKey: required for pastella (the Wallet-API's --rpc-password, sent as X-API-KEY)"},
		{"walletApi.apiKey newline", nil, []change{{"walletApi.apiKey", "key\r\nX-Evil: 1"}}, "walletApi.apiKey: must not contain line breaks"},
		{"walletApi.walletFile", nil, []change{del("walletApi.walletFile")},
			"walletApi.walletFile: required for pastella (the pool opens the wallet through the Wallet-API)"},
		{"walletApi.rpcUser on pastella", nil, []change{{"walletApi.rpcUser", "u"}},
			"walletApi.rpcUser: rpcUser and rpcPassword are not used by pastella (the Wallet-API uses apiKey)"},
		{"walletApi.apiKey on monero", monero, []change{{"walletApi.apiKey", "k"}},
			"walletApi.apiKey: not used by monero (wallet RPC uses rpcUser and rpcPassword)"},
		{"walletApi.rpcPassword missing", monero, []change{del("walletApi.rpcPassword")}, "walletApi.rpcPassword: required when rpcUser is set"},
		{"walletApi.rpcUser missing", monero, []change{del("walletApi.rpcUser")}, "walletApi.rpcUser: required when rpcPassword is set"},

		// stratum
		{"stratum.bindIp", nil, []change{{"stratum.bindIp", "localhost"}}, `stratum.bindIp: must be an IP address ("0.0.0.0"; "::" for IPv4 and IPv6), got "localhost"`},
		{"stratum.blockRefreshInterval", nil, []change{{"stratum.blockRefreshInterval", 50}}, "stratum.blockRefreshInterval: must be 100..60000, got 50"},
		{"stratum.templateRefreshInterval", nil, []change{{"stratum.templateRefreshInterval", 0}}, "stratum.templateRefreshInterval: must be > 0"},
		{"stratum.minerTimeout", nil, []change{{"stratum.minerTimeout", 0}}, "stratum.minerTimeout: must be > 0"},
		{"stratum.loginTimeout zero", nil, []change{{"stratum.loginTimeout", 0}}, "stratum.loginTimeout: must be > 0"},
		{"stratum.loginTimeout too long", nil, []change{{"stratum.loginTimeout", 700}}, "stratum.loginTimeout: must not exceed stratum.minerTimeout (600), got 700"},
		{"stratum.maxLineLength", nil, []change{{"stratum.maxLineLength", 100}}, "stratum.maxLineLength: must be 1024..1048576, got 100"},
		{"stratum.maxConnectionsPerIP", nil, []change{{"stratum.maxConnectionsPerIP", -1}}, "stratum.maxConnectionsPerIP: must be ≥ 0 (0 = unlimited), got -1"},
		{"stratum.maxConnections", nil, []change{{"stratum.maxConnections", -5}}, "stratum.maxConnections: must be ≥ 0 (0 = the file limit less headroom), got -5"},
		{"stratum.shareGraceWindow", nil, []change{{"stratum.shareGraceWindow", 31}}, "stratum.shareGraceWindow: must be 0..30, got 31"},

		// ports
		{"no ports", nil, []change{del("ports")}, "ports: at least one port is required when stratum is enabled"},
		{"port out of range", nil, []change{{"ports.70000", obj{"diff": 1000}}}, "ports.70000: port must be 1..65535"},
		{"port not a number", nil, []change{{"ports.abc", obj{"diff": 1000}}}, "ports.abc: port must be 1..65535"},
		{"port zero", nil, []change{{"ports.0", obj{"diff": 1000}}}, "ports.0: port must be 1..65535"},
		{"port duplicate", nil, []change{{"ports.03333", obj{"diff": 1000}}}, "ports.03333: duplicate of ports.3333"},
		{"port is api port", nil, []change{{"ports.8117", obj{"diff": 1000}}}, "ports.8117: same port as api.port"},
		{"port diff zero", nil, []change{{"ports.3333.diff", 0}}, "ports.3333.diff: must be > 0"},
		{"port diff missing", nil, []change{{"ports.3333", obj{"desc": "x"}}}, "ports.3333.diff: must be > 0"},
		{"port diff outside vardiff", nil, []change{{"ports.3333.diff", 50}},
			"ports.3333.diff: must be within varDiff.minDiff..varDiff.maxDiff (100..100000000), got 50"},
		{"port tls without cert", nil, []change{{"ports.3333.tls", true}, {"ports.3333.tlsKey", "k.pem"}}, "ports.3333.tlsCert: required when tls is true"},
		{"port tls without key", nil, []change{{"ports.3333.tls", true}, {"ports.3333.tlsCert", "c.pem"}}, "ports.3333.tlsKey: required when tls is true"},
		{"port cert without tls", nil, []change{{"ports.3333.tlsCert", "c.pem"}},
			"ports.3333.tls: is false but tlsCert or tlsKey is set (set tls to true, or remove them)"},

		// varDiff, fixedDiff, banning
		{"varDiff.minDiff", nil, []change{{"varDiff.minDiff", 0}}, "varDiff.minDiff: must be > 0"},
		{"varDiff.maxDiff", nil, []change{{"varDiff.maxDiff", 50}}, "varDiff.maxDiff: must be ≥ varDiff.minDiff (100), got 50"},
		{"varDiff.targetTime", nil, []change{{"varDiff.targetTime", 0}}, "varDiff.targetTime: must be > 0"},
		{"varDiff.retargetTime", nil, []change{{"varDiff.retargetTime", 0}}, "varDiff.retargetTime: must be > 0"},
		{"varDiff.variancePercent", nil, []change{{"varDiff.variancePercent", 100}}, "varDiff.variancePercent: must be > 0 and < 100, got 100"},
		{"varDiff.maxJump", nil, []change{{"varDiff.maxJump", 0}}, "varDiff.maxJump: must be > 0 and < 100, got 0"},
		{"fixedDiff.addressSeparator", nil, []change{{"fixedDiff.addressSeparator", "x"}},
			`fixedDiff.addressSeparator: must be one character that cannot occur in an address (not a letter, digit or space), got "x"`},
		{"fixedDiff.addressSeparator long", nil, []change{{"fixedDiff.addressSeparator", "+-"}},
			`fixedDiff.addressSeparator: must be one character that cannot occur in an address (not a letter, digit or space), got "+-"`},
		{"banning.time", nil, []change{{"banning.time", 0}}, "banning.time: must be > 0"},
		{"banning.invalidPercent", nil, []change{{"banning.invalidPercent", 101}}, "banning.invalidPercent: must be > 0 and ≤ 100, got 101"},
		{"banning.checkThreshold", nil, []change{{"banning.checkThreshold", 0}}, "banning.checkThreshold: must be > 0"},

		// randomx
		{"randomx.mode", nil, []change{{"randomx.mode", "turbo"}}, `randomx.mode: must be one of ["auto" "fast" "light"], got "turbo"`},
		{"randomx.workers", nil, []change{{"randomx.workers", -1}}, "randomx.workers: must be ≥ 0 (0 = one per CPU core), got -1"},
		{"randomx.queueSize", nil, []change{{"randomx.queueSize", 0}}, "randomx.queueSize: must be > 0"},
		{"randomx.datasetThreads", nil, []change{{"randomx.datasetThreads", -2}}, "randomx.datasetThreads: must be ≥ 0 (0 = one per CPU core), got -2"},

		// payments
		{"payments.interval", nil, []change{{"payments.interval", 0}}, "payments.interval: must be > 0"},
		{"payments.denomination", nil, []change{{"payments.denomination", 0}}, "payments.denomination: must be > 0"},
		{"payments.minPayment", nil, []change{{"payments.minPayment", 500}}, "payments.minPayment: must be ≥ payments.denomination (1000), got 500"},
		{"payments.maxPayment", nil, []change{{"payments.maxPayment", 5000}}, "payments.maxPayment: must be 0 (no cap) or ≥ payments.minPayment (100000), got 5000"},
		{"payments.maxTransactionAmount", nil, []change{{"payments.maxTransactionAmount", 5000}},
			"payments.maxTransactionAmount: must be 0 (no cap) or ≥ payments.minPayment (100000), got 5000"},
		{"payments.transferFee", nil, []change{{"payments.minerPayFee", true}, {"payments.transferFee", 100000}},
			"payments.transferFee: must be below payments.minPayment (100000) when minerPayFee is true, got 100000"},
		{"payments.scheme", nil, []change{{"payments.scheme", "pps"}}, `payments.scheme: must be one of ["pplns" "prop" "solo"], got "pps"`},
		{"payments.priority pastella", nil, []change{{"payments.priority", 1}}, "payments.priority: must be 0 (the Wallet-API has no priorities), got 1"},
		{"payments.priority monero", monero, []change{{"payments.priority", 5}}, "payments.priority: must be 0..4, got 5"},
		{"payments.maxAddresses pastella", nil, []change{{"payments.maxAddresses", 90}},
			"payments.maxAddresses: must be 1..89 (pastella allows 90 outputs per transaction, one is the change), got 90"},
		{"payments.maxAddresses monero", monero, []change{{"payments.maxAddresses", 16}},
			"payments.maxAddresses: must be 1..15 (monero allows 16 outputs per transaction, one is the change), got 16"},

		// blockUnlocker, pplns
		{"blockUnlocker.interval", nil, []change{{"blockUnlocker.interval", 0}}, "blockUnlocker.interval: must be > 0"},
		{"blockUnlocker.depth", nil, []change{{"blockUnlocker.depth", 5}}, "blockUnlocker.depth: must be ≥ 10 (the pastella coinbase maturity), got 5"},
		{"blockUnlocker.depth monero", monero, []change{{"blockUnlocker.depth", 10}}, "blockUnlocker.depth: must be ≥ 60 (the monero coinbase maturity), got 10"},
		{"blockUnlocker.poolFee range", nil, []change{{"blockUnlocker.poolFee", 100}}, "blockUnlocker.poolFee: must be ≥ 0 and < 100, got 100"},
		{"blockUnlocker.poolFee precision", nil, []change{{"blockUnlocker.poolFee", 1.005}}, "blockUnlocker.poolFee: at most 2 decimal places (whole basis points), got 1.005"},
		{"blockUnlocker.soloFee", nil, []change{{"blockUnlocker.soloFee", -1}}, "blockUnlocker.soloFee: must be ≥ 0 and < 100, got -1"},
		{"blockUnlocker.finderReward", nil, []change{{"blockUnlocker.finderReward", 0.125}},
			"blockUnlocker.finderReward: at most 2 decimal places (whole basis points), got 0.125"},
		{"blockUnlocker.feeAddress", nil, []change{{"blockUnlocker.feeAddress", "PAS18z7m9DGbJFoVv6HiGoiwxNG5mLoniSEFWkguBKt59JSHPHjYab"}},
			"blockUnlocker.feeAddress: invalid Pastella address: checksum mismatch"},
		{"poolFee + finderReward", nil, []change{{"blockUnlocker.poolFee", 60}, {"blockUnlocker.finderReward", 40}},
			"blockUnlocker.finderReward: poolFee + finderReward must be below 100, got 100"},
		{"pplns.window", nil, []change{{"pplns.window", 0}}, "pplns.window: must be > 0"},

		// redis
		{"redis modes", nil, []change{{"redis.socket", "/run/redis.sock"}, {"redis.cluster.addrs", []any{"10.0.0.1:7000"}}},
			"redis: socket, sentinel and cluster exclude each other, got socket and cluster"},
		{"redis.host", nil, []change{{"redis.host", ""}}, "redis.host: required"},
		{"redis.port", nil, []change{{"redis.port", 0}}, "redis.port: required"},
		{"redis.socket relative", nil, []change{{"redis.socket", "redis.sock"}}, `redis.socket: must be an absolute path, got "redis.sock"`},
		{"redis.db negative", nil, []change{{"redis.db", -1}}, "redis.db: must be ≥ 0 (0 = the default database), got -1"},
		{"redis.db with cluster", nil, []change{{"redis.db", 3}, {"redis.cluster.addrs", []any{"10.0.0.1:7000"}}},
			"redis.db: must be 0 with cluster (Redis Cluster has only database 0), got 3"},
		{"redis.sentinel.masterName", monero, []change{del("redis.sentinel.masterName")}, "redis.sentinel.masterName: required when sentinel addrs are set"},
		{"redis.sentinel.addrs", monero, []change{del("redis.sentinel.addrs")}, "redis.sentinel.addrs: required when masterName is set"},
		{"redis.sentinel.addrs entry", monero, []change{{"redis.sentinel.addrs", []any{"10.0.0.5"}}}, `redis.sentinel.addrs[0]: must be host:port, got "10.0.0.5"`},
		{"redis.cluster.addrs entry", nil, []change{{"redis.cluster.addrs", []any{"10.0.0.1:7000", "10.0.0.2:x"}}},
			`redis.cluster.addrs[1]: must be host:port, got "10.0.0.2:x"`},
		{"redis.prefix empty", nil, []change{{"redis.prefix", ""}}, "redis.prefix: must not be empty"},
		{"redis.prefix spaces", nil, []change{{"redis.prefix", "my pool"}}, `redis.prefix: must not contain spaces, got "my pool"`},
		{"redis.poolSize", nil, []change{{"redis.poolSize", -1}}, "redis.poolSize: must be ≥ 0 (0 = the client library's default), got -1"},

		// api
		{"api.bindIp", nil, []change{{"api.bindIp", "0.0.0.0:8117"}}, `api.bindIp: must be an IP address ("0.0.0.0"; "::" for IPv4 and IPv6), got "0.0.0.0:8117"`},
		{"api.port", nil, []change{{"api.port", 65536}}, "api.port: must be 1..65535, got 65536"},
		{"api.updateInterval", nil, []change{{"api.updateInterval", 0}}, "api.updateInterval: must be > 0"},
		{"api.corsOrigins", nil, []change{{"api.corsOrigins", []any{"*", "pool.example.com"}}},
			`api.corsOrigins[1]: must be "*" or an origin such as "https://pool.example.com", got "pool.example.com"`},
		{"api.adminToken", nil, []change{{"api.adminToken", "short"}}, "api.adminToken: must be at least 16 characters (generate one with: openssl rand -hex 32)"},
		{"api.rateLimit", nil, []change{{"api.rateLimit", -1}}, "api.rateLimit: must be ≥ 0 (0 = unlimited), got -1"},
		{"api.offlineAfter", nil, []change{{"api.offlineAfter", 0}}, "api.offlineAfter: must be > 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := baseConfig()
			if tc.base != nil {
				m = tc.base()
			}
			for _, c := range tc.changes {
				set(m, c.path, c.value)
			}
			cfg, err := parseObj(t, m)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if cfg != nil {
				t.Error("a config was returned with the error")
			}
			if err.Error() != tc.want {
				t.Errorf("got  %q\nwant %q", err.Error(), tc.want)
			}
		})
	}
}

func TestAllProblemsReportedTogether(t *testing.T) {
	m := baseConfig()
	set(m, "payments.denomination", 0)
	set(m, "ports.70000", obj{"diff": 1000})
	set(m, "poolAddress", genesisAddress[:53]+"b")
	set(m, "varDiff.minDiff", "100")
	set(m, "payments.minPaymnet", 5)
	_, err := parseObj(t, m)
	want := []string{
		`unknown key "payments.minPaymnet" (did you mean "minPayment"?)`,
		"varDiff.minDiff: expected a number, got string",
		"poolAddress: checksum mismatch",
		"ports.70000: port must be 1..65535",
		"payments.denomination: must be > 0",
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing line %q in\n%s", w, err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d lines, want %d:\n%s", len(got), len(want), err)
	}
	// Each line is a typed error that tools can inspect.
	var fe *FieldError
	var ue *UnknownKeyError
	if !errors.As(err, &fe) || !errors.As(err, &ue) || ue.Suggestion != "minPayment" {
		t.Errorf("errors.As failed on %v", err)
	}
}

func TestValidateOnBuiltConfig(t *testing.T) {
	cfg := Defaults(cryptonote.Pastella)
	cfg.PoolAddress = genesisAddress
	cfg.Daemon = &DaemonConfig{Host: "127.0.0.1", Port: 21001, Timeout: 1000}
	cfg.Ports = map[string]PortConfig{"3333": {Diff: 1000}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.PoolAddr == nil || cfg.PoolAddr.Kind != cryptonote.AddressStandard {
		t.Errorf("PoolAddr not set: %v", cfg.PoolAddr)
	}

	cfg.CoinName = "monero"
	if err := cfg.Validate(); err == nil || err.Error() != `coin: "monero" does not match the coin profile "pastella"` {
		t.Errorf("got %v", err)
	}

	// With Coin unset, Validate resolves it from the name.
	cfg.Coin, cfg.CoinName = nil, "pastella"
	if err := cfg.Validate(); err != nil || cfg.Coin != cryptonote.Pastella {
		t.Errorf("coin not resolved: %v %v", err, cfg.Coin)
	}
}

func TestNullMeansUnset(t *testing.T) {
	m := baseConfig()
	set(m, "redis.password", json.RawMessage("null"))
	set(m, "stratum.minerTimeout", json.RawMessage("null"))
	set(m, "api", json.RawMessage("null"))
	set(m, "daemons", json.RawMessage("null"))
	cfg, err := parseObj(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.Password.IsSet() || cfg.Stratum.MinerTimeout != 600 || cfg.API.Port != 8117 || cfg.Daemons != nil {
		t.Errorf("null did not keep the defaults: %+v", cfg)
	}
}

func TestDefaultsPerCoin(t *testing.T) {
	cfg, err := parseObj(t, baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	checkEq := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	checkEq("Coin", cfg.Coin, cryptonote.Pastella)
	checkEq("CoinName", cfg.CoinName, "pastella")
	checkEq("Symbol", cfg.Symbol, "PAS")
	checkEq("CoinUnits", cfg.CoinUnits, uint64(100_000_000))
	checkEq("CoinDifficultyTarget", cfg.CoinDifficultyTarget, 30)
	checkEq("Depth", cfg.BlockUnlocker.Depth, uint64(10))
	checkEq("Redis.Prefix", cfg.Redis.Prefix, "pastella")
	checkEq("MinPayment", cfg.Payments.MinPayment, uint64(100_000))
	checkEq("Denomination", cfg.Payments.Denomination, uint64(1000))
	checkEq("TransferFee", cfg.Payments.TransferFee, uint64(1000))
	checkEq("MaxAddresses", cfg.Payments.MaxAddresses, 15)
	checkEq("Scheme", cfg.Payments.Scheme, stratum.SchemePPLNS)
	checkEq("Stratum", cfg.Stratum, StratumConfig{
		Enabled: true, BindIP: "0.0.0.0", BlockRefreshInterval: 1000, TemplateRefreshInterval: 10,
		MinerTimeout: 600, LoginTimeout: 10, MaxLineLength: 10240, MaxConnectionsPerIP: 1000, ConnectionRate: 20, ConnectionBurst: 200,
		ShareGraceWindow: 5,
	})
	checkEq("VarDiff", cfg.VarDiff, VarDiffConfig{Enabled: true, MinDiff: 100, MaxDiff: 100_000_000,
		TargetTime: 30, RetargetTime: 15, VariancePercent: 30, MaxJump: 50})
	checkEq("RandomX", cfg.RandomX, RandomXConfig{Mode: string(randomx.ModeAuto), QueueSize: 1024})
	checkEq("Daemon", *cfg.Daemon, DaemonConfig{Name: "127.0.0.1:21001", Host: "127.0.0.1", Port: 21001, Timeout: 10_000})
	checkEq("WalletAPI.Timeout", cfg.WalletAPI.Timeout, Millis(30_000))
	checkEq("API.CORSOrigins", cfg.API.CORSOrigins, []string{"*"})
	checkEq("Modules", cfg.Modules(), []string{ModuleStratum, ModuleAPI, ModuleBlockUnlocker, ModulePayments})

	mcfg, err := parseObj(t, moneroConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	checkEq("Coin", mcfg.Coin, cryptonote.Monero)
	checkEq("Symbol", mcfg.Symbol, "XMR")
	checkEq("CoinUnits", mcfg.CoinUnits, uint64(1_000_000_000_000))
	checkEq("CoinDecimalPlaces", mcfg.CoinDecimalPlaces, 12)
	checkEq("CoinDifficultyTarget", mcfg.CoinDifficultyTarget, 120)
	checkEq("Depth", mcfg.BlockUnlocker.Depth, uint64(60))
	checkEq("Redis.Prefix", mcfg.Redis.Prefix, "monero")
	checkEq("MinPayment", mcfg.Payments.MinPayment, uint64(10_000_000_000))
	checkEq("shareGraceWindow allowed up to 120", mcfg.Stratum.ShareGraceWindow, Seconds(5))
}

func TestSoloFeeDefaultsToPoolFee(t *testing.T) {
	m := baseConfig()
	set(m, "blockUnlocker.poolFee", 1.5)
	cfg, err := parseObj(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BlockUnlocker.SoloFee != 1.5 || cfg.BlockUnlocker.SoloFeeBP() != 150 {
		t.Errorf("soloFee = %v", cfg.BlockUnlocker.SoloFee)
	}
	set(m, "blockUnlocker.soloFee", 0)
	if cfg, err = parseObj(t, m); err != nil || cfg.BlockUnlocker.SoloFee != 0 {
		t.Errorf("explicit soloFee 0: %v %v", err, cfg)
	}
	// An invalid poolFee is reported once, not again for the copied soloFee.
	set(m, "blockUnlocker.soloFee", nil)
	set(m, "blockUnlocker.poolFee", 150)
	if _, err = parseObj(t, m); err == nil || err.Error() != "blockUnlocker.poolFee: must be ≥ 0 and < 100, got 150" {
		t.Errorf("got %v", err)
	}
}

func TestExampleLoads(t *testing.T) {
	cfg, err := Load("../config.json.example")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.SortedPorts() {
		got = append(got, fmt.Sprintf("%d/%d/%s", p.Port, p.Diff, p.Desc))
	}
	want := []string{"3333/1000/Low end hardware", "5555/15000/Mid range hardware",
		"7777/25000/High end hardware", "9999/500000/Super high end"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ports = %v, want %v", got, want)
	}
	if cfg.Payments.MinPayment != 100_000 || cfg.Payments.Denomination != 1000 || cfg.Payments.TransferFee != 1000 ||
		!cfg.Payments.DynamicTransferFee || !cfg.Payments.MinerPayFee || cfg.Payments.Interval != 300 {
		t.Errorf("payments differ from the guide: %+v", cfg.Payments)
	}
	if u := cfg.BlockUnlocker; u.PoolFeeBP() != 100 || u.FinderRewardBP() != 100 || u.Depth != 10 {
		t.Errorf("unlocker differs from the guide: %+v", u)
	}
	if d := cfg.DaemonList(); len(d) != 1 || d[0].URL() != "http://127.0.0.1:21001" {
		t.Errorf("daemons = %+v", d)
	}
	if cfg.WalletAPI.URL() != "http://127.0.0.1:21002" || cfg.WalletAPI.APIKey.Reveal() != "your-api-key-here" {
		t.Errorf("walletApi = %+v", cfg.WalletAPI)
	}
}

// keyPaths lists the path of every leaf key the type accepts; map keys are
// written "<port>" and array elements "[]".
func keyPaths(typ reflect.Type, prefix string) []string {
	switch typ.Kind() {
	case reflect.Pointer:
		return keyPaths(typ.Elem(), prefix)
	case reflect.Map:
		return keyPaths(typ.Elem(), prefix+".<port>")
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Struct {
			return keyPaths(typ.Elem(), prefix+"[]")
		}
	case reflect.Struct:
		fields, names := jsonFields(typ)
		var out []string
		for _, name := range names {
			out = append(out, keyPaths(typ.Field(fields[name]).Type, joinPath(prefix, name))...)
		}
		return out
	}
	return []string{prefix}
}

// TestExampleHasEveryKey keeps the example complete: every key must appear
// in it, except "daemons" (the alternative to "daemon") and the daemon name.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("../config.json.example")
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range keyPaths(reflect.TypeOf(Config{}), "") {
		if strings.HasPrefix(p, "daemons[]") || p == "daemon.name" {
			continue
		}
		n := root
		for _, k := range strings.Split(strings.ReplaceAll(p, "<port>", "3333"), ".") {
			if n != nil {
				n = n.member(k)
			}
		}
		if n == nil {
			t.Errorf("config.json.example lacks %q", p)
		}
	}
}

// TestDocsHaveEveryKey keeps docs/configuration.md complete.
func TestDocsHaveEveryKey(t *testing.T) {
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	if !strings.Contains(doc, "config.json.example") {
		t.Error("the docs do not point to config.json.example")
	}
	for _, p := range keyPaths(reflect.TypeOf(Config{}), "") {
		want := "| `" + p + "` |"
		if strings.HasPrefix(p, "daemon.") || strings.HasPrefix(p, "daemons[].") {
			want = "| `" + p[strings.LastIndex(p, ".")+1:] + "` |" // the daemon table documents both forms
		}
		if !strings.Contains(doc, want) {
			t.Errorf("docs/configuration.md has no table row for %q", p)
		}
	}
}

func TestMoneroConfigLoads(t *testing.T) {
	cfg, err := parseObj(t, moneroConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.DaemonList()
	if len(d) != 2 || d[0].Name != "main" || d[1].Name != "10.0.0.2:18081" || d[1].Timeout.Duration() != 5*time.Second ||
		d[0].Timeout != 10_000 || d[1].Host != "10.0.0.2" {
		t.Errorf("daemons = %+v", d)
	}
	if cfg.WalletAPI.RPCPassword.Reveal() != "rpc-secret" || cfg.Payments.Priority != 1 {
		t.Errorf("walletApi = %+v, payments = %+v", cfg.WalletAPI, cfg.Payments)
	}
	if cfg.PoolAddr == nil || cfg.PoolAddr.Network != "mainnet" {
		t.Errorf("PoolAddr = %+v", cfg.PoolAddr)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	cfg, err := Load("../config.json.example")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(mustJSON(t, cfg))
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v", err)
	}
	// Secrets are redacted by design; restore them to compare the rest.
	again.WalletAPI.APIKey, again.WalletAPI.WalletPassword = cfg.WalletAPI.APIKey, cfg.WalletAPI.WalletPassword
	if !reflect.DeepEqual(cfg, again) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", cfg, again)
	}
}

func TestHelpers(t *testing.T) {
	d := DaemonConfig{Host: "::1", Port: 18081}
	if d.URL() != "http://[::1]:18081" {
		t.Errorf("URL = %s", d.URL())
	}
	if r := (RedisConfig{Host: "::1", Port: 6379}); r.Addr() != "[::1]:6379" {
		t.Errorf("Addr = %s", r.Addr())
	}
	if Seconds(3).Duration() != 3*time.Second || Millis(1500).Duration() != 1500*time.Millisecond {
		t.Error("durations")
	}
	u := BlockUnlockerConfig{PoolFee: 0.29, SoloFee: 0.5, FinderReward: 12.34}
	if u.PoolFeeBP() != 29 || u.SoloFeeBP() != 50 || u.FinderRewardBP() != 1234 {
		t.Errorf("basis points %d %d %d", u.PoolFeeBP(), u.SoloFeeBP(), u.FinderRewardBP())
	}
	cfg := &Config{Ports: map[string]PortConfig{"9999": {Diff: 9}, "03333": {Diff: 1}, "3333": {Diff: 3}, "x": {}, "80": {Diff: 8}}}
	var ports []int
	var diffs []uint64
	for _, p := range cfg.SortedPorts() {
		ports, diffs = append(ports, p.Port), append(diffs, p.Diff)
	}
	if !reflect.DeepEqual(ports, []int{80, 3333, 9999}) || !reflect.DeepEqual(diffs, []uint64{8, 3, 9}) {
		t.Errorf("SortedPorts = %v %v", ports, diffs)
	}
	cfg.API.Enabled, cfg.Payments.Enabled = true, true
	if m := cfg.Modules(); !reflect.DeepEqual(m, []string{ModuleAPI, ModulePayments}) {
		t.Errorf("Modules = %v", m)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("does-not-exist.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := t.TempDir() + "/config.json"
	if err := os.WriteFile(path, []byte(`{"poolAddress": 5}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": invalid configuration:\npoolAddress: expected a string, got number\n") {
		t.Errorf("got %v", err)
	}
}
