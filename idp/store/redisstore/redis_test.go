package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/redisstore"
	"github.com/ncp-sso/idp/idp/store/redisstore/redistest"
	"github.com/ncp-sso/idp/idp/store/storetest"
)

// open returns a backend on srv with its own key prefix, so that tests
// sharing one redis-server never see each other's keys.
func open(t *testing.T, srv *redistest.Server, now func() time.Time) *redisstore.Backend {
	t.Helper()
	return openConfig(t, config(srv), now)
}

// config is the store.redis section that reaches srv, with a fresh prefix.
func config(srv *redistest.Server) store.RedisConfig {
	cfg := store.RedisConfig{Addr: srv.Addr, Password: srv.Password, KeyPrefix: fmt.Sprintf("t%d:", time.Now().UnixNano())}
	if srv.CAFile != "" {
		cfg.TLS = store.RedisTLSConfig{Enabled: true, CAFile: srv.CAFile}
	}
	return cfg
}

func openConfig(t *testing.T, cfg store.RedisConfig, now func() time.Time) *redisstore.Backend {
	t.Helper()
	cfg.SetDefaults()
	var opts []redisstore.Option
	if now != nil {
		opts = append(opts, redisstore.WithClock(now))
	}
	b, err := redisstore.OpenConfig(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Backend {
		return open(t, srv, now)
	})
}

// TestConformanceTLSPassword runs the suite over TLS with a password, the
// way production reaches a Redis on another machine.
func TestConformanceTLSPassword(t *testing.T) {
	srv := redistest.Start(t, redistest.WithTLS(), redistest.WithPassword("pa$$ word"))
	storetest.RunBackend(t, func(t *testing.T, now func() time.Time) store.Backend {
		return open(t, srv, now)
	})
}

// TestWrongPasswordIsUnavailable: a refused AUTH is a store outage, never
// anything a login page could mistake for the user's wrong password.
func TestWrongPasswordIsUnavailable(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("right"))
	cfg := config(srv)
	cfg.Password = "wrong"
	b := openConfig(t, cfg, nil)
	if err := b.Check(t.Context()); !errors.Is(err, idp.ErrStoreUnavailable) {
		t.Fatalf("Check with a wrong password = %v, want ErrStoreUnavailable", err)
	}
	_, err := b.Get(t.Context(), "b", []byte("k"))
	if !errors.Is(err, idp.ErrStoreUnavailable) {
		t.Fatalf("Get with a wrong password = %v, want ErrStoreUnavailable", err)
	}
}

// TestOutageAndRecovery: while Redis is down every call fails fast with
// ErrStoreUnavailable; when it is back on the same address the same Backend
// serves again, and with AOF the records written before the outage are there.
func TestOutageAndRecovery(t *testing.T) {
	srv := redistest.Start(t, redistest.WithConfig("appendonly yes", "appendfsync always"))
	b := open(t, srv, nil)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if err := b.Put(ctx, "b", []byte("k"), []byte("v"), exp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Check": func() error { return b.Check(ctx) },
		"Put":   func() error { return b.Put(ctx, "b", []byte("k2"), []byte("v"), exp) },
		"Get":   func() error { _, err := b.Get(ctx, "b", []byte("k")); return err },
		"Take":  func() error { _, err := b.Take(ctx, "b", []byte("k")); return err },
		"Consume": func() error {
			_, _, err := b.Consume(ctx, "b", []byte("k"), time.Minute)
			return err
		},
		"PutIfAbsent": func() error { _, err := b.PutIfAbsent(ctx, "b", []byte("k3"), []byte("v"), exp); return err },
		"Incr":        func() error { _, err := b.Incr(ctx, "c", []byte("k"), exp); return err },
		"Delete":      func() error { return b.Delete(ctx, "b", []byte("k4")) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, idp.ErrStoreUnavailable) {
			t.Errorf("%s during the outage = %v, want ErrStoreUnavailable", name, err)
		}
	}
	srv.Restart(t)
	if err := b.Check(ctx); err != nil {
		t.Fatalf("Check after Redis returned: %v", err)
	}
	got, err := b.Take(ctx, "b", []byte("k"))
	if err != nil || string(got) != "v" {
		t.Fatalf("Take after restart = %q, %v; want the record written before the outage", got, err)
	}
}

// TestNativeExpiry: Redis itself drops a record at its expiry (TTL), with
// no sweeper, and tombstones carry the extended TTL.
func TestNativeExpiry(t *testing.T) {
	srv := redistest.Start(t)
	b := open(t, srv, nil)
	ctx := t.Context()
	rc := srv.Client(t)
	now := time.Now()
	if err := b.Put(ctx, "b", []byte("short"), []byte("v"), now.Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "b", []byte("code"), []byte("v"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Consume(ctx, "b", []byte("code"), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %v, %v; want 2", keys, err)
	}
	for _, k := range keys {
		d, err := rc.PTTL(ctx, k).Result()
		if err != nil || d <= 0 || d > 11*time.Minute {
			t.Errorf("PTTL(%s) = %v, %v; want a TTL of at most 11m", k, d, err)
		}
		if k[len(k)-len("/636f6465"):] == "/636f6465" && d < 10*time.Minute {
			t.Errorf("tombstone TTL %v does not include the 10m retention", d)
		}
	}
	// Wait for Redis (not our clock check) to drop the short record.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := rc.Exists(ctx, keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis kept an expired record")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, err := b.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("Sweep = %d, %v; want 0, nil", n, err)
	}
}

// TestKeyPrefixSeparates: two deployments on one Redis with different
// prefixes share nothing.
func TestKeyPrefixSeparates(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, nil), open(t, srv, nil)
	ctx := context.Background()
	if err := a.Put(ctx, "b", []byte("k"), []byte("a"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "b", []byte("k")); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("other prefix sees the record: %v", err)
	}
}
