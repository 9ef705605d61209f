package storage

// Durable before irreversible (issue 19). Replication is asynchronous: a
// failover to a replica loses the master's latest writes. So the steps after
// which something irreversible happens (the payment journal's relaying
// step, a found block candidate, a block's credit) are followed by WAIT
// (WAITAOF where the server has it) on the connection that wrote them, and
// count as done only once redis.minReplicaAcks replicas acknowledged them.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotDurable: the write landed on the master, but fewer replicas than
// redis.minReplicaAcks acknowledged it in time; a failover now could lose
// it. The error is a *NotDurableError.
var ErrNotDurable = errors.New("storage: not acknowledged by enough replicas")

// DefaultReplicaAckTimeout is how long an irreversible step waits for its
// replicas' acknowledgements.
const DefaultReplicaAckTimeout = 2 * time.Second

// NotDurableError says how many replicas acknowledged a write of how many
// wanted; errors.Is(err, ErrNotDurable) holds.
type NotDurableError struct {
	Acked, Wanted int
	Waited        time.Duration
	Err           error // the wait itself failed (Acked is then unknown, 0)
}

func (e *NotDurableError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("storage: written on the master, but waiting for %d replica acknowledgements failed: %v", e.Wanted, e.Err)
	}
	return fmt.Sprintf("storage: on %d of %d replicas (redis.minReplicaAcks) after waiting %v", e.Acked, e.Wanted, e.Waited)
}

func (e *NotDurableError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrNotDurable, e.Err}
	}
	return []error{ErrNotDurable}
}

// durability is the Store's replica acknowledgement setting.
type durability struct {
	want     int           // configured; -1 = choose at start
	sentinel bool          // the deployment is Sentinel-managed
	timeout  time.Duration // per wait
	acks     int           // in force
	waitAOF  bool          // the server has WAITAOF (7.2+)
	noFsync  *atomic.Bool  // replicas were seen to receive without fsync (logged once)
}

// WithReplicaAcks sets redis.minReplicaAcks (n < 0: the default, see
// chooseAcks) and how long each wait lasts (0: DefaultReplicaAckTimeout).
func WithReplicaAcks(n int, timeout time.Duration) Option {
	return func(o *options) { o.dur.want, o.dur.timeout = n, timeout }
}

// durabilityFromConfig carries the configuration's choice into the options.
func durabilityFromConfig(cfg Config) Option {
	return func(o *options) {
		o.dur.want, o.dur.sentinel = -1, cfg.Sentinel.MasterName != ""
		if cfg.MinReplicaAcks != nil {
			o.dur.want = *cfg.MinReplicaAcks
		}
	}
}

func (k keys) durable() string   { return k.tag + ":durable" }
func (k keys) payPaused() string { return k.tag + ":payments:paused" }

// MinReplicaAcks is the number of replica acknowledgements in force.
func (s *Store) MinReplicaAcks() int { return s.opt.dur.acks }

// setupDurability decides the acknowledgements in force. Unset, it is 1
// with Sentinel (a deployment that fails over to a replica), 1 when the
// master (of the prefix's slot, on a Cluster) has a replica connected at
// start, and 0 otherwise: a single Redis, where `appendfsync always` is the
// guarantee, and a Cluster without replicas.
func (s *Store) setupDurability(ctx context.Context) error {
	d := &s.opt.dur
	if d.timeout <= 0 {
		d.timeout = DefaultReplicaAckTimeout
	}
	if d.want < -1 {
		return fmt.Errorf("storage: redis.minReplicaAcks must be ≥ -1 (-1 = default), got %d", d.want)
	}
	node, err := s.masterFor(ctx, s.k.durable())
	if err != nil {
		if d.want <= 0 {
			d.acks = 0
			return nil // nothing to wait for: other clients (tests' wrappers) are fine
		}
		return err
	}
	info, err := node.Info(ctx, "server", "replication").Result()
	if err != nil {
		if d.want < 0 {
			return fmt.Errorf("storage: INFO, to choose redis.minReplicaAcks: %w", err)
		}
		s.log.Warnf("storage: INFO failed (%v); using WAIT", err)
	}
	f := parseInfo(info)
	d.waitAOF, d.noFsync = versionAtLeast(f["redis_version"], 7, 2), new(atomic.Bool)
	replicas, _ := strconv.Atoi(f["connected_slaves"])
	why := "configured"
	switch {
	case d.want >= 0:
		d.acks = d.want
	case d.sentinel:
		d.acks, why = 1, "the default with Sentinel"
	case replicas > 0:
		d.acks, why = 1, fmt.Sprintf("the default: the master has %d replicas", replicas)
	default:
		d.acks, why = 0, "the default without replicas"
	}
	if d.acks == 0 {
		s.log.Infof("storage: redis.minReplicaAcks 0 (%s): irreversible steps do not wait for replicas", why)
		return nil
	}
	cmd := "WAIT"
	if d.waitAOF {
		cmd = "WAITAOF"
	}
	s.log.Infof("storage: redis.minReplicaAcks %d (%s): payouts' relaying steps, block candidates and credits wait for that many replicas' acknowledgement (%s, up to %v)", d.acks, why, cmd, d.timeout)
	if replicas < d.acks {
		s.log.Warnf("storage: the master has %d replicas connected, fewer than the %d redis.minReplicaAcks wants: payments pause until enough acknowledge", replicas, d.acks)
	}
	return nil
}

func parseInfo(info string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}

// versionAtLeast compares a "major.minor.patch" version.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (ma > major || ma == major && mi >= minor)
}

// masterFor is the client of the master that holds key: WAIT covers only
// the writes of its own connection, so a write and its WAIT must go to one
// node over one connection.
func (s *Store) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	case *redis.Client: // plain or Sentinel (failover) client
		return c, nil
	}
	return nil, fmt.Errorf("storage: cannot wait for replicas through a %T", s.rdb)
}

// runDurable runs a script and, when replica acknowledgements are wanted,
// waits for them on the same connection. The script's own error comes
// back as is; when it succeeded but too few replicas acknowledged, the
// error is a *NotDurableError and cmd holds the script's reply.
func (s *Store) runDurable(ctx context.Context, sc *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	if s.opt.dur.acks == 0 {
		cmd := sc.Run(ctx, s.rdb, keys, args...)
		return cmd, cmd.Err()
	}
	node, err := s.masterFor(ctx, keys[0])
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd, err
	}
	conn := node.Conn()
	defer conn.Close()
	cmd := sc.Run(ctx, conn, keys, args...)
	if err := cmd.Err(); err != nil {
		return cmd, err
	}
	return cmd, s.waitReplicas(ctx, conn)
}

// Durable waits until redis.minReplicaAcks replicas have everything the
// master has so far (nil at once when none are wanted). Payments ask it
// before paying, so a replica outage pauses them before any record is made;
// the unlocker asks it again for a credit that was not acknowledged.
func (s *Store) Durable(ctx context.Context) error {
	if s.opt.dur.acks == 0 {
		return nil
	}
	return s.onDurableMaster(ctx, func(conn *redis.Conn) error { return s.waitReplicas(ctx, conn) })
}

// onDurableMaster runs f on a connection of the master holding {p}:durable:
// WAIT counts the replicas of the connection's own node.
func (s *Store) onDurableMaster(ctx context.Context, f func(*redis.Conn) error) error {
	node, err := s.masterFor(ctx, s.k.durable())
	if err != nil {
		return err
	}
	conn := node.Conn()
	defer conn.Close()
	return f(conn)
}

// replicasAcked is how many replicas have everything the prefix's master
// has, waiting at most wait: {p}:durable then WAIT (receipt, not fsync: a
// promoted replica serves what it received), as waitReplicas.
func (s *Store) replicasAcked(ctx context.Context, wait time.Duration) (n int, err error) {
	err = s.onDurableMaster(ctx, func(conn *redis.Conn) error {
		if err := conn.Set(ctx, s.k.durable(), s.now().UnixMilli(), 0).Err(); err != nil {
			return err
		}
		acked, err := conn.Wait(ctx, s.opt.dur.acks, wait).Result()
		n = int(acked)
		return err
	})
	return n, err
}

// waitReplicas writes {p}:durable, then WAITs. The write makes the wait
// cover everything the master had when it was made: a script that found
// its work done already (a repeat) writes nothing, and WAIT alone would
// only cover this connection's earlier writes, not the first attempt's on
// another connection. Replicas apply the stream in order.
func (s *Store) waitReplicas(ctx context.Context, conn *redis.Conn) error {
	d := s.opt.dur
	if err := conn.Set(ctx, s.k.durable(), s.now().UnixMilli(), 0).Err(); err != nil {
		return &NotDurableError{Wanted: d.acks, Waited: d.timeout, Err: err}
	}
	var acked int64
	if d.waitAOF {
		v, err := conn.WaitAOF(ctx, 0, d.acks, d.timeout).Result()
		if err != nil {
			return &NotDurableError{Wanted: d.acks, Waited: d.timeout, Err: err}
		}
		if len(v) == 2 {
			acked = v[1] // [local fsyncs, replica fsyncs]
		}
		if int(acked) < d.acks {
			// Replicas without appendonly never count in WAITAOF: settle
			// for their receipt (WAIT), which the wait above gave time.
			if n, err := conn.Wait(ctx, d.acks, time.Millisecond).Result(); err == nil && int(n) >= d.acks {
				if d.noFsync != nil && !d.noFsync.Swap(true) {
					s.log.Warnf("storage: %d replicas received the writes but did not fsync them (WAITAOF: appendonly off on the replicas?); counting their receipt (WAIT)", n)
				}
				acked = n
			}
		}
	} else {
		n, err := conn.Wait(ctx, d.acks, d.timeout).Result()
		if err != nil {
			return &NotDurableError{Wanted: d.acks, Waited: d.timeout, Err: err}
		}
		acked = n
	}
	if int(acked) < d.acks {
		return &NotDurableError{Acked: int(acked), Wanted: d.acks, Waited: d.timeout}
	}
	return nil
}

// PaymentsPause is why payments are paused, as the payments process last
// recorded it for /health.
type PaymentsPause struct {
	Since  time.Time
	Reason string
}

// SetPaymentsPaused records why payments are paused (since when); an empty
// reason clears it. The record expires after ttl, so a payments process
// that stopped leaves no stale pause: a paused one writes it every run.
func (s *Store) SetPaymentsPaused(ctx context.Context, since time.Time, reason string, ttl time.Duration) error {
	if reason == "" {
		return s.rdb.Del(ctx, s.k.payPaused()).Err()
	}
	return s.rdb.Set(ctx, s.k.payPaused(), strconv.FormatInt(since.UnixMilli(), 10)+" "+reason, ttl).Err()
}

// PaymentsPaused reads what SetPaymentsPaused recorded (nil: not paused).
func (s *Store) PaymentsPaused(ctx context.Context) (*PaymentsPause, error) {
	v, err := s.rdb.Get(ctx, s.k.payPaused()).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ms, reason, _ := strings.Cut(v, " ")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return &PaymentsPause{Since: time.UnixMilli(n), Reason: reason}, nil
}
