package stratum

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/daemon"
	"rxpool/randomx"
)

// Daemon is what the job manager needs from the coin daemon(s);
// daemon.Client (and daemon.Failover) implement it.
type Daemon interface {
	GetBlockTemplate(ctx context.Context, walletAddress string, reserveSize int) (*daemon.Template, error)
	SubmitBlock(ctx context.Context, blob []byte) error
	LastBlockHeader(ctx context.Context) (*daemon.BlockHeader, error)
	BlockHeaderByHeight(ctx context.Context, height uint64) (*daemon.BlockHeader, error)
}

// Hasher verifies shares; randomx.Verifier implements it. Hash answers
// randomx.ErrQueueFull at once when the share's lane is full.
type Hasher interface {
	Hash(ctx context.Context, seed [32]byte, blob []byte, lane randomx.Lane) ([32]byte, error)
	SetSeed(seed [32]byte) error
	PrepareSeed(next [32]byte) error
}

// hashLane is the verification lane of a share: a plausible block from a
// session with accepted work (block) first, then that session's other shares
// (earned), and shares of sessions without accepted work (strangers) only
// when no honest work waits.
func hashLane(block, earned bool) randomx.Lane {
	switch {
	case block:
		return randomx.LaneBlock
	case earned:
		return randomx.LaneEarned
	}
	return randomx.LaneStranger
}

// Extra nonce layout in the reserved space of the coinbase extra:
//
//	bytes 0..3  instance id, little-endian: distinguishes stratum processes
//	            sharing one Redis, so their jobs never collide
//	bytes 4..7  job counter, little-endian: unique per job of this process
//
// Every job therefore has its own coinbase, hashing blob and nonce space.
const reserveSize = 8

// blockTemplate is one daemon template prepared for jobs.
type blockTemplate struct {
	seq      uint64
	height   uint64
	prevHash [32]byte
	netDiff  cryptonote.WideDifficulty
	seed     [32]byte
	block    *cryptonote.Template // the daemon's template, parsed
	reward   uint64               // the pool's outputs in this template's coinbase
	txRoot   cryptonote.Hash
	fetched  time.Time
	// tip is shared by every template built on the same chain tip (a
	// template refreshed for new transactions keeps its predecessor's), so
	// when the tip moves, all their jobs go stale together.
	tip *tipState
}

// tipState is one chain tip as the pool saw it.
type tipState struct {
	// staleAt is when a newer tip replaced it (unix nanos; 0 while it is
	// current). Shares within the grace window after it are still
	// credited, never submitted as blocks.
	staleAt atomic.Int64
}

// staleAt is when the template's tip was replaced (0: it is current).
func (t *blockTemplate) staleAt() int64 { return t.tip.staleAt.Load() }

// Job is one job handed to one miner.
type Job struct {
	seq        uint64
	id         string
	template   *blockTemplate
	extraNonce [reserveSize]byte
	blob       []byte // hashing blob with a zero nonce
	diff       uint64 // share difficulty

	noncesMu sync.Mutex
	nonces   map[uint32]struct{} // submitted so far
}

// firstSubmit reports whether nonce is new for j, and remembers it.
func (j *Job) firstSubmit(nonce uint32) bool {
	j.noncesMu.Lock()
	defer j.noncesMu.Unlock()
	if j.nonces == nil {
		j.nonces = map[uint32]struct{}{}
	}
	_, dup := j.nonces[nonce]
	j.nonces[nonce] = struct{}{}
	return !dup
}

// forget lets nonce be submitted again (it was not checked).
func (j *Job) forget(nonce uint32) {
	j.noncesMu.Lock()
	delete(j.nonces, nonce)
	j.noncesMu.Unlock()
}

// jobsKept is how many recent jobs a connection remembers for submits.
const jobsKept = 8

// jobRing is one connection's recent jobs.
type jobRing struct {
	mu    sync.Mutex
	jobs  [jobsKept]*Job
	head  int
	first uint64 // seq of the connection's first job
}

// add remembers j, forgetting the oldest job.
func (r *jobRing) add(j *Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == 0 {
		r.first = j.seq
	}
	r.jobs[r.head] = j
	r.head = (r.head + 1) % jobsKept
}

// find returns the job with the given id, or why there is none: Expired
// when it is one of the connection's jobs that aged out (xmrig just counts
// it), InvalidJob otherwise (xmrig reconnects).
func (r *jobRing) find(jobID string) (*Job, Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oldest := uint64(0)
	for _, j := range r.jobs {
		if j == nil {
			continue
		}
		if j.id == jobID {
			return j, 0
		}
		if oldest == 0 || j.seq < oldest {
			oldest = j.seq
		}
	}
	if seq, err := strconv.ParseUint(jobID, 16, 64); err == nil && seq >= r.first && seq < oldest {
		return nil, Expired
	}
	return nil, InvalidJob
}

// jobManager polls the daemon for templates and mints jobs from them.
type jobManager struct {
	daemon      Daemon
	hasher      Hasher
	log         logrus.FieldLogger
	poolAddress string
	coinAddress *cryptonote.Address
	instanceID  uint32
	refresh     time.Duration // tip poll interval
	txRefresh   time.Duration // forced template refresh on an unchanged tip

	counter atomic.Uint32 // extra nonce job counter
	jobSeq  atomic.Uint64
	tmplSeq atomic.Uint64

	mu      sync.RWMutex
	current *blockTemplate
	seed    [32]byte
	hasSeed bool

	// onNetDiff receives the network difficulty of every template
	// published (the sink's SetNetworkDifficulty).
	onNetDiff  func(uint64)
	trigger    chan struct{}
	onTemplate func(t *blockTemplate, newTip bool) // pushes jobs to miners
	first      chan struct{}                       // closed when the first template is in
	firstOnce  sync.Once

	// The daemon problem being reported (poll's goroutine only): what
	// failed, the error, and since when.
	errWhat, lastErr string
	errSince         time.Time
}

func newJobManager(d Daemon, h Hasher, onNetDiff func(uint64), log logrus.FieldLogger, addr *cryptonote.Address, instanceID uint32, refresh, txRefresh time.Duration) *jobManager {
	m := &jobManager{
		daemon: d, hasher: h, onNetDiff: onNetDiff, log: log,
		poolAddress: addr.Text, coinAddress: addr, instanceID: instanceID,
		refresh: refresh, txRefresh: txRefresh,
		trigger: make(chan struct{}, 1),
		first:   make(chan struct{}),
	}
	// Job ids start at a random point, so a share a miner carries across a
	// pool restart names an unknown job ("Invalid job id") instead of
	// colliding with a new job and counting as invalid.
	var r [4]byte
	_, _ = rand.Read(r[:])
	m.jobSeq.Store(uint64(binary.LittleEndian.Uint32(r[:])) << 16)
	return m
}

// Trigger asks for an immediate tip check (block-notify hooks, a found block).
func (m *jobManager) Trigger() {
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

// current returns the newest template, or nil before the first one.
func (m *jobManager) currentTemplate() *blockTemplate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.current
}

// run polls until ctx ends. A failed fetch is retried at the next tick, so
// miners never stay on a dead height because one request failed.
func (m *jobManager) run(ctx context.Context) {
	t := time.NewTicker(m.refresh)
	defer t.Stop()
	for {
		m.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.trigger:
		}
	}
}

// waitTemplate waits up to d for the first template (at once when there
// is one) and reports whether it is in.
func (m *jobManager) waitTemplate(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.first:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return m.currentTemplate() != nil
}

func (m *jobManager) poll(ctx context.Context) {
	const tipCheck, template = "tip check", "block template"
	cur := m.currentTemplate()
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cur != nil {
		hdr, err := m.daemon.LastBlockHeader(callCtx)
		if err != nil {
			if ctx.Err() != nil {
				return // shutting down
			}
			m.noteErr(tipCheck, err)
			return
		}
		if m.errWhat == tipCheck {
			m.noteRecovered(fmt.Sprintf("tip at height %d", hdr.Height+1))
		}
		if hdr.Hash == cur.prevHash && time.Since(cur.fetched) < m.txRefresh {
			return
		}
	}
	t, err := m.fetch(callCtx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.noteErr(template, err)
		return
	}
	m.noteRecovered(fmt.Sprintf("block template at height %d", t.height))
	m.publish(t)
}

// noteErr logs a daemon problem once per distinct message, so a daemon that
// is down or not synced does not flood the log at every poll; the polls go
// on.
func (m *jobManager) noteErr(what string, err error) {
	msg := err.Error()
	if msg == m.lastErr {
		return
	}
	if m.lastErr == "" {
		m.errSince = time.Now()
	}
	m.errWhat, m.lastErr = what, msg
	miners := "miners keep their current jobs"
	if m.currentTemplate() == nil {
		miners = "miners wait for their first job"
	}
	if errors.Is(err, daemon.ErrNotReady) {
		m.log.Warnf("daemon not ready (%s): %v; %s, retrying every %v", what, err, miners, m.refresh)
		return
	}
	m.log.Errorf("daemon error (%s): %v; %s, retrying every %v", what, err, miners, m.refresh)
}

// noteRecovered logs the end of a reported daemon problem.
func (m *jobManager) noteRecovered(what string) {
	if m.lastErr == "" {
		return
	}
	m.log.Infof("daemon ready again after %v: %s", time.Since(m.errSince).Round(time.Second), what)
	m.errWhat, m.lastErr = "", ""
}

func (m *jobManager) fetch(ctx context.Context) (*blockTemplate, error) {
	dt, err := m.daemon.GetBlockTemplate(ctx, m.poolAddress, reserveSize)
	if err != nil {
		return nil, err
	}
	ct, err := cryptonote.NewTemplate(dt.Blob, dt.ReservedOffset, reserveSize)
	if err != nil {
		return nil, fmt.Errorf("template at height %d: %w", dt.Height, err)
	}
	t := &blockTemplate{
		seq:      m.tmplSeq.Add(1),
		height:   dt.Height,
		prevHash: dt.PrevHash,
		netDiff:  wideFromDaemon(dt),
		seed:     dt.SeedHash,
		block:    ct,
		reward:   m.poolReward(ct.Parsed()),
		txRoot:   cryptonote.TreeHash(ct.Parsed().TxHashes),
		fetched:  time.Now(),
	}
	if err := m.ensureSeed(t.seed); err != nil {
		return nil, err
	}
	if dt.HasNextSeed && dt.NextSeedHash != t.seed {
		if err := m.hasher.PrepareSeed(dt.NextSeedHash); err != nil {
			m.log.Warnf("preparing next RandomX seed %x: %v", dt.NextSeedHash[:4], err)
		}
	}
	return t, nil
}

func wideFromDaemon(dt *daemon.Template) cryptonote.WideDifficulty {
	if dt.WideDifficulty != nil && dt.WideDifficulty.BitLen() > 64 {
		hi := new(big.Int).Rsh(dt.WideDifficulty, 64)
		return cryptonote.WideDifficulty{Hi: hi.Uint64(), Lo: dt.WideDifficulty.Uint64()}
	}
	return cryptonote.WideDifficulty{Lo: dt.Difficulty}
}

// poolReward sums the coinbase outputs that pay the pool. Pastella outputs
// pay the address key itself, and a second output may pay a staker, which
// is not ours; Monero outputs are one-time keys, all ours in our template.
func (m *jobManager) poolReward(b *cryptonote.Block) uint64 {
	var sum uint64
	for _, o := range b.MinerTx.Outputs {
		if m.coinAddress.Coin.ViewKey || o.Key == m.coinAddress.SpendKey {
			sum += o.Amount
		}
	}
	return sum
}

func (m *jobManager) ensureSeed(seed [32]byte) error {
	m.mu.RLock()
	same := m.hasSeed && m.seed == seed
	m.mu.RUnlock()
	if same {
		return nil
	}
	if err := m.hasher.SetSeed(seed); err != nil {
		return fmt.Errorf("RandomX seed %x: %w", seed[:4], err)
	}
	m.mu.Lock()
	m.seed, m.hasSeed = seed, true
	m.mu.Unlock()
	m.log.Infof("RandomX seed is now %x", seed)
	return nil
}

// publish makes t current. A new tip marks the old templates stale and
// pushes new jobs to every miner; a refresh on the same tip pushes only when
// the transaction set changed (otherwise miners' jobs are as good).
func (m *jobManager) publish(t *blockTemplate) {
	m.mu.Lock()
	prev := m.current
	newTip := prev == nil || prev.prevHash != t.prevHash
	if newTip {
		t.tip = &tipState{}
	} else {
		t.tip = prev.tip
	}
	m.current = t
	m.mu.Unlock()
	m.firstOnce.Do(func() { close(m.first) })
	nd, fits := t.netDiff.Uint64()
	if !fits {
		nd = ^uint64(0)
	}
	m.onNetDiff(nd)
	if newTip {
		if prev != nil {
			prev.tip.staleAt.Store(time.Now().UnixNano())
		}
		m.log.Infof("new block template: height %d, network difficulty %s, reward %d", t.height, t.netDiff.Big(), t.reward)
	}
	if newTip || prev.txRoot != t.txRoot {
		if m.onTemplate != nil {
			m.onTemplate(t, newTip)
		}
	}
}

// newJob mints a job on the current template with share difficulty diff,
// capped at the network difficulty so a block is never missed.
func (m *jobManager) newJob(diff uint64) (*Job, error) {
	t := m.currentTemplate()
	if t == nil {
		return nil, errors.New("no block template yet")
	}
	if nd, ok := t.netDiff.Uint64(); ok && diff > nd {
		diff = nd
	}
	j := &Job{seq: m.jobSeq.Add(1), template: t, diff: diff}
	j.id = fmt.Sprintf("%x", j.seq)
	binary.LittleEndian.PutUint32(j.extraNonce[0:4], m.instanceID)
	binary.LittleEndian.PutUint32(j.extraNonce[4:8], m.counter.Add(1))
	blob, err := t.block.HashingBlob(j.extraNonce[:])
	if err != nil {
		return nil, err
	}
	j.blob = blob
	return j, nil
}
