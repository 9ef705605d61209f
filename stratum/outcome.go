package stratum

import "rxpool/stratum/proto"

// Outcome is the pool's answer to a miner's request: mostly what became of
// a submitted share, also the fixed refusals of logins and connections.
// The wire message, the metrics label, whether storage records it as a
// rejection and how it counts for banning all derive from it (outcomes).
type Outcome uint8

// The outcomes. The zero value is none of them (labelled "other").
const (
	_ Outcome = iota
	Accepted
	AcceptedStale // for the previous tip, within the grace window
	AcceptedBlock // and a block candidate: submitted to the daemon(s)
	InvalidJob
	Expired // one of the connection's jobs, aged out or past the grace window
	BadNonce
	NiceHashNonce // a nonce outside the connection's byte on a NiceHash port
	BadResult
	Duplicate
	LowDifficulty // the claimed result does not meet the job's difficulty
	WrongResult   // the claimed result is not the share's hash
	Busy          // not checked: the verifier's queue is full
	StorageDown   // valid, but storage cannot take it
	Banned
	Unauthenticated
	ForeignSession // a submit naming another session's id
	// Refusals outside submit.
	Malformed
	LineTooLong
	InvalidMethod
	NoAlgo
	NiceHashFull
	InvalidAddress
	TooManyConns
	outcomeCount
)

// banVote is how an outcome counts for its IP's ban (banList.record).
type banVote uint8

const (
	notCounted    banVote = iota // not judged: the share was refused before
	countsValid                  // honest miners get these too (stale, duplicate)
	countsInvalid                // invalid work
)

// outcomes is the one table of what each outcome means.
var outcomes = [outcomeCount]struct {
	msg    string  // the error text sent; "" for an accepted share
	label  string  // rxpool_shares_rejected_total's reason; "" for none
	reject bool    // storage records it as a rejection (Sink.Reject)
	ban    banVote // how it counts towards a ban
	// malice: proof that the sender is not a miner (no honest miner sends
	// it): the connection is closed and the IP banned at once, whether
	// ratio banning is enabled or not.
	malice bool
}{
	0:               {label: "other"},
	Accepted:        {ban: countsValid},
	AcceptedStale:   {ban: countsValid},
	AcceptedBlock:   {ban: countsValid},
	InvalidJob:      {proto.ErrMsgInvalidJobID, "invalid_job", true, countsValid, false},
	Expired:         {proto.ErrMsgBlockExpired, "block_expired", true, countsValid, false},
	BadNonce:        {proto.ErrMsgInvalidNonce, "invalid_nonce", true, countsInvalid, true},
	NiceHashNonce:   {proto.ErrMsgNiceHashNonce, "nicehash_nonce", true, countsInvalid, false},
	BadResult:       {proto.ErrMsgInvalidResult, "invalid_result", true, countsInvalid, true},
	Duplicate:       {proto.ErrMsgDuplicateShare, "duplicate", true, countsValid, false},
	LowDifficulty:   {proto.ErrMsgLowDifficulty, "low_difficulty", true, countsInvalid, false},
	WrongResult:     {proto.ErrMsgWrongResult, "wrong_result", true, countsInvalid, true},
	Busy:            {proto.ErrMsgBusy, "busy", false, notCounted, false},
	StorageDown:     {proto.ErrMsgStorageDown, "storage_down", false, countsValid, false},
	Banned:          {proto.ErrMsgBanned, "banned", false, notCounted, false},
	Unauthenticated: {proto.ErrMsgUnauthenticated, "unauthenticated", false, notCounted, false},
	ForeignSession:  {proto.ErrMsgForeignSession, "foreign_session", true, countsInvalid, true},
	Malformed:       {proto.ErrMsgParse, "malformed", false, notCounted, false},
	LineTooLong:     {proto.ErrMsgLineTooLong, "line_too_long", false, notCounted, false},
	InvalidMethod:   {proto.ErrMsgInvalidMethod, "invalid_method", false, notCounted, false},
	NoAlgo:          {proto.ErrMsgNoAlgo, "no_algo", false, notCounted, false},
	NiceHashFull:    {proto.ErrMsgNiceHashFull, "nicehash_full", false, notCounted, false},
	InvalidAddress:  {proto.ErrMsgInvalidAddrPrefix, "invalid_address", false, notCounted, false},
	TooManyConns:    {proto.ErrMsgTooManyConns, "too_many_connections", false, notCounted, false},
}

// Message is the error text the miner gets ("" for an accepted share).
func (o Outcome) Message() string { return outcomes[o].msg }

// Label is the outcome's value of the metrics label "reason" ("" for an
// accepted share).
func (o Outcome) Label() string { return outcomes[o].label }

// Invalid reports whether the outcome is invalid work (a miner's
// statistics count it as invalid, not merely rejected).
func (o Outcome) Invalid() bool { return outcomes[o].ban == countsInvalid }

// againstBan reports whether a judged share counts against its sender in
// ratio banning: every refused one, not only invalid work (a wrong job, a
// duplicate, an expired job too). Honest miners send few of those, far
// below banning.invalidPercent, and an attacker must find no kind of junk
// that costs it nothing; Busy counts for sessions without accepted work
// (the caller decides), StorageDown never (the pool's fault).
func (o Outcome) againstBan() bool { return !o.accepted() && o != StorageDown }

// Malice reports whether the outcome proves the sender is no honest miner
// (closed and banned at once).
func (o Outcome) Malice() bool { return outcomes[o].malice }

// accepted reports whether the share was accepted (and is to be recorded).
func (o Outcome) accepted() bool { return o >= Accepted && o <= AcceptedBlock }

// Outcomes lists every outcome, the zero one ("other") included, for
// metrics to create each series up front.
func Outcomes() []Outcome {
	out := make([]Outcome, outcomeCount)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}
