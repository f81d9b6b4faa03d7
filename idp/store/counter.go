package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// BucketCounters holds the rate-limit counters of idp.Counter.
const BucketCounters = "counters"

var _ idp.Counter = (*typed)(nil)

// Incr adds one to (namespace, key) with Backend.Incr. The key is hashed
// like a replay entry, so client-supplied values never reach the backend.
func (s *typed) Incr(ctx context.Context, namespace, key string, expiresAt time.Time) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("store: incr: %w: empty key", ErrInvalid)
	}
	if err := CheckExpiry(expiresAt); err != nil {
		return 0, fmt.Errorf("store: incr: %w", err)
	}
	return s.b.Incr(ctx, BucketCounters, replayKey(namespace, key), expiresAt)
}

// Count reads the live count of (namespace, key); an absent or expired
// counter counts 0.
func (s *typed) Count(ctx context.Context, namespace, key string) (int64, error) {
	if key == "" {
		return 0, nil
	}
	v, err := s.b.Get(ctx, BucketCounters, replayKey(namespace, key))
	if errors.Is(err, idp.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: counter value", ErrCorrupt)
	}
	return n, nil
}
