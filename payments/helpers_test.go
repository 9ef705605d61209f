package payments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/config"
	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/wallet"
)

// testAddress makes a valid mainnet address of coin from a small scalar,
// so tests have as many distinct miners as they need.
func testAddress(t testing.TB, coin *cryptonote.Coin, k int) string {
	t.Helper()
	return testenv.Address(t, coin, k)
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(logWriter{t})
	l.SetLevel(logrus.DebugLevel)
	return l
}

var prefixSeq atomic.Int64

// newStore opens a Store with a fresh prefix on rds.
func newStore(t testing.TB, rds *testenv.Redis) *storage.Store {
	t.Helper()
	s, err := storage.New(config.RedisConfig{Socket: rds.Socket, Prefix: fmt.Sprintf("p%d", prefixSeq.Add(1))},
		cryptonote.Pastella, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

var blockSeq atomic.Int64

// fund credits amounts the way the unlocker does: a confirmed block record
// whose credits are exactly these, so the audit stays consistent.
func fund(t testing.TB, s *storage.Store, amounts map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	var reward uint64
	for _, v := range amounts {
		reward += v
	}
	n := blockSeq.Add(1)
	var h [32]byte
	copy(h[:], fmt.Sprintf("fund-%d-%d", time.Now().UnixNano(), n))
	b := &stratum.Block{Height: uint64(n), Hash: h, Address: "finder", Worker: "w", Scheme: stratum.SchemeSolo,
		NetDifficulty: 1, ShareDiff: 1, Reward: reward, Time: time.Now()}
	if err := s.WriteBlockCandidate(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreditBlock(ctx, hex.EncodeToString(h[:]), amounts, 0, "", "finder", 0, reward); err != nil {
		t.Fatal(err)
	}
}

func mustAudit(t testing.TB, s *storage.Store) {
	t.Helper()
	rep, err := s.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("audit failed:\n%s", rep)
	}
}

// fakeTx is a transaction the fake wallet built.
type fakeTx struct {
	Hash  string
	Fee   uint64
	Dests []wallet.Destination
}

// fakeWallet implements wallet.Wallet in memory and keeps a ledger of what
// it relayed. Hooks inject faults; act reports whether the call took
// effect before the error.
type fakeWallet struct {
	mu       sync.Mutex
	addr     string
	unlocked uint64
	fee      func(dests []wallet.Destination) uint64
	seq      int
	prepared map[string]fakeTx
	relayed  []fakeTx
	failed   map[string]bool
	prepares int

	onPrepare func(n int, dests []wallet.Destination) error
	onRelay   func(tx fakeTx) (act bool, err error)
	onLookup  func(hash string) (*wallet.TxInfo, error)
	onDiscard func() error
	// daemon: lookups ask a daemon too, which knows what was relayed
	// (wallet.TxInfo.DaemonChecked).
	daemon bool
	// daemonStarted is the daemon's start time its lookups report
	// (default: an hour before the fake was made).
	daemonStarted time.Time
}

func newFakeWallet(addr string) *fakeWallet {
	return &fakeWallet{addr: addr, unlocked: 1 << 60, prepared: map[string]fakeTx{}, failed: map[string]bool{},
		fee: func([]wallet.Destination) uint64 { return 1000 }, daemonStarted: time.Now().Add(-time.Hour)}
}

func (f *fakeWallet) Name() string { return "fake" }

func (f *fakeWallet) PrimaryAddress(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr, nil
}

func (f *fakeWallet) Balance(context.Context) (uint64, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unlocked, f.unlocked, nil
}

func (f *fakeWallet) Prepare(_ context.Context, dests []wallet.Destination) (*wallet.Prepared, error) {
	f.mu.Lock()
	f.prepares++
	n, hook := f.prepares, f.onPrepare
	f.mu.Unlock()
	if hook != nil {
		if err := hook(n, dests); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", f.addr, f.seq))
	tx := fakeTx{Hash: hex.EncodeToString(sum[:]), Fee: f.fee(dests), Dests: append([]wallet.Destination(nil), dests...)}
	f.prepared[tx.Hash] = tx
	return &wallet.Prepared{TxHash: tx.Hash, Fee: tx.Fee, Handle: tx.Hash}, nil
}

func (f *fakeWallet) Relay(_ context.Context, p *wallet.Prepared) error {
	f.mu.Lock()
	tx, ok := f.prepared[p.Handle]
	hook := f.onRelay
	f.mu.Unlock()
	if !ok {
		return &wallet.RefusedError{Code: 57, Reason: "prepared transaction not found"}
	}
	act, err := true, error(nil)
	if hook != nil {
		act, err = hook(tx)
	}
	if act {
		f.mu.Lock()
		if _, still := f.prepared[p.Handle]; still {
			delete(f.prepared, p.Handle)
			f.relayed = append(f.relayed, tx)
		}
		f.mu.Unlock()
	}
	return err
}

func (f *fakeWallet) Discard(_ context.Context, p *wallet.Prepared) (bool, error) {
	if f.onDiscard != nil {
		if err := f.onDiscard(); err != nil {
			return false, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.prepared[p.Handle]
	delete(f.prepared, p.Handle)
	return ok, nil
}

func (f *fakeWallet) Lookup(_ context.Context, hash string) (*wallet.TxInfo, error) {
	if f.onLookup != nil {
		if info, err := f.onLookup(hash); info != nil || err != nil {
			return info, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed[hash] {
		return &wallet.TxInfo{State: wallet.TxFailed}, nil
	}
	for _, tx := range f.relayed {
		if tx.Hash == hash {
			return &wallet.TxInfo{State: wallet.TxPending, Fee: tx.Fee}, nil
		}
	}
	info := &wallet.TxInfo{State: wallet.TxUnknown, DaemonChecked: f.daemon}
	if f.daemon {
		info.DaemonStarted = f.daemonStarted
	}
	return info, nil
}

// received sums what the fake relayed to each address.
func (f *fakeWallet) received() map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]uint64{}
	for _, tx := range f.relayed {
		for _, d := range tx.Dests {
			out[d.Address] += d.Amount
		}
	}
	return out
}

func (f *fakeWallet) relayedTxs() []fakeTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeTx(nil), f.relayed...)
}

var errConnLost = errors.New("connection reset by peer")

// sentByRecords sums, per address, the amounts of the sent records; and
// checks every record's own arithmetic.
func sentByRecords(t testing.TB, s *storage.Store) (sent map[string]uint64, recs []*storage.PaymentRecord) {
	t.Helper()
	recs, err := s.Payments(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	sent = map[string]uint64{}
	for _, r := range recs {
		if !r.Paid() { // sent or confirmed
			continue
		}
		for _, d := range r.Dests {
			if d.Fee+d.Amount != d.Debit {
				t.Fatalf("payment %d: %s debit %d ≠ fee %d + sent %d", r.ID, d.Address, d.Debit, d.Fee, d.Amount)
			}
			sent[d.Address] += d.Amount
		}
	}
	return sent, recs
}

// checkLedger compares the wallet's relayed transactions with the journal:
// each relayed transaction belongs to exactly one record, which is sent or confirmed (or
// still relaying: not settled yet, its debits still pending) and names the
// same amounts; no sent record lacks its transaction.
func checkLedger(t testing.TB, s *storage.Store, relayed []fakeTx) {
	t.Helper()
	_, recs := sentByRecords(t, s)
	byTx := map[string]*storage.PaymentRecord{}
	for _, r := range recs {
		if r.TxHash == "" {
			continue
		}
		if byTx[r.TxHash] != nil {
			t.Fatalf("transaction %s in payments %d and %d", r.TxHash, byTx[r.TxHash].ID, r.ID)
		}
		byTx[r.TxHash] = r
	}
	seen := map[string]bool{}
	for _, tx := range relayed {
		if seen[tx.Hash] {
			t.Fatalf("transaction %s relayed twice", tx.Hash)
		}
		seen[tx.Hash] = true
		r := byTx[tx.Hash]
		if r == nil || (!r.Paid() && r.State != storage.PaymentRelaying) {
			t.Fatalf("relayed transaction %s: journal record %+v", tx.Hash, r)
		}
		got := map[string]uint64{}
		for _, d := range tx.Dests {
			got[d.Address] += d.Amount
		}
		for _, d := range r.Dests {
			if got[d.Address] != d.Amount {
				t.Fatalf("payment %d: %s sent %d, the wallet relayed %d", r.ID, d.Address, d.Amount, got[d.Address])
			}
			delete(got, d.Address)
		}
		if len(got) != 0 {
			t.Fatalf("payment %d: the wallet relayed to others too: %v", r.ID, got)
		}
	}
	for _, r := range recs {
		if r.Paid() && !seen[r.TxHash] {
			t.Fatalf("payment %d is sent but its transaction %s was never relayed", r.ID, r.TxHash)
		}
	}
}

func sortedAddrs(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
