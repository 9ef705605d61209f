package failover

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/internal/e2e"
	"rxpool/storage"
	"rxpool/stratum"
)

// openStore is the test's own Store on the deployment (following its
// current master), closed at cleanup.
func openStore(t *testing.T, cfg storage.Config) *storage.Store {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	s, err := storage.New(cfg, cryptonote.Monero, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// count is one number of the books next to what the miners were told.
type count struct {
	what      string
	got, want uint64
}

// readBooks reads every count the miners' OK answers must equal: the
// pool-wide and per-miner accepted shares and Σ difficulty, the PPLNS log's
// total weight and the PPLNS round's effort.
func readBooks(ctx context.Context, s *storage.Store, f *fleet, o *outcome) ([]count, error) {
	ps, err := s.PoolStats(ctx)
	if err != nil {
		return nil, err
	}
	round, err := s.Round(ctx)
	if err != nil {
		return nil, err
	}
	cs := []count{
		{"pool accepted", ps.Accepted, uint64(o.ok)},
		{"pool hashes", ps.Hashes, o.okHashes},
		{"PPLNS log weight", round.PPLNSWeight, o.okHashes},
		{"PPLNS round effort", round.Effort[stratum.SchemePPLNS], o.okHashes},
	}
	for i, m := range f.miners {
		st, err := s.MinerStats(ctx, m.addr)
		if err != nil {
			return nil, err
		}
		cs = append(cs, count{fmt.Sprintf("miner %d accepted", i), st.Accepted, o.okPerMiner[m]},
			count{fmt.Sprintf("miner %d hashes", i), st.Hashes, o.hashesPerMiner[m]})
	}
	return cs, nil
}

// checkBooks waits until the books hold every share answered OK exactly
// once (the pool writes them in batches); a count above the OK answers is
// a share counted twice, or one answered with an error counted, and fails
// at once.
func checkBooks(t *testing.T, ctx context.Context, s *storage.Store, f *fleet, o *outcome) {
	t.Helper()
	e2e.WaitFor(t, 30*time.Second, "the books to hold exactly the shares answered OK", func() error {
		cs, err := readBooks(ctx, s, f, o)
		if err != nil {
			return err
		}
		var over, under []string
		for _, c := range cs {
			switch {
			case c.got > c.want:
				over = append(over, fmt.Sprintf("%s %d, want %d (+%d)", c.what, c.got, c.want, c.got-c.want))
			case c.got < c.want:
				under = append(under, fmt.Sprintf("%s %d, want %d (-%d)", c.what, c.got, c.want, c.want-c.got))
			}
		}
		if len(over) > 0 {
			t.Fatalf("COUNTED MORE THAN THE SHARES ANSWERED OK (%d OK, %d answered with an error): %s",
				o.ok, o.errored, strings.Join(append(over, under...), "; "))
		}
		if len(under) > 0 {
			return fmt.Errorf("shares answered OK missing from the books: %s", strings.Join(under, "; "))
		}
		return nil
	})
}
