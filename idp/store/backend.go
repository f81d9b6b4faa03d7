package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Backend is the small key-value contract every state store implements. It
// knows nothing of sessions, flows or codes: the typed adapter returned by New
// builds those on top of it, so a new backend (Redis, say) implements these
// few primitives and passes storetest.Run.
//
// Records live in named buckets. A record is live from the moment it is
// written until its expiry (exclusive: at expiresAt it is already gone) and
// every read enforces that, whether or not a sweeper has removed it yet.
// Values handed in are not retained and values handed out are copies: callers
// may reuse either slice.
//
// A record consumed by Consume becomes a tombstone. Only Consume sees
// tombstones; for every other operation a tombstone is as absent as an
// expired record (Get and Take report idp.ErrNotFound, Put, PutIfAbsent and
// Incr write a fresh record over it).
//
// Errors: idp.ErrNotFound for absent, expired and consumed records;
// ErrInvalid (wrapped) for calls that break this contract; failures of the
// backend itself, including use after Close, wrap idp.ErrStoreUnavailable.
// A cancelled context makes an operation return the context's error without
// touching the store.
type Backend interface {
	// Put stores value under key until expiresAt, replacing any record.
	Put(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) error
	// Get returns the value of a live record.
	Get(ctx context.Context, bucket string, key []byte) ([]byte, error)
	// Delete removes the record (live, expired or tombstone); removing
	// nothing is not an error.
	Delete(ctx context.Context, bucket string, key []byte) error
	// Take atomically returns and removes a live record: of any number of
	// concurrent takes of one record exactly one gets its value, the others
	// idp.ErrNotFound.
	Take(ctx context.Context, bucket string, key []byte) ([]byte, error)
	// Consume atomically turns a live record into a tombstone that is kept
	// until the record's expiry plus keep, and returns its value. The call
	// that consumed it gets first=true; every later Consume until the
	// tombstone expires gets the same value with first=false. An absent or
	// expired record (or an expired tombstone) gives idp.ErrNotFound.
	Consume(ctx context.Context, bucket string, key []byte, keep time.Duration) (value []byte, first bool, err error)
	// PutIfAbsent stores the record only when no live record exists under
	// key, and reports whether it did. Of concurrent calls for one key
	// exactly one reports true.
	PutIfAbsent(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) (bool, error)
	// Incr atomically adds one to the counter under key and returns the new
	// count. When no live counter exists it starts a new one at 1 that lives
	// until expiresAt; later increments keep that expiry (a fixed window).
	// The stored value is the count in decimal ASCII. Incr on a live record
	// that is not a counter is an error.
	Incr(ctx context.Context, bucket string, key []byte, expiresAt time.Time) (int64, error)
	// Sweep removes expired records and tombstones and reports how many it
	// removed. Backends with native expiry may remove nothing and return 0.
	Sweep(ctx context.Context) (int, error)
	// Check reports whether the backend can serve (for /readyz).
	Check(ctx context.Context) error
	// Close releases the backend and stops its sweeper. It is idempotent;
	// every other call after Close fails with idp.ErrStoreUnavailable.
	Close() error
}

// Updater is an optional Backend interface for backends that can make
// several writes one atomic transaction at the price of one (boltstore: one
// group-commit write instead of one per call). PutAudit uses it, so that an
// audit event costs one commit instead of four. fn's writes all happen or
// none does; an error from fn undoes them and is returned. fn may run more
// than once (the bolt committer retries a failed group write by write), so
// it must not keep state between runs.
type Updater interface {
	Update(ctx context.Context, bucket string, fn func(Tx) error) error
}

// Tx is the writes available inside Updater.Update, all in the bucket
// Update was given. Each has the semantics of the Backend method of the
// same name.
type Tx interface {
	Put(key, value []byte, expiresAt time.Time) error
	Incr(key []byte, expiresAt time.Time) (int64, error)
}

// backendTx is Tx over a Backend's own calls: the same writes, one call
// (and, in a durable backend, one commit) each, without atomicity.
type backendTx struct {
	ctx    context.Context
	b      Backend
	bucket string
}

func (t backendTx) Put(key, value []byte, expiresAt time.Time) error {
	return t.b.Put(t.ctx, t.bucket, key, value, expiresAt)
}

func (t backendTx) Incr(key []byte, expiresAt time.Time) (int64, error) {
	return t.b.Incr(t.ctx, t.bucket, key, expiresAt)
}

// holder is the backend that holds bucket: b, or the part of a Split b
// that the bucket goes to (whose optional interfaces the caller wants).
func holder(b Backend, bucket string) Backend {
	if s, ok := b.(*split); ok {
		return s.pick(bucket)
	}
	return b
}

// update runs fn on the backend that holds bucket: in one transaction when
// that backend is an Updater, else call by call.
func update(ctx context.Context, b Backend, bucket string, fn func(Tx) error) error {
	b = holder(b, bucket)
	if u, ok := b.(Updater); ok {
		return u.Update(ctx, bucket, fn)
	}
	return fn(backendTx{ctx: ctx, b: b, bucket: bucket})
}

// Shrinker is implemented by a Backend that can leave a smaller tombstone
// than the record it consumes. ConsumeShrink is Consume, except that the
// consuming call replaces the record's value with shrink(value) as it
// turns it into a tombstone (a nil result keeps the value), so later calls
// get the shrunk value with first=false; the consuming call still gets the
// whole value. shrink runs inside the backend's atomic section, at most
// once per record. TakeCode uses it: a spent code only has to name the
// token to revoke on a replay, and spent codes are kept minutes past their
// expiry, in memory.
type Shrinker interface {
	ConsumeShrink(ctx context.Context, bucket string, key []byte, keep time.Duration, shrink func(value []byte) []byte) (value []byte, first bool, err error)
}

// consume is Backend.Consume on the backend that holds bucket, with
// shrink when that backend is a Shrinker.
func consume(ctx context.Context, b Backend, bucket string, key []byte, keep time.Duration, shrink func([]byte) []byte) ([]byte, bool, error) {
	b = holder(b, bucket)
	if sh, ok := b.(Shrinker); ok {
		return sh.ConsumeShrink(ctx, bucket, key, keep, shrink)
	}
	return b.Consume(ctx, bucket, key, keep)
}

// ErrInvalid is wrapped by errors for calls that break the Backend contract
// (empty bucket or key, zero expiry, negative duration, Incr on a value that
// is not a counter). It is a bug in the caller, not a store outage.
var ErrInvalid = errors.New("store: invalid argument")

// CheckKey returns an error wrapping ErrInvalid when bucket or key is empty.
// Backends call it first in every keyed operation.
func CheckKey(bucket string, key []byte) error {
	switch {
	case bucket == "":
		return fmt.Errorf("%w: empty bucket name", ErrInvalid)
	case len(key) == 0:
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	return nil
}

// CheckExpiry returns an error wrapping ErrInvalid for a zero expiry: every
// record in an identity provider's state store must end.
func CheckExpiry(expiresAt time.Time) error {
	if expiresAt.IsZero() {
		return fmt.Errorf("%w: zero expiry", ErrInvalid)
	}
	return nil
}

// DefaultSweepInterval is how often backends without native expiry remove
// expired records when no interval is configured.
const DefaultSweepInterval = time.Minute

// StartSweeper calls sweep every interval in its own goroutine until the
// returned stop function is called. stop cancels a sweep in progress, waits
// for the goroutine to end, and may be called more than once. An interval of
// zero or less starts nothing. Failures are logged, never fatal: expired
// records are invisible to reads anyway, so a missed sweep only costs space.
func StartSweeper(sweep func(context.Context) (int, error), interval time.Duration, log *slog.Logger) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n, err := sweep(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("store sweep failed", "err", err)
			case n > 0:
				log.Debug("store swept expired records", "removed", n)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}
