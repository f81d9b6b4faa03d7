package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// maxUsernameLen bounds what is sent to the directory; longer input is
// refused without I/O like any unknown user.
const maxUsernameLen = 256

// Authenticator checks usernames and passwords against an LDAP directory:
// it searches the user with the service account, then binds as the user on
// a connection of its own.
type Authenticator struct {
	cfg    Config
	dir    *directory
	pool   *pool // service-account connections, for searches
	binds  *pool // connections for user binds only
	logger *slog.Logger
	now    func() time.Time
	// attrs are the only attributes requested for a user entry: password
	// attributes can never come back.
	attrs []string
	// entries, when set, limits binds per directory entry (SetEntryThrottle).
	entries idp.EntryThrottle
	closed  atomic.Bool
}

var (
	_ idp.Authenticator = (*Authenticator)(nil)
	_ idp.Checker       = (*Authenticator)(nil)
)

// Option changes an Authenticator built by New.
type Option func(*Authenticator)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(a *Authenticator) { a.logger = l }
}

// WithClock sets the clock used to remember failed servers and to age
// pooled connections (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(a *Authenticator) { a.now = now }
}

// New validates cfg (after filling its defaults) and returns an
// Authenticator. It does no network I/O: servers are dialled on first use.
func New(cfg Config, opts ...Option) (*Authenticator, error) {
	cfg = cfg.clone()
	cfg.SetDefaults()
	if err := cfg.Validate().Err(); err != nil {
		return nil, fmt.Errorf("ldapauth: %w", err)
	}
	a := &Authenticator{cfg: cfg, logger: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(a)
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		roots, err := loadCAFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldapauth: ca_file: %w", err)
		}
		base.RootCAs = roots
	}
	servers, err := newServers(&cfg, base)
	if err != nil {
		return nil, err
	}
	a.dir = &directory{
		servers:        servers,
		dialTimeout:    cfg.DialTimeout,
		requestTimeout: cfg.RequestTimeout,
		now:            a.now,
		logger:         a.logger,
	}
	a.pool = newPool(a.dir, cfg.PoolSize, a.serviceBind, a.now)
	a.pool.maxIdle = cfg.PoolMaxIdle
	a.binds = newPool(a.dir, cfg.PoolSize, nil, a.now)
	a.binds.maxIdle = cfg.PoolMaxIdle
	a.attrs = requestedAttributes(&cfg)
	return a, nil
}

// clone copies the slices so that the caller cannot change a running
// Authenticator's configuration.
func (c Config) clone() Config {
	c.URLs = slices.Clone(c.URLs)
	if c.StartTLS != nil {
		v := *c.StartTLS
		c.StartTLS = &v
	}
	c.User.LoginAttributes = slices.Clone(c.User.LoginAttributes)
	c.Attributes.Extra = slices.Clone(c.Attributes.Extra)
	c.Groups.Required = slices.Clone(c.Groups.Required)
	c.Attributes.EmailFallback = slices.Clone(c.Attributes.EmailFallback)
	if c.Groups.Nested != nil {
		v := *c.Groups.Nested
		c.Groups.Nested = &v
	}
	c.ActiveDirectory = c.ActiveDirectory.clone()
	return c
}

// serviceBind authenticates a pooled connection as the service account, or
// anonymously when configured.
func (a *Authenticator) serviceBind(ctx context.Context, c *conn) error {
	err := c.do(ctx, func(l *ldap.Conn) error {
		if a.cfg.AnonymousBind {
			return l.UnauthenticatedBind("")
		}
		return l.Bind(a.cfg.BindDN, a.cfg.BindPassword)
	})
	if err != nil {
		// A refused service bind is a configuration or account problem
		// that no user can fix: an outage, never "wrong password".
		return fmt.Errorf("service bind: %w", err)
	}
	return nil
}

// withPooled runs op on a pooled service connection. When the connection
// turns out to be broken (the server closed it, a timeout), it is dropped
// and op retried once on a new connection, which failover may put on
// another server.
func (a *Authenticator) withPooled(ctx context.Context, op func(*conn) error) error {
	if a.closed.Load() {
		return fmt.Errorf("%w: %w", errClosed, idp.ErrDirectoryUnavailable)
	}
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		var c *conn
		c, err = a.pool.get(ctx)
		if err != nil {
			if errors.Is(err, idp.ErrDirectoryUnavailable) {
				return err
			}
			return fmt.Errorf("ldapauth: %w: %w", idp.ErrDirectoryUnavailable, err)
		}
		err = op(c)
		broken, reused := c.broken, c.reused
		a.pool.put(c)
		switch {
		case err == nil:
			return nil
		case !broken:
			// The server answered (e.g. noSuchObject for a wrong base DN):
			// another connection would get the same answer.
			return fmt.Errorf("ldapauth: %w: %w", idp.ErrDirectoryUnavailable, err)
		}
		if abandoned(ctx) {
			// The login was cancelled (the browser went away): that closed
			// the connection, and says nothing about the server.
			break
		}
		if !reused {
			// A fresh connection failing says the server is in trouble; an
			// idle one may just have been closed by the server's idle timeout.
			a.dir.markDown(c.srv)
		}
		a.logger.WarnContext(ctx, "ldap connection broken", "event", "ldap_conn_broken",
			"server", c.srv.url, "attempt", attempt, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("ldapauth: %w: %w", idp.ErrDirectoryUnavailable, err)
}

// Authenticate implements idp.Authenticator: search the user with the
// service account, bind as the user, then check group membership.
func (a *Authenticator) Authenticate(ctx context.Context, username, password string) (idp.Identity, bool, error) {
	// Directories ignore surrounding spaces in names; so do we.
	username = strings.TrimSpace(username)
	// An empty password would be an unauthenticated bind, which some
	// servers accept as anonymous (RFC 4513 5.1.2): refuse it before any I/O.
	if password == "" {
		a.loginFailed(ctx, username, "empty_password")
		return idp.Identity{}, false, nil
	}
	if username == "" || len(username) > maxUsernameLen || !utf8.ValidString(username) {
		a.loginFailed(ctx, username, "invalid_username")
		return idp.Identity{}, false, nil
	}

	filter, ok := a.searchFilter(username)
	if !ok {
		a.loginFailed(ctx, username, "login_form_not_accepted")
		return idp.Identity{}, false, nil
	}
	entries, srv, err := a.findUser(ctx, filter)
	if err != nil {
		return idp.Identity{}, false, a.outage(ctx, "user_search", err)
	}
	switch {
	case len(entries) == 0:
		a.loginFailed(ctx, username, "unknown_user")
		return idp.Identity{}, false, nil
	case len(entries) > 1:
		// Picking one would let whoever controls the other entry's password
		// sign in as this user: refuse, and tell the admin.
		a.logger.WarnContext(ctx, "login failed", "event", "login_failed", "reason", "ambiguous_user",
			"username", username, "matches", len(entries))
		return idp.Identity{}, false, nil
	}
	entry := entries[0]

	// The entry, not the typed name, is what the directory locks: count
	// the bind against it whichever name reached it.
	done, err := a.beginBind(ctx, entry)
	if te, throttled := isThrottled(err); throttled {
		a.loginFailed(ctx, username, "throttled_entry", "dn", entry.DN, "retry_after_s", int(te.RetryAfter.Seconds()))
		return idp.Identity{}, false, err
	}
	if err != nil {
		a.logger.ErrorContext(ctx, "entry throttle failed", "event", "entry_throttle_failed", "err", err)
		return idp.Identity{}, false, err
	}
	res, err := a.bindUser(ctx, srv, entry.DN, password)
	done(bindOutcome(res, err))
	if err != nil {
		return idp.Identity{}, false, a.outage(ctx, "user_bind", err)
	}
	if !res.ok {
		return idp.Identity{}, false, a.refused(ctx, username, entry.DN, res.code)
	}
	if a.cfg.isAD() {
		state, locked, reason := adEntryState(entry, a.now())
		switch {
		case locked:
			a.loginFailed(ctx, username, "locked_out", "detail", reason)
			return idp.Identity{}, false, nil
		case state != "":
			a.loginFailed(ctx, username, string(state), "detail", reason)
			return idp.Identity{}, false, &idp.AccountError{State: state, Username: username, Reason: reason}
		}
	}

	id := a.identity(entry, username)
	if err := a.checkGroups(ctx, entry, &id); err != nil {
		var ae *idp.AccountError
		if errors.As(err, &ae) {
			a.loginFailed(ctx, username, string(ae.State))
			return idp.Identity{}, false, err
		}
		return idp.Identity{}, false, a.outage(ctx, "group_search", err)
	}
	return id, true, nil
}

// refused turns a refused user bind into the login result: nil (wrong
// password, unknown user, locked out: all alike to the user) or an
// *idp.AccountError for the states AD reveals only to the right password.
// The real reason is logged for the admin either way.
func (a *Authenticator) refused(ctx context.Context, username, dn string, code ADSubcode) error {
	info, known := subcodes[code]
	switch {
	case code == adNoSubcode:
		a.loginFailed(ctx, username, "wrong_password")
		return nil
	case !known:
		a.loginFailed(ctx, username, "wrong_password", "ad_subcode", string(code))
		return nil
	case info.state == "":
		a.loginFailed(ctx, username, info.reason, "ad_subcode", string(code))
		return nil
	}
	a.loginFailed(ctx, username, info.reason, "ad_subcode", string(code), "dn", dn)
	return &idp.AccountError{State: info.state, Username: username,
		Reason: "directory refused the bind: " + info.reason + " (AD data " + string(code) + ")"}
}

// bindResult is the answer to a user bind: ok, or refused with the AD
// sub-code the server gave ("" for none).
type bindResult struct {
	ok   bool
	code ADSubcode
}

// bindUser binds as dn on a pooled connection used for nothing but user
// binds, so that a search connection never carries a user's identity and a
// login costs no TCP (or TLS) handshake. Invalid credentials is the only
// answer that means "no"; anything else is an error. A connection that
// broke (an idle one the server dropped, a timeout) is replaced and the
// bind retried once.
func (a *Authenticator) bindUser(ctx context.Context, prefer *server, dn, password string) (bindResult, error) {
	if a.closed.Load() {
		return bindResult{}, fmt.Errorf("%w: %w", errClosed, idp.ErrDirectoryUnavailable)
	}
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		var c *conn
		c, err = a.binds.getPrefer(ctx, prefer)
		if err != nil {
			return bindResult{}, err
		}
		err = c.do(ctx, func(l *ldap.Conn) error { return l.Bind(dn, password) })
		broken, reused := c.broken, c.reused
		a.binds.put(c)
		switch {
		case err == nil:
			return bindResult{ok: true}, nil
		case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
			return bindResult{code: subcodeOf(err)}, nil
		case !broken || ctx.Err() != nil:
			return bindResult{}, fmt.Errorf("ldapauth: user bind: %w", err)
		}
		if !reused {
			a.dir.markDown(c.srv)
			prefer = nil
		}
	}
	return bindResult{}, fmt.Errorf("ldapauth: user bind: %w", err)
}

// Check implements idp.Checker for /readyz: some server must accept the
// service bind now.
func (a *Authenticator) Check(ctx context.Context) error {
	return a.withPooled(ctx, func(c *conn) error { return a.serviceBind(ctx, c) })
}

// Close closes the pooled connections. Logins after Close fail as an outage.
func (a *Authenticator) Close() error {
	a.closed.Store(true)
	a.pool.close()
	a.binds.close()
	return nil
}

// loginFailed records the audit event of a refused login. The password is
// never logged, not even its length.
func (a *Authenticator) loginFailed(ctx context.Context, username, reason string, more ...any) {
	args := append([]any{"event", "login_failed", "reason", reason, "username", username}, more...)
	a.logger.InfoContext(ctx, "login failed", args...)
}

// outage logs a directory failure and makes sure the error says so.
func (a *Authenticator) outage(ctx context.Context, stage string, err error) error {
	if abandoned(ctx) {
		// The caller gave up (the browser went away): not an outage.
		a.logger.InfoContext(ctx, "login abandoned", "event", "login_abandoned", "stage", stage, "err", err)
	} else {
		a.logger.ErrorContext(ctx, "directory unavailable", "event", "directory_unavailable", "stage", stage, "err", err)
	}
	if errors.Is(err, idp.ErrDirectoryUnavailable) {
		return err
	}
	return fmt.Errorf("ldapauth: %s: %w: %w", stage, idp.ErrDirectoryUnavailable, err)
}
