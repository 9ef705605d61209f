package config

import (
	"fmt"
	"testing"

	"rxpool/storage"
)

// TestSafeDefaults: a public pool is safe without tuning: ratio banning is
// on and workers per address are capped, by default and in the example,
// while the Node pool's banning keys still say what they said there.
func TestSafeDefaults(t *testing.T) {
	on := BanningConfig{Enabled: true, Time: 120, InvalidPercent: 80, CheckThreshold: 30}
	cfg, err := parseObj(t, baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Banning != on || cfg.Redis.MaxWorkersPerAddress != storage.DefaultMaxWorkers {
		t.Errorf("defaults: banning %+v, redis.maxWorkersPerAddress %d", cfg.Banning, cfg.Redis.MaxWorkersPerAddress)
	}
	ex, err := Load("../config.json.example")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Banning != on || ex.Redis.MaxWorkersPerAddress != 256 {
		t.Errorf("example: banning %+v, redis.maxWorkersPerAddress %d", ex.Banning, ex.Redis.MaxWorkersPerAddress)
	}

	for _, tc := range []struct {
		name    string
		banning obj
		want    BanningConfig
	}{
		{"the Node pool's section, off", obj{"enabled": false, "time": 600, "invalidPercent": 50, "checkThreshold": 10},
			BanningConfig{Time: 600, InvalidPercent: 50, CheckThreshold: 10}},
		{"the Node pool's section, on", obj{"enabled": true, "time": 60, "invalidPercent": 25, "checkThreshold": 5},
			BanningConfig{Enabled: true, Time: 60, InvalidPercent: 25, CheckThreshold: 5}},
		{"without enabled", obj{"time": 300}, BanningConfig{Enabled: true, Time: 300, InvalidPercent: 80, CheckThreshold: 30}},
	} {
		m := baseConfig()
		set(m, "banning", tc.banning)
		cfg, err := parseObj(t, m)
		if err != nil || cfg.Banning != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, cfg.Banning, err, tc.want)
		}
	}

	for _, v := range []int{0, -1, 100_001} {
		m := baseConfig()
		set(m, "redis.maxWorkersPerAddress", v)
		want := fmt.Sprintf("redis.maxWorkersPerAddress: must be 1..100000, got %d", v)
		if _, err := parseObj(t, m); err == nil || err.Error() != want {
			t.Errorf("maxWorkersPerAddress %d: %v, want %s", v, err, want)
		}
	}
	m := baseConfig()
	set(m, "redis.maxWorkersPerAddress", 1000)
	if cfg, err := parseObj(t, m); err != nil || cfg.Redis.MaxWorkersPerAddress != 1000 {
		t.Errorf("maxWorkersPerAddress 1000: %v", err)
	}
}
