package throttle

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// attemptCtx is attempt with a context (a familiar browser's).
func attemptCtx(t *testing.T, ctx context.Context, th *Throttle, user, ip string, o idp.LoginOutcome) *idp.ThrottledError {
	t.Helper()
	done, err := th.Begin(ctx, user, ip)
	return settle(t, "Begin", done, err, o)
}

// TestFamiliarBrowserBudget: of an account's 3, other browsers may spend
// 2; the third is kept for browsers in which the account signed in before.
// So someone else's wrong passwords cannot spend the employee's own
// attempt, and the directory still sees at most 3 wrong passwords per
// window, whoever sends them, under the name and under the entry alike.
// A right password from a familiar browser clears the count for everyone.
func TestFamiliarBrowserBudget(t *testing.T) {
	one := 1
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute, FamiliarBrowserFailures: &one})
	familiar := idp.WithFamiliarBrowser(context.Background())
	for i := range 2 {
		if te := attempt(t, th, "alice", "203.0.113.9", idp.LoginFailed); te != nil {
			t.Fatalf("stranger's failure %d refused: %v", i+1, te)
		}
	}
	if te := attempt(t, th, "alice", "10.0.0.1", idp.LoginSucceeded); te == nil {
		t.Fatal("a third attempt from a browser that is not familiar got through")
	}
	if te := attemptCtx(t, familiar, th, "alice", "10.0.0.1", idp.LoginFailed); te != nil {
		t.Fatalf("the familiar browser's kept attempt refused: %v", te)
	}
	if te := attemptCtx(t, familiar, th, "alice", "10.0.0.2", idp.LoginSucceeded); te == nil || te.Scope != ScopeAccount {
		t.Fatalf("a fourth attempt: %v, want refused", te)
	}

	for range 2 {
		attempt(t, th, "bob", "203.0.113.9", idp.LoginFailed)
	}
	if te := attemptCtx(t, familiar, th, "bob", "10.0.0.1", idp.LoginSucceeded); te != nil {
		t.Fatalf("familiar browser's right password refused: %v", te)
	}
	if te := attempt(t, th, "bob", "10.0.0.3", idp.LoginSucceeded); te != nil {
		t.Errorf("after the employee signed in, the count is still spent: %v", te)
	}

	// The entry scope, with every kind of attempt: 3 wrong binds in all.
	binds := 0
	for _, ctx := range []context.Context{context.Background(), context.Background(), context.Background(), familiar, familiar} {
		done, err := th.BeginEntry(ctx, "entry-guid-1")
		if err != nil {
			continue
		}
		binds++
		done(idp.LoginFailed)
	}
	if binds != 3 {
		t.Errorf("wrong binds let through for one entry: %d, want 3", binds)
	}

	zero := 0
	off, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute, FamiliarBrowserFailures: &zero})
	for i := range 3 {
		if te := attempt(t, off, "carol", "203.0.113.9", idp.LoginFailed); te != nil {
			t.Fatalf("familiar_browser_failures 0: failure %d refused: %v", i+1, te)
		}
	}
	if te := attemptCtx(t, familiar, off, "carol", "10.0.0.1", idp.LoginSucceeded); te == nil {
		t.Error("familiar_browser_failures 0: a familiar browser got past the limit")
	}
}

// TestFamiliarBudgetKeepsADBelowThreshold models AD's bad-password count
// (reset Window after the last wrong password) over a sequence that a
// budget of its own would let slide: a stranger's 3 tries, the employee's
// mistake 10 minutes later from a familiar browser, the stranger again when
// the first window ends. AD must never see more than 3.
func TestFamiliarBudgetKeepsADBelowThreshold(t *testing.T) {
	const w = 15 * time.Minute
	one := 1
	th, clk := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: w, FamiliarBrowserFailures: &one})
	familiar := idp.WithFamiliarBrowser(context.Background())
	count, most, last := 0, 0, time.Time{}
	bind := func(ctx context.Context) {
		done, err := th.BeginEntry(ctx, "guid:alice")
		if err != nil {
			return
		}
		if !last.IsZero() && clk.now().Sub(last) >= w {
			count = 0
		}
		count++
		last = clk.now()
		most = max(most, count)
		done(idp.LoginFailed)
	}
	for range 3 {
		bind(context.Background())
	}
	clk.add(10 * time.Minute)
	bind(familiar)
	clk.add(5*time.Minute + time.Second)
	for range 3 {
		bind(context.Background())
	}
	clk.add(w)
	for range 3 {
		bind(familiar)
	}
	if most > 3 {
		t.Errorf("AD saw %d wrong passwords in one of its windows, want at most 3", most)
	}
}

// TestFamiliarConfig: the default keeps 1 of 3 and none of 1; a budget
// that would leave other browsers nothing is refused.
func TestFamiliarConfig(t *testing.T) {
	for _, tc := range []struct {
		max, want int
	}{{3, 1}, {2, 1}, {1, 0}} {
		c := Config{MaxFailuresPerAccount: tc.max}
		c.SetDefaults()
		if got := c.familiarKept(); got != tc.want || len(c.Validate()) != 0 {
			t.Errorf("max %d: kept %d (want %d), problems %v", tc.max, got, tc.want, c.Validate())
		}
	}
	three, neg := 3, -1
	for _, n := range []*int{&three, &neg} {
		c := Config{MaxFailuresPerAccount: 3, FamiliarBrowserFailures: n}
		c.SetDefaults()
		if ps := c.Validate(); len(ps) != 1 || ps[0].Key != "familiar_browser_failures" {
			t.Errorf("familiar_browser_failures %d of 3: problems %v", *n, ps)
		}
	}
}

// TestFamiliarToken: a token is good for the name it was made for (in any
// spelling the normaliser folds) until idp.FamiliarBrowserLifetime, and for nothing
// else; a new Throttle on the same store (a restart, a replica) accepts it.
func TestFamiliarToken(t *testing.T) {
	th, clk := newThrottle(t, Config{})
	ctx := context.Background()
	tok, err := th.FamiliarToken(ctx, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	if !th.IsFamiliar(ctx, " alice ", tok) {
		t.Error("token refused for its own name")
	}
	for _, bad := range []string{"", "1", "1.x.y", "2" + tok[1:], tok[:len(tok)-2], strings.Replace(tok, ".", ".1", 1)} {
		if th.IsFamiliar(ctx, "alice", bad) {
			t.Errorf("token %q accepted", bad)
		}
	}
	if th.IsFamiliar(ctx, "bob", tok) {
		t.Error("alice's token accepted for bob")
	}
	again, err := New(th.b, Config{}, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	if !again.IsFamiliar(ctx, "alice", tok) {
		t.Error("a second Throttle on the same store refuses the token")
	}
	clk.add(idp.FamiliarBrowserLifetime + time.Minute)
	if th.IsFamiliar(ctx, "alice", tok) {
		t.Error("token accepted after idp.FamiliarBrowserLifetime")
	}
}

// TestFailureAcrossASuccess: an attempt that took its slot before a right
// password reset the account, and fails after attempts in the next window
// failed, counts in that next window; it used to write its old window
// back, which forgot the new window's failures and let more wrong
// passwords through. What the directory sees after the success is bounded
// by the limit plus the attempts that were already in flight then (their
// binds were under way; nothing can take them back).
func TestFailureAcrossASuccess(t *testing.T) {
	for _, kept := range []int{1, 0} {
		th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3, FamiliarBrowserFailures: &kept})
		stranger, familiar := context.Background(), idp.WithFamiliarBrowser(context.Background())
		try := func(ctx context.Context) func(idp.LoginOutcome) {
			d, err := th.Begin(ctx, "alice", "")
			if err != nil {
				return nil
			}
			return d
		}
		try(stranger)(idp.LoginFailed)
		inFlight := try(stranger)
		try(familiar)(idp.LoginSucceeded) // the directory's count starts again
		after := 0
		for range 3 {
			if d := try(stranger); d != nil {
				d(idp.LoginFailed)
				after++
			}
		}
		inFlight(idp.LoginFailed)
		after++
		for _, ctx := range []context.Context{stranger, familiar, stranger, familiar} {
			if d := try(ctx); d != nil {
				d(idp.LoginFailed)
				after++
			}
		}
		if after > 3+1 {
			t.Errorf("familiar_browser_failures %d: %d wrong passwords after the success, want at most the limit 3 and the 1 in flight", kept, after)
		}
	}
}
