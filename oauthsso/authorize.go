package oauthsso

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// Message keys of templates/messages/oauth.json used on error pages.
const (
	msgTooLarge       = "oauth_request_too_large"
	msgBadRequest     = "oauth_bad_request"
	msgUnknownClient  = "oauth_unknown_client"
	msgBadRedirect    = "oauth_bad_redirect_uri"
	msgNoUserinfo     = "oauth_no_userinfo_value"
	msgServerError    = "oauth_server_error"
	maxLoginHintBytes = 256
)

// flowPayload is the validated login request parked in idp.Flow.Payload.
type flowPayload struct {
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	State       string `json:"state,omitempty"`
}

// authorize is the Web Login URL (and Application Login URL). It validates
// the request once and parks it as a Flow.
func (p *Provider) authorize(c echo.Context) error {
	log := p.log(c)
	raw := c.Request().URL.RawQuery
	// Checked before any parsing, so an oversized query costs nothing.
	if len(raw) > MaxQueryBytes {
		log.Info("oauth authorize refused", "reason", "query too large", "bytes", len(raw))
		return p.h.ErrorPage(c, http.StatusBadRequest, msgTooLarge)
	}
	q, err := parseParams(raw)
	if err != nil {
		log.Info("oauth authorize refused", "reason", err.Error())
		if errors.Is(err, errTooLarge) {
			return p.h.ErrorPage(c, http.StatusBadRequest, msgTooLarge)
		}
		return p.h.ErrorPage(c, http.StatusBadRequest, msgBadRequest)
	}
	// Until client and redirect_uri are both known good, nothing is ever
	// redirected to: an error page is the only answer.
	if len(q["client_id"]) != 1 {
		log.Info("oauth authorize refused", "reason", "client_id missing or repeated")
		return p.h.ErrorPage(c, http.StatusBadRequest, msgUnknownClient)
	}
	cl := p.clients[q.get("client_id")]
	if cl == nil {
		log.Info("oauth authorize refused", "reason", "unknown client_id")
		return p.h.ErrorPage(c, http.StatusBadRequest, msgUnknownClient)
	}
	if len(q["redirect_uri"]) != 1 {
		log.Info("oauth authorize refused", "client", cl.Name, "reason", "redirect_uri missing or repeated")
		return p.h.ErrorPage(c, http.StatusBadRequest, msgBadRedirect)
	}
	redirectURI := q.get("redirect_uri")
	if err := checkRedirectURI(redirectURI, cl.allowed, p.cfg.InsecureAllowHTTPLoopback); err != nil {
		log.Warn("oauth authorize refused", "client", cl.Name, "reason", err.Error())
		return p.h.ErrorPage(c, http.StatusBadRequest, msgBadRedirect)
	}

	// From here on the SP is told about errors through its redirect_uri.
	state := ""
	if len(q["state"]) == 1 {
		state = q.get("state")
	}
	refuse := func(code, desc string) error {
		log.Info("oauth authorize refused", "client", cl.Name, "reason", desc)
		return p.redirectError(c, redirectURI, state, code, desc)
	}
	if k := q.duplicate(); k != "" {
		return refuse("invalid_request", "parameter "+safeName(k)+" is repeated")
	}
	switch rt := q.get("response_type"); {
	case rt == "":
		return refuse("invalid_request", "response_type is required")
	case rt != "code":
		return refuse("unsupported_response_type", "only response_type=code is supported")
	}
	if state == "" && *cl.RequireState {
		return refuse("invalid_request", "state is required")
	}
	// NAVER WORKS app login adds userAgent=LineWorks and sessionKey. Neither
	// is needed here: they are accepted, never stored, never logged.

	payload := flowPayload{ClientID: cl.ClientID, RedirectURI: redirectURI, State: state}.marshal()
	now := p.h.Now()
	return p.h.BeginFlow(c, idp.Flow{
		Protocol:  ProtocolName,
		SP:        cl.Name,
		SPName:    cl.DisplayName,
		LoginHint: loginHint(q, cl.Profile),
		Payload:   payload,
		CreatedAt: now,
		ExpiresAt: now.Add(p.cfg.FlowLifetime),
	})
}

// loginHint returns the login ID the SP passed (loginId for WORKPLACE,
// worksId for NAVER WORKS; either is accepted, the profile's own first), or
// "" when it is not a short, printable string.
func loginHint(q params, profile string) string {
	keys := []string{"loginId", "worksId"}
	if profile == ProfileNaverWorks {
		keys = []string{"worksId", "loginId"}
	}
	for _, k := range keys {
		v := strings.TrimSpace(q.get(k))
		if v == "" {
			continue
		}
		if len(v) > maxLoginHintBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return ""
		}
		return v
	}
	return ""
}

// Resume implements server.Protocol: it issues a code for the authenticated
// session and sends the browser back to the SP.
func (p *Provider) Resume(c echo.Context, f idp.Flow, sess idp.Session) error {
	log := p.log(c)
	pl, cl, err := p.flowClient(f)
	if err != nil {
		log.Error("oauth resume failed", "err", err)
		return p.h.ErrorPage(c, http.StatusBadRequest, msgUnknownClient)
	}
	// Refuse here, with a page the employee can act on, rather than issue a
	// code whose userinfo would come back empty.
	if sess.Identity.Attribute(cl.UserinfoAttribute) == "" {
		log.Warn("oauth identity lacks userinfo attribute", "client", cl.Name,
			"username", sess.Identity.Username, "attribute", cl.UserinfoAttribute)
		return p.h.ErrorPage(c, http.StatusForbidden, msgNoUserinfo)
	}
	now := p.h.Now()
	code := idp.Code{
		ID:          idp.NewID(p.h.Rand()),
		ClientID:    cl.ClientID,
		RedirectURI: pl.RedirectURI,
		SessionID:   sess.ID,
		// No Identity: redemption and userinfo read it from the session,
		// which they must find alive anyway, so the code and token records
		// stay small (a quarter of a session's bytes in the store).
		AuthTime:  sess.AuthTime,
		TokenID:   idp.NewTimedID(p.h.Rand(), now),
		ExpiresAt: now.Add(p.cfg.CodeLifetime),
	}
	if err := p.issue(c.Request().Context(), cl, code, now); err != nil {
		log.Error("oauth code store failed", "client", cl.Name, "err", err)
		// After a valid request the SP learns of every failure through its
		// redirect_uri (RFC 6749 §4.1.2.1): an outage as
		// temporarily_unavailable, the redirect's stand-in for a 503.
		aerr := storeFailure(err)
		return p.redirectError(c, pl.RedirectURI, pl.State, aerr.Code, aerr.Description)
	}
	log.Info("oauth code issued", "client", cl.Name, "username", sess.Identity.Username)
	v := url.Values{"code": {code.ID}}
	if pl.State != "" {
		v.Set("state", pl.State)
	}
	return p.redirect(c, appendQuery(pl.RedirectURI, v))
}

// issue stores a new code and, at the same time, the access token its
// redemption will hand out. The token is written now so that the token
// call only reads and spends the code and never waits for a disk commit
// (codes are short-lived records, tokens durable ones: see
// store.ShortLivedBuckets). Its ID is secret until that call succeeds, and
// a replayed code can revoke it with one delete, in whatever order the
// calls run. Its lifetime counts from now, plus a second of grace so that
// the whole seconds left at a prompt token call (expires_in) are the
// configured lifetime.
func (p *Provider) issue(ctx context.Context, cl *client, code idp.Code, now time.Time) error {
	st := p.h.Store()
	tok := idp.Token{
		ID:        code.TokenID,
		ClientID:  cl.ClientID,
		SessionID: code.SessionID,
		IssuedAt:  now,
		ExpiresAt: now.Add(cl.AccessTokenLifetime + time.Second),
	}
	tokErr := make(chan error, 1)
	go func() { tokErr <- st.PutToken(ctx, tok) }()
	codeErr := st.PutCode(ctx, code)
	if err := errors.Join(codeErr, <-tokErr); err != nil {
		// Neither ID has been shown to anyone: the delete is tidiness.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redeemTimeout)
		defer cancel()
		p.revokeToken(dctx, cl, tok.ID)
		return err
	}
	return nil
}

// Deny implements server.Protocol: the user authenticated but may not sign
// in, which the SP learns as error=access_denied.
func (p *Provider) Deny(c echo.Context, f idp.Flow, ae *idp.AccountError) error {
	pl, cl, err := p.flowClient(f)
	if err != nil {
		p.log(c).Error("oauth deny failed", "err", err)
		return p.h.ErrorPage(c, http.StatusBadRequest, msgUnknownClient)
	}
	state := idp.StateNotPermitted
	if ae != nil {
		state = ae.State
	}
	p.log(c).Info("oauth access denied", "client", cl.Name, "account_state", string(state))
	// One constant description: the SP needs to know the login was refused,
	// not why; the employee saw the reason on our login page.
	return p.redirectError(c, pl.RedirectURI, pl.State, "access_denied", "the user may not sign in to this service")
}

// flowClient decodes a Flow this provider created and finds its client,
// which may have been removed from the config since.
func (p *Provider) flowClient(f idp.Flow) (flowPayload, *client, error) {
	if f.Protocol != ProtocolName {
		return flowPayload{}, nil, errors.New("oauthsso: flow belongs to another protocol")
	}
	pl, err := parsePayload(f.Payload)
	if err != nil {
		return pl, nil, err
	}
	cl := p.clients[pl.ClientID]
	if cl == nil {
		return pl, nil, errors.New("oauthsso: flow client no longer configured")
	}
	return pl, cl, nil
}

// redirectError sends an RFC 6749 §4.1.2.1 error to a validated redirect_uri.
func (p *Provider) redirectError(c echo.Context, redirectURI, state, code, desc string) error {
	v := url.Values{"error": {code}, "error_description": {desc}}
	if state != "" {
		v.Set("state", state)
	}
	return p.redirect(c, appendQuery(redirectURI, v))
}

// redirect answers 303 so that a login POST becomes a GET at the SP. The
// Location may carry a code: it must not be cached or leak as a Referer.
func (p *Provider) redirect(c echo.Context, to string) error {
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusSeeOther, to)
}

// safeName shortens and cleans a client-supplied parameter name before it is
// put in an error description or a log line.
func safeName(k string) string {
	if len(k) > 32 {
		k = k[:32]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '?'
		}
		return r
	}, k)
}
