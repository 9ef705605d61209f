package cryptonote

import "golang.org/x/crypto/sha3"

// Hash is a 32-byte CryptoNote hash (cn_fast_hash output, block id, txid).
type Hash = [32]byte

// Keccak256 is cn_fast_hash: legacy Keccak-256 (original padding, not
// SHA3-256) of the concatenation of parts.
func Keccak256(parts ...[]byte) (out Hash) {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	h.Sum(out[:0])
	return out
}

// hashPair is H(a ‖ b), the tree hash node function.
func hashPair(a, b *Hash) Hash {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return Keccak256(buf[:])
}

// treeSplit returns cnt, the largest power of two strictly below n (n ≥ 2):
// the width of the perfect tree that the first level of pairing feeds.
func treeSplit(n int) int {
	cnt := 1
	for cnt*2 < n {
		cnt *= 2
	}
	return cnt
}

// TreeHash is the CryptoNote Merkle root of hashes (miner txid first, then
// the block's tx hashes). The first 2·cnt−n leaves pass to the second level
// unpaired, so any count works, not only powers of two. An empty list gives
// the zero hash.
func TreeHash(hashes []Hash) Hash {
	switch len(hashes) {
	case 0:
		return Hash{}
	case 1:
		return hashes[0]
	}
	return rootFromBranch(hashes[0], merkleBranch(hashes))
}

// merkleBranch returns the siblings on the path from leaf 0 to the root, in
// bottom-up order. Leaf 0 is always a left child (or passes up unpaired), so
// the root is H(…H(H(leaf0 ‖ b0) ‖ b1)… ‖ bk) and a new leaf 0 needs only
// len(branch) hashes.
func merkleBranch(hashes []Hash) (branch []Hash) {
	n := len(hashes)
	if n < 2 {
		return nil
	}
	cnt := treeSplit(n)
	level := make([]Hash, cnt)
	unpaired := 2*cnt - n
	copy(level, hashes[:unpaired])
	for i, j := unpaired, unpaired; j < cnt; i, j = i+2, j+1 {
		if i == 0 {
			// Leaf 0 is paired with leaf 1; its parent slot is filled below.
			branch = append(branch, hashes[1])
			continue
		}
		level[j] = hashPair(&hashes[i], &hashes[i+1])
	}
	for ; cnt >= 2; cnt /= 2 {
		branch = append(branch, level[1])
		for j := 1; j < cnt/2; j++ {
			level[j] = hashPair(&level[2*j], &level[2*j+1])
		}
	}
	return branch
}

// rootFromBranch climbs from leaf 0 to the root.
func rootFromBranch(leaf Hash, branch []Hash) Hash {
	for i := range branch {
		leaf = hashPair(&leaf, &branch[i])
	}
	return leaf
}

// BlockID is the block hash: H(varint(len(blob)) ‖ blob) of the hashing
// blob, because the daemons hash the blob as a length-prefixed string.
func BlockID(hashingBlob []byte) Hash {
	var lenBuf [MaxVarintLen]byte
	return Keccak256(AppendVarint(lenBuf[:0], uint64(len(hashingBlob))), hashingBlob)
}
