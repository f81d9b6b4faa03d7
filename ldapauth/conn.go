package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// downFor is how long a server that failed is tried only after the others,
// so that a dead or hung first server costs one timeout, not one per login.
const downFor = 30 * time.Second

var (
	errNoCertificate = errors.New("no PEM certificate found")
	errClosed        = errors.New("ldapauth: authenticator closed")
)

// server is one configured URL and its recent health.
type server struct {
	url      string // as configured, for logs
	addr     string // host:port
	ldaps    bool
	startTLS bool
	tls      *tls.Config // nil for plain connections

	downUntil time.Time // guarded by directory.mu
}

// directory dials the configured servers in order, skipping to the next one
// on failure, and remembers which ones failed recently.
type directory struct {
	servers        []*server
	dialTimeout    time.Duration
	requestTimeout time.Duration
	now            func() time.Time
	logger         *slog.Logger
	observer       Observer // nil: none (observe.go)

	mu sync.Mutex
}

func newServers(cfg *Config, base *tls.Config) ([]*server, error) {
	var out []*server
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("ldapauth: url %q: %w", raw, err)
		}
		s := &server{url: raw, ldaps: u.Scheme == "ldaps"}
		port := u.Port()
		if port == "" {
			port = ldap.DefaultLdapPort
			if s.ldaps {
				port = ldap.DefaultLdapsPort
			}
		}
		s.addr = net.JoinHostPort(u.Hostname(), port)
		s.startTLS = !s.ldaps && cfg.useStartTLS()
		if s.ldaps || s.startTLS {
			s.tls = base.Clone()
			s.tls.ServerName = cfg.ServerName
			if s.tls.ServerName == "" {
				s.tls.ServerName = u.Hostname()
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// order returns the servers to try: prefer first (the server that found
// the user, so the bind sees the same replica), then those not marked down
// in configured order, then the ones marked down as a last resort.
func (d *directory) order(prefer *server) []*server {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	out := make([]*server, 0, len(d.servers))
	if prefer != nil {
		out = append(out, prefer)
	}
	var down []*server
	for _, s := range d.servers {
		switch {
		case s == prefer:
		case now.Before(s.downUntil):
			down = append(down, s)
		default:
			out = append(out, s)
		}
	}
	return append(out, down...)
}

func (d *directory) markDown(s *server) {
	d.mu.Lock()
	s.downUntil = d.now().Add(downFor)
	d.mu.Unlock()
}

func (d *directory) markUp(s *server) {
	d.mu.Lock()
	s.downUntil = time.Time{}
	d.mu.Unlock()
}

// dial connects to the first server that accepts a connection and, when
// setup is not nil, answers it (the service bind). Every failure is logged
// and the server marked down; when none is left the error wraps
// idp.ErrDirectoryUnavailable.
func (d *directory) dial(ctx context.Context, prefer *server, setup func(context.Context, *conn) error) (*conn, error) {
	var errs []error
	from := "" // the first server that failed, for the failover metric
	for _, s := range d.order(prefer) {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		c, err := d.dialServer(ctx, s)
		if err == nil && setup != nil {
			if err = setup(ctx, c); err != nil {
				c.close()
			}
		}
		if err == nil {
			d.markUp(s)
			if from != "" && d.observer != nil {
				d.observer.LDAPFailover(from, s.url)
			}
			return c, nil
		}
		if abandoned(ctx) {
			// Cancelled by the caller (the browser went away), not failed.
			errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
			break
		}
		d.markDown(s)
		if from == "" {
			from = s.url
		}
		d.logger.WarnContext(ctx, "ldap server failed", "event", "ldap_server_failed", "server", s.url, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
	}
	return nil, fmt.Errorf("ldapauth: no directory server answered: %w: %w", idp.ErrDirectoryUnavailable, errors.Join(errs...))
}

// dialServer opens one connection, with TLS when configured. The TCP
// connect and the LDAPS handshake are bounded by dialTimeout, StartTLS by
// requestTimeout.
func (d *directory) dialServer(ctx context.Context, s *server) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, d.dialTimeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(dctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	nc := raw
	if s.ldaps {
		tc := tls.Client(raw, s.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	l := ldap.NewConn(nc, s.ldaps)
	l.Start()
	c := &conn{l: l, raw: raw, srv: s, created: d.now(), lastUsed: d.now(), timeout: d.requestTimeout, obs: d.observer}
	if s.startTLS {
		if err := c.do(ctx, func(l *ldap.Conn) error { return l.StartTLS(s.tls) }); err != nil {
			c.close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
	}
	return c, nil
}

// conn is one LDAP connection to one server, used by one goroutine at a
// time.
type conn struct {
	l       *ldap.Conn
	raw     net.Conn // the socket under any TLS layer, for deadlines
	srv     *server
	created time.Time
	// lastUsed is when the connection went back into the pool.
	lastUsed time.Time
	timeout  time.Duration // request timeout
	// broken is set when an operation failed without an answer from the
	// server: the connection must not be reused.
	broken bool
	// reused is set once the connection came back out of the pool.
	reused bool
	obs    Observer
}

// do runs one LDAP operation bounded by the request timeout and by ctx.
func (c *conn) do(ctx context.Context, op func(*ldap.Conn) error) error {
	timeout := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		c.broken = true
		return context.DeadlineExceeded
	}
	// The socket deadline bounds the whole operation, writes and the TLS
	// handshake inside StartTLS included. go-ldap's own request timer
	// (SetTimeout) is left off: it starts a goroutine and a timer for
	// every request and one more timer for every answer, on the login's
	// path, for what the deadline already does.
	start := time.Now()
	_ = c.raw.SetDeadline(start.Add(timeout))
	// Cancelling ctx closes the connection, which ends the operation.
	stop := context.AfterFunc(ctx, func() { c.l.Close() })
	err := op(c.l)
	c.observe(start, err)
	if !stop() {
		c.broken = true
		return errors.Join(ctx.Err(), err)
	}
	_ = c.raw.SetDeadline(time.Time{})
	if err != nil && !serverAnswered(err) {
		c.broken = true
		if time.Since(start) >= timeout {
			// go-ldap reports the deadline as a broken connection.
			return fmt.Errorf("the directory did not answer within %s: %w", timeout, err)
		}
	}
	return err
}

// healthy reads the root DSE: a connection that cannot answer that is not
// worth lending out.
func (c *conn) healthy(ctx context.Context) bool {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"1.1"}, nil)
	err := c.do(ctx, func(l *ldap.Conn) error {
		_, err := l.Search(req)
		return err
	})
	return err == nil
}

func (c *conn) close() {
	c.broken = true
	c.l.Close()
}

// abandoned reports whether the caller gave up on ctx (the browser went
// away), as opposed to a deadline that ran out: a cancelled operation says
// nothing about the directory.
func abandoned(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

// serverAnswered reports whether err is an LDAP result sent by the server
// (wrong password, no such object, ...), as opposed to a network failure,
// timeout or client-side error after which the connection is unusable.
func serverAnswered(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}
