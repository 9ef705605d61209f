package main

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"rxpool/api"
	"rxpool/config"
	"rxpool/stratum"
)

const mappedConfig = `{"coin":"monero","poolAddress":"48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se",
	"daemon":{"host":"127.0.0.1","port":18081},
	"stratum":{"maxConnections":5000},
	"ports":{"5555":{"diff":50000,"desc":"High end"},"3333":{"diff":5000,"desc":"Low end","proxyProtocol":true,"trustedProxies":["10.0.0.10","10.1.0.0/16"]},
	         "7777":{"diff":1000,"desc":"Hidden","hidden":true,"nicehash":true}},
	"varDiff":{"variancePercent":30,"maxJump":50},
	"payments":{"minPayment":100000000,"scheme":"prop"},
	"blockUnlocker":{"poolFee":1,"finderReward":0.5,"depth":60},
	"redis":{"socket":"/tmp/r.sock"},
	"api":{"bindIp":"127.0.0.1","port":8117,"adminToken":"0123456789abcdef0123456789abcdef"}}`

func parseMapped(t *testing.T, raw string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The API shows the pool's settings as the file gives them (fees in percent)
// and hides hidden ports from miners but not from the admin.
func TestAPIConfigFromFile(t *testing.T) {
	a := apiConfig(parseMapped(t, mappedConfig))
	all := []api.Port{{Port: 3333, Diff: 5000, Desc: "Low end"}, {Port: 5555, Diff: 50000, Desc: "High end"},
		{Port: 7777, Diff: 1000, Desc: "Hidden"}}
	if !reflect.DeepEqual(a.AllPorts, all) || !reflect.DeepEqual(a.Public.Ports, all[:2]) {
		t.Errorf("ports: all %+v, public %+v", a.AllPorts, a.Public.Ports)
	}
	p := a.Public
	if a.Listen != "127.0.0.1:8117" || a.AdminToken.Reveal() != "0123456789abcdef0123456789abcdef" || a.Depth != 60 ||
		p.Coin != "monero" || p.PoolFee != 1 || p.FinderReward != 0.5 || p.MinPayment != 100_000_000 || p.SoloPrefix != "solo:" {
		t.Errorf("api config %+v", a)
	}
}

// The stratum server gets the ports sorted, percentages as fractions and the
// reward scheme of the file; a TLS port whose certificate is missing is an
// error naming the port.
func TestStratumConfigFromFile(t *testing.T) {
	s, err := stratumConfig(parseMapped(t, mappedConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Ports) != 3 || s.Ports[0].Port != 3333 || !s.Ports[0].ProxyProtocol || s.Ports[2].Port != 7777 || !s.Ports[2].NiceHash ||
		s.Ports[0].TLS != nil || s.VarDiff.Variance != 0.3 || s.VarDiff.MaxJump != 0.5 || s.DefaultScheme != stratum.SchemeProp || s.InstanceID != 0 ||
		s.MaxConns != 5000 {
		t.Errorf("stratum config %+v", s)
	}
	if got, want := s.Ports[0].TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.10/32"), netip.MustParsePrefix("10.1.0.0/16")}; !reflect.DeepEqual(got, want) {
		t.Errorf("trusted proxies %v, want %v", got, want)
	}
	tlsPort := strings.Replace(mappedConfig, `"desc":"High end"`, `"desc":"High end","tls":true,"tlsCert":"/nonexistent.crt","tlsKey":"/nonexistent.key"`, 1)
	if _, err := stratumConfig(parseMapped(t, tlsPort)); err == nil || !strings.Contains(err.Error(), "ports.5555") {
		t.Errorf("missing certificate: %v", err)
	}
}
