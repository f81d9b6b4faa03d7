package saml

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp/server"
)

// Single Logout started by an SP (NAVER WORKS does it; SAML profiles
// §4.4, bindings §3.4): GET /saml/logout with a LogoutRequest in
// SAMLRequest (DEFLATE, Base64), signed in the query (SigAlg, Signature)
// when the SP's certificate is known. The IdP session ends whatever the
// request says; only a request that passes every check gets a
// LogoutResponse, signed in the query the same way, redirected to the SP
// metadata's SingleLogoutService, or else to redirect_uri (which NAVER
// WORKS sends) when its host is one of the SP's logout_redirect_domains.

// sloReplayNamespace keeps LogoutRequest IDs apart from AuthnRequest IDs.
const sloReplayNamespace = "saml-logout"

// errSLO wraps the reasons a LogoutRequest is not answered.
var errSLO = errors.New("saml: logout request refused")

// logoutRequest is a LogoutRequest that passed the checks.
type logoutRequest struct {
	sp       *serviceProvider
	id       string
	relay    string
	hasRelay bool
	target   string // redirect_uri, allowed for sp
}

// handleSLO answers a LogoutRequest; params are the query's. The session
// has already ended.
func (p *Provider) handleSLO(c echo.Context, params map[string]rawParam, hadSession bool) error {
	h := p.host
	rid := server.RequestID(c)
	now := h.Now()
	lr, err := p.validateLogout(c, params, now)
	if err != nil {
		h.Logger().Info("saml_logout_request_refused", "request_id", rid, "had_session", hadSession, "reason", err.Error())
		return h.ErrorPage(c, http.StatusBadRequest, "saml_logout_refused")
	}
	resp, err := p.logoutResponse(now, lr)
	if err != nil {
		h.Logger().Error("saml_logout_response_failed", "request_id", rid, "err", err)
		return h.ErrorPage(c, http.StatusInternalServerError, "saml_internal_error")
	}
	h.Logger().Info("saml_logout", "request_id", rid, "sp", lr.sp.name, "had_session", hadSession,
		"saml_request_id", lr.id, "redirect", true)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, resp)
}

// validateLogout reads and checks the LogoutRequest of the query.
func (p *Provider) validateLogout(c echo.Context, params map[string]rawParam, now time.Time) (*logoutRequest, error) {
	in, err := inboundFrom(params, BindingRedirect)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSLO, err)
	}
	doc, err := DecodeRequest(BindingRedirect, in.samlRequest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSLO, err)
	}
	var req crewjam.LogoutRequest
	if _, err := decodeChecked(doc, &req, "a LogoutRequest"); err != nil {
		return nil, fmt.Errorf("%w: %v", errSLO, err)
	}
	if req.Issuer == nil {
		return nil, fmt.Errorf("%w: no Issuer", errSLO)
	}
	sp := p.reg.byEntityID[req.Issuer.Value]
	if sp == nil {
		return nil, fmt.Errorf("%w: unknown Issuer %q", errSLO, req.Issuer.Value)
	}
	if len(sp.certs) > 0 {
		// The SP's certificate is known: the request must carry its
		// signature, and then its Destination must name us.
		if err := verifyRedirectSignature(in, sp); err != nil {
			return nil, fmt.Errorf("%w: sp %s: signature: %v", errSLO, sp.name, err)
		}
		if req.Destination != p.host.PublicURL()+PathLogout {
			return nil, fmt.Errorf("%w: Destination %q", errSLO, req.Destination)
		}
	}
	switch {
	case req.Version != "2.0":
		return nil, fmt.Errorf("%w: Version %q", errSLO, req.Version)
	case !isNCName(req.ID):
		return nil, fmt.Errorf("%w: ID is not a valid xs:ID", errSLO)
	case req.IssueInstant.IsZero() || now.Sub(req.IssueInstant) > p.cfg.ClockSkew || req.IssueInstant.Sub(now) > p.cfg.ClockSkew:
		return nil, fmt.Errorf("%w: IssueInstant %s outside clock_skew", errSLO, req.IssueInstant.Format(time.RFC3339))
	case req.NotOnOrAfter != nil && !now.Before(*req.NotOnOrAfter):
		return nil, fmt.Errorf("%w: NotOnOrAfter passed", errSLO)
	}
	// Where the answer goes: the SP's metadata says, when it does (the
	// query's redirect_uri is not signed); otherwise redirect_uri (NAVER
	// WORKS sends it) on one of the SP's logout_redirect_domains.
	target := sp.sloResponse
	if target == "" {
		target = params["redirect_uri"].value
		if !sp.logoutURLAllowed(target) {
			return nil, fmt.Errorf("%w: redirect_uri %q is not on the SP's logout_redirect_domains", errSLO, truncateForLog(target))
		}
	}
	// Last, as for AuthnRequests: an ID is spent only by a request that
	// passed everything else.
	first, err := p.host.Store().FirstUse(c.Request().Context(), sloReplayNamespace, sp.entityID+"\n"+req.ID, now.Add(2*p.cfg.ClockSkew))
	if err != nil {
		return nil, fmt.Errorf("%w: replay cache: %v", errSLO, err)
	}
	if !first {
		return nil, fmt.Errorf("%w: ID %q seen before", errSLO, req.ID)
	}
	return &logoutRequest{sp: sp, id: req.ID, relay: in.relayState, hasRelay: in.hasRelay, target: target}, nil
}

// verifyRedirectSignature checks the HTTP-Redirect binding's query
// signature against the SP's certificates.
func verifyRedirectSignature(in *inbound, sp *serviceProvider) error {
	if in.sigAlg == "" || in.signature == "" {
		return errUnsigned
	}
	alg, ok := redirectSigAlgs[in.sigAlg]
	if !ok {
		return fmt.Errorf("%w: %q", errWeakSigAlg, in.sigAlg)
	}
	sig, err := base64.StdEncoding.DecodeString(in.signature)
	if err != nil {
		return fmt.Errorf("%w: Signature is not Base64", errBadSigValue)
	}
	for _, c := range sp.certs {
		if c.CheckSignature(alg, []byte(in.signedOctets), sig) == nil {
			return nil
		}
	}
	return errBadSigValue
}

// logoutResponse returns redirect_uri with a Success LogoutResponse in
// the HTTP-Redirect binding: SAMLResponse, RelayState as received,
// SigAlg and Signature (RSA-SHA256 over those octets, bindings §3.4.4.1).
func (p *Provider) logoutResponse(now time.Time, lr *logoutRequest) (string, error) {
	id, err := newSAMLID(p.rand())
	if err != nil {
		return "", err
	}
	var x xmlWriter
	x.open("samlp:LogoutResponse")
	x.attr("xmlns:samlp", nsProtocol)
	x.attr("ID", id)
	x.attr("Version", "2.0")
	x.attrTime("IssueInstant", now.UTC())
	x.attr("Destination", lr.target)
	x.attr("InResponseTo", lr.id)
	x.gt()
	x.issuer(p.EntityID(), true)
	x.status(status{top: crewjam.StatusSuccess})
	x.end("samlp:LogoutResponse")

	var z bytes.Buffer
	fw, err := flate.NewWriter(&z, flate.DefaultCompression)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(x.b); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	q := "SAMLResponse=" + url.QueryEscape(base64.StdEncoding.EncodeToString(z.Bytes()))
	if lr.hasRelay {
		q += "&RelayState=" + url.QueryEscape(lr.relay)
	}
	q += "&SigAlg=" + url.QueryEscape(algRSASHA256)
	sum := sha256.Sum256([]byte(q))
	sig, err := p.signer.signDigest(sum[:])
	if err != nil {
		return "", fmt.Errorf("saml: sign LogoutResponse: %w", err)
	}
	q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	sep := "?"
	if strings.Contains(lr.target, "?") {
		sep = "&"
	}
	return lr.target + sep + q, nil
}

func truncateForLog(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
