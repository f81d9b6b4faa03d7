package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/templates"
)

// Options wires a Server. Nil fields mean safe defaults (clock, randomness,
// logger); Store and Authenticator are required.
type Options struct {
	Config        Config
	Session       SessionConfig
	Branding      BrandingConfig
	Store         idp.Store
	Authenticator idp.Authenticator
	Protocols     []Protocol
	// Links are extra buttons on the signed-in page (e.g. the demo's "play
	// the SP" buttons): a message key and a same-origin URL.
	Links []Link
	// FlowLimits caps pending login requests; zero fields take defaults.
	FlowLimits FlowLimits
	// Admin wires the /admin page (off unless Admin.Config.Groups is set).
	Admin Admin
	// Auditor receives one event per sign-in outcome (nil: none).
	Auditor Auditor
	// Observer receives request timings, throttling and session counts for
	// the metrics (nil: none).
	Observer Observer
	// Throttle limits failed logins per account and client IP before the
	// directory is contacted (nil: no throttling).
	Throttle idp.LoginThrottle
	Logger   *slog.Logger
	Now      func() time.Time
	Rand     io.Reader
}

// Link is a button on the signed-in page.
type Link struct {
	Key string
	URL string
}

// Server is the IdP's HTTP server. It implements Host for its protocols.
type Server struct {
	cfg        Config
	sess       SessionConfig
	brand      BrandingConfig
	store      idp.Store
	auth       idp.Authenticator
	protocols  map[string]Protocol
	links      []Link
	log        *slog.Logger
	now        func() time.Time
	rand       io.Reader
	pages      atomic.Pointer[templates.Set]   // swapped by ReloadTemplates
	tlsCert    atomic.Pointer[tls.Certificate] // swapped by ReloadTLS
	echo       *echo.Echo
	secure     bool // public URL is https: Secure cookies, HSTS
	origin     string
	cookie     string
	logo       []byte
	logoType   string
	flowLimits FlowLimits
	auditor    Auditor
	observer   Observer
	admin      Admin
	throttle   idp.LoginThrottle
	familiar   idp.FamiliarBrowsers // the throttle's, when it has them
	gate       *browserGate         // nil: no line for browser requests
	// backChannel are the SP's server-to-server routes; a connection that
	// carries one is watched (spConn).
	backChannel map[string]bool
}

var _ Host = (*Server)(nil)

// New builds a Server and registers every route, including the protocols'.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Authenticator == nil {
		return nil, errors.New("server: Store and Authenticator are required")
	}
	s := &Server{
		cfg: o.Config, sess: o.Session, brand: o.Branding,
		store: o.Store, auth: evenTiming(o.Authenticator), links: o.Links,
		log: o.Logger, now: o.Now, rand: o.Rand,
		protocols: map[string]Protocol{}, flowLimits: o.FlowLimits,
		auditor: o.Auditor, observer: o.Observer, admin: o.Admin,
		throttle: o.Throttle,
	}
	s.familiar, _ = o.Throttle.(idp.FamiliarBrowsers)
	if s.auditor == nil {
		s.auditor = nopAuditor{}
	}
	if s.observer == nil {
		s.observer = nopObserver{}
	}
	s.flowLimits.setDefaults()
	s.cfg.SetDefaults()
	s.sess.SetDefaults()
	s.brand.SetDefaults()
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	pu, err := url.Parse(s.cfg.PublicURL)
	if err != nil || pu.Host == "" {
		return nil, fmt.Errorf("server: public_url %q is not an absolute URL", s.cfg.PublicURL)
	}
	s.secure = pu.Scheme == "https"
	s.origin = pu.Scheme + "://" + pu.Host
	s.cookie = s.sess.CookieName
	if s.cookie == "" {
		s.cookie = "idp_session"
		if s.secure {
			// __Host- binds the cookie to this exact host, path / and Secure.
			s.cookie = "__Host-idp_session"
		}
	}
	if err := s.ReloadTemplates(s.cfg.TemplatesDir); err != nil {
		return nil, err
	}
	if s.brand.LogoFile != "" {
		if s.logo, err = os.ReadFile(s.brand.LogoFile); err != nil {
			return nil, fmt.Errorf("server: branding.logo_file: %w", err)
		}
		s.logoType = logoContentType(s.brand.LogoFile)
	}
	s.echo = s.routes()
	var backChannel []string
	for _, p := range o.Protocols {
		if _, dup := s.protocols[p.Name()]; dup {
			return nil, fmt.Errorf("server: protocol %q registered twice", p.Name())
		}
		s.protocols[p.Name()] = p
		p.Register(s.echo, s)
		if bc, ok := p.(BackChannel); ok {
			backChannel = append(backChannel, bc.BackChannelPaths()...)
		}
	}
	s.gate = newBrowserGate(s.cfg.BrowserConcurrency, backChannel)
	s.backChannel = make(map[string]bool, len(backChannel))
	for _, p := range backChannel {
		s.backChannel[p] = true
	}
	return s, nil
}

func logoContentType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".svg":
		return "image/svg+xml"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".webp":
		return "image/webp"
	default:
		return "image/png"
	}
}

// Handler returns the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router so that the command can add optional pages (the
// demo's SP simulator) before serving.
func (s *Server) Echo() *echo.Echo { return s.echo }

// Serve listens on the configured address (TLS when configured) until ctx is
// cancelled, then shuts down gracefully within ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnContext:       withConn,
	}
	ln = wrapListener(ln)
	if s.cfg.TLS.Enabled() {
		if s.tlsCert.Load() == nil {
			if err := s.ReloadTLS(); err != nil {
				return err
			}
		}
		// GetCertificate reads the pointer at every handshake, so that
		// ReloadTLS (SIGHUP) takes effect without dropping connections.
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.tlsCert.Load(), nil
		}}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting_down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// Host implementation.

// Store returns the state store.
func (s *Server) Store() idp.Store { return s.store }

// Now returns the current time from the injected clock.
func (s *Server) Now() time.Time { return s.now() }

// Rand returns the randomness source.
func (s *Server) Rand() io.Reader { return s.rand }

// Logger returns the structured logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// PublicURL returns the external base URL without a trailing slash.
func (s *Server) PublicURL() string { return s.cfg.PublicURL }

// BeginFlow parks f and sends the browser to the login page, or resumes at
// once for a live session.
func (s *Server) BeginFlow(c echo.Context, f idp.Flow) error {
	now := s.now()
	if f.ID == "" {
		f.ID = idp.NewTimedID(s.rand, now)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = now
	}
	if f.ExpiresAt.IsZero() {
		f.ExpiresAt = now.Add(s.sess.FlowLifetime)
	}
	p, ok := s.protocols[f.Protocol]
	if !ok {
		return fmt.Errorf("server: flow for unregistered protocol %q", f.Protocol)
	}
	if sess, live := s.Session(c); live && !f.ForceAuthn {
		s.log.Info("sso_session_reused", "request_id", requestID(c), "sp", f.SP, "user", sess.Identity.Username)
		s.audit(c, f, sess.Identity.Username, &sess.Identity, idp.AuditSuccess, idp.ReasonSSOSession)
		return p.Resume(c, f, sess)
	}
	if err := s.admitFlow(c); err != nil || c.Response().Committed {
		return err
	}
	if err := s.store.PutFlow(c.Request().Context(), f); err != nil {
		s.flowEnded(c.Request().Context(), f.CreatedAt)
		s.log.Error("flow_store_failed", "request_id", requestID(c), "err", err)
		return s.ErrorPage(c, http.StatusServiceUnavailable, "error_internal")
	}
	if c.Request().Method != http.MethodGet {
		// The SP's request came in a POST (SAML POST binding): answer
		// with a redirect, so that reloading the login page does not
		// post the SP's request a second time.
		return c.Redirect(http.StatusSeeOther, flowLoginPath(f.ID))
	}
	// The login page right here, not a redirect to it: one round trip less
	// for an employee on a phone.
	return s.flowLogin(c, f)
}

// spName is how the login page names the SP of f.
func spName(f idp.Flow) string {
	if f.SPName != "" {
		return f.SPName
	}
	return f.SP
}

// flowLoginPath is the login page of the pending login request id.
func flowLoginPath(id string) string { return "/login?flow=" + url.QueryEscape(id) }

// flowLogin renders the login form for the pending request f. Its language
// links go to /login?flow=ID, whichever URL it answers, so that switching
// the language keeps the same pending request.
func (s *Server) flowLogin(c echo.Context, f idp.Flow) error {
	d := loginData{CSRF: s.csrfToken(c), FlowID: f.ID, SPName: spName(f), Username: cleanHint(f.LoginHint)}
	s.allowFlowFormAction(c, f)
	return s.render(c, http.StatusOK, "login", d, langLinks("/login", url.Values{"flow": {f.ID}}))
}

// ErrorPage renders the error page with a message key.
func (s *Server) ErrorPage(c echo.Context, status int, msgKey string) error {
	title := "error_title"
	if status == http.StatusServiceUnavailable {
		title = "error_unavailable_title"
	}
	return s.Render(c, status, "error", errorData{TitleKey: title, MessageKey: msgKey, BackURL: "/login"})
}

type errorData struct {
	TitleKey, MessageKey, BackURL string
}

// Render renders a page in the request's language inside the layout.
func (s *Server) Render(c echo.Context, status int, name string, data any) error {
	return s.render(c, status, name, data, langURLs(c.Request()))
}

// render is Render with the page's language links given.
func (s *Server) render(c echo.Context, status int, name string, data any, langs map[string]string) error {
	lang := s.lang(c)
	p := templates.Page{
		Lang:      lang,
		Nonce:     Nonce(c),
		Brand:     s.pageBrand(),
		RequestID: requestID(c),
		LangURLs:  langs,
		Data:      data,
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set("Content-Language", lang)
	// One pooled buffer, written as is: no copy to a string and back.
	buf := templates.GetBuffer()
	defer templates.PutBuffer(buf)
	if err := s.pages.Load().Render(buf, name, p); err != nil {
		s.log.Error("render_failed", "request_id", requestID(c), "page", name, "err", err)
		return c.String(http.StatusInternalServerError, "Internal error / 내부 오류 ("+requestID(c)+")")
	}
	// With the length known the page goes out in one piece rather than
	// as chunks, and in one write (onePiece).
	h.Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	return onePiece(c.Request(), c.Response().Writer, func() error { return c.HTMLBlob(status, buf.Bytes()) })
}

// pageBrand is the branding every page shows (the pages are prepared for
// it when they are loaded).
func (s *Server) pageBrand() templates.Brand {
	b := templates.Brand{CompanyName: s.brand.CompanyName, PrimaryColor: s.brand.PrimaryColor}
	if s.brand.LogoFile != "" {
		b.LogoURL = "/branding/logo"
	}
	return b
}

// langURLs links the current page in each language, keeping the query (and
// so the pending login's flow handle).
func langURLs(r *http.Request) map[string]string {
	path := r.URL.EscapedPath()
	// A request path like "//evil.example/" (a 404 page) would otherwise
	// become a protocol-relative link to another site.
	if r.Method != http.MethodGet || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(path, `/\`) {
		path = "/login"
	}
	var q url.Values
	if r.Method == http.MethodGet {
		q = r.URL.Query()
	} else {
		q = url.Values{}
		if f := r.PostFormValue("flow"); f != "" {
			q.Set("flow", f)
		}
	}
	return langLinks(path, q)
}

// langLinks returns path?q&lang=L for each language L (q is changed).
func langLinks(path string, q url.Values) map[string]string {
	out := make(map[string]string, len(templates.Languages))
	for _, l := range templates.Languages {
		q.Set("lang", l)
		out[l] = path + "?" + q.Encode()
	}
	return out
}

const langCookie = "idp_lang"

// queryValue is the first value of name in the raw query, as
// url.ParseQuery would give it, without decoding the rest: the SSO URL's
// query carries a SAMLRequest of kilobytes that only its own handler
// needs decoded.
func queryValue(raw, name string) string {
	for pair := range strings.SplitSeq(raw, "&") {
		if strings.Contains(pair, ";") {
			continue // ParseQuery refuses the pair
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != name {
				continue
			}
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			return uv
		}
	}
	return ""
}

// lang picks the page language: an explicit ?lang= (remembered in a
// cookie), then the cookie, then Accept-Language, then Korean.
func (s *Server) lang(c echo.Context) string {
	if l := queryValue(c.Request().URL.RawQuery, "lang"); l != "" {
		for _, v := range templates.Languages {
			if v == l {
				c.SetCookie(&http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
				return l
			}
		}
	}
	if ck, err := c.Cookie(langCookie); err == nil {
		for _, v := range templates.Languages {
			if v == ck.Value {
				return v
			}
		}
	}
	return templates.PickLang(c.Request().Header.Get("Accept-Language"))
}
