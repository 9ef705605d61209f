package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/wallet"
	"rxpool/wallet/wallettest"
)

const pas = 100_000_000 // atomic units per PAS

// testLog sends the client's log to the test's log.
func testLog(t *testing.T) *logrus.Logger {
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	l.SetOutput(tWriter{t})
	return l
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newPastella(t *testing.T, f *wallettest.FakePastella, timeout time.Duration) *wallet.Pastella {
	return wallet.NewPastella("pas", f.URL(), config.Secret(f.APIKey()), timeout, testLog(t))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// isAmbiguous: the error leaves open whether the wallet acted.
func isAmbiguous(err error) bool {
	return err != nil && !wallet.IsRefused(err) && !errors.Is(err, wallet.ErrAuth)
}

// The fake wallet is for what the real Wallet-API cannot be made to do on
// demand (pastella_real_test.go covers what it does): here, refusals the
// client cannot provoke, since it always sends every key and never a fee,
// and a bad address only the wallet's checks catch.
func TestPastellaPrepareRefusals(t *testing.T) {
	good, good2 := wallettest.Address(1), wallettest.Address(2)
	cases := []struct {
		name    string
		dests   []wallet.Destination
		inject  wallettest.Fault
		code    int
		badAddr string
	}{
		{"fee too small", []wallet.Destination{{good, 1}}, wallettest.Refuse(wallet.PastellaFeeTooSmall), wallet.PastellaFeeTooSmall, ""},
		{"bad address not found locally, one destination", []wallet.Destination{{good, 1}}, wallettest.Refuse(wallet.PastellaAddressNotValid), wallet.PastellaAddressNotValid, good},
		{"bad address not found locally, two destinations", []wallet.Destination{{good, 1}, {good2, 1}}, wallettest.Refuse(wallet.PastellaAddressNotValid), wallet.PastellaAddressNotValid, ""},
		{"daemon offline", []wallet.Destination{{good, 1}}, wallettest.Refuse(wallet.PastellaDaemonOffline), wallet.PastellaDaemonOffline, ""},
		{"empty 400 (missing key)", []wallet.Destination{{good, 1}}, wallettest.Status(400), 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
			w := newPastella(t, f, 5*time.Second)
			f.Inject(wallettest.RoutePrepare, tc.inject)
			p, err := w.Prepare(ctxT(t), tc.dests)
			var r *wallet.RefusedError
			if !errors.As(err, &r) {
				t.Fatalf("Prepare = %+v, %v; want a RefusedError", p, err)
			}
			if r.Code != tc.code || r.BadAddress != tc.badAddr {
				t.Fatalf("RefusedError code %d bad address %q; want %d %q (%v)", r.Code, r.BadAddress, tc.code, tc.badAddr, err)
			}
			if len(f.Transactions()) != 0 || len(f.ReceivedAll()) != 0 {
				t.Fatal("the fake recorded a transaction")
			}
		})
	}
}

func TestPastellaFailuresAreTyped(t *testing.T) {
	dest := []wallet.Destination{{Address: wallettest.Address(1), Amount: pas}}
	type check func(error) bool
	badReply := func(err error) bool { return isAmbiguous(err) && errors.Is(err, wallet.ErrBadReply) }
	refused := wallet.IsRefused
	cases := []struct {
		name    string
		fault   wallettest.Fault
		prepare check // nil: not a prepare case
		relay   check
		acted   bool // the relay took effect
	}{
		{"500 before acting", wallettest.Status(500), isAmbiguous, isAmbiguous, false},
		{"500 after acting", wallettest.StatusAfterActing(500), nil, isAmbiguous, true},
		{"502", wallettest.Status(502), isAmbiguous, isAmbiguous, false},
		{"drop before acting", wallettest.DropBeforeActing(), isAmbiguous, isAmbiguous, false},
		{"drop after acting", wallettest.DropAfterActing(), nil, isAmbiguous, true},
		{"timeout before acting", wallettest.TimeoutBeforeActing(), isAmbiguous, isAmbiguous, false},
		{"timeout after acting", wallettest.TimeoutAfterActing(), nil, isAmbiguous, true},
		{"garbage", wallettest.Garbage(), badReply, badReply, false},
		{"garbage after acting", wallettest.GarbageAfterActing(), nil, badReply, true},
		// The prepare route never relays: any error it reports is a refusal.
		{"daemon offline 30", wallettest.Refuse(wallet.PastellaDaemonOffline), refused, isAmbiguous, false},
		{"daemon error 31", wallettest.Refuse(wallet.PastellaDaemonError), refused, isAmbiguous, false},
		{"daemon still processing 55", wallettest.Refuse(wallet.PastellaDaemonStillProcessing), refused, isAmbiguous, false},
		{"expired 57", wallettest.Refuse(wallet.PastellaPreparedExpired), refused, refused, false},
		{"empty 400", wallettest.Status(400), refused, refused, false},
	}
	for _, tc := range cases {
		if tc.prepare != nil {
			t.Run(tc.name+" on prepare", func(t *testing.T) {
				f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
				w := newPastella(t, f, 300*time.Millisecond)
				f.Inject(wallettest.RoutePrepare, tc.fault)
				if _, err := w.Prepare(ctxT(t), dest); !tc.prepare(err) {
					t.Fatalf("Prepare: %v", err)
				}
				if len(f.Relayed()) != 0 {
					t.Fatal("prepare relayed")
				}
			})
		}
		t.Run(tc.name+" on relay", func(t *testing.T) {
			f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
			w := newPastella(t, f, 300*time.Millisecond)
			ctx := ctxT(t)
			p, err := w.Prepare(ctx, dest)
			if err != nil {
				t.Fatal(err)
			}
			f.Inject(wallettest.RouteRelay, tc.fault)
			if err := w.Relay(ctx, p); !tc.relay(err) {
				t.Fatalf("Relay: %v", err)
			}
			info, err := w.Lookup(ctx, p.TxHash)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			want, paid := wallet.TxUnknown, uint64(0)
			if tc.acted {
				want, paid = wallet.TxPending, pas
			}
			if info.State != want || f.Received(dest[0].Address) != paid {
				t.Fatalf("lookup %v, received %d; want %v, %d", info.State, f.Received(dest[0].Address), want, paid)
			}
		})
	}
}

// The case the old pool got wrong: the relay goes through, the reply never
// comes. The error must be ambiguous, and Lookup must find the transaction.
func TestPastellaRelayTimeoutAfterActingThenLookup(t *testing.T) {
	f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
	w := newPastella(t, f, 200*time.Millisecond)
	ctx := ctxT(t)
	p, err := w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(3), Amount: 7 * pas}})
	if err != nil {
		t.Fatal(err)
	}
	f.Inject(wallettest.RouteRelay, wallettest.TimeoutAfterActing())
	start := time.Now()
	err = w.Relay(ctx, p)
	if !isAmbiguous(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Relay: %v, want an ambiguous timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Relay took %s with a 200ms timeout", d)
	}
	info, err := w.Lookup(ctx, p.TxHash)
	if err != nil || info.State != wallet.TxPending {
		t.Fatalf("Lookup = %+v, %v; want pending", info, err)
	}
	h := f.MineBlock()
	if info, err = w.Lookup(ctx, p.TxHash); err != nil || info.State != wallet.TxConfirmed || info.Height != h {
		t.Fatalf("Lookup = %+v, %v; want confirmed at %d", info, err, h)
	}
	if f.Received(wallettest.Address(3)) != 7*pas {
		t.Fatalf("received %d", f.Received(wallettest.Address(3)))
	}
}

// withDaemon points the client's daemon lookups at the fake, which answers
// the daemon's /get_transactions_status from its ledger.
func withDaemon(t *testing.T, w *wallet.Pastella, f *wallettest.FakePastella) {
	u, err := url.Parse(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	w.SetDaemon("fake-daemon", u.Hostname(), port, false)
}

// Lookup trusts the daemon's "in the pool" or "in a block" even when the
// wallet does not answer, and never takes a daemon it could not read, or
// one that did not answer, for "unknown".
func TestPastellaLookupAsksTheDaemon(t *testing.T) {
	f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
	w := newPastella(t, f, 300*time.Millisecond)
	withDaemon(t, w, f)
	ctx := ctxT(t)
	sent, err := w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(1), Amount: pas}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Relay(ctx, sent); err != nil {
		t.Fatal(err)
	}
	unsent, err := w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(2), Amount: pas}})
	if err != nil {
		t.Fatal(err)
	}
	f.Inject(wallettest.RouteLookup, wallettest.Status(500))
	if info, err := w.Lookup(ctx, sent.TxHash); err != nil || info.State != wallet.TxPending || !info.DaemonChecked {
		t.Fatalf("Lookup with the wallet failing = %+v, %v; want pending from the daemon", info, err)
	}
	f.MineBlock()
	f.Inject(wallettest.RouteLookup, wallettest.DropBeforeActing())
	if info, err := w.Lookup(ctx, sent.TxHash); err != nil || info.State != wallet.TxConfirmed || !info.DaemonChecked {
		t.Fatalf("Lookup with the wallet failing = %+v, %v; want confirmed from the daemon", info, err)
	}
	if info, err := w.Lookup(ctx, unsent.TxHash); err != nil || info.State != wallet.TxUnknown || !info.DaemonChecked {
		t.Fatalf("Lookup of an unsent transaction = %+v, %v; want unknown to both", info, err)
	}
	for _, fault := range []wallettest.Fault{wallettest.Status(500), wallettest.Garbage(), wallettest.DropBeforeActing(), wallettest.TimeoutBeforeActing()} {
		for _, route := range []string{wallettest.RouteDaemonStatus, wallettest.RouteDaemonInfo} {
			f.Inject(route, fault)
			if info, err := w.Lookup(ctx, unsent.TxHash); !isAmbiguous(err) {
				t.Fatalf("Lookup with the daemon failing (%s: %+v) = %+v, %v; want an error", route, fault, info, err)
			}
		}
	}
	// A daemon behind the network may not have the block yet: its
	// "unknown" proves nothing; its "in a block" still counts.
	f.SetDaemonBehind(true)
	if info, err := w.Lookup(ctx, unsent.TxHash); !isAmbiguous(err) {
		t.Fatalf("Lookup with the daemon behind = %+v, %v; want an error", info, err)
	}
	f.Inject(wallettest.RouteLookup, wallettest.Status(500))
	if info, err := w.Lookup(ctx, sent.TxHash); err != nil || info.State != wallet.TxConfirmed {
		t.Fatalf("Lookup with the daemon behind = %+v, %v; want confirmed", info, err)
	}
	f.SetDaemonBehind(false)
	f.Inject(wallettest.RouteLookup, wallettest.Status(500))
	f.Inject(wallettest.RouteDaemonStatus, wallettest.Status(500))
	if info, err := w.Lookup(ctx, sent.TxHash); err == nil {
		t.Fatalf("Lookup with both failing = %+v", info)
	}
}

// After a reorg took its block away (the fake as Pastellad v1.0.3 behaves:
// "in a block" from the daemon, the stale wallet listing it at its old
// height), Lookup no longer says confirmed, and LookupSince, which searches
// the main chain from when it was sent, says it is off the main chain.
func TestPastellaLookupAfterReorg(t *testing.T) {
	f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
	w := newPastella(t, f, time.Second)
	withDaemon(t, w, f)
	ctx := ctxT(t)
	sentAt := time.Now()
	var hashes []string
	for i := range 2 {
		pr, err := w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(1 + i), Amount: pas}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Relay(ctx, pr); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, pr.TxHash)
		f.MineBlock()
	}
	for _, h := range hashes {
		if info, err := w.LookupSince(ctx, h, sentAt); err != nil || info.State != wallet.TxConfirmed || info.Height == 0 {
			t.Fatalf("before the reorg: %+v, %v; want confirmed at its height", info, err)
		}
	}
	f.Reorg(f.MineBlock() - 1) // the second block (and the one above) replaced
	if info, err := w.LookupSince(ctx, hashes[0], sentAt); err != nil || info.State != wallet.TxConfirmed {
		t.Fatalf("below the reorg: %+v, %v; want confirmed", info, err)
	}
	if info, err := w.Lookup(ctx, hashes[1]); err != nil || info.State != wallet.TxConfirmed || info.Height != 0 || !info.DaemonChecked {
		t.Fatalf("Lookup after the reorg: %+v, %v; want alive at no height (the daemon's word alone)", info, err)
	}
	info, err := w.LookupSince(ctx, hashes[1], sentAt)
	if err != nil || info.State != wallet.TxUnknown || !info.OffMainChain || !info.DaemonChecked {
		t.Fatalf("LookupSince after the reorg: %+v, %v; want unknown, off the main chain", info, err)
	}
	f.Inject(wallettest.RouteDaemonSyncData, wallettest.Garbage())
	if info, err := w.LookupSince(ctx, hashes[1], sentAt); !isAmbiguous(err) {
		t.Fatalf("LookupSince with the main-chain search failing = %+v, %v; want an error", info, err)
	}
}

func TestPastellaLookupRejectsMalformedHash(t *testing.T) {
	f := wallettest.NewFakePastella(t)
	w := newPastella(t, f, time.Second)
	for _, h := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("0", 63) + "/"} {
		if info, err := w.Lookup(ctxT(t), h); err == nil {
			t.Fatalf("Lookup(%q) = %+v, want an error", h, info)
		}
	}
	if err := w.Relay(ctxT(t), &wallet.Prepared{Handle: "../balance"}); err == nil || wallet.IsRefused(err) {
		t.Fatalf("Relay of a malformed handle: %v", err)
	}
}

// The API key and the wallet password never show: not in errors, not in
// the log, not when the client is printed, even when the wallet echoes them.
func TestPastellaSecretsStayHidden(t *testing.T) {
	const key, password = "K3y-0f-the-w4llet-API", "p4ssw0rd-0f-the-w4llet"
	f := wallettest.Start(t, wallettest.Options{APIKey: key, WalletPassword: password, WalletFile: "w", Closed: true, Unlocked: pas})
	var logBuf bytes.Buffer
	var mu sync.Mutex
	log := logrus.New()
	log.SetLevel(logrus.TraceLevel)
	log.SetOutput(lockedWriter{&mu, &logBuf})
	w := wallet.NewPastella("pas", f.URL(), key, 300*time.Millisecond, log)
	wrong := wallet.NewPastella("pas", f.URL(), "not-"+key, 300*time.Millisecond, log)
	ctx := ctxT(t)

	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The real API prints the expected key on an auth failure; a wallet
	// could put either secret in an error message.
	f.Inject(wallettest.RouteOpen, wallettest.Fault{Reply: wallettest.ReplyError, Code: 5, Message: "Expected: " + key + " password " + password})
	note(w.Open(ctx, "w", password))
	note(w.Open(ctx, "w", "wrong-"+password))
	note(w.Open(ctx, "w", password))
	_, err := wrong.PrimaryAddress(ctx)
	note(err)
	f.Inject(wallettest.RoutePrepare, wallettest.Fault{Reply: wallettest.ReplyError, Code: 11, Message: key})
	_, err = w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(1), Amount: 1}})
	note(err)
	p, err := w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(1), Amount: 1}})
	if err != nil {
		t.Fatal(err)
	}
	f.Inject(wallettest.RouteRelay, wallettest.Fault{Reply: wallettest.ReplyError, Code: 31, Message: "daemon said " + password})
	note(w.Relay(ctx, p))
	f.Inject(wallettest.RouteBalance, wallettest.TimeoutBeforeActing())
	_, _, err = w.Balance(ctx)
	note(err)
	f.Restart()
	_, err = w.PrimaryAddress(ctx) // reopens with the password
	note(err)
	if len(errs) < 6 {
		t.Fatalf("only %d errors: %v", len(errs), errs)
	}
	var all strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&all, "%v\n%+v\n%#v\n", e, e, e)
		var r *wallet.RefusedError
		if errors.As(e, &r) {
			fmt.Fprintf(&all, "%s\n", r.Reason)
		}
		var ae *wallet.APIError
		if errors.As(e, &ae) {
			fmt.Fprintf(&all, "%s\n", ae.Message)
		}
	}
	fmt.Fprintf(&all, "%v %+v %#v\n", w, w, w)
	mu.Lock()
	all.Write(logBuf.Bytes())
	mu.Unlock()
	for _, secret := range []string{key, password} {
		if strings.Contains(all.String(), secret) {
			t.Fatalf("secret %q shown:\n%s", secret, all.String())
		}
	}
	if !strings.Contains(all.String(), "[redacted]") {
		t.Fatalf("echoed secrets were not scrubbed:\n%s", all.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func ptr[T any](v T) *T { return &v }
