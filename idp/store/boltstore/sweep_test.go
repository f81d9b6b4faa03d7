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

func openTest(t *testing.T, opts ...Option) *Backend {
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
		return tx.ForEach(func(_ []byte, bkt *bolt.Bucket) error {
			n += bkt.Stats().KeyN
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
func fill(t *testing.T, b *Backend, bucket string, n int, exp time.Time) {
	t.Helper()
	err := b.db.Update(func(tx *bolt.Tx) error {
		bkt, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		for i := range n {
			if err := bkt.Put(fmt.Appendf(nil, "k%06d", i), encode(unixNano(exp), 0, []byte("v"))); err != nil {
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
