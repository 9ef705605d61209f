package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// FreePort's ports lie below the ephemeral range, are never given twice, and
// stay reserved against other test processes (an independent flock on the
// port's lock file fails while this process holds it).
func TestFreePortReservesOutsideTheEphemeralRange(t *testing.T) {
	lo, hi := portRange()
	seen := map[int]bool{}
	for range 100 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p < lo || p > hi {
			t.Fatalf("port %d outside %d-%d", p, lo, hi)
		}
		if seen[p] {
			t.Fatalf("port %d given twice", p)
		}
		seen[p] = true
		f, err := os.Open(filepath.Join(os.TempDir(), "rxpool-ports", strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err == nil {
			t.Fatalf("port %d: its lock file is not held", p)
		}
	}
}
