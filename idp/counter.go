package idp

import (
	"context"
	"time"
)

// Counter counts events per key in fixed windows, for rate limits and
// throttles that must hold across concurrent requests and restarts (failed
// client authentication, pending login requests). A Store may implement it;
// consumers look for it with a type assertion and fall back to no limit
// only where that is safe.
type Counter interface {
	// Incr atomically adds one to the counter (namespace, key) and returns
	// the new count. A counter that does not exist starts at 1 and lives
	// until expiresAt; later increments keep that expiry (a fixed window).
	Incr(ctx context.Context, namespace, key string, expiresAt time.Time) (int64, error)
	// Count returns the live count of (namespace, key), 0 when there is none.
	Count(ctx context.Context, namespace, key string) (int64, error)
}
