package server

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

const (
	ctxNonce     = "idp.csp_nonce"
	ctxRequestID = "idp.request_id"
)

// Nonce returns the request's CSP nonce for inline <script> and <style>.
func Nonce(c echo.Context) string {
	v, _ := c.Get(ctxNonce).(string)
	return v
}

func requestID(c echo.Context) string {
	v, _ := c.Get(ctxRequestID).(string)
	return v
}

// RequestID returns the request's reference ID (shown on error pages and
// logged with every event of the request).
func RequestID(c echo.Context) string { return requestID(c) }

type requestIDKey struct{}

// RequestIDFromContext returns the reference ID of the request whose
// context (or a context derived from it) ctx is, or "".
func RequestIDFromContext(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey{}).(string)
	return v
}

// cspFor builds the page CSP: nothing but our own nonce'd inline script and
// style, same-origin images and forms, never framed.
func cspFor(nonce string, formAction string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce + "'; " +
		"img-src 'self' data:; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// AllowFormAction widens the page CSP's form-action to one more origin, for
// pages that auto-POST to an SP (the SAML ACS). origin must be a validated,
// registered origin like "https://acme.ncpworkplace.com".
func AllowFormAction(c echo.Context, origin string) {
	c.Response().Header().Set("Content-Security-Policy", cspFor(Nonce(c), "'self' "+origin))
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// securityHeaders sets the headers every response carries and the
// per-request nonce and reference ID.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var nb [16]byte
		var rb [8]byte
		if _, err := io.ReadFull(s.rand, nb[:]); err != nil {
			return fmt.Errorf("server: randomness: %w", err)
		}
		if _, err := io.ReadFull(rand.Reader, rb[:]); err != nil {
			return fmt.Errorf("server: randomness: %w", err)
		}
		nonce := base64.RawStdEncoding.EncodeToString(nb[:])
		rid := idEncoding.EncodeToString(rb[:])
		c.Set(ctxNonce, nonce)
		c.Set(ctxRequestID, rid)
		// Also in the request's context, for code and loggers that only
		// see a context (the directory, the store, LogHandler).
		c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), requestIDKey{}, rid)))
		h := c.Response().Header()
		h.Set("X-Request-Id", rid)
		h.Set("Content-Security-Policy", cspFor(nonce, "'self'"))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		// Pages of an identity provider are never cached: they carry CSRF
		// tokens, identities and one-time answers.
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// recoverPanics turns a panic into the generic error page; the stack goes to
// the log, never to the browser.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic", "request_id", requestID(c), "path", c.Request().URL.Path, "panic", fmt.Sprint(r))
				err = s.ErrorPage(c, http.StatusInternalServerError, "error_internal")
			}
		}()
		return next(c)
	}
}

// limitBody caps request bodies; reading past the cap fails the form parse.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.cfg.MaxBodyBytes {
			return s.ErrorPage(c, http.StatusRequestEntityTooLarge, "error_too_large")
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes)
		if len(r.URL.RawQuery) > 64<<10 {
			return s.ErrorPage(c, http.StatusRequestURITooLong, "error_too_large")
		}
		return next(c)
	}
}

// httpError renders errors returned by handlers (mostly echo's 404/405) as
// pages; internal text never reaches the browser.
func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
	}
	key := "error_internal"
	switch status {
	case http.StatusNotFound:
		key = "error_not_found"
	case http.StatusMethodNotAllowed:
		key = "error_method"
	case http.StatusRequestEntityTooLarge:
		key = "error_too_large"
	case http.StatusBadRequest:
		key = "error_bad_request"
	}
	if status >= 500 {
		s.log.Error("request_failed", "request_id", requestID(c), "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = s.ErrorPage(c, status, key)
}

// ipExtractor believes X-Forwarded-For only from the configured proxies.
func (s *Server) ipExtractor() echo.IPExtractor {
	if len(s.cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	var opts []echo.TrustOption
	opts = append(opts, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))
	for _, p := range s.cfg.TrustedProxies {
		if n, err := idp.ParseNetwork(p); err == nil {
			opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: n.Addr().AsSlice(), Mask: net.CIDRMask(n.Bits(), n.Addr().BitLen())}))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
