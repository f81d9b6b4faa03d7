package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// clock is a settable clock for the white-box tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func openTest(t testing.TB, opts ...Option) *Backend {
	t.Helper()
	b, err := Open(filepath.Join(t.TempDir(), "idp.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// rawCount counts the records on disk, expired or not.
func rawCount(t *testing.T, b *Backend) int {
	t.Helper()
	n := 0
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bkt *bolt.Bucket) error {
			if string(name) != indexBucket {
				n += bkt.Stats().KeyN
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fill writes n records expiring at exp into bucket in one transaction
// (through Put, each would wait for its own batch).
func fill(t testing.TB, b *Backend, bucket string, n int, exp time.Time) {
	t.Helper()
	err := b.db.Update(func(tx *bolt.Tx) error {
		bkt, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		for i := range n {
			if err := putIndexed(tx, bkt, bucket, fmt.Appendf(nil, "k%06d", i), unixNano(exp), 0, []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSweepCounts(t *testing.T) {
	clk := newClock()
	b := openTest(t, WithClock(clk.now), WithSweepInterval(0))
	ctx := t.Context()
	now := clk.now()
	// More expired records than one chunk, across two buckets.
	fill(t, b, "a", sweepChunk+7, now.Add(time.Minute))
	fill(t, b, "b", 5, now.Add(time.Minute))
	fill(t, b, "live", 3, now.Add(time.Hour))
	if err := b.Put(ctx, "c", []byte("tomb"), []byte("v"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Consume(ctx, "c", []byte("tomb"), time.Hour); err != nil {
		t.Fatal(err)
	}

	n, err := b.Sweep(ctx)
	if err != nil || n != 0 {
		t.Fatalf("Sweep before expiry = %d, %v; want 0", n, err)
	}
	clk.advance(time.Minute)
	n, err = b.Sweep(ctx)
	if err != nil || n != sweepChunk+12 {
		t.Fatalf("Sweep = %d, %v; want %d", n, err, sweepChunk+12)
	}
	if got := rawCount(t, b); got != 4 {
		t.Fatalf("%d records left on disk, want 4 (3 live, 1 tombstone)", got)
	}
	clk.advance(time.Hour)
	if n, err = b.Sweep(ctx); err != nil || n != 4 {
		t.Fatalf("last Sweep = %d, %v; want 4", n, err)
	}
}

func TestBackgroundSweeper(t *testing.T) {
	clk := newClock()
	b := openTest(t, WithClock(clk.now), WithSweepInterval(10*time.Millisecond))
	fill(t, b, "a", 10, clk.now().Add(time.Minute))
	clk.advance(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for rawCount(t, b) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("background sweeper did not remove expired records")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Close stops the sweeper before closing the file: no sweep may hit a
	// closed database (the race detector and the log would show it).
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptValue: a value too short to hold its header is reported as
// corrupt (not as missing, not as an outage) and swept away.
func TestCorruptValue(t *testing.T) {
	clk := newClock()
	b := openTest(t, WithClock(clk.now), WithSweepInterval(0))
	ctx := t.Context()
	err := b.db.Update(func(tx *bolt.Tx) error {
		bkt, err := tx.CreateBucketIfNotExists([]byte("x"))
		if err != nil {
			return err
		}
		return bkt.Put([]byte("k"), []byte{1, 2, 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Get(ctx, "x", []byte("k"))
	if !errors.Is(err, store.ErrCorrupt) || errors.Is(err, idp.ErrNotFound) || errors.Is(err, idp.ErrStoreUnavailable) {
		t.Fatalf("Get of a corrupt value: %v, want ErrCorrupt only", err)
	}
	if _, err := b.Take(ctx, "x", []byte("k")); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Take of a corrupt value: %v, want ErrCorrupt", err)
	}
	if n, err := b.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the corrupt value removed", n, err)
	}
}

func TestFarFutureExpiry(t *testing.T) {
	clk := newClock()
	b := openTest(t, WithClock(clk.now), WithSweepInterval(0))
	ctx := t.Context()
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := b.Put(ctx, "x", []byte("k"), []byte("v"), far); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "x", []byte("k")); err != nil {
		t.Fatalf("a record expiring in 9999 must be live now (no wrap-around): %v", err)
	}
	if _, first, err := b.Consume(ctx, "x", []byte("k"), time.Hour); err != nil || !first {
		t.Fatalf("Consume = %v, %v", first, err)
	}
	if _, first, err := b.Consume(ctx, "x", []byte("k"), time.Hour); err != nil || first {
		t.Fatalf("Consume of the tombstone = %v, %v; the extended expiry must not wrap", first, err)
	}
}

// A sweep reads what has expired, not every record: with many live
// records (the audit trail) and a few expired ones, the index names the
// expired ones; an entry left by a record written again with a later
// expiry deletes nothing.
func TestSweepByIndex(t *testing.T) {
	clk := newClock()
	b := openTest(t, WithClock(clk.now), WithSweepInterval(0))
	ctx := t.Context()
	now := clk.now()
	if _, err := b.Sweep(ctx); err != nil { // the first sweep's full scan
		t.Fatal(err)
	}
	fill(t, b, "audit", 5000, now.Add(720*time.Hour))
	fill(t, b, "sessions", 10, now.Add(time.Minute))
	if err := b.Put(ctx, "sessions", []byte("k000003"), []byte("v2"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	if n, err := b.Sweep(ctx); err != nil || n != 9 {
		t.Fatalf("Sweep = %d, %v; want the 9 expired sessions", n, err)
	}
	if v, err := b.Get(ctx, "sessions", []byte("k000003")); err != nil || string(v) != "v2" {
		t.Fatalf("the session written again with a later expiry: %q, %v", v, err)
	}
	if got := rawCount(t, b); got != 5001 {
		t.Fatalf("%d records left, want 5001", got)
	}
	// Only due entries were visited: the index now holds the live ones.
	var entries int
	_ = b.db.View(func(tx *bolt.Tx) error {
		entries = tx.Bucket([]byte(indexBucket)).Stats().KeyN
		return nil
	})
	if entries != 5001 {
		t.Fatalf("%d index entries, want 5001 (one per live record)", entries)
	}
}

// Records written before the index existed (by an earlier version) have
// no entry: the first sweep after opening reads every record and removes
// the expired ones.
func TestSweepFindsUnindexedRecords(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "idp.db")
	b, err := Open(path, WithClock(clk.now), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	err = b.db.Update(func(tx *bolt.Tx) error {
		bkt, err := tx.CreateBucketIfNotExists([]byte("sessions"))
		if err != nil {
			return err
		}
		for i := range 3 {
			if err := bkt.Put(fmt.Appendf(nil, "old%d", i), encode(unixNano(clk.now().Add(time.Minute)), 0, []byte("v"))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	b, err = Open(path, WithClock(clk.now), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if n, err := b.Sweep(t.Context()); err != nil || n != 3 {
		t.Fatalf("first Sweep after opening = %d, %v; want the 3 unindexed expired records", n, err)
	}
}

// BenchmarkSweepBesideAuditTrail: one sweep with 100,000 live records (a
// month of audit events) and 100 expired ones. A sweep that read every
// record would cost about the whole file each time.
func BenchmarkSweepBesideAuditTrail(b *testing.B) {
	clk := newClock()
	be := openTest(b, WithClock(clk.now), WithSweepInterval(0))
	if _, err := be.Sweep(b.Context()); err != nil { // the first sweep's full scan
		b.Fatal(err)
	}
	fill(b, be, "audit", 100000, clk.now().Add(720*time.Hour))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		fill(b, be, "sessions", 100, clk.now().Add(time.Second))
		clk.advance(time.Second)
		b.StartTimer()
		if n, err := be.Sweep(b.Context()); err != nil || n != 100 {
			b.Fatalf("Sweep = %d, %v", n, err)
		}
	}
}
