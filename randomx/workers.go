// The worker pool: each worker owns its VMs, takes requests lane by lane
// (block, earned, stranger) and frees VMs when the seed lifecycle asks it to.

package randomx

import (
	"context"
	"time"
)

type result struct {
	hash [HashSize]byte
	err  error
}

type request struct {
	ctx    context.Context
	seed   *seedState
	blob   []byte
	buf    [128]byte // holds blob when it fits, to save an allocation
	lane   Lane
	queued time.Time
	done   chan result // buffered: the worker never blocks on it
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

// startWorkers starts cfg.Workers workers; Close stops them.
func (v *Verifier) startWorkers() {
	for i := range v.cfg.Workers {
		w := &worker{v: v, id: i, ctl: make(chan ctlMsg, 4), vms: make(map[*seedState]*seedVMs)}
		v.workers = append(v.workers, w)
		v.workersWG.Add(1)
		go w.run()
	}
}

func (w *worker) run() {
	defer w.v.workersWG.Done()
	defer w.closeAll()
	v := w.v
	// held is a request the idle worker woke up with. A select picks at
	// random among ready channels, so when several lanes filled while it
	// slept it may hold a lower lane's request: it is hashed only once no
	// higher lane has work, which keeps the order strict.
	var held *request
	defer func() {
		if held != nil {
			v.answer(held, result{err: ErrClosed})
		}
	}()
	for {
		// Control messages first (they free memory), then the lanes in order.
		select {
		case m := <-w.ctl:
			w.handle(m)
			continue
		case <-v.quit:
			return
		default:
		}
		above := numLanes
		if held != nil {
			above = held.lane
		}
		if r := v.takeAbove(above); r != nil {
			w.process(r)
			continue
		}
		if r := held; r != nil {
			held = nil
			w.process(r)
			continue
		}
		select {
		case m := <-w.ctl:
			w.handle(m)
		case held = <-v.queues[LaneBlock]:
		case held = <-v.queues[LaneEarned]:
		case held = <-v.queues[LaneStranger]:
		case <-v.quit:
			return
		}
	}
}

// takeAbove returns a waiting request of the first lane before limit that
// has one, or nil.
func (v *Verifier) takeAbove(limit Lane) *request {
	for l := range limit {
		select {
		case r := <-v.queues[l]:
			return r
		default:
		}
	}
	return nil
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
	ev := HashEvent{Lane: r.lane, Priority: r.lane == LaneBlock, QueueWait: time.Since(r.queued)}
	v.inFlight.Add(1)
	var res result
	// A request whose caller gave up is dropped unhashed. (The tests hold a
	// worker in this check: verifier_test.go heldCtx.)
	if res.err = r.ctx.Err(); res.err == nil {
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
