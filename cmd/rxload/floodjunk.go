package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"filippo.io/edwards25519"

	"rxpool/cryptonote"
	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// Junk shares for `rxload flood`: each kind is something no honest miner
// sends, chosen for what it costs the pool if nothing refuses it early.

// junkKind is one kind of junk share.
type junkKind uint8

const (
	junkWrongResult junkKind = iota // claims a result meeting the target: a hash to find it false
	junkLowDiff                     // a result below the job's difficulty: refused before hashing
	junkFakeBlock                   // claims a result meeting any network difficulty
	junkBadJob                      // a job id the pool never sent
	junkKinds
)

var junkNames = [junkKinds]string{"wrong-result", "low-diff", "fake-block", "bad-job"}

func (k junkKind) String() string { return junkNames[k] }

// parseJunkKinds reads -kind: one kind, or mixed (every kind in turn).
func parseJunkKinds(s string) ([]junkKind, error) {
	if s == "mixed" {
		return []junkKind{junkWrongResult, junkLowDiff, junkFakeBlock, junkBadJob}, nil
	}
	for k, name := range junkNames {
		if s == name {
			return []junkKind{junkKind(k)}, nil
		}
	}
	return nil, usagef("-kind %q: want %s or mixed", s, strings.Join(junkNames[:], ", "))
}

// junkShare is one share to send, in the hex the wire carries.
type junkShare struct {
	kind                 junkKind
	jobID, nonce, result string
}

// makeJunk builds share number i of kind for job j. Nonces are distinct
// per i (a repeated nonce would only be a cheap "duplicate"); the result
// is random below the top bytes that decide the claim:
//   - wrong-result: a hash difficulty between the job's and twice it,
//     computed as precompute's strictDiff so the pool's 256-bit test
//     passes whatever the target's width, and no block;
//   - low-diff: the largest value, which meets no difficulty above 1;
//   - fake-block: the top 16 bytes zero, meeting any network difficulty
//     below 2^128;
//   - bad-job: a job id the pool never issued (result as wrong-result).
func makeJunk(kind junkKind, j *proto.Job, w *client.Work, i uint64) (junkShare, error) {
	s := junkShare{kind: kind, jobID: j.JobID}
	var nonce [4]byte
	binary.LittleEndian.PutUint32(nonce[:], nonceAt(w, i))
	s.nonce = hex.EncodeToString(nonce[:])
	var result [32]byte
	if _, err := rand.Read(result[:]); err != nil {
		return s, err
	}
	top := binary.LittleEndian.Uint64(result[24:])
	switch kind {
	case junkWrongResult, junkBadJob:
		d, err := strictDiff(j.Target)
		if err != nil {
			return s, err
		}
		hi := ^uint64(0) / d // a value below hi<<192 meets difficulty d
		top = hi/2 + top%max(hi-hi/2, 1)
		if kind == junkBadJob {
			s.jobID = fmt.Sprintf("junk%08x", i)
		}
	case junkLowDiff:
		top = ^uint64(0)
	case junkFakeBlock:
		top = 0
		clear(result[16:24])
	}
	binary.LittleEndian.PutUint64(result[24:], top)
	s.result = hex.EncodeToString(result[:])
	return s, nil
}

// coinOf finds the coin whose address s is.
func coinOf(s string) (*cryptonote.Address, error) {
	var first error
	for _, c := range []*cryptonote.Coin{cryptonote.Monero, cryptonote.Pastella} {
		a, err := c.ParseAddress(s)
		if err == nil {
			return a, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// freshAddresses makes n valid standard addresses of like's coin and
// network from random keys: free for anyone to make, which is what an
// address-spraying attacker relies on.
func freshAddresses(like *cryptonote.Address, n int) ([]string, error) {
	point := func() ([32]byte, error) {
		var seed [64]byte
		if _, err := rand.Read(seed[:]); err != nil {
			return [32]byte{}, err
		}
		s, err := edwards25519.NewScalar().SetUniformBytes(seed[:])
		if err != nil {
			return [32]byte{}, err
		}
		return [32]byte(new(edwards25519.Point).ScalarBaseMult(s).Bytes()), nil
	}
	out := make([]string, 0, n)
	for range n {
		spend, err := point()
		if err != nil {
			return nil, err
		}
		view, err := point()
		if err != nil {
			return nil, err
		}
		a, err := like.Coin.NewAddress(like.Network, cryptonote.AddressStandard, spend, view, [8]byte{})
		if err != nil {
			return nil, err
		}
		out = append(out, a.Text)
	}
	return out, nil
}
