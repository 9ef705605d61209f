package stratum

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"rxpool/cryptonote"
	"rxpool/daemon"
)

// Daemon is what the job manager needs from the coin daemon(s);
// daemon.Client (and daemon.Failover) implement it.
type Daemon interface {
	GetBlockTemplate(ctx context.Context, walletAddress string, reserveSize int) (*daemon.Template, error)
	SubmitBlock(ctx context.Context, blob []byte) error
	LastBlockHeader(ctx context.Context) (*daemon.BlockHeader, error)
	BlockHeaderByHeight(ctx context.Context, height uint64) (*daemon.BlockHeader, error)
}

// Hasher verifies shares; randomx.Verifier implements it.
type Hasher interface {
	Hash(ctx context.Context, seed [32]byte, blob []byte, priority bool) ([32]byte, error)
	SetSeed(seed [32]byte) error
	PrepareSeed(next [32]byte) error
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
	nonces     map[uint32]struct{}
}

// jobManager polls the daemon for templates and mints jobs from them.
type jobManager struct {
	daemon      Daemon
	hasher      Hasher
	sink        Sink
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

	// solved holds the parent hash the pool last found a block on. Other
	// shares on templates with that parent are still credited, but they are
	// not submitted: they could only become side-chain siblings of our own
	// block (seen on regtest: seven "blocks" at one height).
	solvedMu sync.Mutex
	solved   [32]byte

	// onNetDiff receives the network difficulty of every template
	// published (the sink's SetNetworkDifficulty).
	onNetDiff  func(uint64)
	trigger    chan struct{}
	onTemplate func(t *blockTemplate, newTip bool) // pushes jobs to miners
	wg         sync.WaitGroup                      // block submissions in flight
	first      chan struct{}                       // closed when the first template is in
	firstOnce  sync.Once

	// The daemon problem being reported (poll's goroutine only): what
	// failed, the error, and since when.
	errWhat, lastErr string
	errSince         time.Time
}

func newJobManager(d Daemon, h Hasher, sink Sink, log logrus.FieldLogger, addr *cryptonote.Address, instanceID uint32, refresh, txRefresh time.Duration) *jobManager {
	m := &jobManager{
		daemon: d, hasher: h, sink: sink, onNetDiff: sink.SetNetworkDifficulty, log: log,
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

// claimBlock reports whether a block on parent may be submitted: only the
// first since the last failed submission.
func (m *jobManager) claimBlock(parent [32]byte) bool {
	m.solvedMu.Lock()
	defer m.solvedMu.Unlock()
	if m.solved == parent {
		return false
	}
	m.solved = parent
	return true
}

// unclaimBlock lets another share try after a failed submission.
func (m *jobManager) unclaimBlock(parent [32]byte) {
	m.solvedMu.Lock()
	if m.solved == parent {
		m.solved = [32]byte{}
	}
	m.solvedMu.Unlock()
}

// submitBlock sends a found block to the daemon(s) at once, records the
// candidate whatever the outcome, and triggers a template refresh so miners
// move to the next height. Afterwards it checks that the block made it onto
// the main chain: monerod answers OK for blocks that end up on a side chain.
func (m *jobManager) submitBlock(ctx context.Context, j *Job, nonce [4]byte, miner *Miner, shareDiff uint64) {
	t := j.template
	blob, err := t.block.Block(j.extraNonce[:], nonce)
	hb := append([]byte(nil), j.blob...)
	copy(hb[t.block.NonceOffset():], nonce[:])
	id := cryptonote.BlockID(hb)
	if err == nil {
		err = m.daemon.SubmitBlock(ctx, blob)
	}
	m.Trigger()
	nd, _ := t.netDiff.Uint64()
	b := &Block{
		Height: t.height, Hash: id, PrevHash: t.prevHash,
		Address: miner.Address.Text, Worker: miner.Worker, Scheme: miner.Scheme,
		NetDifficulty: nd, ShareDiff: shareDiff, Reward: t.reward, Time: time.Now(),
	}
	log := m.log.WithFields(logrus.Fields{"height": t.height, "hash": hex.EncodeToString(id[:]), "miner": miner.Address.Text, "worker": miner.Worker})
	if err != nil {
		m.unclaimBlock(t.prevHash)
		b.SubmitError = err.Error()
		log.Errorf("block submission failed: %v (blob %x)", err, blob)
	} else {
		log.Infof("BLOCK FOUND and submitted")
	}
	if serr := m.sink.Block(ctx, b); serr != nil {
		log.Errorf("recording block candidate: %v", serr)
	}
	if err == nil {
		m.checkMainChain(ctx, t.height, id, log)
	}
}

// checkMainChain looks the block up by height after a short delay and logs
// whether ours is the main-chain block there. The unlocker makes the final
// decision; this tells the operator early.
func (m *jobManager) checkMainChain(ctx context.Context, height uint64, id [32]byte, log logrus.FieldLogger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(2 * time.Second):
	}
	hdr, err := m.daemon.BlockHeaderByHeight(ctx, height)
	switch {
	case err != nil:
		log.Warnf("could not check the main chain for our block: %v", err)
	case hdr.Hash != id:
		log.Warnf("our block is NOT on the main chain at height %d (main chain has %x): it went to a side chain", height, hdr.Hash)
	default:
		log.Infof("our block is on the main chain")
	}
}
