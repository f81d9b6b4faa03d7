package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/store"
)

// Epoch is the fake clock's starting time in every test.
var Epoch = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// Workers is how many goroutines race in the concurrency tests.
const Workers = 50

// Clock is a fake clock that only moves when told; safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time; pass it to a backend as its clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// NewBackend returns a fresh, empty backend whose expiry decisions use now.
// It must register the backend's Close with t.Cleanup; the suite may close
// it earlier, so Close must be idempotent.
type NewBackend func(t *testing.T, now func() time.Time) store.Backend

// Run runs the whole conformance suite: the Backend primitives, then the
// typed idp.Store built on the backend by store.New.
func Run(t *testing.T, newBackend NewBackend) {
	t.Run("Backend", func(t *testing.T) { RunBackend(t, newBackend) })
	t.Run("Store", func(t *testing.T) { RunStore(t, newBackend) })
}

// env is one test's backend, clock and context.
type env struct {
	t   *testing.T
	clk *Clock
	b   store.Backend
	ctx context.Context
}

func newEnv(t *testing.T, nb NewBackend) *env {
	t.Helper()
	clk := NewClock(Epoch)
	return &env{t: t, clk: clk, b: nb(t, clk.Now), ctx: t.Context()}
}

// wantErr fails the test unless errors.Is(err, want); want nil means no error.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
}

// race runs fn from Workers goroutines released at once and returns their
// results in no particular order.
func race[T any](fn func() T) []T {
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		out   = make([]T, Workers)
	)
	for i := range Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = fn()
		}()
	}
	close(start)
	wg.Wait()
	return out
}
