package oauthsso

import (
	"context"
	"fmt"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Defaults of the store-backed client limiter.
const (
	// DefaultClientFailureWindow is the fixed window in which failures count.
	DefaultClientFailureWindow = 5 * time.Minute
	// DefaultClientFailuresPerIP is how many failures one client ID may
	// collect from one IP address in a window before that pair is refused.
	DefaultClientFailuresPerIP = 10
	// DefaultClientFailures is how many failures one client ID may collect
	// from all addresses together in a window before it is refused
	// everywhere: the cap a distributed guesser meets.
	DefaultClientFailures = 100
)

// counterNamespace is the idp.Counter namespace of client failures.
const counterNamespace = "oauth_client_failures"

// StoreLimiter is the default ClientLimiter: failure counters in the state
// store (idp.Counter), so that the limit holds across concurrent requests,
// every replica sharing the store, and restarts. A failure is a wrong client
// secret, or a code or access token that never existed presented by an
// authenticated client (a guess; a replayed or expired code is not counted,
// so an SP's own mistakes do not lock it out). Two counters are kept per client: per client and IP address, which
// stops one guesser without locking the real SP out, and per client over all
// addresses, which caps a distributed guesser at the price of refusing the
// real SP for the rest of the window while such an attack runs.
type StoreLimiter struct {
	counter    idp.Counter
	now        func() time.Time
	window     time.Duration
	perIP, all int64
}

// NewStoreLimiter returns a limiter on c with the default window and limits.
func NewStoreLimiter(c idp.Counter, now func() time.Time) *StoreLimiter {
	if now == nil {
		now = time.Now
	}
	return &StoreLimiter{counter: c, now: now, window: DefaultClientFailureWindow,
		perIP: DefaultClientFailuresPerIP, all: DefaultClientFailures}
}

// WithLimits returns a copy with other limits (tests, tuning).
func (l *StoreLimiter) WithLimits(window time.Duration, perIP, all int) *StoreLimiter {
	c := *l
	c.window, c.perIP, c.all = window, int64(perIP), int64(all)
	return &c
}

// keys of the two counters. Windows are aligned to multiples of the window
// length, so every request of one window names the same counter.
func (l *StoreLimiter) keys(clientID, ip string) (slot int64, perIP, all string) {
	slot = l.now().UnixNano() / int64(l.window)
	return slot, fmt.Sprintf("%d\n%s\n%s", slot, clientID, ip), fmt.Sprintf("%d\n%s", slot, clientID)
}

// Allow implements ClientLimiter.
func (l *StoreLimiter) Allow(ctx context.Context, clientID, ip string) (bool, error) {
	_, kIP, kAll := l.keys(clientID, ip)
	n, err := l.counter.Count(ctx, counterNamespace, kIP)
	if err != nil || n >= l.perIP {
		return false, err
	}
	n, err = l.counter.Count(ctx, counterNamespace, kAll)
	if err != nil {
		return false, err
	}
	return n < l.all, nil
}

// Failed implements ClientLimiter.
func (l *StoreLimiter) Failed(ctx context.Context, clientID, ip string) error {
	slot, kIP, kAll := l.keys(clientID, ip)
	// The counter outlives its window by one window, so a clock that steps
	// back a little still finds it.
	exp := time.Unix(0, (slot+2)*int64(l.window))
	if _, err := l.counter.Incr(ctx, counterNamespace, kIP, exp); err != nil {
		return err
	}
	_, err := l.counter.Incr(ctx, counterNamespace, kAll, exp)
	return err
}
