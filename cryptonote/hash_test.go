package cryptonote

import (
	"encoding/hex"
	"testing"
)

func TestKeccakVectors(t *testing.T) {
	for in, want := range map[string]string{
		"":   "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
		"00": "bc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a",
	} {
		got := Keccak256(mustHex(t, in))
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("H(%s) = %x", in, got)
		}
	}
	// Splitting the input must not matter.
	if Keccak256([]byte("ab"), nil, []byte("c")) != Keccak256([]byte("abc")) {
		t.Error("multi-part hash differs")
	}
}

// referenceTreeHash follows tree-hash.c literally (protocol.md §3.5): an
// array reduced level by level, unlike the branch walk in hash.go.
func referenceTreeHash(h []Hash) Hash {
	n := len(h)
	switch n {
	case 1:
		return h[0]
	case 2:
		return Keccak256(h[0][:], h[1][:])
	}
	p := 2
	for p < n {
		p *= 2
	}
	cnt := p / 2
	ints := make([]Hash, cnt)
	copy(ints, h[:2*cnt-n])
	for i, j := 2*cnt-n, 2*cnt-n; j < cnt; i, j = i+2, j+1 {
		ints[j] = Keccak256(h[i][:], h[i+1][:])
	}
	for cnt > 2 {
		cnt /= 2
		for i, j := 0, 0; j < cnt; i, j = i+2, j+1 {
			ints[j] = Keccak256(ints[i][:], ints[i+1][:])
		}
	}
	return Keccak256(ints[0][:], ints[1][:])
}

func TestTreeHash(t *testing.T) {
	var leaves []Hash
	for n := 1; n <= 40; n++ {
		leaves = append(leaves, Keccak256([]byte{byte(n), 0x5a}))
		want := referenceTreeHash(leaves)
		if got := TreeHash(leaves); got != want {
			t.Fatalf("n=%d: %x, reference %x", n, got, want)
		}
		// The branch must reproduce the root for any leaf 0.
		other := Keccak256([]byte("other coinbase"))
		changed := append([]Hash{other}, leaves[1:]...)
		if got := rootFromBranch(other, merkleBranch(leaves)); got != referenceTreeHash(changed) {
			t.Fatalf("n=%d: branch root differs", n)
		}
	}
	if TreeHash(nil) != (Hash{}) {
		t.Fatal("empty tree")
	}
	// n = 3 spelled out: leaf 0 passes up unpaired.
	h := leaves[:3]
	pair := hashPair(&h[1], &h[2])
	if TreeHash(h) != Keccak256(h[0][:], pair[:]) {
		t.Fatal("n=3 shape")
	}
}
