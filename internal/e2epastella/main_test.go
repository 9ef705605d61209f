// Package e2epastella is the end-to-end tests of the pool on Pastella's real
// programs (Pastellad, Pastella-Wallet-API). They are a package of their own,
// apart from internal/e2e, so that go test runs the two long test binaries
// side by side; the helpers are internal/e2e's.
package e2epastella

import (
	"os"
	"testing"

	"rxpool/internal/testenv"
)

// TestMain stops the Pastella chain the package's tests share
// (testenv.SharedPastella) once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedPastella()
	os.Exit(code)
}
