package saml

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/templates"
)

// replayNamespace is the ReplayGuard namespace of AuthnRequest IDs.
const replayNamespace = "saml_request"

// handleSSO is the Web Login URL for both bindings: it validates the
// AuthnRequest once and parks it as a Flow.
func (p *Provider) handleSSO(c echo.Context) error {
	h := p.host
	log := h.Logger()
	rid := server.RequestID(c)
	in, err := readInbound(c.Request())
	if err != nil {
		log.Info("saml_request_refused", "request_id", rid, "reason", err.Error())
		status := http.StatusBadRequest
		if errors.Is(err, ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		return h.ErrorPage(c, status, "saml_bad_request")
	}
	now := h.Now()
	v, rerr := p.validate(in, now)
	if rerr != nil {
		return p.refuse(c, in, rerr)
	}
	first, err := p.spendRequestID(c, v)
	if err != nil {
		log.Error("saml_replay_guard_failed", "request_id", rid, "err", err)
		return h.ErrorPage(c, http.StatusServiceUnavailable, "saml_unavailable")
	}
	if !first {
		return p.refuse(c, in, &requestError{sp: v.sp, acs: v.payload.ACS, inResponseTo: v.req.ID,
			status: statusRequestDenied, reason: "replayed request ID"})
	}
	if v.isPassive {
		if _, live := h.Session(c); !live || v.payload.ForceAuthn {
			return p.refuse(c, in, &requestError{sp: v.sp, acs: v.payload.ACS, inResponseTo: v.req.ID,
				status: statusNoPassive, reason: "IsPassive without a usable session"})
		}
	}
	hint := ""
	if v.sp.profile == ProfileNaverWorks {
		// NAVER WORKS passes the ID the user typed there as worksId.
		hint = in.worksID
	}
	payload, err := json.Marshal(v.payload)
	if err != nil {
		return err
	}
	log.Info("saml_request_accepted", "request_id", rid, "sp", v.sp.name, "saml_request_id", v.req.ID,
		"binding", bindingName(in.binding), "force_authn", v.payload.ForceAuthn)
	return h.BeginFlow(c, idp.Flow{
		Protocol:   ProtocolName,
		SP:         v.sp.entityID,
		SPName:     v.sp.name,
		LoginHint:  hint,
		ForceAuthn: v.payload.ForceAuthn,
		Payload:    payload,
		CreatedAt:  now,
		ExpiresAt:  now.Add(p.cfg.RequestLifetime),
	})
}

// spendRequestID records v's ID as used, and reports whether it was the
// first use. The ID is remembered until the request could no longer pass
// the IssueInstant check, so a replay is refused for as long as it
// matters. Callers spend it last, so a forged request cannot burn a real
// ID.
func (p *Provider) spendRequestID(c echo.Context, v *validRequest) (bool, error) {
	until := v.req.IssueInstant.Add(p.cfg.ClockSkew).Add(p.cfg.ClockSkew)
	return p.host.Store().FirstUse(c.Request().Context(), replayNamespace, v.sp.entityID+"\n"+v.req.ID, until)
}

func bindingName(b Binding) string {
	if b == BindingPOST {
		return "post"
	}
	return "redirect"
}

// refuse answers a refused request: an error page when there is no trusted
// ACS, else a signed SAML error Response posted to it.
func (p *Provider) refuse(c echo.Context, in *inbound, e *requestError) error {
	h := p.host
	sp := ""
	if e.sp != nil {
		sp = e.sp.name
	}
	h.Logger().Info("saml_request_refused", "request_id", server.RequestID(c), "sp", sp, "reason", e.reason)
	if e.acs == "" {
		return h.ErrorPage(c, http.StatusBadRequest, e.msgKey)
	}
	pl := flowPayload{SP: sp, ACS: e.acs, RelayState: in.relayState, HasRelayState: in.hasRelay}
	xml, err := p.builder().failure(h.Now(), p.rand(), e.acs, e.inResponseTo, e.status)
	if err != nil {
		h.Logger().Error("saml_response_failed", "request_id", server.RequestID(c), "err", err)
		return h.ErrorPage(c, http.StatusInternalServerError, "saml_internal_error")
	}
	return p.post(c, pl, e.sp.name, xml)
}

// Resume implements server.Protocol: it answers the SP with a signed
// assertion for the authenticated user.
func (p *Provider) Resume(c echo.Context, f idp.Flow, sess idp.Session) error {
	h := p.host
	rid := server.RequestID(c)
	sp, pl, err := p.flowRequest(f)
	if err != nil {
		h.Logger().Error("saml_flow_invalid", "request_id", rid, "err", err)
		return h.ErrorPage(c, http.StatusBadRequest, "saml_flow_invalid")
	}
	// Compared as directories compare names and mail: ignoring case.
	if pl.Subject != "" && !strings.EqualFold(strings.TrimSpace(sess.Identity.Attribute(sp.nameIDAttr)), pl.Subject) {
		// The SP asked about one principal and another signed in (or
		// holds the session): SAML core §3.4.1 allows no assertion.
		h.Logger().Warn("saml_subject_mismatch", "request_id", rid, "sp", sp.name,
			"user", sess.Identity.Username, "saml_request_id", pl.RequestID)
		return p.postFailure(c, pl, sp.name, statusOtherPrincipal)
	}
	xml, err := p.builder().success(h.Now(), p.rand(), sp, pl, sess)
	if errors.Is(err, errNoNameID) {
		// A configuration or directory gap, not the user's fault: tell the
		// SP the login failed and the admin why.
		h.Logger().Error("saml_nameid_missing", "request_id", rid, "sp", sp.name,
			"user", sess.Identity.Username, "attribute", sp.nameIDAttr)
		xml, err = p.builder().failure(h.Now(), p.rand(), pl.ACS, pl.RequestID, statusResponderError)
	} else if err == nil {
		h.Logger().Info("saml_assertion_issued", "request_id", rid, "sp", sp.name,
			"user", sess.Identity.Username, "saml_request_id", pl.RequestID)
	}
	if err != nil {
		h.Logger().Error("saml_response_failed", "request_id", rid, "err", err)
		return h.ErrorPage(c, http.StatusInternalServerError, "saml_internal_error")
	}
	return p.post(c, pl, sp.name, xml)
}

// Deny implements server.Protocol: the user authenticated but may not sign
// in, so the SP gets Responder / RequestDenied and no assertion.
func (p *Provider) Deny(c echo.Context, f idp.Flow, ae *idp.AccountError) error {
	h := p.host
	rid := server.RequestID(c)
	sp, pl, err := p.flowRequest(f)
	if err != nil {
		h.Logger().Error("saml_flow_invalid", "request_id", rid, "err", err)
		return h.ErrorPage(c, http.StatusBadRequest, "saml_flow_invalid")
	}
	state := ""
	if ae != nil {
		state = string(ae.State)
	}
	h.Logger().Info("saml_request_denied", "request_id", rid, "sp", sp.name, "state", state, "saml_request_id", pl.RequestID)
	return p.postFailure(c, pl, sp.name, statusDenied)
}

// postFailure posts a signed Response with status st and no assertion to
// the flow's ACS.
func (p *Provider) postFailure(c echo.Context, pl flowPayload, spName string, st status) error {
	xml, err := p.builder().failure(p.host.Now(), p.rand(), pl.ACS, pl.RequestID, st)
	if err != nil {
		p.host.Logger().Error("saml_response_failed", "request_id", server.RequestID(c), "err", err)
		return p.host.ErrorPage(c, http.StatusInternalServerError, "saml_internal_error")
	}
	return p.post(c, pl, spName, xml)
}

// postData is what templates/saml_post.html renders.
type postData struct {
	Action string
	// SAMLResponseInput is the hidden form field carrying SAMLResponse,
	// the Base64 Response (which a customised page may use instead).
	SAMLResponseInput template.HTML
	SAMLResponse      string
	RelayState        string
	HasRelayState     bool
	SPName            string
}

// post renders the auto-submitting form that carries the Response to the
// ACS. The page CSP's form-action is widened to the ACS origin only. It
// owns xml, a Response from render: its memory is reused once encoded.
func (p *Provider) post(c echo.Context, pl flowPayload, spName string, xml []byte) error {
	server.AllowFormAction(c, originOf(pl.ACS))
	c.Response().Header().Set("Cache-Control", "no-store")
	input, value, release := templates.HiddenBase64Input("SAMLResponse", xml)
	releaseResponse(xml) // the field holds the Base64 copy
	defer release()      // Render copies the page into its own buffer
	return p.host.Render(c, http.StatusOK, "saml_post", postData{
		Action:            pl.ACS,
		SAMLResponseInput: input,
		SAMLResponse:      value,
		RelayState:        pl.RelayState,
		HasRelayState:     pl.HasRelayState,
		SPName:            spName,
	})
}
