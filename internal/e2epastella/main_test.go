package e2e

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
