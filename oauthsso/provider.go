package oauthsso

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
)

// ProtocolName is the idp.Flow.Protocol value of OAuth flows.
const ProtocolName = "oauth"

// Endpoint paths, relative to the server's public URL.
const (
	PathAuthorize = "/oauth/authorize"
	PathToken     = "/oauth/token"
	PathUserinfo  = "/oauth/userinfo"
	PathLogout    = "/oauth/logout"
	PathSPLogout  = "/oauth/logout/sp"
	PathLoggedOut = "/oauth/logged-out"
)

// ClientLimiter throttles failures per client ID (and the caller's IP
// address) on the token and userinfo endpoints: wrong client secrets, and
// codes or tokens refused for an authenticated client. Implementations must
// be safe for concurrent use. An Allow error refuses the request (fail
// closed); a Failed error is logged.
type ClientLimiter interface {
	// Allow reports whether clientID may attempt to authenticate now from ip.
	Allow(ctx context.Context, clientID, ip string) (bool, error)
	// Failed records a failure for clientID from ip.
	Failed(ctx context.Context, clientID, ip string) error
}

// Option configures a Provider.
type Option func(*Provider)

// WithClientLimiter installs a per-client failure limiter instead of the
// default StoreLimiter (which Register installs when the host's store
// implements idp.Counter).
func WithClientLimiter(l ClientLimiter) Option {
	return func(p *Provider) { p.limiter = l }
}

// Provider is the OAuth SSO protocol. It is immutable after New and safe for
// concurrent use once registered.
type Provider struct {
	cfg     Config
	clients map[string]*client // by client_id
	byName  map[string]*client
	logout  map[string]bool // union of every client's logout_redirect_domains
	limiter ClientLimiter
	h       server.Host
}

var (
	_ server.Protocol    = (*Provider)(nil)
	_ server.BackChannel = (*Provider)(nil)
)

// client is a validated Client with its parsed allowlist and secret digest.
type client struct {
	Client
	allowed []allowedPrefix
	secret  secretDigest
}

// New builds the provider from a config that has had SetDefaults applied. It
// validates the config again and returns its problems as the error.
func New(cfg Config, opts ...Option) (*Provider, error) {
	if ps := cfg.Validate(); len(ps) > 0 {
		return nil, fmt.Errorf("oauthsso: invalid config: %w", ps)
	}
	p := &Provider{
		cfg:     cfg,
		clients: map[string]*client{},
		byName:  map[string]*client{},
		logout:  map[string]bool{},
	}
	for _, c := range cfg.Clients {
		cl := &client{Client: c}
		for _, raw := range c.RedirectURIsAllowed {
			a, err := parseAllowedPrefix(raw, cfg.InsecureAllowHTTPLoopback)
			if err != nil {
				return nil, fmt.Errorf("oauthsso: client %s: %w", c.Name, err)
			}
			cl.allowed = append(cl.allowed, a)
		}
		if c.ClientSecretHash != "" {
			d, err := parseSecretHash(c.ClientSecretHash)
			if err != nil {
				return nil, fmt.Errorf("oauthsso: client %s: %w", c.Name, err)
			}
			cl.secret = d
		} else {
			cl.secret = sha256.Sum256([]byte(c.ClientSecret))
		}
		cl.ClientSecret = "" // keep only the digest
		for _, d := range c.LogoutRedirectDomains {
			p.logout[d] = true
		}
		p.clients[c.ClientID] = cl
		p.byName[c.Name] = cl
	}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Name implements server.Protocol.
func (p *Provider) Name() string { return ProtocolName }

// BackChannelPaths implements server.BackChannel: the SP's servers call the
// token and userinfo APIs, and they never wait behind browsers.
func (p *Provider) BackChannelPaths() []string { return []string{PathToken, PathUserinfo} }

// Register implements server.Protocol.
func (p *Provider) Register(e *echo.Echo, h server.Host) {
	p.h = h
	if c, ok := h.Store().(idp.Counter); ok && p.limiter == nil {
		p.limiter = NewStoreLimiter(c, h.Now)
	}
	e.GET(PathAuthorize, p.authorize)
	e.POST(PathToken, p.token)
	e.POST(PathUserinfo, p.userinfo)
	// Answer other methods on the JSON APIs in the API's own error format.
	others := []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete}
	e.Match(others, PathToken, p.methodNotAllowed)
	e.Match(others, PathUserinfo, p.methodNotAllowed)
	e.GET(PathLogout, p.logoutHandler)
	e.GET(PathSPLogout, p.spLogout)
	e.GET(PathLoggedOut, p.loggedOut)
}

// ConsoleFields are the values an admin pastes into the SP console.
type ConsoleFields struct {
	WebLoginURL    string `json:"web_login_url"`
	AppLoginURL    string `json:"app_login_url"`
	AccessTokenAPI string `json:"access_token_api"`
	UserinfoAPI    string `json:"userinfo_api"`
	LogoutURL      string `json:"logout_url"`
}

// Endpoints returns the console fields for an IdP served at publicURL (no
// trailing slash).
func Endpoints(publicURL string) ConsoleFields {
	return ConsoleFields{
		WebLoginURL:    publicURL + PathAuthorize,
		AppLoginURL:    publicURL + PathAuthorize,
		AccessTokenAPI: publicURL + PathToken,
		UserinfoAPI:    publicURL + PathUserinfo,
		LogoutURL:      publicURL + PathLogout,
	}
}

// SPLogoutPath returns the IdP-initiated logout link for the named client
// ("sign out everywhere"), or false when no client has that name.
func (p *Provider) SPLogoutPath(name string) (string, bool) {
	cl, ok := p.byName[name]
	if !ok {
		return "", false
	}
	return PathSPLogout + "?client_id=" + url.QueryEscape(cl.ClientID), true
}

// checkSecret compares a presented secret with the client's digest in
// constant time. A nil client still costs one comparison, so that unknown
// and known client IDs take the same time.
func checkSecret(cl *client, secret string) bool {
	got := sha256.Sum256([]byte(secret))
	want := secretDigest{}
	if cl != nil {
		want = cl.secret
	}
	ok := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return ok && cl != nil
}

// log is the server's logger with the request's reference ID, so that every
// line of one request can be found by the ID the employee quotes.
func (p *Provider) log(c echo.Context) *slog.Logger {
	return p.h.Logger().With("request_id", server.RequestID(c))
}

// logCtx is log for code that has the request's context only.
func (p *Provider) logCtx(ctx context.Context) *slog.Logger {
	return p.h.Logger().With("request_id", server.RequestIDFromContext(ctx))
}
