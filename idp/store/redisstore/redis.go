package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// Option configures New and OpenConfig.
type Option func(*options)

type options struct {
	now    func() time.Time
	prefix string
	log    *slog.Logger
}

// WithClock sets the clock that decides expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithKeyPrefix sets the prefix of every Redis key (default
// store.DefaultRedisKeyPrefix; OpenConfig uses the configured one).
func WithKeyPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Backend is a store.Backend in Redis, shared by every idp instance that
// uses the same Redis (or Sentinel group) and key prefix.
type Backend struct {
	c      redis.UniversalClient
	now    func() time.Time
	prefix string
	log    *slog.Logger

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Backend = (*Backend)(nil)

// New returns a Backend on an existing client, which it owns: Close closes
// it. The client should not retry commands (MaxRetries -1; see the package
// documentation).
func New(c redis.UniversalClient, opts ...Option) *Backend {
	o := options{now: time.Now, prefix: store.DefaultRedisKeyPrefix}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return &Backend{c: c, now: o.now, prefix: o.prefix, log: o.log}
}

// OpenConfig builds the client described by cfg (a single server, or the
// master of a Sentinel group) and returns a Backend on it. It does not wait
// for Redis: an instance started during a Redis outage serves the 503 page
// and reports not ready until Redis answers, then recovers by itself. It
// fails only for a configuration it cannot use (an unreadable CA file).
func OpenConfig(cfg store.RedisConfig, opts ...Option) (*Backend, error) {
	var tlsConf *tls.Config
	if cfg.TLS.Enabled {
		// An empty ServerName makes crypto/tls verify the host dialled.
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLS.ServerName}
		if cfg.TLS.CAFile != "" {
			pemData, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("redisstore: tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemData) {
				return nil, fmt.Errorf("redisstore: tls.ca_file %s: no PEM certificate in it", cfg.TLS.CAFile)
			}
			tlsConf.RootCAs = pool
		}
	}
	var c redis.UniversalClient
	if cfg.Sentinel.MasterName != "" {
		c = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    cfg.Sentinel.MasterName,
			SentinelAddrs: cfg.Sentinel.Addrs,
			Username:      cfg.Username,
			Password:      cfg.Password,
			DB:            cfg.DB,
			DialTimeout:   cfg.DialTimeout,
			ReadTimeout:   cfg.ReadTimeout,
			WriteTimeout:  cfg.WriteTimeout,
			TLSConfig:     tlsConf,
			MaxRetries:    -1,
			DialerRetries: 1,
			// CLIENT SETINFO is noise in Redis logs and older servers refuse it.
			DisableIdentity: true,
		})
	} else {
		c = redis.NewClient(&redis.Options{
			Addr:            cfg.Addr,
			Username:        cfg.Username,
			Password:        cfg.Password,
			DB:              cfg.DB,
			DialTimeout:     cfg.DialTimeout,
			ReadTimeout:     cfg.ReadTimeout,
			WriteTimeout:    cfg.WriteTimeout,
			TLSConfig:       tlsConf,
			MaxRetries:      -1,
			DialerRetries:   1,
			DisableIdentity: true,
			// Maintenance notifications are a Redis Enterprise feature.
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
	}
	b := New(c, append([]Option{WithKeyPrefix(cfg.KeyPrefix)}, opts...)...)
	// go-redis has one process-wide logger that writes plain lines to
	// stderr; the first backend opened routes it to its slog logger so
	// that the log stays one JSON stream.
	clientLogOnce.Do(func() { redis.SetLogger(clientLogger{b.log}) })
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout+cfg.ReadTimeout)
	defer cancel()
	if err := b.Check(ctx); err != nil {
		b.log.Error("store_redis_unreachable", "err", err)
	}
	return b, nil
}

var clientLogOnce sync.Once

// clientLogger forwards go-redis's own messages (failed dials, sentinel
// switching to a new master). They name addresses, never keys or values.
type clientLogger struct{ log *slog.Logger }

func (l clientLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.InfoContext(ctx, "store_redis_client", "detail", fmt.Sprintf(format, v...))
}

// errClosed is returned by every call after Close.
var errClosed = fmt.Errorf("redisstore: %w: closed", idp.ErrStoreUnavailable)

// begin checks the context, the arguments and Close, in the order the
// Backend contract asks.
func (b *Backend) begin(ctx context.Context, bucket string, key []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckKey(bucket, key); err != nil {
		return fmt.Errorf("redisstore: %w", err)
	}
	if b.closed.Load() {
		return errClosed
	}
	return nil
}

// key is the Redis key of (bucket, key). The key is hex so that the last
// "/" separates it from the bucket: no two pairs share a Redis key.
func (b *Backend) key(bucket string, key []byte) string {
	var sb strings.Builder
	sb.Grow(len(b.prefix) + len(bucket) + 1 + 2*len(key))
	sb.WriteString(b.prefix)
	sb.WriteString(bucket)
	sb.WriteByte('/')
	sb.WriteString(hex.EncodeToString(key))
	return sb.String()
}

// fail wraps a Redis failure. A context that ended is the caller's doing
// and is returned as such; anything else (refused, timed out, READONLY
// during a failover, LOADING after a restart) means the store cannot serve.
func (b *Backend) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redisstore: %s: %w", op, ctx.Err())
	}
	if b.closed.Load() {
		return errClosed
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, idp.ErrStoreUnavailable, err)
}

// Put implements store.Backend with SET PX. A record whose expiry has
// already passed is deleted instead: it must replace what was there and
// never be seen.
func (b *Backend) Put(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) error {
	if err := store.CheckExpiry(expiresAt); err != nil {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return err
	}
	now := b.now()
	k := b.key(bucket, key)
	var err error
	if ms := ttl(now, expiresAt); ms > 0 {
		err = b.c.Set(ctx, k, encode(expiresAt, value), time.Duration(ms)*time.Millisecond).Err()
	} else {
		err = b.c.Del(ctx, k).Err()
	}
	if err != nil {
		return b.fail(ctx, "put", err)
	}
	return nil
}

// Get implements store.Backend with GET and the expiry check on this
// instance's clock.
func (b *Backend) Get(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	if err := b.begin(ctx, bucket, key); err != nil {
		return nil, err
	}
	raw, err := b.c.Get(ctx, b.key(bucket, key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, idp.ErrNotFound
	}
	if err != nil {
		return nil, b.fail(ctx, "get", err)
	}
	v, ok, err := decodeLive(raw, b.now())
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	if !ok {
		return nil, idp.ErrNotFound
	}
	return v, nil
}

// Delete implements store.Backend with DEL.
func (b *Backend) Delete(ctx context.Context, bucket string, key []byte) error {
	if err := b.begin(ctx, bucket, key); err != nil {
		return err
	}
	if err := b.c.Del(ctx, b.key(bucket, key)).Err(); err != nil {
		return b.fail(ctx, "delete", err)
	}
	return nil
}

// Take implements store.Backend with takeScript. Plain GETDEL would also
// delete a tombstone that only Consume may see.
func (b *Backend) Take(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	if err := b.begin(ctx, bucket, key); err != nil {
		return nil, err
	}
	v, err := takeScript.Run(ctx, b.c, []string{b.key(bucket, key)}, stamp(b.now())).Text()
	if errors.Is(err, redis.Nil) {
		return nil, idp.ErrNotFound
	}
	if err != nil {
		return nil, b.fail(ctx, "take", err)
	}
	return []byte(v), nil
}

// Consume implements store.Backend with consumeScript.
func (b *Backend) Consume(ctx context.Context, bucket string, key []byte, keep time.Duration) ([]byte, bool, error) {
	if keep < 0 {
		return nil, false, fmt.Errorf("redisstore: consume: %w: negative keep", store.ErrInvalid)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return nil, false, err
	}
	res, err := consumeScript.Run(ctx, b.c, []string{b.key(bucket, key)},
		stamp(b.now()), int64(keep/time.Second), int64(keep%time.Second)).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, false, idp.ErrNotFound
	}
	if err != nil {
		return nil, false, b.fail(ctx, "consume", err)
	}
	if len(res) != 2 {
		return nil, false, fmt.Errorf("redisstore: consume: %w: unexpected reply", store.ErrCorrupt)
	}
	first, _ := res[0].(int64)
	v, _ := res[1].(string)
	return []byte(v), first == 1, nil
}

// PutIfAbsent implements store.Backend with putIfAbsentScript. SET NX alone
// would not do: an expired record (by this instance's clock) or a tombstone
// must count as absent although Redis still holds it.
func (b *Backend) PutIfAbsent(ctx context.Context, bucket string, key, value []byte, expiresAt time.Time) (bool, error) {
	if err := store.CheckExpiry(expiresAt); err != nil {
		return false, fmt.Errorf("redisstore: put if absent: %w", err)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return false, err
	}
	now := b.now()
	n, err := putIfAbsentScript.Run(ctx, b.c, []string{b.key(bucket, key)},
		stamp(now), encode(expiresAt, value), ttl(now, expiresAt)).Int64()
	if err != nil {
		return false, b.fail(ctx, "put if absent", err)
	}
	return n == 1, nil
}

// Incr implements store.Backend with incrScript.
func (b *Backend) Incr(ctx context.Context, bucket string, key []byte, expiresAt time.Time) (int64, error) {
	if err := store.CheckExpiry(expiresAt); err != nil {
		return 0, fmt.Errorf("redisstore: incr: %w", err)
	}
	if err := b.begin(ctx, bucket, key); err != nil {
		return 0, err
	}
	now := b.now()
	n, err := incrScript.Run(ctx, b.c, []string{b.key(bucket, key)},
		stamp(now), stamp(expiresAt), ttl(now, expiresAt)).Int64()
	if err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), errNotCounter) {
			return 0, fmt.Errorf("redisstore: incr: %w: value is not a counter", store.ErrInvalid)
		}
		return 0, b.fail(ctx, "incr", err)
	}
	return n, nil
}

// Sweep implements store.Backend. Redis drops every record at its TTL by
// itself, so no sweeper runs; a Sweep called anyway walks this prefix's
// keys (SCAN, in batches) and deletes those whose stored expiry has passed
// by this instance's clock: records that a clock ahead of Redis's already
// calls expired.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if b.closed.Load() {
		return 0, errClosed
	}
	removed := 0
	var cursor uint64
	for {
		keys, next, err := b.c.Scan(ctx, cursor, globEscape(b.prefix)+"*", sweepBatch).Result()
		if err != nil {
			return removed, b.fail(ctx, "sweep", err)
		}
		if len(keys) > 0 {
			n, err := sweepScript.Run(ctx, b.c, keys, stamp(b.now())).Int()
			if err != nil {
				return removed, b.fail(ctx, "sweep", err)
			}
			removed += n
		}
		if cursor = next; cursor == 0 {
			return removed, nil
		}
	}
}

// sweepBatch is the SCAN COUNT hint and so roughly the keys per script.
const sweepBatch = 500

// globEscape quotes the SCAN MATCH metacharacters of a literal prefix.
func globEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// Check implements store.Backend with PING to the current master.
func (b *Backend) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return errClosed
	}
	if err := b.c.Ping(ctx).Err(); err != nil {
		return b.fail(ctx, "check", err)
	}
	return nil
}

// Close closes the client. It is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.closeErr = b.c.Close()
	})
	return b.closeErr
}
