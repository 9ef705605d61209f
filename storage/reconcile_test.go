package storage

import (
	"strings"
	"testing"
)

// TestReconcile runs the journal-backed reconciliation on both backends.
func TestReconcile(t *testing.T) {
	runCases(t, reconcileCases)
}

// paidTx is the wallet's view of sentAB's transaction, as it was recorded.
func paidTx() WalletTx {
	return WalletTx{TxHash: "TX1", State: TxStateConfirmed, Height: 9, Amount: 890, Dests: map[string]uint64{"A": 295, "B": 595}}
}

func reconciled(t *testing.T, s *Store, txs ...WalletTx) *AuditReport {
	t.Helper()
	r := &AuditReport{}
	if err := s.Reconcile(ctxT(t), r, txs, 0); err != nil {
		t.Fatal(err)
	}
	return r
}

var reconcileCases = []storeCase{
	{name: "PayoutAndOperatorTransfer", fn: func(t *testing.T, s *Store) {
		funded(t, s)
		sentAB(t, s, lease(t, s))
		if r := reconciled(t, s, paidTx()); !r.OK() || len(r.Checks) != 2 {
			t.Fatalf("the payout as recorded:\n%s", r)
		}
		if r := reconciled(t, s); r.OK() || !strings.Contains(r.String(), "tx1: not in the wallet") {
			t.Fatalf("wallet without the payout:\n%s", r)
		}
		other := strings.Repeat("ab", 32)
		out := WalletTx{TxHash: other, State: TxStatePending, Amount: 7, Dests: map[string]uint64{"X": 7}}
		r := reconciled(t, s, paidTx(), out)
		if r.OK() || !strings.Contains(r.String(), "tx "+other+" (pending, height 0) sends 7 to X 7: neither a payout") {
			t.Fatalf("unrecorded transfer:\n%s", r)
		}
		for _, bad := range [][2]string{{"tx1", "moved coins"}, {other, " "}} {
			if err := s.RecordOperatorTransfer(ctxT(t), bad[0], bad[1]); err == nil {
				t.Fatalf("recorded %q %q", bad[0], bad[1])
			}
		}
		if err := s.RecordOperatorTransfer(ctxT(t), strings.ToUpper(other), "to cold storage"); err != nil {
			t.Fatal(err)
		}
		if r := reconciled(t, s, paidTx(), out); !r.OK() {
			t.Fatalf("recorded operator transfer:\n%s", r)
		}
		ops, err := s.OperatorTransfers(ctxT(t))
		if err != nil || !strings.HasSuffix(ops[other], " to cold storage") {
			t.Fatalf("operator transfers %v %v", ops, err)
		}
	}},
}

func TestReconcileMismatches(t *testing.T) {
	h1, h2 := "tx1", "tx2"
	rec := func(id uint64, state, tx string) *PaymentRecord {
		return &PaymentRecord{ID: id, State: state, TxHash: tx, Sent: 890, Height: 9, Dests: preparedAB}
	}
	tx := func(h, state string, dests map[string]uint64) WalletTx {
		return WalletTx{TxHash: h, State: state, Height: 9, Amount: 890, Dests: dests}
	}
	ab := map[string]uint64{"A": 295, "B": 595}
	cases := []struct {
		name      string
		recs      []*PaymentRecord
		txs       []WalletTx
		minHeight uint64
		want      []string // one substring per violation; none: OK
	}{
		{"confirmed as recorded", []*PaymentRecord{rec(1, PaymentConfirmed, h1)}, []WalletTx{tx(h1, TxStateConfirmed, ab)}, 0, nil},
		{"sent, still pending", []*PaymentRecord{rec(1, PaymentSent, h1)}, []WalletTx{tx(h1, TxStatePending, ab)}, 0, nil},
		{"amount differs", []*PaymentRecord{rec(1, PaymentSent, h1)}, []WalletTx{tx(h1, TxStateConfirmed, map[string]uint64{"A": 295, "B": 594, "C": 1})},
			0, []string{"payment 1 (sent) tx tx1: B: recorded 595, the wallet sent 594; C: the wallet sent 1, not recorded"}},
		{"destination missing", []*PaymentRecord{rec(1, PaymentSent, h1)}, []WalletTx{tx(h1, TxStateConfirmed, map[string]uint64{"A": 295})},
			0, []string{"B: recorded 595, not paid by the wallet"}},
		{"no destinations, total agrees", []*PaymentRecord{rec(1, PaymentSent, h1)}, []WalletTx{tx(h1, TxStateConfirmed, nil)}, 0, nil},
		{"no destinations, total differs", []*PaymentRecord{rec(1, PaymentSent, h1)}, []WalletTx{{TxHash: h1, State: TxStateConfirmed, Amount: 1}},
			0, []string{"the wallet sent 1 in all, the record 890"}},
		{"wallet failed it", []*PaymentRecord{rec(1, PaymentSent, h1)}, []WalletTx{tx(h1, TxStateFailed, ab)}, 0, []string{"the wallet marks it failed"}},
		{"dropped and failed, resent", []*PaymentRecord{rec(1, PaymentDropped, h1), rec(2, PaymentConfirmed, h2)},
			[]WalletTx{tx(h1, TxStateFailed, ab), tx(h2, TxStateConfirmed, ab)}, 0, nil},
		{"dropped but mined: paid twice", []*PaymentRecord{rec(1, PaymentDropped, h1), rec(2, PaymentConfirmed, h2)},
			[]WalletTx{tx(h1, TxStateConfirmed, ab), tx(h2, TxStateConfirmed, ab)}, 0, []string{"payment 1 is dropped, but the wallet has its tx tx1 as confirmed (height 9)"}},
		{"failed record, wallet sent it", []*PaymentRecord{rec(1, PaymentFailed, h1)}, []WalletTx{tx(h1, TxStatePending, ab)}, 0,
			[]string{"payment 1 is failed, but the wallet has its tx tx1 as pending"}},
		{"in flight", []*PaymentRecord{rec(1, PaymentRelaying, h1)}, []WalletTx{tx(h1, TxStatePending, ab)}, 0, nil},
		{"unrecorded failed transfer moved nothing", nil, []WalletTx{tx(h1, TxStateFailed, ab)}, 0, nil},
		{"confirmed below min height is not looked for", []*PaymentRecord{rec(1, PaymentConfirmed, h1)}, nil, 10, nil},
		{"sent is looked for whatever min height", []*PaymentRecord{rec(1, PaymentSent, h1)}, nil, 10, []string{"not in the wallet's outgoing transfers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &AuditReport{}
			reconcile(r, tc.recs, map[string]string{}, tc.txs, tc.minHeight)
			var got []string
			for _, c := range r.Checks {
				got = append(got, c.Violations...)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("violations %q, want %q", got, tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Fatalf("violation %q, want %q", got[i], w)
				}
			}
		})
	}
}
