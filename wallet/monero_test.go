package wallet_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/wallet"
)

const xmr = 1_000_000_000_000 // atomic units per XMR

// TestMoneroAgainstRealWallet drives monero-wallet-rpc on a monerod
// --regtest chain: a two-destination payment from prepare to confirmation,
// the receiver's exact balance, and the refusals payments relies on.
func TestMoneroAgainstRealWallet(t *testing.T) {
	rt := testenv.NewRegtest(t, testenv.RegtestOptions{Blocks: 120})
	recv := testenv.NewWallet(t, rt.Daemon, "recv")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := wallet.NewMonero("xmr", rt.Wallet.URL(), "", "", time.Minute, testLog(t))
	if err := w.SetPriority(2); err != nil {
		t.Fatal(err)
	}

	if err := wallet.CheckAddress(ctx, w, rt.Wallet.Address); err != nil {
		t.Fatalf("CheckAddress: %v", err)
	}
	total, unlocked, err := w.Balance(ctx)
	if err != nil || unlocked == 0 || total < unlocked {
		t.Fatalf("Balance = %d, %d, %v", total, unlocked, err)
	}
	t.Logf("pool wallet: balance %d, unlocked %d", total, unlocked)

	var sub struct {
		Address string `json:"address"`
	}
	if err := recv.Call(ctx, "create_address", map[string]any{"account_index": 0}, &sub); err != nil {
		t.Fatal(err)
	}
	a1, a2 := uint64(1_500_000_000_000), uint64(2_500_000_000_001)
	dests := []wallet.Destination{{Address: recv.Address, Amount: a1}, {Address: sub.Address, Amount: a2}}
	p, err := w.Prepare(ctx, dests)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if len(p.TxHash) != 64 || p.Fee == 0 || p.Handle == "" {
		t.Fatalf("Prepared = hash %q fee %d handle %d bytes", p.TxHash, p.Fee, len(p.Handle))
	}
	t.Logf("prepared %s, fee %d", p.TxHash, p.Fee)

	if info, err := w.Lookup(ctx, p.TxHash); err != nil || info.State != wallet.TxUnknown {
		t.Fatalf("Lookup before relay = %+v, %v; want unknown", info, err)
	}
	if err := w.Relay(ctx, p); err != nil {
		t.Fatalf("Relay: %v", err)
	}
	info, err := w.Lookup(ctx, p.TxHash)
	if err != nil || info.State != wallet.TxPending || info.Fee != p.Fee {
		t.Fatalf("Lookup after relay = %+v, %v; want pending with fee %d", info, err, p.Fee)
	}
	if _, err := rt.Daemon.GenerateBlocks(ctx, 1, rt.Wallet.Address, nil); err != nil {
		t.Fatal(err)
	}
	height, err := rt.Daemon.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err = w.Lookup(ctx, p.TxHash)
	if err != nil || info.State != wallet.TxConfirmed || info.Height != height-1 {
		t.Fatalf("Lookup after a block = %+v, %v; want confirmed at %d", info, err, height-1)
	}

	rtotal, _, err := recv.Balance(ctx)
	if err != nil || rtotal != a1+a2 {
		t.Fatalf("receiver balance = %d, %v; want %d", rtotal, err, a1+a2)
	}
	var per struct {
		PerSubaddress []struct {
			Address string `json:"address"`
			Balance uint64 `json:"balance"`
		} `json:"per_subaddress"`
	}
	if err := recv.Call(ctx, "get_balance", map[string]any{"account_index": 0}, &per); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, s := range per.PerSubaddress {
		got[s.Address] = s.Balance
	}
	if got[recv.Address] != a1 || got[sub.Address] != a2 {
		t.Fatalf("receiver per address = %v; want %d and %d", got, a1, a2)
	}
	if total2, _, err := w.Balance(ctx); err != nil || total2 > total-a1-a2-p.Fee+40*xmr {
		// The block mined above paid the pool wallet a (locked) reward.
		t.Fatalf("pool balance after paying: %d (before %d), %v", total2, total, err)
	}

	t.Run("relay again", func(t *testing.T) {
		// Relaying the same metadata again must not pay twice, whatever it
		// answers.
		err := w.Relay(ctx, p)
		t.Logf("second relay: %v", err)
		if wallet.IsRefused(err) {
			t.Fatalf("a second relay of a sent transaction must not read as a refusal: %v", err)
		}
		if _, err := rt.Daemon.GenerateBlocks(ctx, 1, rt.Wallet.Address, nil); err != nil {
			t.Fatal(err)
		}
		if rtotal, _, err := recv.Balance(ctx); err != nil || rtotal != a1+a2 {
			t.Fatalf("receiver balance = %d, %v; want %d", rtotal, err, a1+a2)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		_, unlocked, err := w.Balance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := cryptonote.Monero.ParseAddress(recv.Address)
		if err != nil {
			t.Fatal(err)
		}
		testnet, err := cryptonote.Monero.NewAddress("testnet", cryptonote.AddressStandard, parsed.SpendKey, parsed.ViewKey, [8]byte{})
		if err != nil {
			t.Fatal(err)
		}
		bad := recv.Address[:30] + flip(recv.Address[30]) + recv.Address[31:]
		cases := []struct {
			name    string
			dests   []wallet.Destination
			codes   []int
			badAddr string
		}{
			{"more than unlocked", []wallet.Destination{{recv.Address, unlocked + xmr}}, []int{wallet.MoneroNotEnoughMoney, wallet.MoneroNotEnoughUnlockedMoney}, ""},
			{"bad checksum", []wallet.Destination{{recv.Address, xmr}, {bad, xmr}}, []int{wallet.MoneroWrongAddress}, bad},
			{"other network", []wallet.Destination{{testnet.Text, xmr}, {recv.Address, xmr}}, []int{wallet.MoneroWrongAddress}, testnet.Text},
			{"zero amount", []wallet.Destination{{recv.Address, 0}}, []int{wallet.MoneroZeroAmount, wallet.MoneroZeroDestination}, ""},
			{"no destinations", nil, []int{wallet.MoneroZeroDestination}, ""},
		}
		for _, tc := range cases {
			p, err := w.Prepare(ctx, tc.dests)
			var r *wallet.RefusedError
			if !errors.As(err, &r) {
				t.Fatalf("%s: Prepare = %+v, %v; want a RefusedError", tc.name, p, err)
			}
			if !containsInt(tc.codes, r.Code) || r.BadAddress != tc.badAddr {
				t.Fatalf("%s: code %d bad address %q; want one of %v, %q (%v)", tc.name, r.Code, r.BadAddress, tc.codes, tc.badAddr, err)
			}
			t.Logf("%s: %v", tc.name, err)
		}
		var r *wallet.RefusedError
		err = w.Relay(ctx, &wallet.Prepared{TxHash: strings.Repeat("0", 64), Handle: "00ff00ff"})
		if !errors.As(err, &r) || (r.Code != wallet.MoneroBadTxMetadata && r.Code != wallet.MoneroBadHex) {
			t.Fatalf("Relay of unreadable metadata: %v; want refusal -26/-27", err)
		}
		if info, err := w.Lookup(ctx, strings.Repeat("ab", 32)); err != nil || info.State != wallet.TxUnknown {
			t.Fatalf("Lookup of an unknown hash = %+v, %v", info, err)
		}
		if _, err := w.Lookup(ctx, "xyz"); err == nil {
			t.Fatal("Lookup of a malformed hash must fail, not say unknown")
		}
	})

	t.Run("digest auth", func(t *testing.T) { testMoneroDigest(t, ctx, rt.Daemon) })
}

// testMoneroDigest runs a monero-wallet-rpc with --rpc-login and checks
// that the client authenticates and that a wrong password is ErrAuth.
func testMoneroDigest(t *testing.T, ctx context.Context, d *testenv.Monerod) {
	dir := t.TempDir()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "pool", "digest-s3cret"
	out, err := os.Create(filepath.Join(dir, "wallet-rpc.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("monero-wallet-rpc",
		"--wallet-dir", dir, "--rpc-login", user+":"+password,
		"--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", strconv.Itoa(port),
		"--daemon-address", d.Address(), "--trusted-daemon", "--no-dns", "--non-interactive",
		"--shared-ringdb-dir", filepath.Join(dir, "ringdb"), "--log-level", "0",
		"--log-file", filepath.Join(dir, "monero-wallet-rpc.log"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("monero-wallet-rpc: %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	w := wallet.NewMonero("digest", url, user, password, 10*time.Second, testLog(t))
	// No wallet is open yet: an authenticated call gets -13, an
	// unauthenticated one 401.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err = w.PrimaryAddress(ctx)
		if errors.Is(err, wallet.ErrNotOpen) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !errors.Is(err, wallet.ErrNotOpen) {
		t.Fatalf("authenticated call: %v; want ErrNotOpen", err)
	}
	for i := 0; i < 3; i++ { // later calls reuse the challenge
		if _, err := w.PrimaryAddress(ctx); !errors.Is(err, wallet.ErrNotOpen) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for _, c := range []*wallet.Monero{
		wallet.NewMonero("digest", url, user, "wrong", 10*time.Second, testLog(t)),
		wallet.NewMonero("digest", url, "", "", 10*time.Second, testLog(t)),
	} {
		_, err := c.PrimaryAddress(ctx)
		if !errors.Is(err, wallet.ErrAuth) || wallet.IsRefused(err) {
			t.Fatalf("bad credentials: %v; want ErrAuth", err)
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("password in error: %v", err)
		}
	}
	// Credentials in the URL work too and do not show in errors.
	wu := wallet.NewMonero("digest", "http://"+user+":"+password+"@127.0.0.1:"+strconv.Itoa(port)+"/json_rpc", "", config.Secret(""), 10*time.Second, testLog(t))
	if _, err := wu.PrimaryAddress(ctx); !errors.Is(err, wallet.ErrNotOpen) || strings.Contains(err.Error(), password) {
		t.Fatalf("URL credentials: %v", err)
	}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
