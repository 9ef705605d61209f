package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Failover is a Client over several daemons of one coin, in order of
// preference. Calls go to the first healthy daemon; one that fails in a
// way another daemon could do better at (switchable) is marked unhealthy
// and the call moves on to the next, each daemon being tried at most once
// per call. Run starts a prober that brings unhealthy daemons back, so
// the preferred daemon is used again as soon as it works. Safe for
// concurrent use.
type Failover struct {
	clients  []Client
	interval time.Duration
	log      logrus.FieldLogger

	mu      sync.Mutex
	healthy []bool
	active  int           // index calls go to first; -1 when none is healthy
	tmpl    *templateArgs // last GetBlockTemplate arguments, for probing

	runOnce sync.Once
	done    chan struct{} // closed when the prober exits
}

type templateArgs struct {
	wallet  string
	reserve int
}

// NewFailover builds a Failover over clients, most preferred first.
// probeInterval is how often unhealthy daemons are probed once Run is
// called (default 5 s). log may be nil.
func NewFailover(clients []Client, probeInterval time.Duration, log logrus.FieldLogger) *Failover {
	if log == nil {
		log = logrus.StandardLogger()
	}
	if probeInterval <= 0 {
		probeInterval = 5 * time.Second
	}
	f := &Failover{
		clients:  slices.Clone(clients),
		interval: probeInterval,
		log:      log,
		healthy:  make([]bool, len(clients)),
		done:     make(chan struct{}),
	}
	for i := range f.healthy {
		f.healthy[i] = true
	}
	if len(clients) == 0 {
		f.active = -1
	}
	return f
}

// switchable reports whether an error says "this daemon cannot serve now"
// rather than "this request is refused": unreachable, not ready, or
// answering garbage. A refusal (*RPCError, *StatusError) would be the
// same on every daemon, so it is returned without trying the next.
func switchable(err error) bool {
	return IsTransport(err) || errors.Is(err, ErrNotReady) || errors.Is(err, ErrBadReply)
}

// Clients returns the daemons, most preferred first (for health checks of
// each one).
func (f *Failover) Clients() []Client { return slices.Clone(f.clients) }

// Name lists the daemons behind the Failover.
func (f *Failover) Name() string {
	names := make([]string, len(f.clients))
	for i, c := range f.clients {
		names[i] = c.Name()
	}
	return "failover[" + strings.Join(names, ",") + "]"
}

// Active is the name of the daemon calls go to first, "" when every
// daemon is marked unhealthy.
func (f *Failover) Active() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active < 0 {
		return ""
	}
	return f.clients[f.active].Name()
}

// candidates is the order a call tries daemons in: the healthy ones in
// config order, or all of them when none is healthy, since trying is
// then the only way to find one that works.
func (f *Failover) candidates() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var idx, all []int
	for i, ok := range f.healthy {
		all = append(all, i)
		if ok {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return all
	}
	return idx
}

func (f *Failover) setHealth(i int, ok bool, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.healthy[i] == ok {
		return
	}
	f.healthy[i] = ok
	name := f.clients[i].Name()
	next := slices.Index(f.healthy, true)
	switch {
	case next == f.active && !ok:
		f.log.Warnf("daemon: %s (standby) marked unhealthy: %s", name, reason)
	case next == f.active:
		f.log.Infof("daemon: %s (standby) is back", name)
	case f.active < 0:
		f.log.Warnf("daemon: %s is back, using it", f.clients[next].Name())
	case next < 0:
		f.log.Errorf("daemon: %s failed and no daemon is healthy: %s", name, reason)
	default:
		f.log.Warnf("daemon: switching from %s to %s: %s", f.clients[f.active].Name(), f.clients[next].Name(), reason)
	}
	f.active = next
}

func (f *Failover) markUp(i int) { f.setHealth(i, true, f.clients[i].Name()+" is back") }

func (f *Failover) markDown(i int, err error) { f.setHealth(i, false, err.Error()) }

// try runs fn on each candidate until one succeeds or fails in a way the
// next daemon would not fix. A caller's cancelled ctx is never held
// against a daemon. A success marks the daemon healthy only when ready
// says the result shows it can serve the pool: Pastellad answers headers
// while it refuses templates, and an unsynced daemon brought back by a
// header call would be marked down again by the next template call, the
// switch logged both ways every time.
func try[T any](ctx context.Context, f *Failover, ready func(T) bool, fn func(Client) (T, error)) (T, error) {
	var zero T
	if len(f.clients) == 0 {
		return zero, ErrNoDaemon
	}
	var errs []error
	for _, i := range f.candidates() {
		v, err := fn(f.clients[i])
		if err == nil {
			if ready(v) {
				f.markUp(i)
			}
			return v, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !switchable(err) {
			break
		}
		f.markDown(i, err)
	}
	return zero, join(errs)
}

// join keeps a lone error as it is, so its message is not nested.
func join(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// GetBlockTemplate also remembers its arguments, so that the prober can
// check that an unhealthy daemon serves templates again.
func (f *Failover) GetBlockTemplate(ctx context.Context, walletAddress string, reserveSize int) (*Template, error) {
	f.mu.Lock()
	f.tmpl = &templateArgs{walletAddress, reserveSize}
	f.mu.Unlock()
	return try(ctx, f, always[*Template], func(c Client) (*Template, error) { return c.GetBlockTemplate(ctx, walletAddress, reserveSize) })
}

func (f *Failover) LastBlockHeader(ctx context.Context) (*BlockHeader, error) {
	return try(ctx, f, never[*BlockHeader], func(c Client) (*BlockHeader, error) { return c.LastBlockHeader(ctx) })
}

func (f *Failover) BlockHeaderByHeight(ctx context.Context, height uint64) (*BlockHeader, error) {
	return try(ctx, f, never[*BlockHeader], func(c Client) (*BlockHeader, error) { return c.BlockHeaderByHeight(ctx, height) })
}

func (f *Failover) BlockHeaderByHash(ctx context.Context, hash [32]byte) (*BlockHeader, error) {
	return try(ctx, f, never[*BlockHeader], func(c Client) (*BlockHeader, error) { return c.BlockHeaderByHash(ctx, hash) })
}

func (f *Failover) Info(ctx context.Context) (*Info, error) {
	return try(ctx, f, func(i *Info) bool { return i.Synced }, func(c Client) (*Info, error) { return c.Info(ctx) })
}

func always[T any](T) bool { return true }
func never[T any](T) bool  { return false }

// SubmitBlock sends the block to every healthy daemon at once, so a found
// block reaches the network by every path and one slow daemon delays no
// other. It succeeds when any daemon accepted it. If none did and some
// could not be reached, the unhealthy daemons get it too before giving up.
func (f *Failover) SubmitBlock(ctx context.Context, blob []byte) error {
	if len(f.clients) == 0 {
		return ErrNoDaemon
	}
	first := f.candidates()
	accepted, retry, errs := f.submitTo(ctx, first, blob)
	if !accepted && retry && ctx.Err() == nil {
		var rest []int
		for i := range f.clients {
			if !slices.Contains(first, i) {
				rest = append(rest, i)
			}
		}
		if len(rest) > 0 {
			var more []error
			accepted, _, more = f.submitTo(ctx, rest, blob)
			errs = append(errs, more...)
		}
	}
	if !accepted {
		return join(errs)
	}
	for _, err := range errs {
		f.log.Warnf("daemon: block accepted elsewhere, but: %v", err)
	}
	return nil
}

// submitTo submits to the daemons idx in parallel. retry tells whether a
// failure was one another daemon might not have.
func (f *Failover) submitTo(ctx context.Context, idx []int, blob []byte) (accepted, retry bool, errs []error) {
	results := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Go(func() { results[k] = f.clients[i].SubmitBlock(ctx, blob) })
	}
	wg.Wait()
	for k, err := range results {
		switch {
		case err == nil:
			accepted = true
			f.markUp(idx[k])
		case ctx.Err() == nil && switchable(err):
			retry = true
			f.markDown(idx[k], err)
			errs = append(errs, err)
		default:
			errs = append(errs, err)
		}
	}
	return accepted, retry, errs
}

// Run starts the prober in the background; it stops when ctx ends. Only
// the first call has an effect.
func (f *Failover) Run(ctx context.Context) {
	f.runOnce.Do(func() { go f.probeLoop(ctx) })
}

func (f *Failover) probeLoop(ctx context.Context) {
	defer close(f.done)
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.probeAll(ctx)
		}
	}
}

// probeAll probes every unhealthy daemon in parallel, so one that hangs
// until its timeout does not hold back the others.
func (f *Failover) probeAll(ctx context.Context) {
	f.mu.Lock()
	var down []int
	for i, ok := range f.healthy {
		if !ok {
			down = append(down, i)
		}
	}
	tmpl := f.tmpl
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, i := range down {
		wg.Go(func() {
			err := probe(ctx, f.clients[i], tmpl)
			if err == nil {
				f.markUp(i)
			} else if ctx.Err() == nil {
				f.log.Debugf("daemon: %s still unhealthy: %v", f.clients[i].Name(), err)
			}
		})
	}
	wg.Wait()
}

// probe asks Info and wants a synced daemon. Once the pool has asked for
// a template it also asks for one, the surest sign that the daemon can
// serve the pool again; without it a daemon could flap between healthy
// and unhealthy.
func probe(ctx context.Context, c Client, tmpl *templateArgs) error {
	info, err := c.Info(ctx)
	if err != nil {
		return err
	}
	if !info.Synced {
		return fmt.Errorf("daemon %s: not synced (height %d): %s", c.Name(), info.Height, info.NotReady)
	}
	if tmpl != nil {
		if _, err := c.GetBlockTemplate(ctx, tmpl.wallet, tmpl.reserve); err != nil && switchable(err) {
			return err
		}
	}
	return nil
}

// HasTransaction asks every daemon that can (monerod) whether it has the
// transaction, in its pool or a block: true if any has it, false only if
// every one answered that it has not. A payout is dropped on that false,
// so a daemon that cannot be asked makes it an error, never a false.
func (f *Failover) HasTransaction(ctx context.Context, txHash string) (bool, error) {
	type txChecker interface {
		HasTransaction(ctx context.Context, txHash string) (bool, error)
	}
	asked := 0
	for _, c := range f.clients {
		tc, ok := c.(txChecker)
		if !ok {
			continue
		}
		asked++
		has, err := tc.HasTransaction(ctx, txHash)
		if err != nil {
			return false, err
		}
		if has {
			return true, nil
		}
	}
	if asked == 0 {
		return false, ErrNoTxLookup
	}
	return false, nil
}
