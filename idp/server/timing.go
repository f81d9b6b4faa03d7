package server

import (
	"context"
	"sync"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// maxFailureFloor bounds how long a failed login is held back, so that one
// slow directory answer cannot slow every later failure for long.
const maxFailureFloor = 2 * time.Second

// timingAuthenticator makes "wrong password" and "unknown user" take the
// same time. A directory answers an unknown user after one search, but a
// wrong password only after a search and a bind, so without this the time
// of a failed login tells whether the account exists. Every (false, nil)
// answer is held until a floor that follows the slow kind of failure: the
// floor jumps up to any slower failure and decays by 5% per failure, so it
// sits at the recent slow path and a one-off outlier fades away.
type timingAuthenticator struct {
	next  idp.Authenticator
	mu    sync.Mutex
	floor time.Duration
}

// timingChecker keeps the inner authenticator's readiness check visible to
// /readyz.
type timingChecker struct {
	*timingAuthenticator
	idp.Checker
}

func evenTiming(a idp.Authenticator) idp.Authenticator {
	if a == nil {
		return nil
	}
	t := &timingAuthenticator{next: a}
	if c, ok := a.(idp.Checker); ok {
		return timingChecker{t, c}
	}
	return t
}

// Authenticate implements idp.Authenticator.
func (t *timingAuthenticator) Authenticate(ctx context.Context, username, password string) (idp.Identity, bool, error) {
	start := time.Now()
	id, ok, err := t.next.Authenticate(ctx, username, password)
	if ok || err != nil {
		return id, ok, err
	}
	took := time.Since(start)
	t.mu.Lock()
	t.floor -= t.floor / 20
	if took > t.floor {
		t.floor = min(took, maxFailureFloor)
	}
	wait := t.floor - took
	t.mu.Unlock()
	if wait > 0 {
		tm := time.NewTimer(wait)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-ctx.Done():
		}
	}
	return id, ok, err
}
