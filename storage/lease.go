package storage

import (
	"context"
	"fmt"
	"time"
)

// Leases: one process of a kind acts at a time (payments, unlocker). A
// lease is a key holding the holder's fencing token with a TTL; tokens only
// grow, so a process that lost its lease can be told apart from the holder.
// The payment journal's scripts check the token on every write.
const (
	LeasePayments = "payments"
	LeaseUnlocker = "unlocker"
)

func (s *Store) leaseKeys(name string) (lease, fence string) {
	return s.k.tag + ":" + name + ":lease", s.k.tag + ":" + name + ":fence"
}

// leaseReleased holds the last token of the named lease given up by
// ReleaseLease: a lease that ended otherwise was not released but expired.
func (s *Store) leaseReleased(name string) string { return s.k.tag + ":" + name + ":released" }

// AcquireLease takes the named lease for ttl and returns its fencing
// token, or 0 when another process holds it. Taking over a lease whose
// holder let it expire (it stalled or died) is logged (see TakeLease).
func (s *Store) AcquireLease(ctx context.Context, name string, ttl time.Duration) (uint64, error) {
	t, stalled, err := s.TakeLease(ctx, name, ttl)
	if stalled != 0 {
		s.log.Warnf("storage: took the %s lease over from token %d (its holder stalled or died)", name, stalled)
	}
	return t, err
}

// TakeLease is AcquireLease, telling instead of logging whether the lease
// was taken over: stalled is the token of the previous holder when its
// lease expired instead of being released (0 otherwise), whose last run
// may have stopped half way.
func (s *Store) TakeLease(ctx context.Context, name string, ttl time.Duration) (token, stalled uint64, err error) {
	lease, fence := s.leaseKeys(name)
	r, err := scriptLeaseAcquire.Run(ctx, s.rdb, []string{lease, fence, s.leaseReleased(name)}, ttl.Milliseconds()).Int64Slice()
	if err == nil && len(r) != 2 {
		err = fmt.Errorf("lease script answered %v", r)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("storage: %s lease: %w", name, err)
	}
	return uint64(r[0]), uint64(r[1]), nil
}

// RenewLease extends the named lease for ttl; false means it is lost.
func (s *Store) RenewLease(ctx context.Context, name string, token uint64, ttl time.Duration) (bool, error) {
	lease, _ := s.leaseKeys(name)
	n, err := scriptLeaseRenew.Run(ctx, s.rdb, []string{lease}, u64(token), ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("storage: renewing the %s lease: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives the named lease up if it is still ours.
func (s *Store) ReleaseLease(ctx context.Context, name string, token uint64) error {
	lease, _ := s.leaseKeys(name)
	return scriptLeaseRelease.Run(ctx, s.rdb, []string{lease, s.leaseReleased(name)}, u64(token)).Err()
}

// AcquirePaymentsLease is AcquireLease of the payments lease, whose token
// the journal scripts check.
func (s *Store) AcquirePaymentsLease(ctx context.Context, ttl time.Duration) (uint64, error) {
	return s.AcquireLease(ctx, LeasePayments, ttl)
}

// RenewPaymentsLease extends the payments lease for ttl; false means it is lost.
func (s *Store) RenewPaymentsLease(ctx context.Context, token uint64, ttl time.Duration) (bool, error) {
	return s.RenewLease(ctx, LeasePayments, token, ttl)
}

// ReleasePaymentsLease gives the payments lease up if it is still ours.
func (s *Store) ReleasePaymentsLease(ctx context.Context, token uint64) error {
	return s.ReleaseLease(ctx, LeasePayments, token)
}
