// Package xmrig runs the real xmrig (6.26.0, ../shared/xmrig or
// $RXPOOL_XMRIG_DIR) through the pool binary on a Monero regtest chain and
// checks what xmrig itself counts, not only what the pool records. It is
// its own package so it runs beside internal/e2e.
package xmrig

import (
	"fmt"
	"os"
	"testing"

	"rxpool/internal/testenv"
)

// TestMain fails the whole package at once, loudly, when xmrig is missing:
// these tests never skip.
func TestMain(m *testing.M) {
	if _, err := testenv.XmrigDir(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
