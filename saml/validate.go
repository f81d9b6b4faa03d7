package saml

import (
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// requestError is a refused AuthnRequest. With acs set, the refusal goes to
// the SP as a signed SAML error Response; without it (unknown SP, ACS not
// allowed, undecodable request) the browser sees an error page and nothing
// is sent anywhere.
type requestError struct {
	sp           *serviceProvider
	acs          string
	inResponseTo string
	status       status
	msgKey       string // error page message when acs == ""
	reason       string // for the log only
}

func (e *requestError) Error() string { return "saml: request refused: " + e.reason }

func pageError(key, format string, args ...any) *requestError {
	return &requestError{msgKey: key, reason: fmt.Sprintf(format, args...)}
}

// validRequest is an AuthnRequest that passed every check but the replay
// check (which needs the store).
type validRequest struct {
	sp        *serviceProvider
	req       *crewjam.AuthnRequest
	payload   flowPayload
	isPassive bool
}

// validate runs every check on an arrived request, once, before the login
// page. Order matters: the SP and its ACS are established first, so that
// later failures can be answered to a trusted ACS.
func (p *Provider) validate(in *inbound, now time.Time) (*validRequest, *requestError) {
	doc, err := DecodeRequest(in.binding, in.samlRequest)
	if err != nil {
		return nil, pageError("saml_bad_request", "decode: %v", err)
	}
	req, learned, err := parseAuthnRequest(doc)
	if err != nil {
		return nil, pageError("saml_bad_request", "parse: %v", err)
	}
	if req.Issuer == nil || req.Issuer.Value == "" {
		return nil, pageError("saml_unknown_sp", "no Issuer")
	}
	sp := p.reg.byEntityID[req.Issuer.Value]
	if sp == nil {
		return nil, pageError("saml_unknown_sp", "unknown Issuer %q", req.Issuer.Value)
	}
	acs, err := resolveACS(sp, req)
	if err != nil {
		return nil, pageError("saml_acs_not_allowed", "sp %s: %v", sp.name, err)
	}
	fail := func(st status, format string, args ...any) *requestError {
		e := &requestError{sp: sp, acs: acs, status: st, reason: fmt.Sprintf(format, args...)}
		if isNCName(req.ID) {
			e.inResponseTo = req.ID
		}
		return e
	}
	if sp.requestsSigned {
		verified, err := p.verifyRequestSignature(in, doc, sp, now)
		if err != nil {
			return nil, fail(statusRequestDenied, "signature: %v", err)
		}
		if verified != nil {
			// POST binding: from here on, read only the signed content.
			if verified.Issuer == nil || verified.Issuer.Value != sp.entityID {
				return nil, pageError("saml_unknown_sp", "signed Issuer differs")
			}
			if a, err := resolveACS(sp, verified); err != nil || a != acs {
				return nil, pageError("saml_acs_not_allowed", "signed ACS differs")
			}
			req = verified
		}
		// For a signed request the Destination is covered by the signature
		// and must name us (bindings §3.4.5.2, §3.5.5.2); for an unsigned one
		// anyone could write anything there, so it proves nothing.
		if req.Destination != p.ssoURL() {
			return nil, fail(statusRequestDenied, "Destination %q is not %q", req.Destination, p.ssoURL())
		}
	}
	if req.Version != "2.0" {
		return nil, fail(statusVersionMismatch, "Version %q", req.Version)
	}
	if !isNCName(req.ID) {
		return nil, fail(statusRequestDenied, "ID is not a valid xs:ID")
	}
	if b := req.ProtocolBinding; b != "" && b != crewjam.HTTPPostBinding {
		return nil, fail(statusUnsupported, "ProtocolBinding %q", b)
	}
	if req.AssertionConsumerServiceURL != "" && req.AssertionConsumerServiceIndex != "" {
		return nil, fail(statusRequestDenied, "both AssertionConsumerServiceURL and Index")
	}
	if req.IssueInstant.IsZero() {
		return nil, fail(statusRequestDenied, "no IssueInstant")
	}
	if age := now.Sub(req.IssueInstant); age > p.cfg.ClockSkew {
		return nil, fail(statusRequestDenied, "IssueInstant %s too old", age.Round(time.Second))
	} else if -age > p.cfg.ClockSkew {
		return nil, fail(statusRequestDenied, "IssueInstant %s in the future", (-age).Round(time.Second))
	}
	if np := req.NameIDPolicy; np != nil && np.Format != nil {
		if f := *np.Format; f != "" && f != NameIDFormatUnspecified && f != sp.nameIDFormat {
			return nil, fail(status{crewjam.StatusRequester, crewjam.StatusInvalidNameIDPolicy}, "NameIDPolicy Format %q", f)
		}
	}
	subject := ""
	if sub := req.Subject; sub != nil {
		// Only a NameID can be matched; crewjam does not read a BaseID or
		// an EncryptedID, so a Subject without a NameID may name someone
		// we cannot see, and is refused rather than answered for whoever
		// signs in.
		if sub.NameID == nil || strings.TrimSpace(sub.NameID.Value) == "" {
			return nil, fail(statusUnsupported, "Subject without a NameID")
		}
		subject = strings.TrimSpace(sub.NameID.Value)
	}
	v := &validRequest{
		sp:  sp,
		req: req,
		payload: flowPayload{
			SP:            sp.name,
			RequestID:     req.ID,
			ACS:           acs,
			RelayState:    in.relayState,
			HasRelayState: in.hasRelay,
			ForceAuthn:    req.ForceAuthn != nil && *req.ForceAuthn,
			Subject:       subject,
		},
		isPassive: req.IsPassive != nil && *req.IsPassive,
	}
	learnRoundTrips(learned)
	return v, nil
}

// resolveACS picks the ACS URL (explicit URL, metadata index, or the SP's
// default) and checks it against the SP's allowlist.
func resolveACS(sp *serviceProvider, req *crewjam.AuthnRequest) (string, error) {
	acs := req.AssertionConsumerServiceURL
	if acs == "" && req.AssertionConsumerServiceIndex != "" {
		i, err := strconv.Atoi(req.AssertionConsumerServiceIndex)
		if err != nil || sp.acsByIndex[i] == "" {
			return "", fmt.Errorf("%w: unknown AssertionConsumerServiceIndex", errACSNotAllowed)
		}
		acs = sp.acsByIndex[i]
	}
	if acs == "" {
		acs = sp.defaultACS
	}
	if acs == "" {
		return "", fmt.Errorf("%w: request names no ACS and the SP has no default_acs", errACSNotAllowed)
	}
	if err := sp.checkACS(acs); err != nil {
		return "", err
	}
	return acs, nil
}

// Signature errors.
var (
	errUnsigned    = errors.New("saml: request is not signed")
	errWeakSigAlg  = errors.New("saml: signature algorithm not accepted")
	errBadSigValue = errors.New("saml: signature does not verify")
)

// redirectSigAlgs are the accepted SigAlg values; SHA-1 is refused.
var redirectSigAlgs = map[string]x509.SignatureAlgorithm{
	dsig.RSASHA256SignatureMethod: x509.SHA256WithRSA,
	dsig.RSASHA384SignatureMethod: x509.SHA384WithRSA,
	dsig.RSASHA512SignatureMethod: x509.SHA512WithRSA,
}

// verifyRequestSignature checks the SP's signature. For the POST binding it
// returns the AuthnRequest decoded from the verified element only; for the
// redirect binding (which signs the query) it returns nil.
func (p *Provider) verifyRequestSignature(in *inbound, doc []byte, sp *serviceProvider, now time.Time) (*crewjam.AuthnRequest, error) {
	if in.binding == BindingRedirect {
		return nil, verifyRedirectSignature(in, sp)
	}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil || d.Root() == nil {
		return nil, fmt.Errorf("%w: XML", errBadSigValue)
	}
	root := d.Root()
	sigEl := root.FindElement("./Signature")
	if sigEl == nil {
		return nil, errUnsigned
	}
	for _, path := range []string{"./SignedInfo/SignatureMethod", "./SignedInfo/Reference/DigestMethod"} {
		el := sigEl.FindElement(path)
		if el == nil {
			return nil, fmt.Errorf("%w: no %s", errBadSigValue, path)
		}
		switch el.SelectAttrValue("Algorithm", "") {
		case dsig.RSASHA256SignatureMethod, dsig.RSASHA384SignatureMethod, dsig.RSASHA512SignatureMethod,
			"http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2001/04/xmldsig-more#sha384", "http://www.w3.org/2001/04/xmlenc#sha512":
		default:
			return nil, fmt.Errorf("%w: %s", errWeakSigAlg, el.SelectAttrValue("Algorithm", ""))
		}
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: sp.certs})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	verified, err := vc.Validate(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSigValue, err)
	}
	vd := etree.NewDocument()
	vd.SetRoot(verified)
	out, err := vd.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSigValue, err)
	}
	var req crewjam.AuthnRequest
	if err := xml.Unmarshal(out, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSigValue, err)
	}
	return &req, nil
}

// isNCName reports whether s is a valid xs:ID (an XML NCName), bounded to
// 256 bytes so it can be stored and echoed safely.
func isNCName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '_':
		case i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.' || unicode.IsMark(r)):
		default:
			return false
		}
	}
	return true
}
