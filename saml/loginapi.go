package saml

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
)

// PathLoginAPI is NAVER WORKS's IMAP/CalDAV login API: a mail or calendar
// client gives NAVER WORKS a password, and NAVER WORKS's server POSTs it
// here with an AuthnRequest (form fields email and password in Base64,
// SAMLRequest in Base64 without DEFLATE, RelayState) and reads back
// {"SAMLResponse": ..., "RelayState": ...}. There is no browser, so no
// page, no session and no cookie.
const PathLoginAPI = "/saml/api/login"

// apiError is the JSON of a request the API cannot answer with a SAML
// Response (RFC 6749's error shape, which the OAuth API uses too).
type apiError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// apiAnswer is the JSON of an answered request: a Response for the SP,
// success or failure, signed like the ones posted by browsers.
type apiAnswer struct {
	SAMLResponse string `json:"SAMLResponse"`
	RelayState   string `json:"RelayState"`
}

// handleLoginAPI answers NAVER WORKS's login API. The AuthnRequest is
// validated as one from a browser would be (and its ID spent); only a
// naverworks SP may use the API. A wrong password, a paused account
// (throttle) or an account that may not sign in is answered with a signed
// Responder / AuthnFailed Response; a directory outage with 503.
func (p *Provider) handleLoginAPI(c echo.Context) error {
	h := p.host
	log := h.Logger()
	rid := server.RequestID(c)
	c.Response().Header().Set("Cache-Control", "no-store")
	bad := func(status int, code, desc string) error {
		log.Info("saml_api_request_refused", "request_id", rid, "reason", desc)
		return c.JSON(status, apiError{Error: code, Description: desc})
	}
	// Only listed callers learn anything, even why a request is refused.
	if !p.reg.loginAPIAllowed(c.RealIP()) {
		log.Info("saml_api_request_refused", "request_id", rid, "reason", "caller not in any login_api_from", "ip", c.RealIP())
		return c.JSON(http.StatusForbidden, apiError{Error: "access_denied", Description: "forbidden"})
	}
	checker, ok := h.(server.PasswordChecker)
	if !ok {
		return bad(http.StatusNotImplemented, "unsupported", "this server cannot check passwords for an API")
	}
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return bad(http.StatusBadRequest, "invalid_request", "the body is not a form")
	}
	for k, vs := range r.PostForm {
		if len(vs) != 1 {
			return bad(http.StatusBadRequest, "invalid_request", "parameter "+k+" appears more than once")
		}
	}
	email, err1 := decodeField(r.PostFormValue("email"))
	password, err2 := decodeField(r.PostFormValue("password"))
	if err1 != nil || err2 != nil {
		return bad(http.StatusBadRequest, "invalid_request", "email and password must be Base64 UTF-8 text")
	}
	in := &inbound{binding: BindingPOST, samlRequest: r.PostFormValue("SAMLRequest")}
	if rs, ok := r.PostForm["RelayState"]; ok {
		if err := checkRelayState(rs[0]); err != nil {
			return bad(http.StatusBadRequest, "invalid_request", err.Error())
		}
		in.relayState, in.hasRelay = rs[0], true
	}
	now := h.Now()
	v, rerr := p.validate(in, now)
	if rerr != nil {
		return bad(http.StatusBadRequest, "invalid_request", rerr.reason)
	}
	if v.sp.profile != ProfileNaverWorks {
		return bad(http.StatusForbidden, "unauthorized_client", "the login API is for NAVER WORKS; SP "+v.sp.name+" is not one")
	}
	if !v.sp.loginAPIAllowed(c.RealIP()) {
		// An open API would let anyone try passwords without the login
		// page's per-address limit.
		return bad(http.StatusForbidden, "access_denied", "the caller may not use the login API for this SP")
	}
	if v.payload.Subject != "" {
		// The Subject could only be compared after the password check,
		// and the answer would then tell whose password it was.
		return bad(http.StatusBadRequest, "invalid_request", "the login API takes no Subject in the AuthnRequest")
	}
	first, err := p.spendRequestID(c, v)
	if err != nil {
		log.Error("saml_replay_guard_failed", "request_id", rid, "err", err)
		return c.JSON(http.StatusServiceUnavailable, apiError{Error: "temporarily_unavailable", Description: "try again later"})
	}
	if !first {
		return bad(http.StatusBadRequest, "invalid_request", "replayed request ID")
	}

	id, err := checker.PasswordLogin(c, idp.Flow{Protocol: ProtocolName, SP: v.sp.entityID, SPName: v.sp.name}, email, password)
	_, isAccount := idp.IsAccountError(err)
	var te *idp.ThrottledError
	switch {
	case err == nil:
	case errors.Is(err, server.ErrWrongPassword) || isAccount || errors.As(err, &te):
		// The SP learns "no", signed, and nothing of why (as on the page).
		return p.apiAnswer(c, v, func() ([]byte, error) {
			return p.builder().failure(now, p.rand(), v.payload.ACS, v.req.ID, statusAuthnFailed)
		})
	default:
		return c.JSON(http.StatusServiceUnavailable, apiError{Error: "temporarily_unavailable", Description: "the directory did not answer; try again later"})
	}
	sess := idp.Session{ID: idp.NewID(p.rand()), Identity: id, AuthTime: now, ExpiresAt: now.Add(p.cfg.AssertionLifetime)}
	return p.apiAnswer(c, v, func() ([]byte, error) {
		xml, err := p.builder().success(now, p.rand(), v.sp, v.payload, sess)
		if err == nil {
			log.Info("saml_assertion_issued", "request_id", rid, "sp", v.sp.name, "user", id.Username,
				"saml_request_id", v.req.ID, "via", "api")
		}
		return xml, err
	})
}

// apiAnswer writes the JSON with the Response that make builds.
func (p *Provider) apiAnswer(c echo.Context, v *validRequest, make func() ([]byte, error)) error {
	xml, err := make()
	if errors.Is(err, errNoNameID) {
		p.host.Logger().Error("saml_nameid_missing", "request_id", server.RequestID(c), "sp", v.sp.name, "attribute", v.sp.nameIDAttr)
		xml, err = p.builder().failure(p.host.Now(), p.rand(), v.payload.ACS, v.req.ID, statusResponderError)
	}
	if err != nil {
		p.host.Logger().Error("saml_response_failed", "request_id", server.RequestID(c), "err", err)
		return c.JSON(http.StatusInternalServerError, apiError{Error: "server_error", Description: "the Response could not be made"})
	}
	return c.JSON(http.StatusOK, apiAnswer{SAMLResponse: base64.StdEncoding.EncodeToString(xml), RelayState: v.payload.RelayState})
}

// decodeField decodes a Base64 form field (standard alphabet, padding
// optional, surrounding spaces ignored) that must be UTF-8 text.
func decodeField(s string) (string, error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || !utf8.Valid(b) || len(b) > 1024 {
		return "", errors.New("not Base64 UTF-8 text")
	}
	return string(b), nil
}
