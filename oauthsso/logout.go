package oauthsso

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// loggedOutPage is the server's "signed out" page (templates/logged_out.html),
// shared with the server's own /logout so that there is one such page.
const loggedOutPage = "logged_out"

// logoutHandler is the SP's Logout URL: it ends the IdP session, then
// returns to redirect_uri when its host is one of the configured logout
// redirect domains, else shows the signed-out page. Ending the session also
// kills every access token issued under it (userinfo checks the session).
func (p *Provider) logoutHandler(c echo.Context) error {
	log := p.log(c)
	sess, ended := p.h.EndSession(c)
	if ended {
		log.Info("oauth logout", "username", sess.Identity.Username)
	}
	raw := c.Request().URL.RawQuery
	if len(raw) > MaxQueryBytes {
		return p.h.Render(c, http.StatusOK, loggedOutPage, nil)
	}
	q, err := parseParams(raw)
	if err != nil || len(q["redirect_uri"]) != 1 {
		return p.h.Render(c, http.StatusOK, loggedOutPage, nil)
	}
	to := q.get("redirect_uri")
	if !p.logoutRedirectAllowed(to) {
		log.Info("oauth logout redirect refused")
		return p.h.Render(c, http.StatusOK, loggedOutPage, nil)
	}
	return p.redirect(c, to)
}

// logoutRedirectAllowed: a strict https URL (loopback http with the insecure
// switch) on the default port whose host is exactly one of any client's
// logout_redirect_domains.
func (p *Provider) logoutRedirectAllowed(raw string) bool {
	s, err := parseStrictURL(raw, p.cfg.InsecureAllowHTTPLoopback)
	if err != nil || !p.logout[s.Host] {
		return false
	}
	return s.Scheme == "http" || s.Port == "443"
}

// spLogout is IdP-initiated logout ("sign out everywhere"): end the IdP
// session, then send the browser to the SP's logout URL, which returns to
// our signed-out page. The admin registers this IdP's host as the SP's
// Logout Redirection Domain.
func (p *Provider) spLogout(c echo.Context) error {
	raw := c.Request().URL.RawQuery
	q, err := parseParams(raw)
	if len(raw) > MaxQueryBytes || err != nil || len(q["client_id"]) != 1 {
		return p.h.ErrorPage(c, http.StatusBadRequest, msgUnknownClient)
	}
	cl := p.clients[q.get("client_id")]
	if cl == nil {
		return p.h.ErrorPage(c, http.StatusBadRequest, msgUnknownClient)
	}
	if sess, ended := p.h.EndSession(c); ended {
		p.log(c).Info("oauth idp-initiated logout", "client", cl.Name, "username", sess.Identity.Username)
	}
	v := url.Values{"redirect_uri": {p.h.PublicURL() + PathLoggedOut}}
	if cl.Profile == ProfileNaverWorks && cl.Domain != "" {
		v.Set("domain", cl.Domain)
	}
	return p.redirect(c, appendQuery(cl.SPLogoutURL, v))
}

// loggedOut shows the signed-out page; it changes nothing.
func (p *Provider) loggedOut(c echo.Context) error {
	return p.h.Render(c, http.StatusOK, loggedOutPage, nil)
}
