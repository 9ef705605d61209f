package randomx

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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

// Lane is the queue a share waits in for a verifier worker. A worker always
// takes from the lowest-numbered lane that has work (LaneBlock, then
// LaneEarned, then LaneStranger), so honest miners' shares never wait
// behind shares of sessions that have proved nothing yet, and a junk flood
// can fill only its own small lane.
type Lane uint8

// Verification lanes, highest priority first.
const (
	// LaneBlock is for shares whose claimed result meets the network
	// difficulty, from sessions with accepted work: a possible block waits
	// for at most one hash per worker. Bounded by PriorityQueueSize.
	LaneBlock Lane = iota
	// LaneEarned is for shares of sessions with accepted work (honest
	// miners). Bounded by QueueSize.
	LaneEarned
	// LaneStranger is for shares of sessions without accepted work; they
	// are hashed only when the other lanes are empty. Bounded by
	// StrangerQueueSize, small, so strangers are answered "busy" at once
	// rather than waiting behind honest work.
	LaneStranger
	numLanes
)

var laneNames = [numLanes]string{"block", "earned", "stranger"}

// String returns "block", "earned" or "stranger" (metric labels use it).
func (l Lane) String() string {
	if l < numLanes {
		return laneNames[l]
	}
	return fmt.Sprintf("lane(%d)", uint8(l))
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

// VerifierConfig configures a Verifier. Zero values select the defaults.
type VerifierConfig struct {
	// Workers is the number of hashing goroutines (default runtime.NumCPU()).
	Workers int
	// QueueSize bounds LaneEarned, the normal queue (default 64 per worker).
	QueueSize int
	// PriorityQueueSize bounds LaneBlock (default 4 per worker, at least
	// 16). It is separate so possible blocks are never rejected because
	// ordinary shares filled the queue.
	PriorityQueueSize int
	// StrangerQueueSize bounds LaneStranger (default 2 per worker). Small
	// on purpose: a stranger's share runs only when no honest work waits,
	// so a deeper lane would only make strangers wait longer before the
	// "busy" they would get anyway under load.
	StrangerQueueSize int
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
}

// Verifier hashes shares on a fixed pool of workers, each with its own VMs,
// for the current and previous seeds. All methods are safe for concurrent
// use.
type Verifier struct {
	cfg   VerifierConfig
	log   logrus.FieldLogger
	flags Flags // for caches, datasets and light VMs

	queues      [numLanes]chan *request // indexed by Lane
	workers     []*worker
	quit        chan struct{} // closed by Close: workers stop
	workersDone chan struct{} // closed once every worker has exited
	closeDone   chan struct{} // closed once Close finished freeing
	ctx         context.Context
	cancel      context.CancelFunc // aborts dataset builds on Close
	workersWG   sync.WaitGroup
	bg          sync.WaitGroup // cache/dataset builders, droppers, retirers
	slots       chan struct{}  // one per allocated dataset
	buildSem    chan struct{}  // one dataset build at a time: they share the cores

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
	cfg = cfg.withDefaults(log)
	flags := cfg.flags()
	ctx, cancel := context.WithCancel(context.Background())
	v := &Verifier{
		cfg:         cfg,
		log:         log,
		flags:       flags,
		quit:        make(chan struct{}),
		workersDone: make(chan struct{}),
		closeDone:   make(chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
		slots:       make(chan struct{}, maxDatasets),
		buildSem:    make(chan struct{}, 1),
		live:        make(map[*seedState]struct{}),
	}
	v.queues[LaneBlock] = make(chan *request, cfg.PriorityQueueSize)
	v.queues[LaneEarned] = make(chan *request, cfg.QueueSize)
	v.queues[LaneStranger] = make(chan *request, cfg.StrangerQueueSize)
	v.startWorkers()
	log.WithFields(logrus.Fields{"workers": cfg.Workers, "mode": cfg.Mode, "flags": flags,
		"queue": cfg.QueueSize, "priority_queue": cfg.PriorityQueueSize,
		"stranger_queue": cfg.StrangerQueueSize}).Info("verifier started")
	return v
}

// withDefaults fills the zero values; an unknown mode is logged and becomes
// ModeAuto (the configuration was validated before, this is the backstop).
func (cfg VerifierConfig) withDefaults(log logrus.FieldLogger) VerifierConfig {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64 * cfg.Workers
	}
	if cfg.PriorityQueueSize <= 0 {
		cfg.PriorityQueueSize = max(16, 4*cfg.Workers)
	}
	if cfg.StrangerQueueSize <= 0 {
		cfg.StrangerQueueSize = 2 * cfg.Workers
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
	return cfg
}

// flags are the RandomX flags for caches, datasets and light VMs: the
// machine's recommended ones plus what the configuration asks for.
func (cfg VerifierConfig) flags() Flags {
	flags := GetFlags()
	if cfg.LargePages {
		flags |= FlagLargePages
	}
	if cfg.Secure {
		flags |= FlagSecure
	}
	return flags
}

// Hash returns the RandomX hash of blob under seed. The seed must be the
// current or the previous one (else ErrUnknownSeed). Requests never wait for
// queue space: a full lane gives ErrQueueFull at once, whatever the other
// lanes hold. Each lane has its own queue and a worker that finishes a hash
// takes the next request from the first lane that has one (see Lane), so a
// possible block waits for at most one hash, and an honest share only for
// blocks and earlier honest shares. Once queued, Hash waits for the result
// or for ctx, and a request whose ctx is done is dropped unhashed.
func (v *Verifier) Hash(ctx context.Context, seed [32]byte, blob []byte, lane Lane) ([HashSize]byte, error) {
	if lane >= numLanes {
		return [HashSize]byte{}, fmt.Errorf("randomx: unknown verification lane %d", lane)
	}
	if err := ctx.Err(); err != nil {
		return [HashSize]byte{}, err
	}
	r := &request{ctx: ctx, lane: lane, queued: time.Now(), done: make(chan result, 1)}
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
	// Under the read lock, so a retirer (which takes the write lock before
	// waiting on pending) never sees an Add after its Wait started.
	r.seed.pending.Add(1)
	select {
	case v.queues[r.lane] <- r:
		return nil
	default:
		r.seed.pending.Done()
		v.rejected.Add(1)
		return ErrQueueFull
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
	v.drainQueues()
	v.bg.Wait()
	v.freeAll()
	v.log.Info("verifier closed")
	close(v.closeDone)
	return nil
}

// drainQueues answers the requests no worker took with ErrClosed.
func (v *Verifier) drainQueues() {
	for _, q := range v.queues {
		for len(q) > 0 {
			v.answer(<-q, result{err: ErrClosed})
		}
	}
}

// freeAll frees every cache and dataset still live; the workers and the
// background builders have exited.
func (v *Verifier) freeAll() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for s := range v.live {
		v.freeDataset(s.ds)
		s.ds = nil
		s.cache.Close()
		delete(v.live, s)
	}
	v.cur, v.prev, v.next = nil, nil, nil
}

func (v *Verifier) answer(r *request, res result) {
	if res.err != nil {
		v.failures.Add(1)
	}
	r.done <- res
	r.seed.pending.Done()
}
