package throttle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// clock is a settable test clock shared by the throttle and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newThrottle keeps no attempts for familiar browsers unless cfg says
// (FamiliarBrowserFailures nil: 0), so that the limits are tested whole.
func newThrottle(t *testing.T, cfg Config, opts ...Option) (*Throttle, *clock) {
	t.Helper()
	if cfg.FamiliarBrowserFailures == nil {
		zero := 0
		cfg.FamiliarBrowserFailures = &zero
	}
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	b := memory.New(memory.WithClock(clk.now), memory.WithSweepInterval(-1))
	t.Cleanup(func() { b.Close() })
	th, err := New(b, cfg, append([]Option{WithClock(clk.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return th, clk
}

// attempt runs Begin and, when allowed, done(o); it returns the refusal.
func attempt(t *testing.T, th *Throttle, user, ip string, o idp.LoginOutcome) *idp.ThrottledError {
	t.Helper()
	return attemptCtx(t, context.Background(), th, user, ip, o)
}

func TestAccountLimitAndWindow(t *testing.T) {
	th, clk := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute})
	for i := range 3 {
		if te := attempt(t, th, "alice", "10.0.0.1", idp.LoginFailed); te != nil {
			t.Fatalf("failure %d refused: %v", i+1, te)
		}
		clk.add(time.Minute)
	}
	te := attempt(t, th, " ALICE ", "10.0.0.2", idp.LoginSucceeded)
	if te == nil || te.Scope != ScopeAccount {
		t.Fatalf("4th attempt: %v, want refused for the account", te)
	}
	// Last failure at 9:02; window ends 9:17; now 9:03.
	if te.RetryAfter != 14*time.Minute {
		t.Errorf("RetryAfter = %v, want 14m", te.RetryAfter)
	}
	if te := attempt(t, th, "bob", "10.0.0.1", idp.LoginFailed); te != nil {
		t.Errorf("another account refused: %v", te)
	}
	clk.add(14*time.Minute + time.Second)
	if te := attempt(t, th, "alice", "10.0.0.1", idp.LoginFailed); te != nil {
		t.Errorf("after the window: %v", te)
	}
}

// TestWindowSlides: failures spaced just under the window keep counting, as
// AD's badPwdCount does, so slow guessing cannot pile up in AD.
func TestWindowSlides(t *testing.T) {
	th, clk := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute})
	for range 3 {
		if te := attempt(t, th, "alice", "", idp.LoginFailed); te != nil {
			t.Fatalf("refused early: %v", te)
		}
		clk.add(14 * time.Minute)
	}
	if te := attempt(t, th, "alice", "", idp.LoginFailed); te == nil {
		t.Fatal("a 4th failure 42 minutes after the first, each within the window of the last, was allowed")
	}
}

func TestNotCountedAndSuccess(t *testing.T) {
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 2})
	for range 5 {
		if te := attempt(t, th, "alice", "", idp.LoginNotCounted); te != nil {
			t.Fatalf("outages counted: %v", te)
		}
	}
	attempt(t, th, "alice", "", idp.LoginFailed)
	attempt(t, th, "alice", "", idp.LoginSucceeded) // starts afresh
	attempt(t, th, "alice", "", idp.LoginFailed)
	if te := attempt(t, th, "alice", "", idp.LoginFailed); te != nil {
		t.Errorf("a success did not reset the account: %v", te)
	}
	if te := attempt(t, th, "alice", "", idp.LoginFailed); te == nil {
		t.Error("3rd failure after the reset allowed with limit 2")
	}
}

func TestIPLimit(t *testing.T) {
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3, MaxFailuresPerIP: 4})
	for i := range 4 {
		if te := attempt(t, th, "user"+string(rune('a'+i)), "192.0.2.7", idp.LoginFailed); te != nil {
			t.Fatalf("failure %d refused: %v", i+1, te)
		}
	}
	te := attempt(t, th, "newuser", "192.0.2.7", idp.LoginFailed)
	if te == nil || te.Scope != ScopeIP {
		t.Fatalf("5th failure from one IP: %v, want refused for the IP", te)
	}
	// The refused attempt took nothing from newuser's account.
	for range 3 {
		if te := attempt(t, th, "newuser", "192.0.2.8", idp.LoginFailed); te != nil {
			t.Fatalf("newuser from another IP refused: %v", te)
		}
	}
}

// TestParallelCannotOvertake: concurrent attempts each reserve before the
// directory answers, so no more than the limit get through together.
func TestParallelCannotOvertake(t *testing.T) {
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3})
	var admitted atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	dones := make(chan func(idp.LoginOutcome), 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			done, err := th.Begin(context.Background(), "alice", "")
			if err == nil {
				admitted.Add(1)
				dones <- done
			}
		}()
	}
	close(start)
	wg.Wait()
	close(dones)
	if n := admitted.Load(); n != 3 {
		t.Errorf("%d concurrent attempts admitted, want 3", n)
	}
	for d := range dones {
		d(idp.LoginFailed)
	}
	if te := attempt(t, th, "alice", "", idp.LoginFailed); te == nil {
		t.Error("allowed after 3 failures")
	}
}

func TestNormalizer(t *testing.T) {
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 1}, WithNormalizer(func(s string) string {
		if _, u, ok := strings.Cut(s, `\`); ok {
			return u
		}
		return s
	}))
	attempt(t, th, `EXAMPLE\alice`, "", idp.LoginFailed)
	if te := attempt(t, th, "alice", "", idp.LoginFailed); te == nil {
		t.Error("DOMAIN\\alice and alice counted apart")
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{MaxFailuresPerAccount: -1, MaxFailuresPerIP: -1, Window: time.Millisecond}
	if ps := c.Validate(); len(ps) != 3 {
		t.Errorf("problems = %v, want 3", ps)
	}
	var d Config
	d.SetDefaults()
	if ps := d.Validate(); len(ps) != 0 {
		t.Errorf("defaults invalid: %v", ps)
	}
}

// entryAttempt runs BeginEntry and, when allowed, done(o).
func entryAttempt(t *testing.T, th *Throttle, key string, o idp.LoginOutcome) *idp.ThrottledError {
	t.Helper()
	done, err := th.BeginEntry(context.Background(), key)
	return settle(t, "BeginEntry", done, err, o)
}

// settle ends an attempt that what (Begin, BeginEntry) answered with done
// and err: it returns the refusal, or fails on another error, or runs
// done(o).
func settle(t *testing.T, what string, done func(idp.LoginOutcome), err error, o idp.LoginOutcome) *idp.ThrottledError {
	t.Helper()
	var te *idp.ThrottledError
	if errors.As(err, &te) {
		return te
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	done(o)
	return nil
}

func TestEntryScope(t *testing.T) {
	t.Run("limit, window and reset", func(t *testing.T) {
		th, clk := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute})
		for range 5 {
			if te := entryAttempt(t, th, "guid:1", idp.LoginNotCounted); te != nil {
				t.Fatalf("outages counted: %v", te)
			}
		}
		for i := range 3 {
			if te := entryAttempt(t, th, "guid:1", idp.LoginFailed); te != nil {
				t.Fatalf("failure %d refused: %v", i+1, te)
			}
			clk.add(time.Minute)
		}
		te := entryAttempt(t, th, "guid:1", idp.LoginSucceeded)
		if te == nil || te.Scope != ScopeEntry || te.RetryAfter != 14*time.Minute {
			t.Fatalf("4th attempt: %v, want refused for the entry, retry after 14m", te)
		}
		if te := entryAttempt(t, th, "guid:2", idp.LoginFailed); te != nil {
			t.Errorf("another entry refused: %v", te)
		}
		clk.add(14*time.Minute + time.Second)
		entryAttempt(t, th, "guid:1", idp.LoginFailed)
		entryAttempt(t, th, "guid:1", idp.LoginSucceeded) // starts afresh
		for i := range 3 {
			if te := entryAttempt(t, th, "guid:1", idp.LoginFailed); te != nil {
				t.Fatalf("after a success, failure %d refused: %v", i+1, te)
			}
		}
		if te := entryAttempt(t, th, "guid:1", idp.LoginFailed); te == nil {
			t.Error("4th failure after the reset allowed")
		}
	})
	t.Run("apart from the typed name", func(t *testing.T) {
		// The same string as a typed name and as an entry key are two
		// counters: filling one leaves the other untouched.
		th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 1})
		attempt(t, th, "alice", "", idp.LoginFailed)
		if te := entryAttempt(t, th, "alice", idp.LoginFailed); te != nil {
			t.Errorf("entry refused after a typed-name failure: %v", te)
		}
		if te := attempt(t, th, "alice", "", idp.LoginFailed); te == nil || te.Scope != ScopeAccount {
			t.Errorf("typed name: %v, want refused for the account", te)
		}
	})
	t.Run("empty key", func(t *testing.T) {
		th, _ := newThrottle(t, Config{})
		if _, err := th.BeginEntry(context.Background(), ""); err == nil {
			t.Error("an empty entry key was accepted")
		}
	})
}

// TestEntryParallelCannotOvertake: concurrent binds for one entry, reached
// through different typed names, reserve before the directory answers; no
// more than the limit get through together, and once they have failed the
// entry is refused.
func TestEntryParallelCannotOvertake(t *testing.T) {
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3})
	var admitted, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	dones := make(chan func(idp.LoginOutcome), 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each goroutine came through its own typed name: the account
			// scope admits it; only the entry scope can stop it.
			if _, err := th.Begin(context.Background(), "name"+strconv.Itoa(i), ""); err != nil {
				t.Errorf("typed name %d refused: %v", i, err)
				return
			}
			done, err := th.BeginEntry(context.Background(), "dn:uid=alice,dc=example,dc=test")
			var te *idp.ThrottledError
			switch {
			case errors.As(err, &te):
				refused.Add(1)
			case err != nil:
				t.Errorf("BeginEntry: %v", err)
			default:
				admitted.Add(1)
				dones <- done
			}
		}()
	}
	close(start)
	wg.Wait()
	close(dones)
	if n, r := admitted.Load(), refused.Load(); n != 3 || r != 37 {
		t.Errorf("%d concurrent binds admitted and %d refused, want 3 and 37", n, r)
	}
	for d := range dones {
		d(idp.LoginFailed)
	}
	if te := entryAttempt(t, th, "dn:uid=alice,dc=example,dc=test", idp.LoginFailed); te == nil {
		t.Error("allowed after 3 failures")
	}
}

// TestIPCountsOnlyFailures: many logins in flight from one address (an
// office behind one NAT) are never refused for the address; only failures
// count there.
func TestIPCountsOnlyFailures(t *testing.T) {
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3, MaxFailuresPerIP: 4})
	var dones []func(idp.LoginOutcome)
	for i := range 50 {
		done, err := th.Begin(context.Background(), fmt.Sprintf("user%d", i), "192.0.2.9")
		if err != nil {
			t.Fatalf("login %d in flight refused: %v", i, err)
		}
		dones = append(dones, done)
	}
	for _, d := range dones {
		d(idp.LoginSucceeded)
	}
	for i := range 4 {
		if te := attempt(t, th, fmt.Sprintf("typo%d", i), "192.0.2.9", idp.LoginFailed); te != nil {
			t.Fatalf("failure %d refused: %v", i+1, te)
		}
	}
	if te := attempt(t, th, "someone", "192.0.2.9", idp.LoginFailed); te == nil || te.Scope != ScopeIP {
		t.Fatalf("5th failure from one IP: %v, want refused for the IP", te)
	}
}

// keyTracker records which keys a Backend holds (writes minus deletes).
type keyTracker struct {
	store.Backend
	mu   sync.Mutex
	live map[string]bool
}

func (k *keyTracker) set(key []byte, on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if on {
		k.live[string(key)] = true
	} else {
		delete(k.live, string(key))
	}
}

func (k *keyTracker) Put(ctx context.Context, b string, key, v []byte, exp time.Time) error {
	k.set(key, true)
	return k.Backend.Put(ctx, b, key, v, exp)
}

func (k *keyTracker) PutIfAbsent(ctx context.Context, b string, key, v []byte, exp time.Time) (bool, error) {
	ok, err := k.Backend.PutIfAbsent(ctx, b, key, v, exp)
	if ok {
		k.set(key, true)
	}
	return ok, err
}

func (k *keyTracker) Delete(ctx context.Context, b string, key []byte) error {
	k.set(key, false)
	return k.Backend.Delete(ctx, b, key)
}

// An account that only ever signs in right leaves no record behind: with
// thousands of employees a window per account would be megabytes of state
// that says nothing. One with a failure keeps its window until a success.
func TestSuccessLeavesNoRecord(t *testing.T) {
	kt := &keyTracker{Backend: memory.New(memory.WithSweepInterval(-1)), live: map[string]bool{}}
	t.Cleanup(func() { kt.Close() })
	th, err := New(kt, Config{MaxFailuresPerAccount: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if te := attempt(t, th, "user"+strconv.Itoa(i), "192.0.2.1", idp.LoginSucceeded); te != nil {
			t.Fatal(te)
		}
		done, err := th.BeginEntry(context.Background(), "entry"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		done(idp.LoginSucceeded)
	}
	if len(kt.live) != 0 {
		t.Fatalf("%d records left after successful logins only: %v", len(kt.live), kt.live)
	}
	attempt(t, th, "bob", "192.0.2.1", idp.LoginFailed)
	if len(kt.live) == 0 {
		t.Fatal("a failure left no record")
	}
	attempt(t, th, "bob", "192.0.2.1", idp.LoginFailed)
	attempt(t, th, "bob", "192.0.2.1", idp.LoginFailed)
	if te := attempt(t, th, "bob", "192.0.2.1", idp.LoginSucceeded); te == nil {
		t.Fatal("4th attempt after 3 failures allowed with limit 3")
	}
}

// Many concurrent successful logins of one account (a shared account, a
// benchmark) never fail the throttle, although each success removes the
// window its attempt created while others are starting.
func TestConcurrentSuccessesOfOneAccount(t *testing.T) {
	// A store with a network round trip (Redis) leaves time between the
	// read of a window and its creation for others to come and go.
	b := &slowBackend{Backend: memory.New(memory.WithSweepInterval(-1))}
	t.Cleanup(func() { b.Close() })
	th, err := New(b, Config{MaxFailuresPerAccount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				done, err := th.Begin(context.Background(), "shared", "")
				if err != nil { // a store error, or a refusal: no failure was ever counted
					errs.Add(1)
					continue
				}
				done(idp.LoginSucceeded)
			}
		}()
	}
	wg.Wait()
	if n := errs.Load(); n > 0 {
		t.Fatalf("%d of 3200 attempts failed (store error or refused)", n)
	}
}

// slowBackend answers like a store across a network.
type slowBackend struct{ store.Backend }

func (b *slowBackend) Get(ctx context.Context, bucket string, key []byte) ([]byte, error) {
	time.Sleep(20 * time.Microsecond)
	return b.Backend.Get(ctx, bucket, key)
}

func (b *slowBackend) PutIfAbsent(ctx context.Context, bucket string, key, v []byte, exp time.Time) (bool, error) {
	time.Sleep(20 * time.Microsecond)
	return b.Backend.PutIfAbsent(ctx, bucket, key, v, exp)
}

func (b *slowBackend) Delete(ctx context.Context, bucket string, key []byte) error {
	time.Sleep(20 * time.Microsecond)
	return b.Backend.Delete(ctx, bucket, key)
}
