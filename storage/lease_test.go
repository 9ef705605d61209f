package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"rxpool/internal/testenv"
)

// A lease given up is taken quietly; one that expired under its holder is
// taken over, and AcquireLease says so in one warning line.
func TestLeaseTakenOverAfterStall(t *testing.T) {
	r := testenv.NewRedis(t)
	s := newTestStore(t, Config{Socket: r.Socket})
	log, hook := test.NewNullLogger()
	s.log = log
	ctx := ctxT(t)

	first, stalled, err := s.TakeLease(ctx, LeaseUnlocker, time.Minute)
	if err != nil || first == 0 || stalled != 0 {
		t.Fatalf("first lease: %d, stalled %d, %v", first, stalled, err)
	}
	if err := s.ReleaseLease(ctx, LeaseUnlocker, first); err != nil {
		t.Fatal(err)
	}
	short, stalled, err := s.TakeLease(ctx, LeaseUnlocker, 50*time.Millisecond)
	if err != nil || short <= first || stalled != 0 {
		t.Fatalf("after a release: %d, stalled %d, %v", short, stalled, err)
	}
	time.Sleep(100 * time.Millisecond) // the holder stalls: its lease expires
	next, err := s.AcquireLease(ctx, LeaseUnlocker, time.Minute)
	if err != nil || next <= short {
		t.Fatalf("after the stall: %d, %v", next, err)
	}
	var warned []string
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			warned = append(warned, e.Message)
		}
	}
	want := "took the unlocker lease over from token " + u64(short) + " (its holder stalled or died)"
	if len(warned) != 1 || !strings.Contains(warned[0], want) {
		t.Fatalf("warnings %q, want one with %q", warned, want)
	}
	// Held: nobody else gets it, and nothing is taken over.
	if tok, stalled, err := s.TakeLease(ctx, LeaseUnlocker, time.Minute); err != nil || tok != 0 || stalled != 0 {
		t.Fatalf("while held: %d, stalled %d, %v", tok, stalled, err)
	}
}
