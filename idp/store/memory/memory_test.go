package memory_test

import (
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/store/storetest"
)

func newBackend(t *testing.T, now func() time.Time) store.Backend {
	b := memory.New(memory.WithClock(now))
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newBackend)
}

func TestSweep(t *testing.T) {
	clk := storetest.NewClock(storetest.Epoch)
	b := memory.New(memory.WithClock(clk.Now), memory.WithSweepInterval(0))
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	exp := clk.Now().Add(time.Minute)
	for _, k := range []string{"a", "b", "c"} {
		if err := b.Put(ctx, "x", []byte(k), []byte("v"), exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, "y", []byte("long"), []byte("v"), exp.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Consume(ctx, "x", []byte("a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	n, err := b.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// b and c expired; a is a tombstone kept for another hour.
	if n != 2 {
		t.Fatalf("Sweep removed %d, want 2", n)
	}
	clk.Advance(time.Hour)
	if n, _ = b.Sweep(ctx); n != 2 {
		t.Fatalf("second Sweep removed %d, want 2 (tombstone and long)", n)
	}
}
