package stratum

import (
	"encoding/hex"
	"testing"

	"rxpool/stratum/proto"
)

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

// MinerHasher is testPool.hash for the external tests: it hashes a job's
// blob with a nonce as a miner would and returns the submit's nonce and
// result in hex. It keeps one RandomX VM, for the first job's seed (that
// of the genesis block on every regtest chain up to height 2112), and is
// not for concurrent use.
func MinerHasher(t *testing.T) func(job *proto.Job, nonce uint32) (nonceHex, result string) {
	p := &testPool{t: t}
	return func(job *proto.Job, nonce uint32) (string, string) {
		t.Helper()
		n, h := p.hash(job, nonce)
		return n, hex.EncodeToString(h[:])
	}
}
