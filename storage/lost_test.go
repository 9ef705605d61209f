package storage

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestLostAfterCreditAudit: marking a credited block lost is idempotent,
// never touches money, and fails the audit naming the block until the
// operator settles it.
func TestLostAfterCreditAudit(t *testing.T) {
	runCases(t, []storeCase{{"mark lost", nil, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		old, recent, pending := propBlock(t, s, 1), propBlock(t, s, 5), propBlock(t, s, 6)
		credit(t, s, old)
		credit(t, s, recent)
		got, err := s.RecentCreditedBlocks(ctx, 1003)
		if err != nil || len(got) != 1 || got[0].Hash != recent || got[0].Height != 1005 || !got[0].LostAt.IsZero() {
			t.Fatalf("recent credited blocks: %+v, %v (want only block 5)", got, err)
		}
		if rep, err := s.Audit(ctx); err != nil || !rep.OK() {
			t.Fatalf("audit before: %v\n%s", err, rep)
		}
		before := money(t, s, recent)
		for i, want := range []bool{true, false} {
			done, err := s.MarkBlockLost(ctx, recent, []string{"reorged away", "a later reason"}[i])
			if err != nil || done != want {
				t.Fatalf("mark %d: %v, %v; want %v", i, done, err, want)
			}
		}
		after := money(t, s, recent)
		if after.Block["lostReason"] != "reorged away" || after.Block["lostAt"] == "" {
			t.Fatalf("block record %v", after.Block)
		}
		delete(after.Block, "lostAt")
		delete(after.Block, "lostReason")
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("marking lost changed money:\n%+v\n%+v", before, after)
		}
		if got, err := s.RecentCreditedBlocks(ctx, 0); err != nil || len(got) != 2 || got[1].LostAt.IsZero() || got[1].LostReason != "reorged away" {
			t.Fatalf("after marking: %+v, %v", got, err)
		}
		rep, err := s.Audit(ctx)
		if err != nil || rep.OK() {
			t.Fatalf("audit after: want a failure, %v\n%s", err, rep)
		}
		want := "block " + recent + " (height 1005) was credited but is no longer on the main chain: reorged away"
		if !strings.Contains(rep.String(), want) || strings.Count(rep.String(), "no longer on the main chain") != 1 {
			t.Fatalf("audit:\n%s\nwant %q", rep, want)
		}
		// The operator settles it: the audit passes and says so; the mark
		// stays, a second settlement keeps the first note.
		if _, err := s.SettleLostBlock(ctx, old, "absorbed"); err == nil || !strings.Contains(err.Error(), "not marked lost") {
			t.Fatalf("settling a block that is not lost: %v", err)
		}
		if _, err := s.SettleLostBlock(ctx, recent, " "); err == nil {
			t.Fatal("settled without a note")
		}
		for i, want := range []bool{true, false} {
			done, err := s.SettleLostBlock(ctx, recent, []string{"absorbed from the pool fee", "again"}[i])
			if err != nil || done != want {
				t.Fatalf("settle %d: %v, %v; want %v", i, done, err, want)
			}
		}
		rep, err = s.Audit(ctx)
		if err != nil || !rep.OK() || !strings.Contains(rep.String(), "but the 1 the operator settled") {
			t.Fatalf("audit after settling: %v\n%s", err, rep)
		}
		settled := money(t, s, recent)
		if !strings.HasSuffix(settled.Block["lostSettled"], " absorbed from the pool fee") || settled.Block["lostReason"] != "reorged away" {
			t.Fatalf("block record after settling %v", settled.Block)
		}
		if _, err := s.SettleLostBlock(ctx, hexHash(99), "x"); !errors.Is(err, ErrUnknownBlock) {
			t.Fatalf("settling an unknown block: %v", err)
		}
		if _, err := s.MarkBlockLost(ctx, pending, "x"); err == nil {
			t.Fatal("a pending block was marked lost")
		}
		if _, err := s.MarkBlockLost(ctx, hexHash(99), "x"); !errors.Is(err, ErrUnknownBlock) {
			t.Fatalf("unknown block: %v", err)
		}
	}}})
}
