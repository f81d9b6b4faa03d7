package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/templates"
)

// Session returns the browser's live SSO session.
func (s *Server) Session(c echo.Context) (idp.Session, bool) {
	ck, err := c.Cookie(s.cookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return idp.Session{}, false
	}
	sess, err := s.store.GetSession(c.Request().Context(), ck.Value)
	if err != nil {
		if !errors.Is(err, idp.ErrNotFound) {
			s.log.Error("session_lookup_failed", "request_id", requestID(c), "err", err)
		}
		return idp.Session{}, false
	}
	if !sess.ExpiresAt.After(s.now()) {
		return idp.Session{}, false
	}
	return sess, true
}

// EndSession deletes the browser's session and clears its cookie.
func (s *Server) EndSession(c echo.Context) (idp.Session, bool) {
	sess, ok := s.Session(c)
	if ok {
		if err := s.store.DeleteSession(c.Request().Context(), sess.ID); err != nil {
			s.log.Error("session_delete_failed", "request_id", requestID(c), "err", err)
		}
		s.log.Info("logout", "request_id", requestID(c), "user", sess.Identity.Username)
		s.observer.SessionEnded()
	}
	s.setCookie(c, s.cookie, "", -1)
	return sess, ok
}

// startSession replaces any previous session with a fresh one (a new ID
// after login: a planted cookie is never promoted to an authenticated one)
// and sets its cookie. The session is written in the background, so that
// the answer to the SP (a code, an assertion) is stored in the same disk
// commit: stored waits for the write, and nothing that names the session
// may leave the server before stored returned nil.
func (s *Server) startSession(c echo.Context, id idp.Identity) (sess idp.Session, stored func() error) {
	ctx := c.Request().Context()
	if ck, err := c.Cookie(s.cookie); err == nil && ck.Value != "" && len(ck.Value) <= 128 {
		_ = s.store.DeleteSession(ctx, ck.Value)
	}
	now := s.now()
	sess = idp.Session{
		ID:        idp.NewTimedID(s.rand, now),
		Identity:  id,
		AuthTime:  now,
		ExpiresAt: now.Add(s.sess.Lifetime),
		ClientIP:  c.RealIP(),
		UserAgent: truncate(c.Request().UserAgent(), 256),
	}
	done := make(chan error, 1)
	go func() { done <- s.store.PutSession(context.WithoutCancel(ctx), sess) }()
	// A session cookie (no Max-Age): closing the browser ends it on shared
	// PCs; the server-side record bounds it by Lifetime either way.
	s.setCookie(c, s.cookie, sess.ID, 0)
	return sess, sync.OnceValue(func() error {
		err := <-done
		if err == nil {
			s.observer.SessionStarted(sess.ExpiresAt)
		}
		return err
	})
}

// heldResponse keeps what a handler writes until release, so that the
// answer can be dropped when a write it depends on fails.
type heldResponse struct {
	req    *http.Request // for onePiece
	real   http.ResponseWriter
	res    *echo.Response
	saved  http.Header // the headers before holding began
	status int
	body   *bytes.Buffer // pooled (templates.GetBuffer) until release or discard
}

func holdResponse(c echo.Context) *heldResponse {
	res := c.Response()
	h := &heldResponse{req: c.Request(), real: res.Writer, res: res, saved: res.Header().Clone(), body: templates.GetBuffer()}
	res.Writer = h
	return h
}

func (h *heldResponse) Header() http.Header { return h.real.Header() }

func (h *heldResponse) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(p)
}

// Flush keeps holding: nothing leaves before release.
func (h *heldResponse) Flush() {}

// release sends what was held.
func (h *heldResponse) release() {
	h.res.Writer = h.real
	defer h.putBody()
	if h.status == 0 {
		return
	}
	write := func() error {
		h.real.WriteHeader(h.status)
		_, err := h.real.Write(h.body.Bytes())
		return err
	}
	if h.real.Header().Get(echo.HeaderContentLength) == "" {
		_ = write()
		return
	}
	_ = onePiece(h.req, h.real, write)
}

// putBody gives the body's buffer back to the pool, once.
func (h *heldResponse) putBody() {
	if h.body != nil {
		templates.PutBuffer(h.body)
		h.body = nil
	}
}

// discard drops what was held, headers included, so that another answer
// can be written.
func (h *heldResponse) discard() {
	h.putBody()
	hd := h.real.Header()
	clear(hd)
	maps.Copy(hd, h.saved)
	h.res.Writer, h.res.Status, h.res.Size, h.res.Committed = h.real, http.StatusOK, 0, false
}

func (s *Server) setCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// CSRF: a random token in a cookie, echoed in the form (double submit). The
// cookie is SameSite=Lax, so a cross-site POST arrives without it; Origin
// and Sec-Fetch-Site are checked as well where the browser sends them.

const csrfCookie = "idp_csrf"

func (s *Server) csrfToken(c echo.Context) string {
	if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 64 {
		return ck.Value
	}
	tok := idp.NewID(s.rand)
	s.setCookie(c, csrfCookie, tok, 0)
	return tok
}

func (s *Server) csrfOK(c echo.Context) bool {
	r := c.Request()
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !strings.EqualFold(o, s.origin) {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	ck, err := c.Cookie(csrfCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	form := r.PostFormValue("csrf")
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) == 1
}
