package ldapauth

import (
	"context"
	"sync"
	"time"
)

// maxConnAge retires pooled connections so that, after a failover, the
// pool returns to the preferred server and picks up changed DNS.
const maxConnAge = 5 * time.Minute

// checkAfterIdle is how long a pooled connection may sit idle before it is
// health-checked (a root DSE read) on its way out of the pool: a firewall
// or the server may have dropped it silently.
const checkAfterIdle = 30 * time.Second

// pool keeps connections open and ready. The service pool's connections
// are bound as the service account (setup) and used for searches only; the
// bind pool's connections (no setup) are used for user binds only, so a
// user bind never changes the identity of a connection that searches. At
// most size are lent out at once; callers beyond that wait (bounded by
// their context).
type pool struct {
	dir   *directory
	setup func(context.Context, *conn) error // the service bind
	now   func() time.Time
	slots chan struct{}
	// maxIdle retires connections idle longer (Config.PoolMaxIdle).
	maxIdle time.Duration

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

func newPool(dir *directory, size int, setup func(context.Context, *conn) error, now func() time.Time) *pool {
	return &pool{dir: dir, setup: setup, now: now, slots: make(chan struct{}, size)}
}

// get returns an idle connection or dials a new one. The caller must hand
// it back with put.
func (p *pool) get(ctx context.Context) (*conn, error) {
	return p.getPrefer(ctx, nil)
}

// getPrefer is get for a connection to prefer (the server that found the
// user, so that the bind sees the same replica): idle connections to other
// servers are closed, and a new one is dialled to prefer first.
func (p *pool) getPrefer(ctx context.Context, prefer *server) (*conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		c, err := p.takeIdle(prefer)
		if err != nil {
			<-p.slots
			return nil, err
		}
		if c == nil {
			break
		}
		if p.now().Sub(c.lastUsed) < checkAfterIdle || c.healthy(ctx) {
			return c, nil
		}
		c.close()
	}
	c, err := p.dir.dial(ctx, prefer, p.setup)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// takeIdle pops the most recently used idle connection that still looks
// alive (and, with prefer, is to that server). A connection the server
// closed while idle is noticed here (go-ldap marks it closing); one that
// broke silently is caught by the caller's retry.
func (p *pool) takeIdle(prefer *server) (*conn, error) {
	var stale []*conn
	defer func() {
		for _, c := range stale {
			c.close() // may wait for the server: not under the lock
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if c.l.IsClosing() || p.now().Sub(c.created) > maxConnAge || (p.maxIdle > 0 && p.now().Sub(c.lastUsed) > p.maxIdle) ||
			(prefer != nil && c.srv != prefer) {
			stale = append(stale, c)
			continue
		}
		c.reused = true
		return c, nil
	}
	return nil, nil
}

// put returns a connection taken with get; a broken one is closed.
func (p *pool) put(c *conn) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	keep := !p.closed && !c.broken && p.now().Sub(c.created) <= maxConnAge
	if keep {
		c.lastUsed = p.now()
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	if !keep {
		c.close()
	}
}

// close closes the idle connections; connections lent out are closed when
// they come back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}
