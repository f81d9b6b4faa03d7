package server

import (
	"context"

	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// AdminConfig is the `admin:` section.
type AdminConfig struct {
	// Groups are the DNs of the directory groups whose members may open
	// /admin, matched against the groups the directory resolved for the
	// user (set ldap.groups.base_dn so that they are resolved). Default
	// empty: /admin answers 404.
	Groups []string `yaml:"groups"`
}

// SetDefaults fills zero values (there are none to fill).
func (c *AdminConfig) SetDefaults() {}

// Validate reports every problem at once.
func (c *AdminConfig) Validate() idp.Problems {
	var ps idp.Problems
	for i, g := range c.Groups {
		if !strings.Contains(g, "=") {
			ps.Addf(keyIndex("groups", i), "%q is not a DN: give the group's full DN, e.g. cn=it-admins,ou=groups,dc=example,dc=com", g)
		}
	}
	return ps
}

// Admin wires the read-only admin page. The command supplies the values
// (they come from the configuration file, which this package does not
// know).
type Admin struct {
	Config AdminConfig
	// Console returns the values for the SP's Developers console.
	Console func() (AdminConsole, error)
	// Checks runs the health checklist of `idp check`.
	Checks func(ctx context.Context) []AdminCheck
	// Certificate returns the PEM certificate the admin uploads to the SP
	// console; nil or an empty result means none.
	Certificate func() ([]byte, error)
}

// AdminConsole is the console values of every configured SP.
type AdminConsole struct {
	Warnings         []string
	ServiceProviders []AdminSP
}

// AdminSP is one SP and mode with its console fields.
type AdminSP struct {
	Name, Mode, Profile string
	Fields              []AdminField
}

// AdminField is one console field.
type AdminField struct {
	Key, LabelEN, LabelKO, Value, Note string
}

// AdminCheck is one line of the health checklist.
type AdminCheck struct {
	OK, Warn          bool
	What, Detail, Fix string
}

type adminData struct {
	Name         string
	Console      AdminConsole
	ConsoleError bool
	Checks       []AdminCheck
	Events       []adminEvent
	EventsError  bool
	User         string
	Certificate  bool
}

type adminEvent struct {
	idp.AuditEvent
	When string
}

const adminEventLimit = 100

func (s *Server) adminRoutes(e *echo.Echo) {
	e.GET("/admin", s.adminPage)
	e.GET("/admin/certificate.pem", s.adminCertificate)
}

// adminSession returns the session of an admin, or answers the request
// itself (redirect to the login page, 403, 404) and returns ok false.
func (s *Server) adminSession(c echo.Context) (idp.Session, bool, error) {
	if len(s.admin.Config.Groups) == 0 {
		return idp.Session{}, false, echo.ErrNotFound
	}
	sess, live := s.Session(c)
	if !live {
		return idp.Session{}, false, c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape("/admin"))
	}
	if !isAdmin(sess.Identity, s.admin.Config.Groups) {
		s.log.Warn("admin_refused", "request_id", requestID(c), "user", sess.Identity.Username)
		return idp.Session{}, false, s.Render(c, http.StatusForbidden, "error", errorData{TitleKey: "admin_forbidden_title", MessageKey: "admin_forbidden", BackURL: "/login"})
	}
	return sess, true, nil
}

func (s *Server) adminPage(c echo.Context) error {
	sess, ok, err := s.adminSession(c)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	d := adminData{Name: sess.Identity.DisplayName, User: cleanHint(c.QueryParam("user"))}
	if d.Name == "" {
		d.Name = sess.Identity.Username
	}
	if s.admin.Console != nil {
		if d.Console, err = s.admin.Console(); err != nil {
			s.log.Error("admin_console_failed", "request_id", requestID(c), "err", err)
			d.ConsoleError = true
		}
	}
	if s.admin.Certificate != nil {
		pem, err := s.admin.Certificate()
		d.Certificate = err == nil && len(pem) > 0
	}
	if s.admin.Checks != nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d.Checks = s.admin.Checks(cctx)
		cancel()
	}
	if as, ok := s.store.(idp.AuditStore); ok {
		// The audit log stores events in the background: wait for those
		// already handed to it, so the admin sees their own sign-in.
		if f, ok := s.auditor.(interface{ Flush() }); ok {
			f.Flush()
		}
		evs, err := as.ListAudit(ctx, idp.AuditQuery{User: d.User, Before: s.now().Add(time.Second), Limit: adminEventLimit})
		if err != nil {
			s.log.Error("admin_audit_failed", "request_id", requestID(c), "err", err)
			d.EventsError = true
		}
		for _, e := range evs {
			d.Events = append(d.Events, adminEvent{AuditEvent: e, When: e.Time.Local().Format("2006-01-02 15:04:05")})
		}
	}
	s.log.Info("admin_viewed", "request_id", requestID(c), "user", sess.Identity.Username)
	return s.Render(c, http.StatusOK, "admin", d)
}

func (s *Server) adminCertificate(c echo.Context) error {
	if _, ok, err := s.adminSession(c); !ok {
		return err
	}
	if s.admin.Certificate == nil {
		return echo.ErrNotFound
	}
	pem, err := s.admin.Certificate()
	if err != nil {
		s.log.Error("admin_certificate_failed", "request_id", requestID(c), "err", err)
		return s.ErrorPage(c, http.StatusInternalServerError, "error_internal")
	}
	if len(pem) == 0 {
		return echo.ErrNotFound
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="idp-saml-certificate.pem"`)
	return c.Blob(http.StatusOK, "application/x-pem-file", pem)
}

// isAdmin reports whether the identity's resolved groups include one of
// the admin groups.
func isAdmin(id idp.Identity, groups []string) bool {
	for _, g := range id.Groups {
		for _, want := range groups {
			if sameDN(g, want) {
				return true
			}
		}
	}
	return false
}

// sameDN compares two DNs case-insensitively, ignoring spaces around the
// separators ("CN=IT Admins, OU=Groups" equals "cn=it admins,ou=groups").
func sameDN(a, b string) bool { return normDN(a) == normDN(b) }

func normDN(dn string) string {
	rdns := strings.Split(strings.ToLower(dn), ",")
	for i, r := range rdns {
		if k, v, ok := strings.Cut(r, "="); ok {
			r = strings.TrimSpace(k) + "=" + strings.TrimSpace(v)
		}
		rdns[i] = strings.TrimSpace(r)
	}
	return strings.Join(rdns, ",")
}

// nextCookie remembers, between the login page and its POST, where to go
// after signing in without a Flow (/login?next=/admin).
const nextCookie = "idp_next"

// rememberNext keeps a safe next path in a short-lived cookie; anything
// else clears it.
func (s *Server) rememberNext(c echo.Context, next string) {
	next = safeNext(next)
	if next == "" {
		if _, err := c.Cookie(nextCookie); err == nil {
			s.setCookie(c, nextCookie, "", -1)
		}
		return
	}
	s.setCookie(c, nextCookie, url.QueryEscape(next), int(s.sess.FlowLifetime.Seconds()))
}

// takeNext returns the remembered next path (checked again) or /login, and
// forgets it.
func (s *Server) takeNext(c echo.Context) string {
	ck, err := c.Cookie(nextCookie)
	if err != nil {
		return "/login"
	}
	s.setCookie(c, nextCookie, "", -1)
	v, err := url.QueryUnescape(ck.Value)
	if next := safeNext(v); err == nil && next != "" {
		return next
	}
	return "/login"
}

// safeNext returns next when it is a path on this site (for the redirect
// after signing in), otherwise "". Anything that a browser could resolve
// to another origin is refused: schemes, hosts, "//", backslashes and
// control characters.
func safeNext(next string) string {
	if next == "" || len(next) > 512 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return next
}
