package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/wallet"
	"rxpool/wallet/wallettest"
)

// TestPaymentsCommands: list shows an open record and the halt, show its
// destinations, resolve settles it once, and block/unblock edit the
// blocked list; the audit passes throughout.
func TestPaymentsCommands(t *testing.T) {
	rds := testenv.NewRedis(t)
	const addr = "48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se"
	cfg := fmt.Sprintf(`{"coin":"monero","poolAddress":%q,"daemon":{"port":18081},
		"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q}}`, addr, rds.Socket)
	pool := poolCLI(t, cfg)

	// A payment left relaying and halted, as a crashed payments process
	// whose transaction the wallet did not know would leave it.
	ctx := context.Background()
	log := logrus.New()
	log.SetOutput(&bytes.Buffer{})
	s, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "monero"}, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var h [32]byte
	h[0] = 1
	if err := s.WriteBlockCandidate(ctx, &stratum.Block{Height: 1, Hash: h, Address: "miner", Scheme: stratum.SchemeSolo, Reward: 5000, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreditBlock(ctx, fmt.Sprintf("%x", h), map[string]uint64{"miner": 5000}, 0, "", "miner", 0, 5000); err != nil {
		t.Fatal(err)
	}
	tok, _ := s.AcquirePaymentsLease(ctx, time.Minute)
	id, err := s.CreatePayment(ctx, tok, []storage.PaymentDest{{Address: "miner", Debit: 4000}})
	if err != nil {
		t.Fatal(err)
	}
	tx := strings.Repeat("ab", 32)
	if err := s.PaymentPrepared(ctx, tok, id, tx, 30, "meta", []storage.PaymentDest{{Address: "miner", Debit: 4000, Fee: 10, Amount: 3990}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PaymentRelaying(ctx, tok, id); err != nil {
		t.Fatal(err)
	}
	if err := s.HaltPayment(ctx, tok, id, "the wallet does not know the transaction"); err != nil {
		t.Fatal(err)
	}
	ids := strconv.FormatUint(id, 10)

	out := pool(0, "payments", "list")
	for _, want := range []string{"PAYMENTS HALTED by payment " + ids, "relaying", tx} {
		if !strings.Contains(out, want) {
			t.Fatalf("list lacks %q:\n%s", want, out)
		}
	}
	if out := pool(0, "payments", "show", ids); !strings.Contains(strings.Join(strings.Fields(out), " "), "miner 4000 10 3990") {
		t.Fatalf("show:\n%s", out)
	}
	pool(0, "audit")
	pool(2, "payments", "resolve", ids)
	pool(1, "payments", "resolve", ids, "maybe")
	if out := pool(0, "payments", "resolve", ids, "sent", "seen on the explorer"); !strings.Contains(out, "is now sent") {
		t.Fatalf("resolve:\n%s", out)
	}
	if out := pool(1, "payments", "resolve", ids, "failed"); !strings.Contains(out, "already sent") {
		t.Fatalf("second resolve:\n%s", out)
	}
	if out := pool(0, "payments", "list"); strings.Contains(out, "HALTED") {
		t.Fatalf("still halted:\n%s", out)
	}
	if b, _ := s.Balance(ctx, "miner"); b.Balance != 1000 || b.Paid != 4000 || b.PendingPayment != 0 {
		t.Fatalf("balance %+v", b)
	}
	pool(0, "audit")

	pool(0, "payments", "block", "bad", "wallet says invalid")
	if out := pool(0, "payments", "blocked"); !strings.Contains(out, "bad") || !strings.Contains(out, "wallet says invalid") {
		t.Fatalf("blocked:\n%s", out)
	}
	pool(0, "payments", "unblock", "bad")
	pool(1, "payments", "unblock", "bad")
	pool(2, "payments", "frobnicate")
}

// TestResolveFailedAsksTheWallet: failing a relaying record by hand first
// makes the wallet drop its transaction, then refuses if the wallet has it
// (a relay landed after all); a transaction it never relayed is dropped
// and the record fails.
func TestResolveFailedAsksTheWallet(t *testing.T) {
	rds := testenv.NewRedis(t)
	fake := wallettest.Start(t, wallettest.Options{Unlocked: 1 << 40})
	u, _ := url.Parse(fake.URL())
	// The fake answers the daemon's transaction lookups too.
	cfg := fmt.Sprintf(`{"coin":"pastella","poolAddress":%q,"daemon":{"port":%s},
		"ports":{"3333":{"diff":1000,"desc":"test"}},"redis":{"socket":%q},
		"walletApi":{"port":%s,"apiKey":%q,"walletFile":%q,"walletPassword":%q}}`,
		fake.PrimaryAddress(), u.Port(), rds.Socket, u.Port(), fake.APIKey(), wallettest.DefaultFile, wallettest.DefaultPassword)
	pool := poolCLI(t, cfg)
	ctx := context.Background()
	log := logrus.New()
	log.SetOutput(&bytes.Buffer{})
	s, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: "pastella"}, cryptonote.Pastella, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	miner := wallettest.Address(1)
	var h [32]byte
	h[0] = 2
	if err := s.WriteBlockCandidate(ctx, &stratum.Block{Height: 1, Hash: h, Address: miner, Scheme: stratum.SchemeSolo, Reward: 900_000, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreditBlock(ctx, fmt.Sprintf("%x", h), map[string]uint64{miner: 900_000}, 0, "", miner, 0, 900_000); err != nil {
		t.Fatal(err)
	}
	w := wallet.NewPastella("test", fake.URL(), config.Secret(fake.APIKey()), 5*time.Second, log)
	tok, _ := s.AcquirePaymentsLease(ctx, time.Minute)
	// Two payments left relaying by a crash; the wallet relayed the first.
	relaying := func(relay bool) (uint64, string) {
		id, err := s.CreatePayment(ctx, tok, []storage.PaymentDest{{Address: miner, Debit: 400_000}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.Prepare(ctx, []wallet.Destination{{Address: miner, Amount: 400_000}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PaymentPrepared(ctx, tok, id, p.TxHash, p.Fee, p.Handle, []storage.PaymentDest{{Address: miner, Debit: 400_000, Amount: 400_000}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PaymentRelaying(ctx, tok, id); err != nil {
			t.Fatal(err)
		}
		if relay {
			if err := w.Relay(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		return id, p.TxHash
	}
	sentID, _ := relaying(true)
	lostID, lostTx := relaying(false)
	if out := pool(1, "payments", "resolve", strconv.FormatUint(sentID, 10), "failed"); !strings.Contains(out, "it was sent") {
		t.Fatalf("resolving a relayed transaction failed:\n%s", out)
	}
	if r, _ := s.Payment(ctx, sentID); r.State != storage.PaymentRelaying {
		t.Fatalf("record %+v", r)
	}
	pool(0, "payments", "resolve", strconv.FormatUint(lostID, 10), "failed")
	if tx, _ := fake.Tx(lostTx); tx.State != wallettest.TxDiscarded {
		t.Fatalf("the unrelayed transaction is %s in the wallet, want discarded", tx.State)
	}
	pool(0, "payments", "resolve", strconv.FormatUint(sentID, 10), "sent")
	if b, _ := s.Balance(ctx, miner); b.Balance != 500_000 || b.Paid != 400_000 {
		t.Fatalf("balance %+v", b)
	}
	pool(0, "audit")
}
