package stratum

import "sync"

// nonceBytes hands out the nonce's top byte on a NiceHash port: each live
// connection gets its own value, written into its job blobs, and only its
// shares with that byte count, so rigs under one login never hash the same
// nonces. 0 is never handed out: xmrig keeps the byte for any job whose
// blob has a non-zero nonce even without the "nicehash" extension (its
// Job::setBlob), which a miner behind xmrig-proxy in simple mode never sees.
type nonceBytes struct {
	mu   sync.Mutex
	used [256]bool
}

// nonceBytesMax is how many connections a NiceHash port serves at once.
const nonceBytesMax = 255

// take reserves the lowest free byte; ok is false when all are taken.
func (b *nonceBytes) take() (byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for v := 1; v < len(b.used); v++ {
		if !b.used[v] {
			b.used[v] = true
			return byte(v), true
		}
	}
	return 0, false
}

// release frees a byte taken by a connection that has ended.
func (b *nonceBytes) release(v byte) {
	b.mu.Lock()
	b.used[v] = false
	b.mu.Unlock()
}
