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

// AcquireLease takes the named lease for ttl and returns its fencing
// token, or 0 when another process holds it.
func (s *Store) AcquireLease(ctx context.Context, name string, ttl time.Duration) (uint64, error) {
	lease, fence := s.leaseKeys(name)
	t, err := scriptLeaseAcquire.Run(ctx, s.rdb, []string{lease, fence}, ttl.Milliseconds()).Uint64()
	if err != nil {
		return 0, fmt.Errorf("storage: %s lease: %w", name, err)
	}
	return t, nil
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
	return scriptLeaseRelease.Run(ctx, s.rdb, []string{lease}, u64(token)).Err()
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
