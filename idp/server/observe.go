package server

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// Auditor receives one event per sign-in outcome (the audit log and the
// login metrics). It must not block for long and never fails the sign-in.
type Auditor interface {
	Audit(ctx context.Context, e idp.AuditEvent)
}

// Observer receives what the metrics need and the audit log does not. Every
// label value it is given comes from a bounded set (route patterns, fixed
// kinds), never from user input.
type Observer interface {
	// Request is called once per request with the route pattern ("/oauth/token",
	// "" when no route matched), the status and the time taken.
	Request(route string, status int, d time.Duration)
	// Throttled counts a refused attempt: "flow_ip", "flow_global", "login".
	Throttled(kind string)
	// SessionStarted and SessionEnded follow SSO sessions (login, logout).
	SessionStarted(expiresAt time.Time)
	SessionEnded()
}

type nopObserver struct{}

func (nopObserver) Request(string, int, time.Duration) {}
func (nopObserver) Throttled(string)                   {}
func (nopObserver) SessionStarted(time.Time)           {}
func (nopObserver) SessionEnded()                      {}

type nopAuditor struct{}

func (nopAuditor) Audit(context.Context, idp.AuditEvent) {}

// audit records one sign-in outcome of the request c for flow f (zero for
// a bare /login). typed is the name as typed; id, when the directory
// answered for the user, gives the canonical name and subject.
func (s *Server) audit(c echo.Context, f idp.Flow, typed string, id *idp.Identity, result idp.AuditResult, reason string) {
	e := idp.AuditEvent{
		Time: s.now(), RequestID: requestID(c), User: typed,
		SP: f.SP, Mode: f.Protocol, Result: result, Reason: reason,
		IP: c.RealIP(), UserAgent: truncate(c.Request().UserAgent(), 256),
	}
	if id != nil && id.Username != "" {
		e.User, e.Subject = id.Username, id.Subject
		if typed != id.Username {
			e.Login = typed
		}
	}
	e.User = truncate(e.User, 256)
	e.Login = truncate(e.Login, 256)
	s.auditor.Audit(c.Request().Context(), e)
}

// observeRequests times every request for the Observer.
func (s *Server) observeRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil && !c.Response().Committed {
			// The error handler writes the page after this middleware.
			status = 500
			if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
			}
		}
		route := c.Path()
		if status == 404 || status == 405 {
			// No route of ours: echo may name a partial one.
			route = ""
		}
		s.observer.Request(route, status, time.Since(start))
		return err
	}
}
