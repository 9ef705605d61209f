package config

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestProxyPortTrustedProxies(t *testing.T) {
	const p = "ports.3333.trustedProxies"
	bad := []struct {
		name string
		port obj
		want string
	}{
		{"proxyProtocol without trustedProxies", obj{"diff": 1000, "proxyProtocol": true},
			p + `: required when proxyProtocol is true: the addresses or CIDR ranges of the load balancers that send the PROXY header, e.g. ["127.0.0.1"] for HAProxy on this host (the port refuses every other client)`},
		{"trustedProxies without proxyProtocol", obj{"diff": 1000, "trustedProxies": []any{"127.0.0.1"}},
			p + ": is set but proxyProtocol is false (set proxyProtocol to true, or remove trustedProxies)"},
		{"not an address", obj{"diff": 1000, "proxyProtocol": true, "trustedProxies": []any{"127.0.0.1", "lb.example.com"}},
			p + `[1]: must be an IP address or a CIDR range such as 10.0.0.0/8, got "lb.example.com"`},
		{"everyone", obj{"diff": 1000, "proxyProtocol": true, "trustedProxies": []any{"0.0.0.0/0"}},
			p + `[0]: "0.0.0.0/0" trusts every address, so any client could forge its own; list the load balancers only`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			m := baseConfig()
			set(m, "ports.3333", tc.port)
			_, err := parseObj(t, m)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}

	m := baseConfig()
	set(m, "ports.3333", obj{"diff": 1000, "proxyProtocol": true, "trustedProxies": []any{"127.0.0.1", "10.1.2.3/8", "::ffff:192.0.2.7", "fd00::/8"}})
	cfg, err := parseObj(t, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseIPRanges(cfg.Ports["3333"].TrustedProxies)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("fd00::/8")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseIPRanges = %v, want %v", got, want)
	}

	// api.trustedProxies shares the rule and its wording.
	m = baseConfig()
	set(m, "api.trustedProxies", []any{"nginx"})
	if _, err := parseObj(t, m); err == nil || err.Error() != `api.trustedProxies[0]: must be an IP address or a CIDR range such as 10.0.0.0/8, got "nginx"` {
		t.Fatalf("api.trustedProxies: %v", err)
	}
}
