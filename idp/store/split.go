package store

import (
	"context"
	"errors"
	"time"
)

// ShortLivedBuckets are the typed adapter's buckets whose records are used
// within minutes and whose loss in a crash costs a person one retry, never
// a security property: pending login requests (flows), authorization codes
// (redeemed within milliseconds of the redirect), replay markers and
// rate-limit counters. With store.short_lived "memory" (the default for
// the bolt backend) they stay in process memory, beside the login
// throttle's bucket, so that a login does not wait for the disk for them
// and the SP's token call never does. A code lost in a restart cannot be
// redeemed twice either: it is simply gone, and the employee, still signed
// in, gets a new one at once. Sessions, access tokens and audit events
// stay in the file: a restart keeps people signed in and issued tokens
// valid.
var ShortLivedBuckets = []string{BucketFlows, BucketCodes, BucketReplay, BucketCounters}

// Split returns a Backend that keeps the buckets named in fastBuckets in
// fast and every other bucket in durable. Each call goes to exactly one of
// them, so every atomicity promise of the Backend contract holds as it
// does in that backend. Sweep, Check and Close act on both.
func Split(durable, fast Backend, fastBuckets ...string) Backend {
	s := &split{durable: durable, fast: fast, fastBuckets: make(map[string]bool, len(fastBuckets))}
	for _, b := range fastBuckets {
		s.fastBuckets[b] = true
	}
	return s
}

type split struct {
	durable, fast Backend
	fastBuckets   map[string]bool
}

func (s *split) pick(bucket string) Backend {
	if s.fastBuckets[bucket] {
		return s.fast
	}
	return s.durable
}

func (s *split) Put(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) error {
	return s.pick(bucket).Put(ctx, bucket, key, value, expiresAt)
}

func (s *split) Get(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	return s.pick(bucket).Get(ctx, bucket, key)
}

func (s *split) Delete(ctx context.Context, bucket string, key []byte) error {
	return s.pick(bucket).Delete(ctx, bucket, key)
}

func (s *split) Take(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	return s.pick(bucket).Take(ctx, bucket, key)
}

func (s *split) Consume(ctx context.Context, bucket string, key []byte, keep time.Duration) ([]byte, bool, error) {
	return s.pick(bucket).Consume(ctx, bucket, key, keep)
}

func (s *split) PutIfAbsent(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) (bool, error) {
	return s.pick(bucket).PutIfAbsent(ctx, bucket, key, value, expiresAt)
}

func (s *split) Incr(ctx context.Context, bucket string, key []byte, expiresAt time.Time) (int64, error) {
	return s.pick(bucket).Incr(ctx, bucket, key, expiresAt)
}

func (s *split) Sweep(ctx context.Context) (int, error) {
	n1, err1 := s.durable.Sweep(ctx)
	n2, err2 := s.fast.Sweep(ctx)
	return n1 + n2, errors.Join(err1, err2)
}

// Check reports whether both backends can serve, the durable one first.
func (s *split) Check(ctx context.Context) error {
	if err := s.durable.Check(ctx); err != nil {
		return err
	}
	return s.fast.Check(ctx)
}

func (s *split) Close() error {
	return errors.Join(s.durable.Close(), s.fast.Close())
}
