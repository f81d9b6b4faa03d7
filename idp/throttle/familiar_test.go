package throttle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// attemptCtx is attempt with a context (a familiar browser's).
func attemptCtx(t *testing.T, ctx context.Context, th *Throttle, user, ip string, o idp.LoginOutcome) *idp.ThrottledError {
	t.Helper()
	done, err := th.Begin(ctx, user, ip)
	var te *idp.ThrottledError
	if errors.As(err, &te) {
		return te
	}
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	done(o)
	return nil
}

// TestFamiliarBrowserBudget: once someone else has spent an account's
// shared count, a familiar browser still gets FamiliarBrowserFailures
// wrong passwords (for all its familiar browsers together) and its right
// password, which clears the shared count too; a browser that is not
// familiar is refused as before. The directory entry's scope behaves the
// same, so the wrong binds per window stay at 3 + 1.
func TestFamiliarBrowserBudget(t *testing.T) {
	th, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute})
	familiar := idp.WithFamiliarBrowser(context.Background())
	for range 3 {
		if te := attempt(t, th, "alice", "203.0.113.9", idp.LoginFailed); te != nil {
			t.Fatalf("attacker's failure refused early: %v", te)
		}
	}
	if te := attempt(t, th, "alice", "10.0.0.1", idp.LoginSucceeded); te == nil {
		t.Fatal("a browser that is not familiar got past the spent count")
	}
	// One wrong password from a familiar browser, then that budget is
	// spent too, for every familiar browser of the account.
	if te := attemptCtx(t, familiar, th, "alice", "10.0.0.1", idp.LoginFailed); te != nil {
		t.Fatalf("familiar browser refused: %v", te)
	}
	if te := attemptCtx(t, familiar, th, "alice", "10.0.0.2", idp.LoginSucceeded); te == nil || te.Scope != ScopeAccount {
		t.Fatalf("second familiar failure budget: %v, want refused", te)
	}

	// Another account: the attacker spends it, the employee signs in from
	// a familiar browser, and that clears the count for everyone.
	for range 3 {
		attempt(t, th, "bob", "203.0.113.9", idp.LoginFailed)
	}
	if te := attemptCtx(t, familiar, th, "bob", "10.0.0.1", idp.LoginSucceeded); te != nil {
		t.Fatalf("familiar browser's right password refused: %v", te)
	}
	if te := attempt(t, th, "bob", "10.0.0.3", idp.LoginSucceeded); te != nil {
		t.Errorf("after the employee signed in, the count is still spent: %v", te)
	}

	// The entry scope: 3 shared + 1 familiar wrong binds, no more.
	binds := 0
	for _, ctx := range []context.Context{context.Background(), context.Background(), context.Background(), context.Background(), familiar, familiar} {
		done, err := th.BeginEntry(ctx, "entry-guid-1")
		if err != nil {
			continue
		}
		binds++
		done(idp.LoginFailed)
	}
	if binds != 4 {
		t.Errorf("wrong binds let through for one entry: %d, want 3 + 1", binds)
	}

	off, _ := newThrottle(t, Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute, FamiliarBrowserFailures: -1})
	for range 3 {
		attempt(t, off, "carol", "203.0.113.9", idp.LoginFailed)
	}
	if te := attemptCtx(t, familiar, off, "carol", "10.0.0.1", idp.LoginSucceeded); te == nil {
		t.Error("familiar_browser_failures -1: a familiar browser still got a budget")
	}
}

// TestFamiliarToken: a token is good for the name it was made for (in any
// spelling the normaliser folds) until FamiliarLifetime, and for nothing
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
	clk.add(FamiliarLifetime + time.Minute)
	if th.IsFamiliar(ctx, "alice", tok) {
		t.Error("token accepted after FamiliarLifetime")
	}
}
