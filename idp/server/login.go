package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.httpError
	e.IPExtractor = s.ipExtractor()
	e.Use(s.securityHeaders, s.observeRequests, s.recoverPanics, s.browserTurn, s.limitBody)
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/login") })
	e.GET("/login", s.loginPage)
	e.POST("/login", s.loginSubmit)
	e.GET("/logout", s.logout)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.readyz)
	e.GET("/branding/logo", s.logoHandler)
	s.adminRoutes(e)
	return e
}

type loginData struct {
	FlowID   string
	SPName   string
	Username string
	CSRF     string
	ErrorKey string
	HelpURL  string
	// WaitMinutes fills the "try again in N minutes" of login_throttled.
	WaitMinutes int
}

// FlowURL is the address the login page shows for its pending login
// request (login.html replaces the SP's URL with it, so that a reload does
// not send the SP's request again).
func (d loginData) FlowURL() string { return flowLoginPath(d.FlowID) }

type homeData struct {
	Name, Email, Username, Since string
	Links                        []Link
}

func (s *Server) loginPage(c echo.Context) error {
	flowID := c.QueryParam("flow")
	if flowID != "" {
		f, err := s.store.GetFlow(c.Request().Context(), flowID)
		if err != nil {
			return s.flowGone(c, err)
		}
		return s.flowLogin(c, f)
	}
	d := loginData{CSRF: s.csrfToken(c)}
	if sess, ok := s.Session(c); ok {
		if next := safeNext(c.QueryParam("next")); next != "" {
			return c.Redirect(http.StatusSeeOther, next)
		}
		return s.Render(c, http.StatusOK, "home", s.home(sess))
	}
	d.Username = cleanHint(c.QueryParam("login_hint"))
	s.rememberNext(c, c.QueryParam("next"))
	return s.Render(c, http.StatusOK, "login", d)
}

func (s *Server) home(sess idp.Session) homeData {
	name := sess.Identity.DisplayName
	if name == "" {
		name = sess.Identity.Username
	}
	return homeData{
		Name: name, Email: sess.Identity.Email, Username: sess.Identity.Username,
		Since: sess.AuthTime.Local().Format("2006-01-02 15:04"), Links: s.links,
	}
}

// cleanHint bounds a prefill value; html/template escapes it on output.
func cleanHint(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 256 || !utf8.ValidString(v) {
		return ""
	}
	return v
}

func (s *Server) flowGone(c echo.Context, err error) error {
	if !errors.Is(err, idp.ErrNotFound) {
		s.log.Error("flow_lookup_failed", "request_id", requestID(c), "err", err)
		return s.ErrorPage(c, http.StatusServiceUnavailable, "error_internal")
	}
	return s.ErrorPage(c, http.StatusBadRequest, "error_flow_expired")
}

func (s *Server) loginSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return s.httpErrorFor(c, err)
	}
	for _, k := range []string{"username", "password", "csrf", "flow"} {
		if len(r.PostForm[k]) > 1 {
			return s.ErrorPage(c, http.StatusBadRequest, "error_bad_request")
		}
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	d := loginData{FlowID: r.PostFormValue("flow"), Username: cleanHint(username)}
	var flow idp.Flow
	if d.FlowID != "" {
		f, err := s.store.GetFlow(ctx, d.FlowID)
		if err != nil {
			return s.flowGone(c, err)
		}
		flow = f
		s.allowFlowFormAction(c, f)
		d.SPName = spName(f)
	}
	if !s.csrfOK(c) {
		s.log.Warn("login_csrf_refused", "request_id", requestID(c), "ip", c.RealIP())
		d.CSRF, d.ErrorKey = s.csrfToken(c), "login_csrf"
		return s.Render(c, http.StatusForbidden, "login", d)
	}
	d.CSRF = s.csrfToken(c)
	if username == "" || password == "" {
		d.ErrorKey = "login_missing_fields"
		return s.Render(c, http.StatusBadRequest, "login", d)
	}
	ctx = s.familiarBrowser(c, ctx, username)
	done, err := s.beginAttempt(ctx, c, username)
	if err != nil {
		var te *idp.ThrottledError
		if errors.As(err, &te) {
			return s.loginThrottled(c, flow, username, te, d)
		}
		s.log.Error("login_throttle_failed", "request_id", requestID(c), "err", err)
		return s.ErrorPage(c, http.StatusServiceUnavailable, "error_internal")
	}
	actx, cancel := context.WithTimeout(ctx, s.sess.LoginTimeout)
	defer cancel()
	start := s.now()
	id, ok, err := s.auth.Authenticate(actx, username, password)
	done(loginOutcome(ok, err))
	logAttrs := []any{"request_id", requestID(c), "user", username, "ip", c.RealIP(), "sp", flow.SP, "duration_ms", s.now().Sub(start).Milliseconds()}
	// The authenticator's own throttle (per directory entry, whatever
	// name was typed) refused the bind: the same page as the one above.
	var te *idp.ThrottledError
	if errors.As(err, &te) {
		return s.loginThrottled(c, flow, username, te, d)
	}
	s.noteFailure(c, flow, username, logAttrs, ok, err)
	if ae, isAccount := idp.IsAccountError(err); isAccount {
		if ae.State == idp.StateNotPermitted && d.FlowID != "" {
			if terr := s.store.ConsumeFlow(ctx, d.FlowID); terr != nil {
				return s.flowGone(c, terr)
			}
			s.flowEnded(ctx, flow.CreatedAt)
			if p, known := s.protocols[flow.Protocol]; known {
				return p.Deny(c, flow, ae)
			}
		}
		d.ErrorKey = accountMessage(ae.State)
		if ae.State == idp.StatePasswordExpired || ae.State == idp.StateMustChangePassword {
			d.HelpURL = s.brand.PasswordHelpURL
		}
		return s.Render(c, http.StatusForbidden, "login", d)
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return nil // nobody to answer (noteFailure logged it)
	}
	if err != nil {
		return s.ErrorPage(c, http.StatusServiceUnavailable, "error_unavailable")
	}
	if !ok {
		d.ErrorKey = "login_failed"
		return s.Render(c, http.StatusUnauthorized, "login", d)
	}
	held := holdResponse(c)
	s.rememberBrowser(c, ctx, username)
	sess, stored := s.startSession(c, id)
	answer := func() error {
		if d.FlowID == "" {
			return c.Redirect(http.StatusSeeOther, s.takeNext(c))
		}
		// The Flow read above is consumed exactly once: a second POST of
		// the same form (a double click, a replay) finds nothing to resume.
		if err := s.store.ConsumeFlow(ctx, d.FlowID); err != nil {
			return s.flowGone(c, err)
		}
		s.flowEnded(ctx, flow.CreatedAt)
		p, known := s.protocols[flow.Protocol]
		if !known {
			s.log.Error("flow_protocol_unknown", "request_id", requestID(c), "protocol", flow.Protocol)
			return s.ErrorPage(c, http.StatusBadRequest, "error_flow_expired")
		}
		return p.Resume(c, flow, sess)
	}
	// The answer (the SP's code or assertion) is made while the session
	// is written, and held until the session is stored.
	aerr := answer()
	if err := stored(); err != nil {
		held.discard()
		s.log.Error("session_store_failed", "request_id", requestID(c), "err", err)
		s.audit(c, flow, username, &id, idp.AuditError, idp.ReasonInternal)
		return s.ErrorPage(c, http.StatusServiceUnavailable, "error_internal")
	}
	held.release()
	s.log.Info("login_succeeded", logAttrs...)
	s.audit(c, flow, username, &id, idp.AuditSuccess, idp.ReasonPassword)
	return aerr
}

// loginThrottled answers an attempt refused for too many failures, by the
// server's throttle (typed name, IP) or the authenticator's (directory
// entry): 429 with "wait N minutes", the same page whichever scope.
func (s *Server) loginThrottled(c echo.Context, flow idp.Flow, username string, te *idp.ThrottledError, d loginData) error {
	s.noteThrottled(c, flow, username, te)
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds())))
	d.ErrorKey, d.WaitMinutes = "login_throttled", int((te.RetryAfter+time.Minute-1)/time.Minute)
	return s.Render(c, http.StatusTooManyRequests, "login", d)
}

// noteThrottled logs, counts and audits an attempt that a throttle
// refused; extra is added to the log line.
func (s *Server) noteThrottled(c echo.Context, flow idp.Flow, username string, te *idp.ThrottledError, extra ...any) {
	s.log.Warn("login_throttled", append([]any{"request_id", requestID(c), "user", username, "ip", c.RealIP(),
		"scope", te.Scope, "retry_after_s", int(te.RetryAfter.Seconds())}, extra...)...)
	s.observer.Throttled("login")
	s.audit(c, flow, username, nil, idp.AuditFailure, idp.ReasonThrottled)
}

// noteFailure logs and audits an attempt that neither succeeded nor was
// refused by a throttle: an account that may not sign in, a caller that
// went away while the directory was asked (no outage to report or alert
// on), a directory outage, or a wrong password. It does nothing for a
// success.
func (s *Server) noteFailure(c echo.Context, flow idp.Flow, username string, logAttrs []any, ok bool, err error) {
	ae, isAccount := idp.IsAccountError(err)
	switch {
	case isAccount:
		s.log.Info("login_refused", append(logAttrs, "reason", string(ae.State), "detail", ae.Reason)...)
		s.audit(c, flow, username, ae.Identity, idp.AuditDenied, string(ae.State))
	case err != nil && errors.Is(c.Request().Context().Err(), context.Canceled):
		s.log.Info("login_abandoned", append(logAttrs, "err", err)...)
	case err != nil:
		s.log.Error("login_directory_unavailable", append(logAttrs, "err", err)...)
		s.audit(c, flow, username, nil, idp.AuditError, idp.ReasonDirectoryUnavailable)
	case !ok:
		s.log.Info("login_failed", append(logAttrs, "reason", "invalid_credentials")...)
		s.audit(c, flow, username, nil, idp.AuditFailure, idp.ReasonInvalidCredentials)
	}
}

// beginAttempt reserves the attempt with the throttle, before the
// directory sees it. done must be called with the outcome.
func (s *Server) beginAttempt(ctx context.Context, c echo.Context, username string) (func(idp.LoginOutcome), error) {
	if s.throttle == nil {
		return func(idp.LoginOutcome) {}, nil
	}
	return s.throttle.Begin(ctx, username, c.RealIP())
}

// knownCookie marks a browser in which an account signed in: the
// throttle keeps part of the account's attempts for such browsers
// (idp.FamiliarBrowsers), so that someone else's wrong passwords cannot
// lock the employee out of every SP.
const knownCookie = "idp_known"

// knownCookieName is knownCookie with the __Host- prefix on https, as the
// session cookie has: a sibling subdomain can then neither set nor shadow
// it.
func (s *Server) knownCookieName() string {
	if s.secure {
		return "__Host-" + knownCookie
	}
	return knownCookie
}

// familiarBrowser marks ctx when the browser's knownCookie was made for
// username.
func (s *Server) familiarBrowser(c echo.Context, ctx context.Context, username string) context.Context {
	if s.familiar == nil {
		return ctx
	}
	ck, err := c.Cookie(s.knownCookieName())
	if err != nil || ck.Value == "" || !s.familiar.IsFamiliar(ctx, username, ck.Value) {
		return ctx
	}
	return idp.WithFamiliarBrowser(ctx)
}

// rememberBrowser sets knownCookie for username after a sign-in, renewed
// at every one. A failure only costs the browser that budget.
func (s *Server) rememberBrowser(c echo.Context, ctx context.Context, username string) {
	if s.familiar == nil {
		return
	}
	tok, err := s.familiar.FamiliarToken(ctx, username)
	if err != nil {
		s.log.Error("familiar_browser_token_failed", "request_id", requestID(c), "err", err)
		return
	}
	s.setCookie(c, s.knownCookieName(), tok, int(idp.FamiliarBrowserLifetime.Seconds()))
}

// loginOutcome classifies Authenticate's answer for the throttle: only a
// wrong password or unknown user counts; an outage, an account state (the
// password was right) or a refusal by the authenticator's entry throttle
// (nothing reached the directory) never does.
func loginOutcome(ok bool, err error) idp.LoginOutcome {
	switch {
	case ok:
		return idp.LoginSucceeded
	case err == nil:
		return idp.LoginFailed
	}
	return idp.LoginNotCounted
}

func accountMessage(st idp.AccountState) string {
	switch st {
	case idp.StateNotPermitted:
		return "login_not_permitted"
	case idp.StatePasswordExpired:
		return "login_password_expired"
	case idp.StateMustChangePassword:
		return "login_must_change_password"
	case idp.StateAccountExpired:
		return "login_account_expired"
	case idp.StateRestricted:
		return "login_account_restricted"
	default:
		return "login_account_disabled"
	}
}

func (s *Server) httpErrorFor(c echo.Context, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return s.ErrorPage(c, http.StatusRequestEntityTooLarge, "error_too_large")
	}
	return s.ErrorPage(c, http.StatusBadRequest, "error_bad_request")
}

func (s *Server) logout(c echo.Context) error {
	s.EndSession(c)
	return s.Render(c, http.StatusOK, "logged_out", nil)
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	type check struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	}
	var checks []check
	ready := true
	if err := s.store.Check(ctx); err != nil {
		s.log.Error("readyz_store_failed", "request_id", requestID(c), "err", err)
		ready = false
		checks = append(checks, check{"store", false})
	} else {
		checks = append(checks, check{"store", true})
	}
	if ch, ok := s.auth.(idp.Checker); ok {
		if err := ch.Check(ctx); err != nil {
			s.log.Error("readyz_directory_failed", "request_id", requestID(c), "err", err)
			ready = false
			checks = append(checks, check{"directory", false})
		} else {
			checks = append(checks, check{"directory", true})
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, map[string]any{"ready": ready, "checks": checks})
}

func (s *Server) logoHandler(c echo.Context) error {
	if s.logo == nil {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, s.logoType, s.logo)
}

// PasswordChecker is implemented by the Server for protocols with a login
// API that an SP's server calls on a client's behalf, with the password
// in the request (NAVER WORKS's IMAP/CalDAV login API): no page, no
// session.
type PasswordChecker interface {
	// PasswordLogin checks username and password as the login form does:
	// the throttle counts it per account and per directory entry (not
	// per address: the caller is the SP's server, which every employee's
	// mail client shares), and it is audited and logged like a login for
	// f's SP and protocol (nothing else of f is used, and nothing is
	// stored). It returns the identity, or ErrWrongPassword, an
	// *idp.ThrottledError, an *idp.AccountError, or another error when
	// the directory or the throttle's store failed.
	PasswordLogin(c echo.Context, f idp.Flow, username, password string) (idp.Identity, error)
}

var _ PasswordChecker = (*Server)(nil)

// ErrWrongPassword is PasswordLogin's answer to a wrong password, an
// unknown user or an empty field (indistinguishable, as on the page).
var ErrWrongPassword = errors.New("server: wrong password or unknown user")

// PasswordLogin implements PasswordChecker.
func (s *Server) PasswordLogin(c echo.Context, flow idp.Flow, username, password string) (idp.Identity, error) {
	ctx := c.Request().Context()
	username = strings.TrimSpace(username)
	logAttrs := []any{"request_id", requestID(c), "user", username, "ip", c.RealIP(), "sp", flow.SP, "via", "api"}
	if username == "" || password == "" {
		s.log.Info("login_failed", append(logAttrs, "reason", "missing_fields")...)
		return idp.Identity{}, ErrWrongPassword
	}
	done := func(idp.LoginOutcome) {}
	if s.throttle != nil {
		d, err := s.throttle.Begin(ctx, username, "")
		if err != nil {
			var te *idp.ThrottledError
			if errors.As(err, &te) {
				s.noteThrottled(c, flow, username, te, "sp", flow.SP, "via", "api")
			} else {
				s.log.Error("login_throttle_failed", append(logAttrs, "err", err)...)
			}
			return idp.Identity{}, err
		}
		done = d
	}
	actx, cancel := context.WithTimeout(ctx, s.sess.LoginTimeout)
	defer cancel()
	id, ok, err := s.auth.Authenticate(actx, username, password)
	done(loginOutcome(ok, err))
	if te := (*idp.ThrottledError)(nil); errors.As(err, &te) {
		s.noteThrottled(c, flow, username, te, "sp", flow.SP, "via", "api")
		return idp.Identity{}, err
	}
	s.noteFailure(c, flow, username, logAttrs, ok, err)
	switch {
	case err != nil:
		return idp.Identity{}, err
	case !ok:
		return idp.Identity{}, ErrWrongPassword
	}
	s.log.Info("login_succeeded", logAttrs...)
	s.audit(c, flow, username, &id, idp.AuditSuccess, idp.ReasonPasswordAPI)
	return id, nil
}
