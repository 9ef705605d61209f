package payments

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/wallet"
)

// TestRegtestPaysExactly pays balances through a real monero-wallet-rpc on a
// real monerod --regtest chain, in each fee mode, two transactions per run
// (maxAddresses 2, three receivers), and checks that each receiving wallet
// (made by the test) holds exactly what the payment records say it was
// sent, that the fees are as configured, that denomination remainders stay
// in the balances, and that the audit passes.
func TestRegtestPaysExactly(t *testing.T) {
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 130})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var recv []*testenv.Wallet
	for i := 0; i < 3; i++ {
		recv = append(recv, testenv.NewWallet(t, rt.Daemon, fmt.Sprintf("recv%d", i)))
	}
	rds := testenv.NewRedis(t)
	store, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	w := wallet.NewMonero("regtest", rt.Wallet.URL(), "", "", time.Minute, testLogger(t))
	const (
		xmr   = 1_000_000_000_000
		denom = 100_000_000 // 0.0001 XMR
		fixed = 100_000_000 // the monero default transferFee
	)
	base := Config{Interval: time.Hour, MinPayment: 10_000_000_000, Denomination: denom, TransferFee: fixed, MaxAddresses: 2,
		PoolAddress: rt.Wallet.Address, Coin: cryptonote.Monero, LeaseTTL: time.Minute}
	received := func() []uint64 {
		out := make([]uint64, len(recv))
		for i, r := range recv {
			total, _, err := r.Balance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = total
		}
		return out
	}
	other := testAddress(t, cryptonote.Monero, 77) // mines the confirming blocks
	for mi, mode := range []struct {
		name               string
		minerPays, dynamic bool
	}{{"pool pays", false, false}, {"fixed fee", true, false}, {"dynamic fee", true, true}} {
		cfg := base
		cfg.MinerPayFee, cfg.DynamicTransferFee = mode.minerPays, mode.dynamic
		// Amounts with a remainder below the denomination, different per mode.
		credits := map[string]uint64{}
		for i, r := range recv {
			credits[r.Address] = uint64(i+1)*xmr/3 + uint64(mi+1)*12_345_678 + uint64(i)*7
		}
		before := map[string]storage.Balance{}
		for _, r := range recv {
			before[r.Address], _ = store.Balance(ctx, r.Address)
		}
		fund(t, store, credits)
		had := received()
		pool, _ := store.Payments(ctx, 0, 1)
		res, err := New(cfg, store, w, testLogger(t)).RunOnce(ctx)
		t.Logf("%s: %s", mode.name, res)
		if err != nil {
			t.Fatal(err)
		}
		if res.Records != 2 || res.Sent != 2 {
			t.Fatalf("%s: %+v, want two transactions sent", mode.name, res)
		}
		mustAudit(t, store)
		if _, err := rt.Daemon.GenerateBlocks(ctx, 1, other, nil); err != nil {
			t.Fatal(err)
		}
		now := received()
		recs, _ := store.Payments(ctx, 0, 2)
		if len(pool) > 0 && recs[1].ID <= pool[0].ID {
			t.Fatalf("records %v", recs)
		}
		sentTo := map[string]storage.PaymentDest{}
		for _, r := range recs {
			var fees uint64
			for _, d := range r.Dests {
				sentTo[d.Address] = d
				fees += d.Fee
			}
			switch {
			case !mode.minerPays && fees != 0,
				mode.minerPays && !mode.dynamic && fees != uint64(len(r.Dests))*fixed,
				mode.dynamic && (r.Dests[0].Fee != r.Fee/uint64(len(r.Dests)) || fees > r.Fee):
				t.Fatalf("%s: payment %d: fee %d, miners paid %v", mode.name, r.ID, r.Fee, r.Dests)
			}
			t.Logf("%s: payment %d tx %s: network fee %d, miners paid %d", mode.name, r.ID, r.TxHash, r.Fee, fees)
		}
		for i, r := range recv {
			d, ok := sentTo[r.Address]
			if !ok {
				t.Fatalf("%s: receiver %d not paid", mode.name, i)
			}
			if got := now[i] - had[i]; got != d.Amount {
				t.Fatalf("%s: receiver %d's wallet got %d, the record says %d", mode.name, i, got, d.Amount)
			}
			b, _ := store.Balance(ctx, r.Address)
			wantLeft := uint64(before[r.Address].Balance) + credits[r.Address] - d.Debit
			if d.Debit%denom != 0 || uint64(b.Balance) != wantLeft || wantLeft >= denom || b.Paid != before[r.Address].Paid+d.Debit {
				t.Fatalf("%s: receiver %d: debit %d, balance %+v, want %d left", mode.name, i, d.Debit, b, wantLeft)
			}
		}
	}
}
