package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strconv"

	"rxpool/cryptonote"
)

// Reading a configuration: the file, its defaults, and the views of it the
// modules ask for (daemons, ports in order, modules on).

// Load reads and parses a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid configuration:\n%w", path, err)
	}
	return cfg, nil
}

// Parse decodes a configuration, fills in defaults for the selected coin and
// validates it. All problems found are returned together, one per line.
func Parse(data []byte) (*Config, error) {
	root, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	if root.kind != kindObject {
		return nil, fmt.Errorf("the configuration must be a JSON object, got %s", root.kind)
	}

	// The coin must be known before decoding because the defaults depend on
	// it. An unknown coin is reported by Validate; Pastella's defaults let
	// the rest of the file still be checked meanwhile.
	coin := cryptonote.Pastella
	if n := root.member("coin"); n != nil && n.kind == kindString {
		if c, err := cryptonote.CoinByName(n.text); err == nil {
			coin = c
		}
	}
	cfg := Defaults(coin)

	d := newDecoder()
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	if c, err := cryptonote.CoinByName(cfg.CoinName); err == nil {
		cfg.CoinName = c.Name // canonical spelling ("Pastella" → "pastella")
	} else {
		cfg.Coin = nil // let Validate report the name
	}
	if !d.present["blockUnlocker.soloFee"] {
		cfg.BlockUnlocker.SoloFee = cfg.BlockUnlocker.PoolFee
		d.quiet["blockUnlocker.soloFee"] = true
	}
	for _, dc := range cfg.daemonRefs() {
		if dc.Name == "" {
			dc.Name = net.JoinHostPort(dc.Host, strconv.Itoa(dc.Port))
		}
	}

	errs := d.errs
	for _, e := range cfg.problems() {
		if fe, ok := e.(*FieldError); !ok || !d.isQuiet(fe.Path) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// daemonRefs points at every configured daemon, wherever it is written.
func (c *Config) daemonRefs() []*DaemonConfig {
	var refs []*DaemonConfig
	if c.Daemon != nil {
		refs = append(refs, c.Daemon)
	}
	for i := range c.Daemons {
		refs = append(refs, &c.Daemons[i])
	}
	return refs
}

// DaemonList returns the configured daemons in failover order, whether the
// file used "daemon" or "daemons".
func (c *Config) DaemonList() []DaemonConfig {
	if c.Daemon != nil {
		return []DaemonConfig{*c.Daemon}
	}
	return c.Daemons
}

// SortedPorts returns the stratum ports ordered by number, with Port set.
// Keys that are not valid port numbers are left out (Validate reports them);
// of two keys naming the same port only the first in sort order is kept.
func (c *Config) SortedPorts() []PortConfig {
	keys := c.sortedPortKeys()
	out := make([]PortConfig, 0, len(keys))
	for _, k := range keys {
		n, ok := portNumber(k)
		if !ok || (len(out) > 0 && out[len(out)-1].Port == n) {
			continue
		}
		p := c.Ports[k]
		p.Port = n
		out = append(out, p)
	}
	return out
}

// sortedPortKeys orders the ports map keys by port number, the canonical
// spelling first, so duplicates are reported against the plain number.
func (c *Config) sortedPortKeys() []string {
	keys := make([]string, 0, len(c.Ports))
	for k := range c.Ports {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ni, _ := portNumber(keys[i])
		nj, _ := portNumber(keys[j])
		if ni != nj {
			return ni < nj
		}
		ci, cj := keys[i] == strconv.Itoa(ni), keys[j] == strconv.Itoa(nj)
		if ci != cj {
			return ci
		}
		return keys[i] < keys[j]
	})
	return keys
}

// portNumber parses a ports key: decimal digits only (leading zeros allowed),
// 1..65535.
func portNumber(key string) (int, bool) {
	if key == "" || len(key) > 10 {
		return 0, false
	}
	for _, r := range key {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(key)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// Modules lists the enabled modules in start-up order.
func (c *Config) Modules() []string {
	var m []string
	for _, s := range []struct {
		name string
		on   bool
	}{
		{ModuleStratum, c.Stratum.Enabled},
		{ModuleAPI, c.API.Enabled},
		{ModuleBlockUnlocker, c.BlockUnlocker.Enabled},
		{ModulePayments, c.Payments.Enabled},
	} {
		if s.on {
			m = append(m, s.name)
		}
	}
	return m
}
