package idp

import (
	"context"
	"fmt"
	"time"
)

// LoginOutcome classifies a finished login attempt for a LoginThrottle.
type LoginOutcome int

const (
	// LoginSucceeded: the password was verified and the user signed in.
	LoginSucceeded LoginOutcome = iota + 1
	// LoginFailed: wrong password or unknown user (Authenticate returned
	// false with a nil error). Only these count against the limits.
	LoginFailed
	// LoginNotCounted: the directory could not answer, or the password was
	// right but the account may not sign in (an *AccountError). Neither is
	// the user guessing passwords.
	LoginNotCounted
)

// LoginThrottle limits failed logins per account and per client address,
// before the directory is contacted, so that guessing through the IdP
// stops well short of the directory's own account lockout.
type LoginThrottle interface {
	// Begin reserves one attempt for username from clientIP. It returns a
	// *ThrottledError when the attempt must not reach the directory, or
	// another error when the throttle's store failed. Otherwise done must
	// be called exactly once with the attempt's outcome. Reservations are
	// atomic: concurrent attempts cannot exceed a limit together.
	Begin(ctx context.Context, username, clientIP string) (done func(LoginOutcome), err error)
}

// EntryThrottle limits failed logins per directory entry, whatever name
// the user typed. A LoginThrottle counts the typed name, which cannot know
// that "alice", "alice@corp.example" and "alice.kim@example.com" are one
// account; the Authenticator, once its search has found the one entry,
// reserves the attempt under the entry's stable identity before it binds,
// so that guessing through several name forms cannot add up to more wrong
// passwords at the directory than one name could.
type EntryThrottle interface {
	// BeginEntry reserves one attempt for the entry identified by
	// entryKey (e.g. its objectGUID, or its normalised DN). It returns a
	// *ThrottledError when the bind must not be made, or another error
	// when the throttle's store failed. Otherwise done must be called
	// exactly once with the outcome of the bind. Reservations are atomic,
	// as for LoginThrottle.Begin.
	BeginEntry(ctx context.Context, entryKey string) (done func(LoginOutcome), err error)
}

// ThrottledError refuses an attempt because of too many recent failures.
type ThrottledError struct {
	// RetryAfter is how long until the next attempt may be made.
	RetryAfter time.Duration
	// Scope is what was limited: "account" (the typed name), "entry" (the
	// directory entry) or "ip" (for the log only; the user is told the
	// same thing either way).
	Scope string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("idp: too many failed logins (%s); retry after %v", e.Scope, e.RetryAfter)
}

// FamiliarBrowsers is implemented by a LoginThrottle that keeps part of
// an account's attempts for browsers which signed in with it before
// (marked with WithFamiliarBrowser). Anyone who knows an employee's login
// name can send wrong passwords for it; without this they could spend all
// of the account's attempts, and the employee's own right password would
// be refused for the rest of the window (an IdP-side lockout, though the
// directory account stays unlocked).
type FamiliarBrowsers interface {
	// FamiliarToken returns the cookie value that marks a browser in
	// which username has just signed in.
	FamiliarToken(ctx context.Context, username string) (string, error)
	// IsFamiliar reports whether token was made by FamiliarToken for
	// username (in its normalised form) and is not too old.
	IsFamiliar(ctx context.Context, username, token string) bool
}

// FamiliarBrowserLifetime is how long a browser stays familiar after a
// sign-in (every sign-in renews it).
const FamiliarBrowserLifetime = 90 * 24 * time.Hour

type familiarKey struct{}

// WithFamiliarBrowser marks ctx as an attempt from a browser in which the
// typed name signed in before (FamiliarBrowsers.IsFamiliar), for the
// throttles that the attempt reaches, the directory entry's included.
func WithFamiliarBrowser(ctx context.Context) context.Context {
	return context.WithValue(ctx, familiarKey{}, true)
}

// IsFamiliarBrowser reports whether WithFamiliarBrowser marked ctx.
func IsFamiliarBrowser(ctx context.Context) bool {
	v, _ := ctx.Value(familiarKey{}).(bool)
	return v
}
