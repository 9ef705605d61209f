package client

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"rxpool/cryptonote"
	"rxpool/stratum/proto"
)

func TestTargetDecoding(t *testing.T) {
	// §1.12: pool diff 10000 is "b88d0600"; xmrig makes target64
	// 1844674407370955 and diff 10000 of it. field-notes: the 8-byte
	// "5c8fc2f5285c8f02" is (2^64−1)/100.
	if got := cryptonote.TargetHex(10000); got != "b88d0600" {
		t.Fatalf("TargetHex(10000) = %s", got)
	}
	cases := []struct {
		target   string
		target64 uint64
		diff     uint64
	}{
		{"b88d0600", 1844674407370955, 10000},
		{"5c8fc2f5285c8f02", 0x028f5c28f5c28f5c, 100},
		{"ffffffff", ^uint64(0), 1},
		{"ffffff7f", ^uint64(0) / 2, 2},
		{"0100000000000000", 1, ^uint64(0)},
	}
	for _, tc := range cases {
		j := &proto.Job{Target: tc.target}
		t64, err := JobTarget64(j)
		d, _ := JobDifficulty(j)
		if err != nil || t64 != tc.target64 || d != tc.diff {
			t.Errorf("%s: target64 %d diff %d err %v; want %d, %d", tc.target, t64, d, err, tc.target64, tc.diff)
		}
	}
	// Whatever difficulty the pool asks for, xmrig's is at least that.
	for _, d := range []uint64{1, 2, 3, 100, 999, 10000, 123456, 1 << 31, 1<<32 - 1, 1 << 32, 1 << 40, ^uint64(0)} {
		if got, err := JobDifficulty(&proto.Job{Target: cryptonote.TargetHex(d)}); err != nil || got < d {
			t.Errorf("diff %d: xmrig sees %d (%v)", d, got, err)
		}
	}
	for _, bad := range []string{"", "b88d06", "b88d0600ff", "zz8d0600", "00000000", "0000000000000000", strings.Repeat("f", 32)} {
		if _, err := DecodeTarget(bad); err == nil {
			t.Errorf("target %q accepted", bad)
		}
	}
}

func TestMeetsTarget(t *testing.T) {
	var h [32]byte
	h[31] = 0x40 // LE64(h[24:32]) = 0x4000000000000000
	if !MeetsTarget(&h, 0x4000000000000001) || MeetsTarget(&h, 0x4000000000000000) {
		t.Fatal("boundary")
	}
	if HashValue64(&h) != 0x4000000000000000 || Difficulty(0) != 0 {
		t.Fatal("helpers")
	}
}

func TestDecodeJob(t *testing.T) {
	good := func() *proto.Job {
		return &proto.Job{Blob: realBlob, JobID: "1", Target: "b88d0600", Algo: "rx/0", Height: 1, SeedHash: realSeed}
	}
	w, err := DecodeJob(good())
	if err != nil || len(w.Blob) != 76 || w.Target64 != 1844674407370955 || w.Diff != 10000 || w.NiceHash || w.Seed[0] != 0x41 {
		t.Fatalf("good job: %+v %v", w, err)
	}
	nonzeroNonce := []byte(realBlob)
	copy(nonzeroNonce[2*NonceOffset+6:], "ab")
	hexN := func(n int) string { return strings.Repeat("00", n) }
	cases := []struct {
		name string
		edit func(*proto.Job)
		code int
	}{
		{"no job_id", func(j *proto.Job) { j.JobID = "" }, CodeJobID},
		{"odd blob", func(j *proto.Job) { j.Blob += "0" }, CodeBlob},
		{"short blob", func(j *proto.Job) { j.Blob = hexN(42) }, CodeBlob},
		{"long blob", func(j *proto.Job) { j.Blob = hexN(408) }, CodeBlob},
		{"non-hex blob", func(j *proto.Job) { j.Blob = "zz" + j.Blob[2:] }, CodeBlob},
		{"no target", func(j *proto.Job) { j.Target = "" }, CodeTarget},
		{"6-hex target", func(j *proto.Job) { j.Target = "b88d06" }, CodeTarget},
		{"no algo", func(j *proto.Job) { j.Algo = "" }, CodeAlgo},
		{"other algo", func(j *proto.Job) { j.Algo = "cn/r" }, CodeAlgo},
		{"short seed", func(j *proto.Job) { j.SeedHash = j.SeedHash[:62] }, CodeSeedHash},
		{"non-hex seed", func(j *proto.Job) { j.SeedHash = "x" + j.SeedHash[1:] }, CodeSeedHash},
		{"two faults: first wins", func(j *proto.Job) { j.SeedHash, j.Blob = "", "" }, CodeBlob},
	}
	for _, tc := range cases {
		j := good()
		tc.edit(j)
		var je *JobError
		if err := ValidateJob(j); !errors.As(err, &je) || je.Code != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
	// Sizes at the limits pass; non-zero nonce bytes mean nicehash.
	for _, n := range []int{43, 407} {
		j := good()
		j.Blob = hexN(n)
		if err := ValidateJob(j); err != nil {
			t.Errorf("%d-byte blob: %v", n, err)
		}
	}
	j := good()
	j.Blob = string(nonzeroNonce)
	if w, err := DecodeJob(j); err != nil || !w.NiceHash {
		t.Errorf("nicehash blob: %+v %v", w, err)
	}
}

// Wrong JSON types get xmrig's code for the member, in xmrig's order.
func TestParseJobTypes(t *testing.T) {
	cases := map[string]int{
		`"not an object"`: CodeNotObject,
		`null`:            CodeNotObject,
		`{"job_id":5,"blob":"` + realBlob + `","target":"b88d0600","algo":"rx/0","seed_hash":"` + realSeed + `"}`:                CodeJobID,
		`{"job_id":"5","blob":7,"target":8,"algo":"rx/0","seed_hash":"` + realSeed + `"}`:                                        CodeBlob,
		`{"job_id":"5","blob":"` + realBlob + `","target":"b88d0600","algo":"rx/0","seed_hash":["x"]}`:                           CodeSeedHash,
		`{"job_id":"5","blob":"` + realBlob + `","target":"b88d0600","algo":"rx/0","seed_hash":"` + realSeed + `","height":"x"}`: 0,
	}
	for raw, code := range cases {
		j, je := parseJob(json.RawMessage(raw))
		switch {
		case code == 0 && je != nil:
			t.Errorf("%s: %v", raw, je)
		case code != 0 && (je == nil || je.Code != code):
			t.Errorf("%.60s: %v, want code %d", raw, je, code)
		case j == nil:
			t.Errorf("%s: nil job", raw)
		}
	}
}

func TestLatencyPercentiles(t *testing.T) {
	l := NewLatency()
	if st := l.Stats(); st.Count != 0 || st.P99 != 0 {
		t.Fatalf("empty %+v", st)
	}
	for i := 1; i <= 100; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	st := l.Stats()
	if st.Count != 100 || st.P50 != 50*time.Millisecond || st.P90 != 90*time.Millisecond || st.P99 != 99*time.Millisecond ||
		st.Max != 100*time.Millisecond || st.Mean != 50500*time.Microsecond {
		t.Fatalf("%+v", st)
	}
	for range latencyReservoir {
		l.Record(time.Second)
	}
	if st := l.Stats(); st.Samples != latencyReservoir || st.Count != 100+latencyReservoir || st.P50 != time.Second {
		t.Fatalf("reservoir %+v", st)
	}
}

func FuzzParseJob(f *testing.F) {
	f.Add([]byte(realJob))
	f.Add([]byte(`{"job_id":"1","blob":"00","target":"00000000"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		j, je := parseJob(raw)
		if je == nil {
			if _, err := DecodeJob(j); err != nil {
				t.Fatalf("parsed but invalid: %v", err)
			}
		}
	})
}
