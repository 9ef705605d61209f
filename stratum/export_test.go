package stratum

import "testing"

// StartTestPool is newTestPool for the package's external tests, which may
// import storage (an internal test cannot: storage imports stratum). It
// serves a Monero regtest chain no share reaches with sink and returns the
// stratum address.
func StartTestPool(t *testing.T, portDiff uint64, sink Sink) string {
	t.Helper()
	return newTestPool(t, poolOptions{netDiff: unreachable, portDiff: portDiff, sink: sink}).addr
}

// StartTestPoolWith is StartTestPool with the configuration changed by
// mutate (e.g. a BanBoard from storage).
func StartTestPoolWith(t *testing.T, portDiff uint64, sink Sink, mutate func(*Config)) string {
	t.Helper()
	return newTestPool(t, poolOptions{netDiff: unreachable, portDiff: portDiff, sink: sink, mutate: mutate}).addr
}
