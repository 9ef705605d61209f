package stratum

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/randomx"
)

// sharePipeline judges the shares miners submit. A share goes through, in
// order, stopping at the first step that refuses it:
//
//  0. session: a submit naming another session's id (ForeignSession)
//  1. job: one of the connection's recent jobs (else InvalidJob, or Expired
//     for one that aged out)
//  2. nonce: 8 hex digits, on a NiceHash port with the connection's top
//     byte (BadNonce, NiceHashNonce); result: 64 hex digits (BadResult)
//  3. stale: a job of a replaced tip counts only within the grace window
//     (Expired); each nonce counts once per job (Duplicate)
//  4. claimed difficulty: the claimed result meets the job's difficulty,
//     checked before a hash is spent on it (LowDifficulty)
//  5. verify: the RandomX hash on the verifier's workers, equal to the
//     claimed result (WrongResult). A possible block goes to the priority
//     lane only from a session with accepted work (submission.earned); a
//     session without any has at most strangerSlots shares in verification
//     pool-wide and strangerGroupSlots per address, beyond which it is
//     answered Busy at once, so a flood from new sessions cannot fill the
//     queue that honest miners' shares use (Busy also when the queue is full)
//  6. block: a hash meeting the network difficulty is submitted to the
//     daemon(s) in the background (AcceptedBlock)
//  7. record: an accepted share goes to the sink (StorageDown when storage
//     cannot take it) and makes its address known (knownMiners); a refused
//     one goes as a rejection, marked Stranger when its address is not
//     known, so storage keeps nothing per miner for it
//  8. ban accounting: proof of malice (Outcome.Malice: a wrong result, a
//     malformed nonce or result, another session's id) bans the address at
//     once; otherwise every judged share counts for its address's ratio,
//     every refused one against it (Busy only for an address holding its
//     own verification slots), and
//     the refused share that gets it banned is answered Banned; a session
//     without accepted work is banned at its strangerJunkMax-th refusal
//     (with banning on). A ban ends
//     every session of the address, in every stratum process (Server.banned)
//
// The caller's goroutine waits for the hash, so one connection's shares are
// judged in order: a connection has at most one share in verification.
type sharePipeline struct {
	hasher Hasher
	blocks *blockSubmitter
	sink   Sink
	bans   *banList
	grace  time.Duration // how long shares of a replaced tip still count
	log    logrus.FieldLogger

	// Set by begin.
	known *knownMiners
	// earners are the (address, address group) pairs with an accepted
	// share: a miner reconnecting from where it mined starts earned
	// (session.login), so a network blip or a restart of its proxy during
	// a junk flood does not put it behind strangers. Addresses are public,
	// source addresses are not: nobody else can claim the pair.
	earners   *knownMiners
	strangers *strangerBudget // verification slots of sessions without accepted work

	// Set by begin before the first connection is served.
	ctx  context.Context // Run's; block submissions keep its values
	work context.Context // bounds verification, outliving ctx by ShutdownGrace
}

// submission is one parsed submit request of a logged-in miner.
type submission struct {
	miner     *Miner
	ip        string
	group     string   // addrGroup(ip)
	jobs      *jobRing // the connection's recent jobs
	nonceByte byte     // the connection's nonce top byte (0: not a NiceHash port)
	earned    bool     // the session has had a share accepted
	hoarding  bool     // Busy because the address's own shares hold its verification slots
	junk      *int     // the session's refused requests so far (session.junk)
	foreign   bool     // the submit named another session's id
	jobID     string
	nonce     string // hex, as sent
	result    string // hex, as sent
	at        time.Time
}

// begin hands the pipeline the server's contexts (see Server.Run).
func (p *sharePipeline) begin(ctx, work context.Context) {
	p.ctx, p.work = ctx, work
	p.known = newKnownMiners(knownMinersMax)
	p.earners = newKnownMiners(knownMinersMax)
	p.strangers = newStrangerBudget()
}

// strangerSlots is how many shares of sessions without accepted work may be
// in verification at once, pool-wide: an honest miner's share waits behind
// at most that many of theirs. Honest newcomers are few at a time (about
// one share each per vardiff target time), so they rarely meet the limit,
// even after a restart when every miner is new.
const strangerSlots = 32

// submit runs s through the pipeline. It returns the outcome and, for an
// accepted share, the job difficulty it was credited with (for vardiff).
func (p *sharePipeline) submit(s *submission) (Outcome, uint64) {
	share, o := p.judge(s) // steps 1–6
	if share != nil {
		o = p.record(s, share, o) // step 7
	} else if outcomes[o].reject {
		p.sink.Reject(&Rejection{Address: s.miner.Address.Text, Worker: s.miner.Worker, IP: s.ip,
			Outcome: o, Reason: o.Message(), Invalid: o.Invalid(), Time: time.Now(),
			Stranger: !p.known.has(s.miner.Address.Text)})
	}
	// Step 8. Malice is answered with its own message; the session closes.
	if o.Malice() {
		p.bans.malice(s.group, o)
		return o, 0
	}
	// Every judged share counts for the ratio, a refused one against its
	// sender (Outcome.againstBan), Busy only from a session without
	// accepted work. A ban closes every session of the address (Server.
	// banned); a valid share that tips the ratio is still answered.
	counted := outcomes[o].ban != notCounted || (o == Busy && s.hoarding)
	if counted && p.bans.record(s.group, o.againstBan()) && !o.accepted() {
		return Banned, 0
	}
	// A session without accepted work gets strangerJunkMax refusals.
	if counted && !s.earned && o.againstBan() {
		*s.junk++
		if p.bans.strangerJunk(s.group, *s.junk) {
			return Banned, 0
		}
	}
	if !o.accepted() {
		return o, 0
	}
	return o, share.Difficulty
}

// judge runs steps 1 to 6; for an accepted share it returns what is to be
// recorded.
func (p *sharePipeline) judge(s *submission) (*Share, Outcome) {
	if s.foreign {
		return nil, ForeignSession
	}
	job, o := s.jobs.find(s.jobID)
	if job == nil {
		return nil, o
	}
	var nonce [4]byte
	var result [32]byte
	switch {
	case len(s.nonce) != 8 || !decodeHex(nonce[:], s.nonce):
		return nil, BadNonce
	case s.nonceByte != 0 && nonce[3] != s.nonceByte:
		return nil, NiceHashNonce
	case len(s.result) != 64 || !decodeHex(result[:], s.result):
		return nil, BadResult
	}
	t := job.template
	staleAt := t.staleAt()
	stale := staleAt != 0
	if stale && s.at.Sub(time.Unix(0, staleAt)) > p.grace {
		return nil, Expired
	}
	n := binary.LittleEndian.Uint32(nonce[:])
	if !job.firstSubmit(n) {
		return nil, Duplicate
	}
	if !cryptonote.CheckHash(&result, job.diff) {
		return nil, LowDifficulty // a lie is caught by the verification
	}
	// A claimed block is only a claim until hashed: it earns the priority
	// lane only from a session with accepted work, and a false claim is a
	// wrong result (malice).
	isBlock := !stale && cryptonote.CheckHashWide(&result, t.netDiff)
	hash, o := p.verify(s, job, nonce, isBlock && s.earned)
	if o != 0 {
		return nil, o
	}
	if hash != result {
		return nil, WrongResult
	}
	o = Accepted
	if stale {
		o = AcceptedStale
	}
	if isBlock {
		p.blocks.start(p.ctx, job, nonce, s.miner)
		o = AcceptedBlock
	}
	return &Share{
		Address: s.miner.Address.Text, Worker: s.miner.Worker, Scheme: s.miner.Scheme, IP: s.ip,
		Difficulty: job.diff, HashDiff: cryptonote.HashDifficulty(&hash), Height: t.height,
		Stale: stale, Time: s.at,
	}, o
}

// verify hashes job's blob with nonce (step 5); a share not hashed may be
// sent again.
func (p *sharePipeline) verify(s *submission, job *Job, nonce [4]byte, priority bool) ([32]byte, Outcome) {
	if !s.earned {
		g := s.group
		if ok, own := p.strangers.take(g); !ok {
			// Busy counts against the address only when its own shares
			// hold its slots; a full pool-wide budget is others' doing,
			// and an honest newcomer must not be banned for it.
			s.hoarding = own
			job.forget(binary.LittleEndian.Uint32(nonce[:]))
			return [32]byte{}, Busy
		}
		defer p.strangers.give(g)
	}
	blob := slices.Clone(job.blob)
	copy(blob[job.template.block.NonceOffset():], nonce[:])
	ctx, cancel := context.WithTimeout(p.work, 30*time.Second)
	defer cancel()
	hash, err := p.hasher.Hash(ctx, job.template.seed, blob, hashLane(priority, s.earned))
	if err != nil {
		job.forget(binary.LittleEndian.Uint32(nonce[:]))
		if !errors.Is(err, randomx.ErrQueueFull) {
			p.logger(s).Errorf("share verification: %v", err)
		}
		return hash, Busy
	}
	return hash, 0
}

// record hands an accepted share to the sink (step 7).
func (p *sharePipeline) record(s *submission, share *Share, o Outcome) Outcome {
	if err := p.sink.Share(share); err != nil {
		p.logger(s).Errorf("share not recorded: %v", err)
		return StorageDown
	}
	p.known.add(share.Address)
	p.earners.add(earnerKey(share.Address, s.group))
	return o
}

// earnerKey names an address mining from an address group (earners).
func earnerKey(addr, group string) string { return addr + " " + group }

// earnedBefore reports whether addr has had a share accepted from the
// address group in this process.
func (p *sharePipeline) earnedBefore(addr, group string) bool {
	return p.earners.has(earnerKey(addr, group))
}

func (p *sharePipeline) logger(s *submission) logrus.FieldLogger {
	return p.log.WithFields(minerFields(s.ip, s.miner))
}

// minerFields are the log fields naming a connection and its miner.
func minerFields(ip string, m *Miner) logrus.Fields {
	f := logrus.Fields{"ip": ip}
	if m != nil {
		f["miner"], f["worker"] = m.Address.Text, m.Worker
	}
	return f
}

func decodeHex(dst []byte, s string) bool {
	n, err := hex.Decode(dst, []byte(s)) // accepts either case
	return err == nil && n == len(dst)
}
