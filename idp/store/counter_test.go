package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// TestCounter: the typed store's idp.Counter counts atomically in a fixed
// window, keeps namespaces apart and forgets a counter at its expiry.
func TestCounter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st := store.New(memory.New(memory.WithClock(clock), memory.WithSweepInterval(-1)))
	t.Cleanup(func() { st.Close() })
	ctr, ok := st.(idp.Counter)
	if !ok {
		t.Fatal("typed store does not implement idp.Counter")
	}
	ctx := context.Background()
	exp := now.Add(time.Minute)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ctr.Incr(ctx, "a", "k", exp); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, tc := range []struct {
		ns, key string
		want    int64
	}{{"a", "k", 50}, {"b", "k", 0}, {"a", "other", 0}, {"a", "", 0}} {
		if n, err := ctr.Count(ctx, tc.ns, tc.key); err != nil || n != tc.want {
			t.Errorf("Count(%q, %q) = %d, %v; want %d", tc.ns, tc.key, n, err, tc.want)
		}
	}
	if _, err := ctr.Incr(ctx, "a", "", exp); err == nil {
		t.Error("Incr with an empty key succeeded")
	}
	mu.Lock()
	now = exp
	mu.Unlock()
	if n, _ := ctr.Count(ctx, "a", "k"); n != 0 {
		t.Errorf("expired counter counts %d", n)
	}
	if n, _ := ctr.Incr(ctx, "a", "k", now.Add(time.Minute)); n != 1 {
		t.Errorf("new window starts at %d, want 1", n)
	}
}
