package payments

// Payments pause while the journal's writes reach fewer replicas than
// redis.minReplicaAcks (issue 19): a payout relayed after a relaying step
// that only the master has would be forgotten by a failover, and recovery
// would return its debits and pay it twice. Each run checks the replicas
// before making any record (storage.Store.Durable), and the relaying step
// itself waits for them; the pause ends by itself on the first run that
// finds them answering.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"rxpool/storage"
)

// durablePause is the pause's state, kept by the serving goroutine.
type durablePause struct {
	since, logged time.Time
	cleared       bool // the /health record was removed since this process started
}

func (d *durablePause) active() bool { return !d.since.IsZero() }

// notePause follows the pause after a run: it reports whether err was a
// pause, logs its start once (then every pauseReminder), its end once, and
// keeps the record /health reads (storage.Store.PaymentsPaused).
func (p *Processor) notePause(ctx context.Context, res Result, err error) bool {
	var nd *storage.NotDurableError
	if !errors.As(err, &nd) {
		if res.durable && (p.paused.active() || !p.paused.cleared) {
			if p.paused.active() {
				p.log.Infof("payments: resumed: %d replicas acknowledge the journal again (paused %v)",
					p.store.MinReplicaAcks(), time.Since(p.paused.since).Round(time.Second))
			}
			if err := p.store.SetPaymentsPaused(ctx, time.Time{}, "", 0); err != nil {
				if ctx.Err() == nil { // stopping: the next process clears it
					p.log.Warnf("payments: clearing the pause for /health: %v", err)
				}
			} else {
				p.paused = durablePause{cleared: true}
			}
		}
		return false
	}
	why := fmt.Sprintf("the relaying step is on %d of %d replicas (redis.minReplicaAcks) after waiting %v", nd.Acked, nd.Wanted, nd.Waited)
	if nd.Err != nil {
		why = fmt.Sprintf("waiting for %d replicas (redis.minReplicaAcks) to acknowledge the relaying step failed: %v", nd.Wanted, nd.Err)
	}
	now := time.Now()
	switch {
	case !p.paused.active():
		p.paused.since, p.paused.logged = now, now
		p.log.Errorf("payments: PAUSED: %s; nothing is relayed until enough replicas acknowledge the payment journal "+
			"(a failover could otherwise forget a payout and pay it twice); balances stay as they are; trying again every %v", why, p.cfg.Interval)
	case now.Sub(p.paused.logged) >= pauseReminder:
		p.paused.logged = now
		p.log.Errorf("payments: still PAUSED after %v: %s", now.Sub(p.paused.since).Round(time.Second), why)
	default:
		p.log.Debugf("payments: still paused: %s", why)
	}
	// Expires unless rewritten, so a stopped payments process leaves no
	// stale pause behind.
	ttl := 3*p.cfg.Interval + time.Minute
	if err := p.store.SetPaymentsPaused(ctx, p.paused.since, why, ttl); err != nil {
		p.log.Warnf("payments: recording the pause for /health: %v", err)
	}
	p.paused.cleared = false
	return true
}
