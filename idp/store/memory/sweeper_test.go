package memory

import (
	"sync"
	"testing"
	"time"
)

// TestBackgroundSweeper checks from inside that the sweeper removes expired
// records on its own, without anyone calling Sweep, and that Close stops it.
func TestBackgroundSweeper(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	b := New(WithClock(clock), WithSweepInterval(5*time.Millisecond))
	if err := b.Put(t.Context(), "x", []byte("k"), []byte("v"), now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := b.stored(); n != 1 {
		t.Fatalf("stored = %d, want 1", n)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for b.stored() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("background sweeper never removed the expired record")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// stored counts the records held, expired or not.
func (b *Backend) stored() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.buckets {
		n += len(m)
	}
	return n
}
