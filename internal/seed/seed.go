// Package seed writes a small, known pool history into Redis through
// storage, for the API's handler tests and the browser test.
package seed

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/internal/testenv"
	"rxpool/storage"
	"rxpool/stratum"
	"rxpool/unlocker"
)

// Data is what Pool wrote, for the assertions.
type Data struct {
	A, B, C                  string // A: two workers (rig2 offline), B: one, C: nothing
	Pending, Confirmed, Lost string // block hashes
	Reward                   uint64
	Credits                  map[string]uint64 // of the confirmed block, A's finder reward included
	PaidA, FeeA              uint64            // A's payment: debited, and the fee A paid
	PaidB, FeeB              uint64
	PayTx                    string
}

var hashSeq atomic.Int64

// Reward is the reward of every seeded block.
const Reward = 600_000_000_000

func blockHash() [32]byte {
	var h [32]byte
	copy(h[:], fmt.Sprintf("seed-block-%d", hashSeq.Add(1)))
	return h
}

// Pool writes, through storage, a small pool's history: shares of A and B
// (A from 127.0.0.1, where tests send requests from), a confirmed PPLNS
// block of coin credited with the pool fee and finder reward given in basis
// points (as the unlocker takes them), an orphaned and a pending one, a sent
// payment to A and B, and a connected session of A's rig1. The Store must
// publish connected miners quickly (storage.WithHealthInterval).
func Pool(t testing.TB, st *storage.Store, coin *cryptonote.Coin, poolFeeBP, finderBP uint32) *Data {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &Data{A: testenv.Address(t, coin, 1), B: testenv.Address(t, coin, 2), C: testenv.Address(t, coin, 3), Reward: Reward}
	now := time.Now()
	sh := func(a, w, ip string, d uint64, ago time.Duration) stratum.Share {
		return stratum.Share{Address: a, Worker: w, Scheme: "pplns", IP: ip, Difficulty: d, Time: now.Add(-ago)}
	}
	if err := st.WriteShares(ctx, []stratum.Share{
		sh(s.A, "rig1", "127.0.0.1", 30_000, 2*time.Minute),
		sh(s.A, "rig1", "127.0.0.1", 30_000, time.Minute),
		sh(s.A, "rig2", "10.9.9.9", 10_000, 20*time.Minute),
		sh(s.B, "x", "10.1.1.1", 60_000, 3*time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	st.Reject(&stratum.Rejection{Address: s.A, Worker: "rig1", Reason: "Low difficulty share", Invalid: true, Time: now})
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	block := func(finder string, height uint64) string {
		b := &stratum.Block{Height: height, Hash: blockHash(), PrevHash: blockHash(), Address: finder, Worker: "rig1",
			Scheme: "pplns", NetDifficulty: 100_000, ShareDiff: 150_000, Reward: s.Reward, Time: now.Add(-time.Duration(1000-height) * time.Minute)}
		if err := st.Block(ctx, b); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b.Hash[:])
	}
	s.Confirmed = block(s.A, 1)
	w, err := st.BlockWeights(ctx, s.Confirmed)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := unlocker.SplitShared(s.Reward, poolFeeBP, finderBP, w)
	if err != nil {
		t.Fatal(err)
	}
	s.Credits = sp.Credits
	if _, err := st.CreditBlock(ctx, s.Confirmed, sp.Credits, sp.Fee, "", s.A, sp.Finder, s.Reward); err != nil {
		t.Fatal(err)
	}
	s.Credits[s.A] += sp.Finder
	s.Lost = block(s.B, 2)
	if _, err := st.OrphanBlock(ctx, s.Lost); err != nil {
		t.Fatal(err)
	}
	s.Pending = block(s.B, 3)

	// Pay A and B part of their balances.
	tok, err := st.AcquirePaymentsLease(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.PaidA, s.FeeA, s.PaidB, s.FeeB, s.PayTx = 200_000_000_000, 30_000_000, 100_000_000_000, 20_000_000, strings.Repeat("ab", 32)
	dests := []storage.PaymentDest{{Address: s.A, Debit: s.PaidA}, {Address: s.B, Debit: s.PaidB}}
	id, err := st.CreatePayment(ctx, tok, dests)
	if err != nil {
		t.Fatal(err)
	}
	dests[0].Fee, dests[0].Amount = s.FeeA, s.PaidA-s.FeeA
	dests[1].Fee, dests[1].Amount = s.FeeB, s.PaidB-s.FeeB
	if err := st.PaymentPrepared(ctx, tok, id, s.PayTx, 50_000_000, "h", dests); err != nil {
		t.Fatal(err)
	}
	if err := st.PaymentRelaying(ctx, tok, id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PaymentSent(ctx, tok, id, storage.SettledByRelay); err != nil {
		t.Fatal(err)
	}
	st.MinerConnected(s.A, "rig1", "127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		on, err := st.Connected(ctx)
		if err == nil && on[s.A]["rig1"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connected session not published: %v %v", on, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}
