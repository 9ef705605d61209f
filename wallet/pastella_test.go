package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

func TestPastellaPaysExactlyAndTracksTheTransaction(t *testing.T) {
	f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas, Locked: 3 * pas})
	w := newPastella(t, f, 5*time.Second)
	ctx := ctxT(t)

	// The wallet is already open: the API's 403 is not an error.
	if err := w.Open(ctx, wallettest.DefaultFile, wallettest.DefaultPassword); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := wallet.CheckAddress(ctx, w, f.PrimaryAddress()); err != nil {
		t.Fatalf("CheckAddress: %v", err)
	}
	if err := wallet.CheckAddress(ctx, w, wallettest.Address(9)); !errors.Is(err, wallet.ErrWrongWallet) {
		t.Fatalf("CheckAddress with another address: %v, want ErrWrongWallet", err)
	}
	total, unlocked, err := w.Balance(ctx)
	if err != nil || total != 13*pas || unlocked != 10*pas {
		t.Fatalf("Balance = %d, %d, %v; want %d, %d", total, unlocked, err, 13*pas, 10*pas)
	}
	st, err := w.Status(ctx)
	if err != nil || st.WalletBlockCount != 100 {
		t.Fatalf("Status = %+v, %v", st, err)
	}

	a1, a2 := wallettest.Address(1), wallettest.Address(2)
	p, err := w.Prepare(ctx, []wallet.Destination{{Address: a1, Amount: 150_000_000}, {Address: a2, Amount: 250_000_000}})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if len(p.TxHash) != 64 || p.Fee != wallettest.DefaultFee || p.Handle != p.TxHash {
		t.Fatalf("Prepared = %+v", p)
	}
	if got := f.Received(a1) + f.Received(a2); got != 0 {
		t.Fatalf("prepare paid %d", got)
	}
	info, err := w.Lookup(ctx, p.TxHash)
	if err != nil || info.State != wallet.TxUnknown {
		t.Fatalf("Lookup before relay = %+v, %v; want unknown", info, err)
	}

	if err := w.Relay(ctx, p); err != nil {
		t.Fatalf("Relay: %v", err)
	}
	info, err = w.Lookup(ctx, strings.ToUpper(p.TxHash))
	if err != nil || info.State != wallet.TxPending || info.Fee != wallettest.DefaultFee {
		t.Fatalf("Lookup after relay = %+v, %v; want pending", info, err)
	}
	h := f.MineBlock()
	info, err = w.Lookup(ctx, p.TxHash)
	if err != nil || info.State != wallet.TxConfirmed || info.Height != h {
		t.Fatalf("Lookup after block = %+v, %v; want confirmed at %d", info, err, h)
	}
	if f.Received(a1) != 150_000_000 || f.Received(a2) != 250_000_000 {
		t.Fatalf("received %v", f.ReceivedAll())
	}
	if _, unlocked, _ := w.Balance(ctx); unlocked != 10*pas-400_000_000-wallettest.DefaultFee {
		t.Fatalf("unlocked after payment = %d", unlocked)
	}
	// Relaying the same transaction again sends nothing and says why.
	if err := w.Relay(ctx, p); !errors.Is(err, wallet.ErrPreparedNotFound) || !isAmbiguous(err) {
		t.Fatalf("second Relay: %v, want ambiguous ErrPreparedNotFound", err)
	}
	if n := len(f.Relayed()); n != 1 {
		t.Fatalf("%d transactions relayed", n)
	}
}

func TestPastellaOpensAndReopensAfterRestart(t *testing.T) {
	f := wallettest.Start(t, wallettest.Options{Closed: true, Unlocked: 5 * pas})
	w := newPastella(t, f, 5*time.Second)
	ctx := ctxT(t)

	_, err := w.PrimaryAddress(ctx)
	if !errors.Is(err, wallet.ErrNotOpen) || !errors.Is(err, wallet.ErrAuth) {
		t.Fatalf("call with no wallet open: %v, want ErrNotOpen (and ErrAuth)", err)
	}
	var ae *wallet.APIError
	if err := w.Open(ctx, wallettest.DefaultFile, "wrong"); !errors.As(err, &ae) || ae.Code != wallet.PastellaWrongPassword {
		t.Fatalf("Open with a wrong password: %v, want error 5", err)
	}
	if err := w.Open(ctx, "missing.wallet", "x"); !errors.As(err, &ae) || ae.Code != 1 {
		t.Fatalf("Open of a missing file: %v, want error 1", err)
	}
	if err := w.Open(ctx, wallettest.DefaultFile, wallettest.DefaultPassword); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if addr, err := w.PrimaryAddress(ctx); err != nil || addr != f.PrimaryAddress() {
		t.Fatalf("PrimaryAddress = %q, %v", addr, err)
	}
	p, err := w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(1), Amount: pas}})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}

	// The API restarts: no wallet open, prepared transactions gone. The
	// client reopens the wallet by itself; the prepared one is lost.
	f.Restart()
	opens := f.Calls(wallettest.RouteOpen)
	if _, _, err := w.Balance(ctx); err != nil {
		t.Fatalf("Balance after restart: %v", err)
	}
	if f.Calls(wallettest.RouteOpen) != opens+1 {
		t.Fatalf("client did not reopen the wallet")
	}
	if err := w.Relay(ctx, p); !errors.Is(err, wallet.ErrPreparedNotFound) {
		t.Fatalf("Relay after restart: %v, want ErrPreparedNotFound", err)
	}
	if info, err := w.Lookup(ctx, p.TxHash); err != nil || info.State != wallet.TxUnknown {
		t.Fatalf("Lookup = %+v, %v", info, err)
	}
	if err := w.Create(ctx, wallettest.DefaultFile, "x"); err != nil {
		t.Fatalf("Create while a wallet is open: %v", err)
	}
	if len(f.Relayed()) != 0 {
		t.Fatal("something was relayed")
	}
}

func TestPastellaPrepareRefusals(t *testing.T) {
	good := wallettest.Address(1)
	good2 := wallettest.Address(2)
	bad := good[:20] + flip(good[20]) + good[21:] // checksum fails
	many := make([]wallet.Destination, 90)
	for i := range many {
		many[i] = wallet.Destination{Address: wallettest.Address(i + 1), Amount: 1000}
	}
	cases := []struct {
		name    string
		dests   []wallet.Destination
		inject  *wallettest.Fault
		code    int
		badAddr string
	}{
		{"not enough balance", []wallet.Destination{{good, 20 * pas}}, nil, wallet.PastellaNotEnoughBalance, ""},
		{"fee pushes over balance", []wallet.Destination{{good, 10 * pas}}, nil, wallet.PastellaNotEnoughBalance, ""},
		{"bad checksum, second of three", []wallet.Destination{{good, 1}, {bad, 1}, {good2, 1}}, nil, wallet.PastellaAddressNotValid, bad},
		{"wrong length", []wallet.Destination{{good, 1}, {good[:50], 1}}, nil, wallet.PastellaAddressWrongLength, good[:50]},
		{"wrong prefix", []wallet.Destination{{"X" + good[1:], 1}}, nil, wallet.PastellaAddressWrongPrefix, "X" + good[1:]},
		{"amount zero", []wallet.Destination{{good, 0}}, nil, wallet.PastellaAmountIsZero, ""},
		{"no destinations", nil, nil, wallet.PastellaNoDestinations, ""},
		{"too many outputs", many, nil, wallet.PastellaOutputDecomposition, ""},
		{"fee too small", []wallet.Destination{{good, 1}}, ptr(wallettest.Refuse(wallet.PastellaFeeTooSmall)), wallet.PastellaFeeTooSmall, ""},
		{"bad address not found locally, one destination", []wallet.Destination{{good, 1}}, ptr(wallettest.Refuse(wallet.PastellaAddressNotValid)), wallet.PastellaAddressNotValid, good},
		{"bad address not found locally, two destinations", []wallet.Destination{{good, 1}, {good2, 1}}, ptr(wallettest.Refuse(wallet.PastellaAddressNotValid)), wallet.PastellaAddressNotValid, ""},
		{"daemon offline", []wallet.Destination{{good, 1}}, ptr(wallettest.Refuse(wallet.PastellaDaemonOffline)), wallet.PastellaDaemonOffline, ""},
		{"empty 400 (missing key)", []wallet.Destination{{good, 1}}, ptr(wallettest.Status(400)), 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
			w := newPastella(t, f, 5*time.Second)
			if tc.inject != nil {
				f.Inject(wallettest.RoutePrepare, *tc.inject)
			}
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
	auth := func(err error) bool { return errors.Is(err, wallet.ErrAuth) && !wallet.IsRefused(err) }
	notOpen := func(err error) bool { return auth(err) && errors.Is(err, wallet.ErrNotOpen) }
	badReply := func(err error) bool { return isAmbiguous(err) && errors.Is(err, wallet.ErrBadReply) }
	refused := wallet.IsRefused
	cases := []struct {
		name    string
		fault   wallettest.Fault
		prepare check // nil: not a prepare case
		relay   check
		acted   bool // the relay took effect
	}{
		{"401", wallettest.Status(401), auth, auth, false},
		{"403", wallettest.Status(403), notOpen, notOpen, false},
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
		{"not found 58", wallettest.Refuse(wallet.PastellaPreparedNotFound), refused, func(err error) bool {
			return isAmbiguous(err) && errors.Is(err, wallet.ErrPreparedNotFound)
		}, false},
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

func TestPastellaRelayOfSpentPreparedIsRefused(t *testing.T) {
	f := wallettest.Start(t, wallettest.Options{Unlocked: 10 * pas})
	w := newPastella(t, f, 5*time.Second)
	ctx := ctxT(t)
	d := []wallet.Destination{{Address: wallettest.Address(1), Amount: 6 * pas}}
	p1, err := w.Prepare(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := w.Prepare(ctx, d) // the real prepare does not reserve inputs either
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Relay(ctx, p1); err != nil {
		t.Fatal(err)
	}
	var r *wallet.RefusedError
	if err := w.Relay(ctx, p2); !errors.As(err, &r) || r.Code != wallet.PastellaPreparedExpired {
		t.Fatalf("Relay of a prepared tx whose funds are gone: %v, want refusal 57", err)
	}
	if f.Received(d[0].Address) != 6*pas {
		t.Fatalf("received %d", f.Received(d[0].Address))
	}
	// Discard: the wallet forgets a prepared transaction for good.
	p3, err := w.Prepare(ctx, []wallet.Destination{{Address: wallettest.Address(2), Amount: pas}})
	if err != nil {
		t.Fatal(err)
	}
	if held, err := w.Discard(ctx, p3); !held || err != nil {
		t.Fatalf("Discard = %v, %v", held, err)
	}
	if held, err := w.Discard(ctx, p3); held || err != nil {
		t.Fatalf("second Discard = %v, %v", held, err)
	}
	if err := w.Relay(ctx, p3); !errors.Is(err, wallet.ErrPreparedNotFound) {
		t.Fatalf("Relay after Discard: %v", err)
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
