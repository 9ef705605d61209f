package randomx

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Mode selects how a Verifier hashes.
type Mode string

// Verifier modes. Every mode starts in light mode (a 256 MiB cache per seed,
// ~29 ms per hash here). Fast mode adds a 2 GiB dataset per seed, built in
// the background (~23 s on two cores), after which hashes take ~3.7 ms.
const (
	// ModeAuto builds the dataset when the machine has the memory for it
	// and quietly stays light when it has not.
	ModeAuto Mode = "auto"
	// ModeFast always tries to build the dataset and complains loudly when
	// that fails (it then keeps verifying in light mode).
	ModeFast Mode = "fast"
	// ModeLight never builds a dataset.
	ModeLight Mode = "light"
)

// ParseMode parses a configuration value; "" means ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeFast, ModeLight:
		return m, nil
	}
	return "", fmt.Errorf("randomx: unknown mode %q (want auto, fast or light)", s)
}

// Errors returned by Verifier.Hash.
var (
	// ErrQueueFull means the share was not queued: the verifier is at
	// capacity. Hash never waits for queue space, so the stratum server can
	// answer the miner at once.
	ErrQueueFull = errors.New("randomx: verification queue full")
	// ErrUnknownSeed means the seed is neither the current nor the previous
	// one (a stale or bogus job).
	ErrUnknownSeed = errors.New("randomx: unknown seed")
	// ErrClosed means the verifier has been closed.
	ErrClosed = errors.New("randomx: verifier closed")
)

// maxDatasets bounds the datasets a Verifier holds: the current seed's and
// the prepared next seed's. A previous seed is verified in light mode.
const maxDatasets = 2

// datasetHeadroom is the memory ModeAuto wants to remain free after
// allocating a dataset, so fast mode does not push the host into swapping.
const datasetHeadroom = 512 << 20

// VerifierConfig configures a Verifier. Zero values select the defaults.
type VerifierConfig struct {
	// Workers is the number of hashing goroutines (default runtime.NumCPU()).
	Workers int
	// QueueSize bounds the normal queue (default 64 per worker).
	QueueSize int
	// PriorityQueueSize bounds the priority queue (default 4 per worker,
	// at least 16). It is separate so possible blocks are never rejected
	// because ordinary shares filled the queue.
	PriorityQueueSize int
	// Mode is ModeAuto (default), ModeFast or ModeLight.
	Mode Mode
	// LargePages asks for huge pages for caches, datasets and scratchpads;
	// without them configured the normal allocator is used (with a warning).
	LargePages bool
	// Secure adds FlagSecure (W^X JIT pages, as monerod verifies); about
	// 7% slower.
	Secure bool
	// DatasetThreads is the number of threads that initialise a dataset
	// (default runtime.NumCPU()).
	DatasetThreads int
	// Observer, if set, is called by the worker right after it answered a
	// request (so it adds no latency to that share, but delays the next
	// one: it must be quick). It is the hook for latency metrics.
	Observer func(HashEvent)

	// beforeHash is a test hook called by a worker before it hashes.
	beforeHash func(blob []byte, priority bool)
}

// HashEvent describes one request answered by a worker.
type HashEvent struct {
	Priority  bool
	Fast      bool          // hashed by a fast (dataset) VM
	QueueWait time.Duration // from Hash being called to a worker taking it
	HashTime  time.Duration // time in the RandomX call; 0 if not hashed
	Err       error         // why it was not hashed (caller gave up, VM error)
}

// Stats is a snapshot of a Verifier's state and counters.
type Stats struct {
	Workers            int
	QueueDepth         int // normal requests waiting
	QueueCapacity      int
	PriorityQueueDepth int
	PriorityCapacity   int
	InFlight           int    // requests taken by workers and not yet answered
	HashesDone         uint64 // hashes computed
	FastHashes         uint64 // of which by fast VMs
	Rejected           uint64 // ErrQueueFull answers
	Failed             uint64 // requests answered with an error by a worker
	HashTime           time.Duration
	QueueWait          time.Duration
	Caches             int // caches allocated
	Datasets           int // datasets allocated
	Seeds              []SeedStats
}

// SeedStats describes one seed the verifier holds.
type SeedStats struct {
	Seed            [32]byte
	Role            string  // "current", "previous" or "next"
	Mode            string  // "pending" (cache building), "light", "fast" or "failed"
	DatasetProgress float64 // fraction of the dataset initialised (1 when fast)
	DatasetError    string  // why the seed has no dataset, if it tried
}

type role int

const (
	roleNone role = iota // being built for SetSeed
	roleNext
	roleCurrent
	rolePrevious
	roleRetired
)

var roleNames = [...]string{"pending", "next", "current", "previous", "retired"}

// seedState is one seed's cache and dataset and their lifecycle.
type seedState struct {
	seed  [32]byte
	ready chan struct{} // closed once the cache build finished
	cache *Cache        // set before ready is closed; nil if err != nil
	err   error

	pending  sync.WaitGroup // accepted requests not yet answered
	builders sync.WaitGroup // dataset builds reading the cache

	progress atomic.Uint64           // dataset items initialised
	active   atomic.Pointer[Dataset] // the dataset workers may use

	// Guarded by Verifier.mu.
	role  role
	ds    *Dataset // owned dataset (also in active)
	build *dsBuild // running dataset build
	dsErr error    // why the last build failed; a failed seed is not retried
}

type dsBuild struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (s *seedState) short() string { return hex.EncodeToString(s.seed[:4]) }

func (s *seedState) cacheDone() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

func (s *seedState) failed() bool { return s.cacheDone() && s.err != nil }

type result struct {
	hash [HashSize]byte
	err  error
}

type request struct {
	ctx      context.Context
	seed     *seedState
	blob     []byte
	buf      [128]byte // holds blob when it fits, to save an allocation
	priority bool
	queued   time.Time
	done     chan result // buffered: the worker never blocks on it
}

// Verifier hashes shares on a fixed pool of workers, each with its own VMs,
// for the current and previous seeds. All methods are safe for concurrent
// use.
type Verifier struct {
	cfg   VerifierConfig
	log   logrus.FieldLogger
	flags Flags // for caches, datasets and light VMs

	normal, prio chan *request
	workers      []*worker
	quit         chan struct{} // closed by Close: workers stop
	workersDone  chan struct{} // closed once every worker has exited
	closeDone    chan struct{} // closed once Close finished freeing
	ctx          context.Context
	cancel       context.CancelFunc // aborts dataset builds on Close
	workersWG    sync.WaitGroup
	bg           sync.WaitGroup // cache/dataset builders, droppers, retirers
	slots        chan struct{}  // one per allocated dataset
	buildSem     chan struct{}  // one dataset build at a time: they share the cores

	seedMu sync.Mutex // serialises SetSeed and PrepareSeed
	mu     sync.RWMutex
	closed bool
	cur    *seedState
	prev   *seedState
	next   *seedState
	live   map[*seedState]struct{} // states whose memory is not yet freed

	inFlight  atomic.Int64
	hashes    atomic.Uint64
	fast      atomic.Uint64
	rejected  atomic.Uint64
	failures  atomic.Uint64
	hashNanos atomic.Int64
	waitNanos atomic.Int64
}

// NewVerifier starts the workers. It verifies nothing until SetSeed has been
// called. log may be nil (logrus' standard logger is used).
func NewVerifier(cfg VerifierConfig, log logrus.FieldLogger) *Verifier {
	if log == nil {
		log = logrus.StandardLogger()
	}
	log = log.WithField("component", "randomx")
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64 * cfg.Workers
	}
	if cfg.PriorityQueueSize <= 0 {
		cfg.PriorityQueueSize = max(16, 4*cfg.Workers)
	}
	if cfg.DatasetThreads <= 0 {
		cfg.DatasetThreads = runtime.NumCPU()
	}
	if m, err := ParseMode(string(cfg.Mode)); err != nil {
		log.WithError(err).Warn("using auto mode")
		cfg.Mode = ModeAuto
	} else {
		cfg.Mode = m
	}
	flags := GetFlags()
	if cfg.LargePages {
		flags |= FlagLargePages
	}
	if cfg.Secure {
		flags |= FlagSecure
	}
	ctx, cancel := context.WithCancel(context.Background())
	v := &Verifier{
		cfg:         cfg,
		log:         log,
		flags:       flags,
		normal:      make(chan *request, cfg.QueueSize),
		prio:        make(chan *request, cfg.PriorityQueueSize),
		quit:        make(chan struct{}),
		workersDone: make(chan struct{}),
		closeDone:   make(chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
		slots:       make(chan struct{}, maxDatasets),
		buildSem:    make(chan struct{}, 1),
		live:        make(map[*seedState]struct{}),
	}
	for i := range cfg.Workers {
		w := &worker{v: v, id: i, ctl: make(chan ctlMsg, 4), vms: make(map[*seedState]*seedVMs)}
		v.workers = append(v.workers, w)
		v.workersWG.Add(1)
		go w.run()
	}
	log.WithFields(logrus.Fields{"workers": cfg.Workers, "mode": cfg.Mode, "flags": flags,
		"queue": cfg.QueueSize, "priority_queue": cfg.PriorityQueueSize}).Info("verifier started")
	return v
}

// Hash returns the RandomX hash of blob under seed. The seed must be the
// current or the previous one (else ErrUnknownSeed). Requests never wait for
// queue space: a full queue gives ErrQueueFull at once. Priority requests
// (shares whose claimed result meets the network difficulty) have their own
// queue: a worker that finishes a hash takes a waiting priority request
// before any normal one, so a possible block waits for at most one hash. Once queued, Hash waits for the
// result or for ctx, and a request whose ctx is done is dropped unhashed.
func (v *Verifier) Hash(ctx context.Context, seed [32]byte, blob []byte, priority bool) ([HashSize]byte, error) {
	if err := ctx.Err(); err != nil {
		return [HashSize]byte{}, err
	}
	r := &request{ctx: ctx, priority: priority, queued: time.Now(), done: make(chan result, 1)}
	// Copy the blob: the caller may reuse it once Hash returns, which can be
	// before a worker has read it (ctx done).
	if len(blob) <= len(r.buf) {
		r.blob = r.buf[:copy(r.buf[:], blob)]
	} else {
		r.blob = append([]byte(nil), blob...)
	}
	if err := v.enqueue(seed, r); err != nil {
		return [HashSize]byte{}, err
	}
	select {
	case res := <-r.done:
		return res.hash, res.err
	case <-ctx.Done():
		return [HashSize]byte{}, ctx.Err()
	}
}

func (v *Verifier) enqueue(seed [32]byte, r *request) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.closed {
		return ErrClosed
	}
	switch {
	case v.cur != nil && v.cur.seed == seed:
		r.seed = v.cur
	case v.prev != nil && v.prev.seed == seed:
		r.seed = v.prev
	default:
		return ErrUnknownSeed
	}
	q := v.normal
	if r.priority {
		q = v.prio
	}
	// Under the read lock, so a retirer (which takes the write lock before
	// waiting on pending) never sees an Add after its Wait started.
	r.seed.pending.Add(1)
	select {
	case q <- r:
		return nil
	default:
		r.seed.pending.Done()
		v.rejected.Add(1)
		return ErrQueueFull
	}
}

// SetSeed makes seed the current seed. It blocks until the seed's light
// cache is ready (at once if PrepareSeed built it already) and returns an
// error, leaving the seeds unchanged, if it cannot be built. The old current
// seed becomes the previous one (shares for it are still verified, in light
// mode) and the old previous seed is freed once its queued shares are done.
// In auto and fast mode the new current seed's dataset is built in the
// background if it was not prepared; workers use it once it is ready.
func (v *Verifier) SetSeed(seed [32]byte) error {
	v.seedMu.Lock()
	defer v.seedMu.Unlock()
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return ErrClosed
	}
	s := v.findLocked(seed)
	if s == v.cur && s != nil {
		v.mu.Unlock()
		return nil
	}
	if s == nil {
		s = v.newStateLocked(seed, roleNone)
	}
	v.mu.Unlock()

	<-s.ready

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed // Close frees s
	}
	if s.err != nil {
		if v.next == s {
			v.next = nil
		}
		delete(v.live, s) // nothing was allocated
		return fmt.Errorf("randomx: cache for seed %s: %w", s.short(), s.err)
	}
	v.promoteLocked(s)
	return nil
}

// PrepareSeed builds the cache (and in auto and fast mode the dataset) for
// the seed expected next, in the background, so that SetSeed(next) is
// instant. Preparing another seed discards the previously prepared one.
func (v *Verifier) PrepareSeed(next [32]byte) error {
	v.seedMu.Lock()
	defer v.seedMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if v.findLocked(next) != nil {
		return nil
	}
	if v.next != nil {
		v.retireLocked(v.next)
	}
	v.next = v.newStateLocked(next, roleNext)
	return nil
}

// findLocked returns the live state for seed, skipping failed builds.
func (v *Verifier) findLocked(seed [32]byte) *seedState {
	for _, s := range []*seedState{v.cur, v.prev, v.next} {
		if s != nil && s.seed == seed && !s.failed() {
			return s
		}
	}
	return nil
}

func (v *Verifier) newStateLocked(seed [32]byte, r role) *seedState {
	s := &seedState{seed: seed, ready: make(chan struct{}), role: r}
	v.live[s] = struct{}{}
	v.bg.Add(1)
	go v.buildCache(s)
	return s
}

// promoteLocked makes s (with its cache ready) the current seed.
func (v *Verifier) promoteLocked(s *seedState) {
	old := v.cur
	if v.next == s {
		v.next = nil
	}
	if v.prev != nil && v.prev != s {
		v.retireLocked(v.prev)
	}
	v.prev = nil
	if old != nil {
		// The previous seed only sees the stragglers of a switch: light mode
		// is enough, and freeing its dataset keeps us within maxDatasets.
		old.role = rolePrevious
		if ds := v.takeDatasetLocked(old); ds != nil {
			v.bg.Add(1)
			go v.dropDataset(old, ds)
		}
		v.prev = old
	}
	s.role = roleCurrent
	v.cur = s
	v.startDatasetLocked(s)
	mode := "light"
	if s.active.Load() != nil {
		mode = "fast"
	}
	v.log.WithFields(logrus.Fields{"seed": s.short(), "mode": mode}).Info("current seed set")
}

// retireLocked drops s from the seeds; its memory is freed in the background
// once its queued requests are answered and no worker uses it.
func (v *Verifier) retireLocked(s *seedState) {
	s.role = roleRetired
	ds := v.takeDatasetLocked(s)
	v.bg.Add(1)
	go v.retire(s, ds)
}

// takeDatasetLocked stops s's dataset build and hides its dataset from
// workers. It returns the dataset, to be freed once every worker let go.
func (v *Verifier) takeDatasetLocked(s *seedState) *Dataset {
	if s.build != nil {
		s.build.cancel()
		s.build = nil
	}
	ds := s.ds
	s.ds = nil
	s.active.Store(nil)
	return ds
}

func (v *Verifier) buildCache(s *seedState) {
	defer v.bg.Done()
	start := time.Now()
	c, err := NewCache(v.flags, s.seed[:])
	log := v.log.WithField("seed", s.short())
	if err == nil && c.LargePagesFallback() {
		log.Warn("large pages unavailable for the cache; using normal pages")
	}
	if err != nil {
		log.WithError(err).Error("cannot build RandomX cache")
	} else {
		log.WithField("took", time.Since(start).Round(time.Millisecond)).Info("cache ready (light mode)")
	}
	s.cache, s.err = c, err
	close(s.ready)
	if err != nil {
		return
	}
	v.mu.Lock()
	v.startDatasetLocked(s)
	v.mu.Unlock()
}

// startDatasetLocked starts building s's dataset if the mode wants one and s
// is the current or the prepared seed.
func (v *Verifier) startDatasetLocked(s *seedState) {
	if v.closed || v.cfg.Mode == ModeLight || (s.role != roleCurrent && s.role != roleNext) ||
		s.ds != nil || s.build != nil || s.dsErr != nil || !s.cacheDone() || s.err != nil {
		return
	}
	s.progress.Store(0)
	ctx, cancel := context.WithCancel(v.ctx)
	b := &dsBuild{ctx: ctx, cancel: cancel}
	s.build = b
	s.builders.Add(1)
	v.bg.Add(1)
	go v.buildDataset(s, b)
}

func (v *Verifier) buildDataset(s *seedState, b *dsBuild) {
	defer v.bg.Done()
	defer s.builders.Done()
	log := v.log.WithField("seed", s.short())
	start := time.Now()
	ds, err := v.makeDataset(b.ctx, s, log)

	v.mu.Lock()
	cancelled := b.ctx.Err() != nil
	if s.build == b {
		s.build = nil
	}
	b.cancel()
	switch {
	case cancelled:
		// The seed was demoted or retired, or we are closing; the dataset
		// was never visible to workers.
	case err != nil:
		s.dsErr = err
	default:
		s.ds = ds
		s.active.Store(ds)
		ds = nil
	}
	v.mu.Unlock()
	v.freeDataset(ds)

	switch {
	case cancelled:
		log.Debug("dataset build abandoned")
	case err != nil && v.cfg.Mode == ModeFast:
		log.WithError(err).Error("FAST MODE UNAVAILABLE: cannot build the RandomX dataset; " +
			"verifying in light mode, about 8x more CPU per share")
	case err != nil:
		log.WithError(err).Warn("staying in light mode")
	default:
		log.WithField("took", time.Since(start).Round(time.Millisecond)).Info("dataset ready: fast mode")
	}
}

var errLowMemory = errors.New("not enough free memory for a dataset")

// makeDataset allocates and initialises s's dataset, taking a dataset slot
// (released by freeDataset) and the build semaphore.
func (v *Verifier) makeDataset(ctx context.Context, s *seedState, log logrus.FieldLogger) (*Dataset, error) {
	select {
	case v.buildSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-v.buildSem }()
	select {
	case v.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if v.cfg.Mode == ModeAuto {
		if avail, ok := memAvailable(); ok && avail < DatasetSize()+datasetHeadroom {
			<-v.slots
			return nil, fmt.Errorf("%w (%d MiB available, %d MiB needed)", errLowMemory,
				avail>>20, (DatasetSize()+datasetHeadroom)>>20)
		}
	}
	log.WithField("threads", v.cfg.DatasetThreads).Info("building dataset")
	lastPct := uint64(0)
	ds, err := NewDatasetContext(ctx, v.flags, s.cache, v.cfg.DatasetThreads, func(done, total uint64) {
		s.progress.Store(done)
		if pct := done * 100 / total; pct >= lastPct+10 || pct == 100 {
			lastPct = pct - pct%10
			log.Infof("dataset init %d%%", pct)
		}
	})
	if err != nil {
		<-v.slots
		return nil, err
	}
	if ds.LargePagesFallback() {
		log.Warn("large pages unavailable for the dataset; using normal pages")
	}
	return ds, nil
}

func (v *Verifier) freeDataset(ds *Dataset) {
	if ds != nil {
		ds.Close()
		<-v.slots
	}
}

// dropDataset frees a demoted seed's dataset once no worker uses it.
func (v *Verifier) dropDataset(s *seedState, ds *Dataset) {
	defer v.bg.Done()
	v.syncWorkers(s, false)
	v.freeDataset(ds)
	v.log.WithField("seed", s.short()).Info("dataset freed; seed verified in light mode")
}

// retire frees a retired seed once its requests are answered, its builders
// have stopped and no worker holds a VM for it.
func (v *Verifier) retire(s *seedState, ds *Dataset) {
	defer v.bg.Done()
	<-s.ready
	s.builders.Wait()
	s.pending.Wait()
	v.syncWorkers(s, true)
	v.freeDataset(ds)
	s.cache.Close()
	v.mu.Lock()
	delete(v.live, s)
	v.mu.Unlock()
	v.log.WithField("seed", s.short()).Info("seed retired and freed")
}

// syncWorkers makes every worker close its fast VM for s (and its light VM
// too if all) and waits until they have, or until the workers have exited
// (they close all their VMs on exit). Workers handle this between hashes.
func (v *Verifier) syncWorkers(s *seedState, all bool) {
	acks := make(chan struct{}, len(v.workers))
	for _, w := range v.workers {
		select {
		case w.ctl <- ctlMsg{s: s, all: all, ack: acks}:
		case <-v.workersDone:
			return
		}
	}
	for range v.workers {
		select {
		case <-acks:
		case <-v.workersDone:
			return
		}
	}
}

// Close stops the workers, answers queued requests with ErrClosed and frees
// every VM, cache and dataset. Calls after the first wait for it to finish.
func (v *Verifier) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		<-v.closeDone
		return nil
	}
	v.closed = true
	v.cancel()
	close(v.quit)
	v.mu.Unlock()

	v.workersWG.Wait()
	close(v.workersDone)
	for drained := false; !drained; {
		select {
		case r := <-v.normal:
			v.answer(r, result{err: ErrClosed})
		case r := <-v.prio:
			v.answer(r, result{err: ErrClosed})
		default:
			drained = true
		}
	}
	v.bg.Wait()
	v.mu.Lock()
	for s := range v.live {
		v.freeDataset(s.ds)
		s.ds = nil
		s.cache.Close()
		delete(v.live, s)
	}
	v.cur, v.prev, v.next = nil, nil, nil
	v.mu.Unlock()
	v.log.Info("verifier closed")
	close(v.closeDone)
	return nil
}

func (v *Verifier) answer(r *request, res result) {
	if res.err != nil {
		v.failures.Add(1)
	}
	r.done <- res
	r.seed.pending.Done()
}

// Stats returns a snapshot of the queues, counters and seeds.
func (v *Verifier) Stats() Stats {
	st := Stats{
		Workers:            len(v.workers),
		QueueDepth:         len(v.normal),
		QueueCapacity:      cap(v.normal),
		PriorityQueueDepth: len(v.prio),
		PriorityCapacity:   cap(v.prio),
		InFlight:           int(v.inFlight.Load()),
		HashesDone:         v.hashes.Load(),
		FastHashes:         v.fast.Load(),
		Rejected:           v.rejected.Load(),
		Failed:             v.failures.Load(),
		HashTime:           time.Duration(v.hashNanos.Load()),
		QueueWait:          time.Duration(v.waitNanos.Load()),
		Datasets:           len(v.slots),
	}
	total := float64(DatasetItemCount())
	v.mu.RLock()
	defer v.mu.RUnlock()
	for s := range v.live {
		if s.cacheDone() && s.cache != nil {
			st.Caches++
		}
	}
	for _, s := range []*seedState{v.cur, v.prev, v.next} {
		if s == nil {
			continue
		}
		ss := SeedStats{Seed: s.seed, Role: roleNames[s.role], Mode: "light",
			DatasetProgress: float64(s.progress.Load()) / total}
		switch {
		case !s.cacheDone():
			ss.Mode = "pending"
		case s.err != nil:
			ss.Mode = "failed"
		case s.active.Load() != nil:
			ss.Mode = "fast"
		}
		if s.dsErr != nil {
			ss.DatasetError = s.dsErr.Error()
		}
		st.Seeds = append(st.Seeds, ss)
	}
	return st
}

type ctlMsg struct {
	s   *seedState
	all bool
	ack chan<- struct{}
}

// seedVMs are one worker's VMs for one seed.
type seedVMs struct {
	light, fast *VM
	fastDS      *Dataset // the dataset fast was built on
	fastFailed  *Dataset // dataset a fast VM could not be created for
}

// worker owns its VMs; only its goroutine touches them.
type worker struct {
	v   *Verifier
	id  int
	ctl chan ctlMsg
	vms map[*seedState]*seedVMs
	buf []byte // pointer-free copy of the blob: cgo may not be handed r.buf
}

func (w *worker) run() {
	// Stay on one OS thread, so the VM's scratchpad and JIT code stay warm
	// in that core's caches instead of following the goroutine around.
	defer w.v.workersWG.Done()
	defer w.closeAll()
	v := w.v
	for {
		// Control messages first (they free memory), then priority requests
		// ahead of anything in the normal queue.
		select {
		case m := <-w.ctl:
			w.handle(m)
			continue
		case <-v.quit:
			return
		default:
		}
		select {
		case r := <-v.prio:
			w.process(r)
			continue
		default:
		}
		select {
		case m := <-w.ctl:
			w.handle(m)
		case r := <-v.prio:
			w.process(r)
		case r := <-v.normal:
			w.process(r)
		case <-v.quit:
			return
		}
	}
}

func (w *worker) handle(m ctlMsg) {
	if p := w.vms[m.s]; p != nil {
		p.fast.Close()
		p.fast, p.fastDS, p.fastFailed = nil, nil, nil
		if m.all {
			p.light.Close()
			delete(w.vms, m.s)
		}
	}
	m.ack <- struct{}{}
}

func (w *worker) closeAll() {
	for s, p := range w.vms {
		p.fast.Close()
		p.light.Close()
		delete(w.vms, s)
	}
}

func (w *worker) process(r *request) {
	v := w.v
	ev := HashEvent{Priority: r.priority, QueueWait: time.Since(r.queued)}
	v.inFlight.Add(1)
	var res result
	if res.err = r.ctx.Err(); res.err == nil {
		if hook := v.cfg.beforeHash; hook != nil {
			hook(r.blob, r.priority)
		}
		var vm *VM
		vm, ev.Fast, res.err = w.vm(r.seed)
		if res.err == nil {
			start := time.Now()
			w.buf = append(w.buf[:0], r.blob...)
			res.hash = vm.Hash(w.buf)
			ev.HashTime = time.Since(start)
			v.hashes.Add(1)
			if ev.Fast {
				v.fast.Add(1)
			}
			v.hashNanos.Add(int64(ev.HashTime))
		}
	}
	v.waitNanos.Add(int64(ev.QueueWait))
	ev.Err = res.err
	v.inFlight.Add(-1)
	v.answer(r, res)
	if obs := v.cfg.Observer; obs != nil {
		obs(ev)
	}
}

// vm returns the worker's VM for s: the fast one when s has a dataset,
// else the light one, creating it on first use.
func (w *worker) vm(s *seedState) (*VM, bool, error) {
	p := w.vms[s]
	if p == nil {
		p = &seedVMs{}
		w.vms[s] = p
	}
	if ds := s.active.Load(); ds != nil && ds != p.fastFailed {
		if p.fastDS != ds {
			p.fast.Close()
			p.fast, p.fastDS = nil, nil
			vm, err := NewVM(w.v.flags|FlagFullMem, nil, ds)
			if err != nil {
				// Keep verifying in light mode; do not retry every share.
				w.v.log.WithError(err).WithField("worker", w.id).Warn("cannot create fast VM; using light VM")
				p.fastFailed = ds
			} else {
				p.fast, p.fastDS = vm, ds
			}
		}
		if p.fast != nil {
			return p.fast, true, nil
		}
	}
	if p.light == nil {
		vm, err := NewVM(w.v.flags, s.cache, nil)
		if err != nil {
			return nil, false, err
		}
		p.light = vm
	}
	return p.light, false, nil
}

// memAvailable is how ModeAuto learns the free memory (a variable so tests
// can simulate a small machine).
var memAvailable = readMemAvailable

// readMemAvailable reads MemAvailable from /proc/meminfo (Linux only).
func readMemAvailable() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
