package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"rxpool/stratum/client"
	"rxpool/stratum/proto"
)

// Counting the measured phase: shares sent, their answers and latencies.

// tally counts the outcomes of the measured phase.
type tally struct {
	mu         sync.Mutex
	submitted  uint64
	accepted   uint64
	rejectedBy map[string]uint64
	errorsBy   map[string]uint64
	timeouts   uint64
	oldSent    uint64
	oldOK      uint64
	oldRejBy   map[string]uint64
	first      time.Time
	lastReply  time.Time
}

func (t *tally) sent() {
	t.mu.Lock()
	t.submitted++
	if t.first.IsZero() {
		t.first = time.Now()
	}
	t.mu.Unlock()
}

func (t *tally) result(err error, old bool, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.After(t.lastReply) {
		t.lastReply = at
	}
	if old {
		t.oldSent++
	}
	var pe *proto.Error
	switch {
	case err == nil:
		t.accepted++
		if old {
			t.oldOK++
		}
	case errors.As(err, &pe):
		t.rejectedBy[pe.Message]++
		if old {
			t.oldRejBy[pe.Message]++
		}
	case errors.Is(err, client.ErrTimeout):
		t.timeouts++
		t.errorsBy["timeout"]++
	default:
		t.errorsBy[errReason(err)]++
	}
}

// measure submits every precomputed share, paced at cfg.rate in total or,
// with rate max, by cfg.inflight workers per session that each wait for
// the reply before sending the next share.
func measure(ctx context.Context, cfg *submitConfig, sessions []*subSession, res *SubmitResult) {
	t := &tally{rejectedBy: map[string]uint64{}, errorsBy: map[string]uint64{}, oldRejBy: map[string]uint64{}}
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.duration > 0 {
		sendCtx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	submitOne := func(sh share) {
		old := sh.sess.currentJobID() != sh.jobID
		t.sent()
		err := sh.sess.conn.Submit(ctx, sh.jobID, sh.nonce, sh.hash)
		t.result(err, old, time.Now())
	}
	var total int
	for _, s := range sessions {
		total += len(s.shares)
	}
	var wg sync.WaitGroup
	start := time.Now()
	if cfg.rate > 0 {
		// Open loop: share i leaves at start + i/rate whatever the replies
		// do, so a slow pool shows up as latency, not as a lower rate.
		var order []share
		for k := 0; len(order) < total; k++ {
			for _, s := range sessions {
				if k < len(s.shares) {
					order = append(order, s.shares[k])
				}
			}
		}
	send:
		for i, sh := range order {
			due := start.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				timer := time.NewTimer(d)
				select {
				case <-timer.C:
				case <-sendCtx.Done():
					timer.Stop()
					break send
				}
			}
			if sendCtx.Err() != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				submitOne(sh)
			}()
		}
	} else {
		for _, s := range sessions {
			for range min(cfg.inflight, len(s.shares)) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for sendCtx.Err() == nil {
						i := int(s.next.Add(1) - 1)
						if i >= len(s.shares) {
							return
						}
						submitOne(s.shares[i])
					}
				}()
			}
		}
	}
	wg.Wait()

	m := &res.Measured
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.first.IsZero() {
		start = t.first
	}
	end := t.lastReply
	if end.Before(start) {
		end = time.Now()
	}
	m.Seconds = end.Sub(start).Seconds()
	m.Submitted, m.Accepted, m.Timeouts = t.submitted, t.accepted, t.timeouts
	m.Unsent = uint64(total) - t.submitted
	m.RejectedBy, m.ErrorsBy = t.rejectedBy, t.errorsBy
	for _, n := range t.rejectedBy {
		m.Rejected += n
	}
	for _, n := range t.errorsBy {
		m.Errors += n
	}
	if len(m.ErrorsBy) == 0 {
		m.ErrorsBy = nil
	}
	if m.Seconds > 0 {
		m.AcceptedPerS = float64(m.Accepted) / m.Seconds
		m.SubmittedPerS = float64(m.Submitted) / m.Seconds
	}
	m.OldJob.Submitted, m.OldJob.Accepted = t.oldSent, t.oldOK
	if len(t.oldRejBy) > 0 {
		m.OldJob.RejectedBy = t.oldRejBy
	}
}
