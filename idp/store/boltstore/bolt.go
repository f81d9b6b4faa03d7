package boltstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// ErrLocked is wrapped by Open's error when another process holds the file.
var ErrLocked = errors.New("boltstore: database is locked")

// fileMode keeps session and code records away from other local users.
const fileMode = 0o600

// sweepChunk bounds the deletions of one sweep transaction so a large
// backlog never holds the writer lock for long.
const sweepChunk = 1000

// Option configures Open.
type Option func(*options)

type options struct {
	now           func() time.Time
	sweepInterval time.Duration
	lockTimeout   time.Duration
	log           *slog.Logger
}

// WithClock sets the clock that decides expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithSweepInterval sets how often expired records are deleted (default
// store.DefaultSweepInterval); zero or less disables the sweeper.
func WithSweepInterval(d time.Duration) Option {
	return func(o *options) { o.sweepInterval = d }
}

// WithLockTimeout sets how long Open waits for another process to release
// the file (default store.DefaultLockTimeout). Zero or less means the
// default: waiting forever is never what an operator wants.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Backend is a store.Backend in one bbolt file.
type Backend struct {
	db     *bolt.DB
	commit *committer
	now    func() time.Time
	stop   func()

	closeOnce sync.Once
	closeErr  error
}

var _ store.Backend = (*Backend)(nil)

// Open opens (creating with mode 0600 if needed) the database at path and
// starts the sweeper. It fails within the lock timeout, with an error
// wrapping ErrLocked, when another process holds the file.
func Open(path string, opts ...Option) (*Backend, error) {
	o := options{now: time.Now, sweepInterval: store.DefaultSweepInterval, lockTimeout: store.DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.lockTimeout <= 0 {
		o.lockTimeout = store.DefaultLockTimeout
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, fmt.Errorf("boltstore: open: %w: empty path", store.ErrInvalid)
	}
	db, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: o.lockTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is still locked after %s; another idp process probably holds it (stop that process, or set store.path to another file)",
			ErrLocked, path, o.lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	// bbolt creates the file 0600 but leaves an existing file's mode alone.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		o.log.Warn("store file is accessible to other users", "path", path, "mode", fi.Mode().Perm().String())
	}
	b := &Backend{db: db, commit: newCommitter(db), now: o.now}
	b.stop = store.StartSweeper(b.Sweep, o.sweepInterval, o.log)
	return b, nil
}

// OpenConfig opens the file a validated store.Config names, with its sweep
// interval and lock timeout; opts may add a clock or logger.
func OpenConfig(c store.Config, opts ...Option) (*Backend, error) {
	base := []Option{WithSweepInterval(c.SweepInterval), WithLockTimeout(c.LockTimeout)}
	return Open(c.Path, append(base, opts...)...)
}

// fail wraps a bbolt failure; ErrNotFound and contract errors pass through.
func fail(op string, err error) error {
	if err == nil || isOutcome(err) {
		return err
	}
	return fmt.Errorf("boltstore: %s: %w: %w", op, idp.ErrStoreUnavailable, err)
}

func check(ctx context.Context, op, bucket string, key []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckKey(bucket, key); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

// readLive returns the live record under key; it is absent (ok false) when
// missing, expired, or a tombstone unless tombstones is set.
func readLive(bkt *bolt.Bucket, key []byte, now int64, tombstones bool) (record, bool, error) {
	if bkt == nil {
		return record{}, false, nil
	}
	v := bkt.Get(key)
	if v == nil {
		return record{}, false, nil
	}
	r, err := decode(v)
	if err != nil {
		return record{}, false, err
	}
	if r.expired(now) || (r.consumed() && !tombstones) {
		return record{}, false, nil
	}
	return r, true, nil
}

// Put implements store.Backend. Like every write it goes through the group
// committer, which may run the function twice: safe, because writing the
// same record twice leaves the same state as writing it once.
func (b *Backend) Put(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) error {
	if err := checkWrite(ctx, "put", bucket, key, expiresAt); err != nil {
		return err
	}
	v := encode(unixNano(expiresAt), 0, value)
	return fail("put", b.commit.do(func(tx *bolt.Tx) error { return putIn(tx, bucket, key, v) }))
}

// putIn writes the encoded record v under key, creating the bucket.
func putIn(tx *bolt.Tx, bucket string, key, v []byte) error {
	bkt, err := tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	return bkt.Put(key, v)
}

// Get implements store.Backend.
func (b *Backend) Get(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	if err := check(ctx, "get", bucket, key); err != nil {
		return nil, err
	}
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		r, ok, err := readLive(tx.Bucket([]byte(bucket)), key, unixNano(b.now()), false)
		if err != nil {
			return err
		}
		if !ok {
			return idp.ErrNotFound
		}
		out = clone(r.payload)
		return nil
	})
	if err != nil {
		return nil, fail("get", err)
	}
	return out, nil
}

// Delete implements store.Backend. Like Put it may run twice in a group
// commit, and deleting twice is the same as deleting once.
func (b *Backend) Delete(ctx context.Context, bucket string, key []byte) error {
	if err := check(ctx, "delete", bucket, key); err != nil {
		return err
	}
	return fail("delete", b.commit.do(func(tx *bolt.Tx) error {
		if bkt := tx.Bucket([]byte(bucket)); bkt != nil {
			return bkt.Delete(key)
		}
		return nil
	}))
}

// update runs fn in a read-write transaction on bucket, created first when
// create is set; without it a missing bucket gives idp.ErrNotFound.
//
// It goes through the group committer (commit.go) so that concurrent
// logins share one commit (one fsync pair) instead of queueing for the
// single writer. That is safe for the read-modify-write operations because
// every fn below resets what it reports at its start and reports an outcome
// (not found, invalid) only before it writes: the committer may run an fn
// again alone after its group was rolled back, and only the run whose
// transaction committed leaves its result behind. Nothing a rolled-back
// run did is visible.
func (b *Backend) update(op, bucket string, create bool, fn func(bkt *bolt.Bucket, now int64) error) error {
	return fail(op, b.commit.do(func(tx *bolt.Tx) error {
		bkt := tx.Bucket([]byte(bucket))
		if bkt == nil && !create {
			return idp.ErrNotFound
		}
		if bkt == nil {
			var err error
			if bkt, err = tx.CreateBucket([]byte(bucket)); err != nil {
				return err
			}
		}
		return fn(bkt, unixNano(b.now()))
	}))
}

// clone copies a payload out of bbolt's memory, which is valid only inside
// the transaction; an empty payload comes out as an empty, non-nil slice.
func clone(p []byte) []byte {
	return append([]byte{}, p...)
}

// Take implements store.Backend.
func (b *Backend) Take(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	if err := check(ctx, "take", bucket, key); err != nil {
		return nil, err
	}
	var out []byte
	err := b.update("take", bucket, false, func(bkt *bolt.Bucket, now int64) error {
		out = nil
		r, ok, err := readLive(bkt, key, now, false)
		if err != nil {
			return err
		}
		if !ok {
			return idp.ErrNotFound
		}
		out = clone(r.payload)
		return bkt.Delete(key)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Consume implements store.Backend. The tombstone keeps the payload and
// gets the consumed flag and the extended expiry in one write.
func (b *Backend) Consume(ctx context.Context, bucket string, key []byte, keep time.Duration) ([]byte, bool, error) {
	if err := check(ctx, "consume", bucket, key); err != nil {
		return nil, false, err
	}
	if keep < 0 {
		return nil, false, fmt.Errorf("boltstore: consume: %w: negative keep", store.ErrInvalid)
	}
	var (
		out   []byte
		first bool
	)
	err := b.update("consume", bucket, false, func(bkt *bolt.Bucket, now int64) error {
		out, first = nil, false
		r, ok, err := readLive(bkt, key, now, true)
		if err != nil {
			return err
		}
		if !ok {
			return idp.ErrNotFound
		}
		out = clone(r.payload)
		if r.consumed() {
			return nil
		}
		first = true
		return bkt.Put(key, encode(addClamped(r.exp, keep), r.flags|flagConsumed, r.payload))
	})
	if err != nil {
		return nil, false, err
	}
	return out, first, nil
}

// PutIfAbsent implements store.Backend.
func (b *Backend) PutIfAbsent(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) (bool, error) {
	if err := checkWrite(ctx, "put if absent", bucket, key, expiresAt); err != nil {
		return false, err
	}
	var stored bool
	err := b.update("put if absent", bucket, true, func(bkt *bolt.Bucket, now int64) error {
		stored = false
		_, ok, err := readLive(bkt, key, now, false)
		if err != nil || ok {
			return err
		}
		stored = true
		return bkt.Put(key, encode(unixNano(expiresAt), 0, value))
	})
	return stored && err == nil, err
}

// Incr implements store.Backend.
func (b *Backend) Incr(ctx context.Context, bucket string, key []byte, expiresAt time.Time) (int64, error) {
	if err := checkWrite(ctx, "incr", bucket, key, expiresAt); err != nil {
		return 0, err
	}
	var n int64
	err := b.update("incr", bucket, true, func(bkt *bolt.Bucket, now int64) error {
		var err error
		n, err = incrIn(bkt, key, now, expiresAt)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// incrIn is Incr's read-modify-write in bkt. It writes only when it
// succeeds, so its ErrInvalid is an outcome (see update).
func incrIn(bkt *bolt.Bucket, key []byte, now int64, expiresAt time.Time) (int64, error) {
	r, ok, err := readLive(bkt, key, now, false)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 1, bkt.Put(key, encode(unixNano(expiresAt), 0, []byte("1")))
	}
	n, err := strconv.ParseInt(string(r.payload), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: incr on a value that is not a counter", store.ErrInvalid)
	}
	n++
	return n, bkt.Put(key, encode(r.exp, r.flags, strconv.AppendInt(nil, n, 10)))
}

var _ store.Updater = (*Backend)(nil)

// Update implements store.Updater: fn's writes are one write of the group
// committer, so they share its transaction and its commit. An error from
// fn rolls that transaction back; the committer then runs every write of
// the group alone, so that only this one fails, and its error is returned.
func (b *Backend) Update(ctx context.Context, bucket string, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if bucket == "" {
		return fmt.Errorf("boltstore: update: %w: empty bucket name", store.ErrInvalid)
	}
	err := b.commit.do(func(tx *bolt.Tx) error {
		bkt, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		if err := fn(boltTx{ctx: ctx, bucket: bucket, bkt: bkt, now: unixNano(b.now())}); err != nil {
			return abort{err}
		}
		return nil
	})
	var a abort
	if errors.As(err, &a) {
		return a.err
	}
	return fail("update", err)
}

// abort carries an error of an Update fn out of its transaction. It does
// not unwrap, so the committer never takes it for an outcome (which would
// commit the writes fn made before failing).
type abort struct{ err error }

func (a abort) Error() string { return a.err.Error() }

// boltTx is store.Tx on one bucket inside one read-write transaction.
type boltTx struct {
	ctx    context.Context
	bucket string
	bkt    *bolt.Bucket
	now    int64
}

func (t boltTx) Put(key, value []byte, expiresAt time.Time) error {
	if err := checkWrite(t.ctx, "put", t.bucket, key, expiresAt); err != nil {
		return err
	}
	return fail("put", t.bkt.Put(key, encode(unixNano(expiresAt), 0, value)))
}

func (t boltTx) Incr(key []byte, expiresAt time.Time) (int64, error) {
	if err := checkWrite(t.ctx, "incr", t.bucket, key, expiresAt); err != nil {
		return 0, err
	}
	n, err := incrIn(t.bkt, key, t.now, expiresAt)
	if err != nil {
		return 0, fail("incr", err)
	}
	return n, nil
}

// checkWrite is check for a call that writes a record with an expiry.
func checkWrite(ctx context.Context, op, bucket string, key []byte, expiresAt time.Time) error {
	if err := check(ctx, op, bucket, key); err != nil {
		return err
	}
	if err := store.CheckExpiry(expiresAt); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

// Sweep implements store.Backend. It deletes in chunks of sweepChunk per
// transaction, so logins are never stuck behind one long sweep.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := b.db.Update(func(tx *bolt.Tx) error {
			now := unixNano(b.now())
			return tx.ForEach(func(name []byte, bkt *bolt.Bucket) error {
				var expired [][]byte
				c := bkt.Cursor()
				for k, v := c.First(); k != nil && n+len(expired) < sweepChunk; k, v = c.Next() {
					// A value that does not decode is never served either:
					// the sweeper is what clears it away.
					if r, err := decode(v); err != nil || r.expired(now) {
						expired = append(expired, clone(k))
					}
				}
				// Delete after iterating: deleting under a moving cursor
				// can skip keys.
				for _, k := range expired {
					if err := bkt.Delete(k); err != nil {
						return err
					}
				}
				n += len(expired)
				return nil
			})
		})
		if err != nil {
			return total, fail("sweep", err)
		}
		total += n
		if n < sweepChunk {
			return total, nil
		}
	}
}

// Check implements store.Backend: a read transaction proves the file is
// open and mapped.
func (b *Backend) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fail("check", b.db.View(func(*bolt.Tx) error { return nil }))
}

// Close stops the sweeper and the committer (after the writes it has
// accepted), then closes the file and releases its lock. It is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.stop()
		b.commit.stop()
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("boltstore: close: %w", err)
		}
	})
	return b.closeErr
}
