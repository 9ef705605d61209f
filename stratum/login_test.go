package stratum

import (
	"strings"
	"testing"

	"rxpool/cryptonote"
)

const pastellaGenesis = "PAS18z7m9DGbJFoVv6HiGoiwxNG5mLoniSEFWkguBKt59JSHPHjYaa"

func TestParseLogin(t *testing.T) {
	r := &loginRules{coin: cryptonote.Pastella, defaultScheme: SchemePPLNS, fixedDiff: true, separator: "."}
	cases := []struct {
		login, pass, rig string
		scheme, worker   string
		fixed            uint64
		err              string
	}{
		{login: pastellaGenesis, pass: "rig1", scheme: SchemePPLNS, worker: "rig1"},
		{login: "solo:" + pastellaGenesis, pass: "x", scheme: SchemeSolo, worker: "default"},
		{login: "PROP:" + pastellaGenesis + ".25000", pass: "a:b/c", scheme: SchemeProp, worker: "a_b_c", fixed: 25000},
		{login: pastellaGenesis, pass: "pw", rig: "farm-7", scheme: SchemePPLNS, worker: "farm-7"},
		{login: pastellaGenesis + ".0", err: "fixed difficulty must be > 0"},
		{login: "bogus:" + pastellaGenesis, err: `unknown reward scheme "bogus"`},
		{login: pastellaGenesis[:53], err: "wrong length"},
		{login: "x", err: "wrong length"},
	}
	for _, tc := range cases {
		m, err := r.parseLogin(tc.login, tc.pass, tc.rig)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseLogin(%q): error %v, want one containing %q", tc.login, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseLogin(%q): %v", tc.login, err)
			continue
		}
		if m.Scheme != tc.scheme || m.Worker != tc.worker || m.FixedDiff != tc.fixed || m.Address.Text != pastellaGenesis {
			t.Errorf("parseLogin(%q) = %+v, want scheme %s worker %s fixed %d", tc.login, m, tc.scheme, tc.worker, tc.fixed)
		}
	}
	noFixed := &loginRules{coin: cryptonote.Pastella, defaultScheme: SchemePPLNS, separator: "."}
	if _, err := noFixed.parseLogin(pastellaGenesis+".5000", "", ""); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("fixed difficulty accepted while disabled: %v", err)
	}
	if w := workerName("", strings.Repeat("w", 100)); len(w) != maxWorkerName {
		t.Errorf("worker name not capped: %d chars", len(w))
	}
}
