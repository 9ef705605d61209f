package client

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"rxpool/stratum/proto"
)

// Job layout as xmrig 6.26 sees it (src/base/net/stratum/Job.h, Job.cpp).
const (
	NonceOffset = 39  // xmrig writes its 4-byte nonce here for RandomX
	NonceSize   = 4   // bytes
	MinBlobSize = 43  // NonceOffset + NonceSize
	MaxBlobSize = 408 // kMaxBlobSize: a blob must be strictly shorter
	SeedSize    = 32  // seed_hash bytes
)

// xmrig's parseJob failure codes ("login error code: N" / disconnect).
const (
	CodeNoSessionID = 1 // login result without a string "id"
	CodeNotObject   = 2 // job is not a JSON object
	CodeJobID       = 3 // job_id missing, empty or not a string
	CodeBlob        = 4 // blob not hex, odd length or outside [43, 408) bytes
	CodeTarget      = 5 // target not 8 or 16 hex digits
	CodeAlgo        = 6 // algo missing or not one this client mines
	CodeSeedHash    = 7 // seed_hash not 64 hex digits
)

// ErrDuplicateJob is wrapped by the JobError of a job equal to the previous
// one; xmrig logs "duplicate job received, reconnect" and disconnects.
var ErrDuplicateJob = errors.New("duplicate job received")

// JobError is a job xmrig would refuse: Code is xmrig's parseJob code
// (CodeNotObject..CodeSeedHash), or 0 with Duplicate set for a repeat of
// the current job. Either way xmrig closes the connection.
type JobError struct {
	Code      int
	Reason    string
	Duplicate bool
	Job       *proto.Job // the fields as far as they could be read; never nil
}

func (e *JobError) Error() string {
	if e.Duplicate {
		return fmt.Sprintf("%v: job_id %q (xmrig reconnects)", ErrDuplicateJob, e.Job.JobID)
	}
	return fmt.Sprintf("job error code %d: %s", e.Code, e.Reason)
}

// Unwrap lets errors.Is(err, ErrDuplicateJob) find duplicates.
func (e *JobError) Unwrap() error {
	if e.Duplicate {
		return ErrDuplicateJob
	}
	return nil
}

func jobErr(j *proto.Job, code int, format string, args ...any) *JobError {
	return &JobError{Code: code, Reason: fmt.Sprintf(format, args...), Job: j}
}

// Work is a job decoded as xmrig decodes it.
type Work struct {
	Job      *proto.Job
	Blob     []byte
	Target64 uint64   // a hash h is a share iff LE64(h[24:32]) < Target64
	Diff     uint64   // xmrig's difficulty: 0xFFFFFFFFFFFFFFFF / Target64
	Seed     [32]byte // RandomX key
	// NiceHash is set when the blob's nonce bytes are not zero: xmrig then
	// keeps blob[42] (the nonce's top byte) and iterates only 24 bits.
	NiceHash bool
}

// DecodeJob checks j with xmrig's parseJob rules in xmrig's order and
// decodes it. Errors are *JobError. Only rx/0 is accepted as algo: it is
// all rxpool mines and all rxminer hashes.
func DecodeJob(j *proto.Job) (*Work, error) {
	if j == nil {
		return nil, jobErr(&proto.Job{}, CodeNotObject, "job is null")
	}
	if j.JobID == "" {
		return nil, jobErr(j, CodeJobID, "job_id is missing or empty")
	}
	w := &Work{Job: j}
	switch n := len(j.Blob); {
	case n%2 != 0:
		return nil, jobErr(j, CodeBlob, "blob has odd length %d", n)
	case n/2 < MinBlobSize || n/2 >= MaxBlobSize:
		return nil, jobErr(j, CodeBlob, "blob is %d bytes, want at least %d and less than %d", n/2, MinBlobSize, MaxBlobSize)
	}
	blob, err := hex.DecodeString(j.Blob)
	if err != nil {
		return nil, jobErr(j, CodeBlob, "blob is not hex: %v", err)
	}
	w.Blob = blob
	w.NiceHash = binary.LittleEndian.Uint32(blob[NonceOffset:]) != 0
	if w.Target64, err = DecodeTarget(j.Target); err != nil {
		return nil, jobErr(j, CodeTarget, "%v", err)
	}
	w.Diff = Difficulty(w.Target64)
	if j.Algo != proto.Algo {
		return nil, jobErr(j, CodeAlgo, "algo %q, want %q", j.Algo, proto.Algo)
	}
	if len(j.SeedHash) != 2*SeedSize {
		return nil, jobErr(j, CodeSeedHash, "seed_hash has %d hex digits, want %d", len(j.SeedHash), 2*SeedSize)
	}
	if _, err := hex.Decode(w.Seed[:], []byte(j.SeedHash)); err != nil {
		return nil, jobErr(j, CodeSeedHash, "seed_hash is not hex: %v", err)
	}
	return w, nil
}

// ValidateJob reports whether xmrig would parse j; the error is a *JobError.
func ValidateJob(j *proto.Job) error {
	_, err := DecodeJob(j)
	return err
}

// DecodeTarget decodes a stratum target exactly as xmrig's Job::setTarget:
// 8 hex digits are a little-endian uint32 t32 and give
// 0xFFFFFFFFFFFFFFFF / (0xFFFFFFFF / t32); 16 hex digits are the
// little-endian uint64 target itself. A zero target is refused: xmrig
// would divide by zero (8 digits) or never find a share (16 digits).
func DecodeTarget(target string) (uint64, error) {
	raw, err := hex.DecodeString(target)
	if err != nil {
		return 0, fmt.Errorf("target %q is not hex", target)
	}
	var t64 uint64
	switch len(raw) {
	case 4:
		t32 := uint64(binary.LittleEndian.Uint32(raw))
		if t32 == 0 {
			return 0, fmt.Errorf("target %q is zero", target)
		}
		t64 = ^uint64(0) / (0xFFFFFFFF / t32)
	case 8:
		t64 = binary.LittleEndian.Uint64(raw)
	default:
		return 0, fmt.Errorf("target %q has %d hex digits, want 8 or 16", target, len(target))
	}
	if t64 == 0 {
		return 0, fmt.Errorf("target %q is zero", target)
	}
	return t64, nil
}

// JobTarget64 is j's target as xmrig uses it (see DecodeTarget).
func JobTarget64(j *proto.Job) (uint64, error) { return DecodeTarget(j.Target) }

// JobDifficulty is the difficulty xmrig shows for j: 0xFFFFFFFFFFFFFFFF /
// target64 (Job.h toDiff).
func JobDifficulty(j *proto.Job) (uint64, error) {
	t, err := JobTarget64(j)
	if err != nil {
		return 0, err
	}
	return Difficulty(t), nil
}

// Difficulty is 0xFFFFFFFFFFFFFFFF / target64, 0 for a zero target.
func Difficulty(target64 uint64) uint64 {
	if target64 == 0 {
		return 0
	}
	return ^uint64(0) / target64
}

// HashValue64 is the part of a RandomX hash xmrig compares with the
// target: bytes 24..31 as a little-endian uint64.
func HashValue64(hash *[32]byte) uint64 { return binary.LittleEndian.Uint64(hash[24:]) }

// MeetsTarget is xmrig's share test: LE64(hash[24:32]) < target64.
func MeetsTarget(hash *[32]byte, target64 uint64) bool { return HashValue64(hash) < target64 }

// sameJob is xmrig's Job::isEqual for two jobs on one session: job_id,
// blob bytes and target64 equal. Both jobs have passed DecodeJob.
func sameJob(a, b *proto.Job) bool {
	if a.JobID != b.JobID || !strings.EqualFold(a.Blob, b.Blob) {
		return false
	}
	ta, _ := DecodeTarget(a.Target)
	tb, _ := DecodeTarget(b.Target)
	return ta == tb
}

// jobFields are a job's members as raw JSON, so a member of the wrong type
// gives xmrig's code for that member instead of a generic decode error.
type jobFields struct {
	JobID    json.RawMessage `json:"job_id"`
	Blob     json.RawMessage `json:"blob"`
	Target   json.RawMessage `json:"target"`
	Algo     json.RawMessage `json:"algo"`
	Height   json.RawMessage `json:"height"`
	SeedHash json.RawMessage `json:"seed_hash"`
}

// parseJob decodes and checks a job object from the wire (a job
// notification's params, a login result's job or a getjob result).
func parseJob(raw json.RawMessage) (*proto.Job, *JobError) {
	j := &proto.Job{}
	var f jobFields
	if !isObject(raw) || json.Unmarshal(raw, &f) != nil {
		return j, jobErr(j, CodeNotObject, "job is not a JSON object: %.80s", raw)
	}
	fields := []struct {
		raw  json.RawMessage
		dst  *string
		code int
		name string
	}{
		{f.JobID, &j.JobID, CodeJobID, "job_id"},
		{f.Blob, &j.Blob, CodeBlob, "blob"},
		{f.Target, &j.Target, CodeTarget, "target"},
		{f.Algo, &j.Algo, CodeAlgo, "algo"},
		{f.SeedHash, &j.SeedHash, CodeSeedHash, "seed_hash"},
	}
	// A member of the wrong type stays empty, so DecodeJob fails on it in
	// xmrig's order; only the reason is replaced by the type complaint.
	typeErrs := map[int]string{}
	for _, fl := range fields {
		if len(fl.raw) > 0 && json.Unmarshal(fl.raw, fl.dst) != nil {
			*fl.dst = ""
			typeErrs[fl.code] = fmt.Sprintf("%s is not a string: %.40s", fl.name, fl.raw)
		}
	}
	// xmrig reads height with a default (Json::getUint64), so a bad height
	// is not an error.
	j.Height, _ = strconv.ParseUint(string(f.Height), 10, 64)
	if _, err := DecodeJob(j); err != nil {
		je := err.(*JobError)
		if r, ok := typeErrs[je.Code]; ok {
			je.Reason = r
		}
		return j, je
	}
	return j, nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}
