package memory

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// Option configures New.
type Option func(*options)

type options struct {
	now           func() time.Time
	sweepInterval time.Duration
	log           *slog.Logger
}

// WithClock sets the clock that decides expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSweepInterval sets how often expired records are dropped (default
// store.DefaultSweepInterval); zero or less disables the sweeper.
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) { o.sweepInterval = d }
}

// WithLogger sets the logger for sweeper failures (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

type record struct {
	value     []byte
	expiresAt time.Time
	consumed  bool
}

// Backend is an in-process store.Backend.
type Backend struct {
	now  func() time.Time
	stop func()

	mu      sync.Mutex
	buckets map[string]map[string]*record
	closed  bool
}

var _ store.Backend = (*Backend)(nil)

// New returns an empty Backend with its sweeper running; Close stops it.
func New(opts ...Option) *Backend {
	o := options{now: time.Now, sweepInterval: store.DefaultSweepInterval}
	for _, opt := range opts {
		opt(&o)
	}
	b := &Backend{now: o.now, buckets: map[string]map[string]*record{}}
	b.stop = store.StartSweeper(b.Sweep, o.sweepInterval, o.log)
	return b
}

var errClosed = fmt.Errorf("memory: %w: closed", idp.ErrStoreUnavailable)

// begin checks the arguments and the context, then locks. The caller must
// unlock when err is nil.
func (b *Backend) begin(ctx context.Context, bucket string, key []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckKey(bucket, key); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	return nil
}

// live returns the record under key unless it is absent, expired or (when
// tombstones is false) consumed. Called with mu held.
func (b *Backend) live(bucket string, key []byte, tombstones bool) *record {
	r := b.buckets[bucket][string(key)]
	if r == nil || !b.now().Before(r.expiresAt) || (r.consumed && !tombstones) {
		return nil
	}
	return r
}

// set stores a copy of value. Called with mu held.
func (b *Backend) set(bucket string, key, value []byte, exp time.Time) {
	m := b.buckets[bucket]
	if m == nil {
		m = map[string]*record{}
		b.buckets[bucket] = m
	}
	m[string(key)] = &record{value: bytes.Clone(value), expiresAt: exp}
}

// Put implements store.Backend.
func (b *Backend) Put(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) error {
	if err := store.CheckExpiry(expiresAt); err != nil {
		return fmt.Errorf("memory: put: %w", err)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return err
	}
	defer b.mu.Unlock()
	b.set(bucket, key, value, expiresAt)
	return nil
}

// Get implements store.Backend.
func (b *Backend) Get(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	if err := b.begin(ctx, bucket, key); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	r := b.live(bucket, key, false)
	if r == nil {
		return nil, idp.ErrNotFound
	}
	return bytes.Clone(r.value), nil
}

// Delete implements store.Backend.
func (b *Backend) Delete(ctx context.Context, bucket string, key []byte) error {
	if err := b.begin(ctx, bucket, key); err != nil {
		return err
	}
	defer b.mu.Unlock()
	delete(b.buckets[bucket], string(key))
	return nil
}

// Take implements store.Backend.
func (b *Backend) Take(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	if err := b.begin(ctx, bucket, key); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	r := b.live(bucket, key, false)
	if r == nil {
		return nil, idp.ErrNotFound
	}
	delete(b.buckets[bucket], string(key))
	return r.value, nil // the record is gone: no one else holds r.value
}

// Consume implements store.Backend.
func (b *Backend) Consume(ctx context.Context, bucket string, key []byte, keep time.Duration) ([]byte, bool, error) {
	return b.ConsumeShrink(ctx, bucket, key, keep, nil)
}

// ConsumeShrink implements store.Shrinker.
func (b *Backend) ConsumeShrink(ctx context.Context, bucket string, key []byte, keep time.Duration, shrink func([]byte) []byte) ([]byte, bool, error) {
	if keep < 0 {
		return nil, false, fmt.Errorf("memory: consume: %w: negative keep", store.ErrInvalid)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return nil, false, err
	}
	defer b.mu.Unlock()
	r := b.live(bucket, key, true)
	if r == nil {
		return nil, false, idp.ErrNotFound
	}
	if r.consumed {
		return bytes.Clone(r.value), false, nil
	}
	r.consumed = true
	r.expiresAt = r.expiresAt.Add(keep)
	value := bytes.Clone(r.value)
	if shrink != nil {
		if small := shrink(value); small != nil {
			r.value = bytes.Clone(small)
		}
	}
	return value, true, nil
}

// PutIfAbsent implements store.Backend.
func (b *Backend) PutIfAbsent(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) (bool, error) {
	if err := store.CheckExpiry(expiresAt); err != nil {
		return false, fmt.Errorf("memory: put if absent: %w", err)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return false, err
	}
	defer b.mu.Unlock()
	if b.live(bucket, key, false) != nil {
		return false, nil
	}
	b.set(bucket, key, value, expiresAt)
	return true, nil
}

// Incr implements store.Backend.
func (b *Backend) Incr(ctx context.Context, bucket string, key []byte, expiresAt time.Time) (int64, error) {
	if err := store.CheckExpiry(expiresAt); err != nil {
		return 0, fmt.Errorf("memory: incr: %w", err)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	r := b.live(bucket, key, false)
	if r == nil {
		b.set(bucket, key, []byte("1"), expiresAt)
		return 1, nil
	}
	n, err := strconv.ParseInt(string(r.value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory: incr: %w: value is not a counter", store.ErrInvalid)
	}
	n++
	r.value = strconv.AppendInt(r.value[:0], n, 10)
	return n, nil
}

// Sweep implements store.Backend.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClosed
	}
	now := b.now()
	n := 0
	for _, m := range b.buckets {
		for k, r := range m {
			if !now.Before(r.expiresAt) {
				delete(m, k)
				n++
			}
		}
	}
	return n, nil
}

// Check implements store.Backend.
func (b *Backend) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	return nil
}

// Close stops the sweeper and drops every record. It is idempotent.
func (b *Backend) Close() error {
	b.stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.buckets = nil
	return nil
}
