package saml

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/ncp-sso/idp/idp"
)

// SAML constants we emit.
const (
	bearerMethod               = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	passwordProtectedTransport = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	attrNameFormatBasic        = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	entityNameIDFormat         = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
	// idRandomBytes gives IDs 160 bits of randomness (SAML core asks >= 128).
	idRandomBytes = 20
)

// errNoNameID: the identity has no value for the SP's NameID attribute.
var errNoNameID = errors.New("saml: identity has no value for the NameID attribute")

// status is a SAML StatusCode pair: a top-level code and an optional
// second-level one.
type status struct {
	top, sub string
}

var (
	statusRequestDenied   = status{crewjam.StatusRequester, crewjam.StatusRequestDenied}
	statusUnsupported     = status{crewjam.StatusRequester, crewjam.StatusRequestUnsupported}
	statusVersionMismatch = status{crewjam.StatusVersionMismatch, ""}
	statusNoPassive       = status{crewjam.StatusResponder, crewjam.StatusNoPassive}
	statusDenied          = status{crewjam.StatusResponder, crewjam.StatusRequestDenied}
	statusResponderError  = status{crewjam.StatusResponder, ""}
)

// builder makes signed Responses. It holds no clock or randomness: both are
// passed per call so tests can fix them.
type builder struct {
	issuer            string
	signer            signer
	signResponse      bool
	signAssertion     bool
	assertionLifetime time.Duration
	sessionLifetime   time.Duration
}

// newSAMLID returns "_" + 40 hex digits: a valid xs:ID (an NCName may not
// start with a digit) carrying 160 random bits.
func newSAMLID(r io.Reader) (string, error) {
	b := make([]byte, idRandomBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("saml: randomness: %w", err)
	}
	return "_" + hex.EncodeToString(b), nil
}

// sessionIndex is stable per SSO session (for a later logout) but reveals
// nothing about the session ID: a domain-separated SHA-256 of a 256-bit
// random value cannot be reversed.
func sessionIndex(sessionID string) string {
	sum := sha256.Sum256([]byte("saml-session-index\x00" + sessionID))
	return "_" + hex.EncodeToString(sum[:16])
}

// success builds and signs the Response for an authenticated user.
func (b builder) success(now time.Time, rnd io.Reader, sp *serviceProvider, req flowPayload, sess idp.Session) ([]byte, error) {
	nameID := sess.Identity.Attribute(sp.nameIDAttr)
	if nameID == "" {
		return nil, fmt.Errorf("%w %q", errNoNameID, sp.nameIDAttr)
	}
	now = now.UTC()
	respID, err := newSAMLID(rnd)
	if err != nil {
		return nil, err
	}
	assertionID, err := newSAMLID(rnd)
	if err != nil {
		return nil, err
	}
	authTime := sess.AuthTime.UTC()
	if authTime.IsZero() {
		authTime = now
	}
	sessionEnd := authTime.Add(b.sessionLifetime)
	notAfter := now.Add(b.assertionLifetime)
	a := &crewjam.Assertion{
		ID:           assertionID,
		IssueInstant: now,
		Version:      "2.0",
		Issuer:       crewjam.Issuer{Format: entityNameIDFormat, Value: b.issuer},
		Subject: &crewjam.Subject{
			NameID: &crewjam.NameID{Format: sp.nameIDFormat, Value: nameID},
			SubjectConfirmations: []crewjam.SubjectConfirmation{{
				Method: bearerMethod,
				SubjectConfirmationData: &crewjam.SubjectConfirmationData{
					InResponseTo: req.RequestID,
					NotOnOrAfter: notAfter,
					Recipient:    req.ACS,
				},
			}},
		},
		Conditions: &crewjam.Conditions{
			NotBefore:            now,
			NotOnOrAfter:         notAfter,
			AudienceRestrictions: []crewjam.AudienceRestriction{{Audience: crewjam.Audience{Value: sp.entityID}}},
		},
		AuthnStatements: []crewjam.AuthnStatement{{
			AuthnInstant:        authTime,
			SessionIndex:        sessionIndex(sess.ID),
			SessionNotOnOrAfter: &sessionEnd,
			AuthnContext: crewjam.AuthnContext{
				AuthnContextClassRef: &crewjam.AuthnContextClassRef{Value: passwordProtectedTransport},
			},
		}},
	}
	if attrs := attributes(sp, sess.Identity); len(attrs) > 0 {
		a.AttributeStatements = []crewjam.AttributeStatement{{Attributes: attrs}}
	}
	if b.signAssertion {
		sig, err := b.signer.signature(a.Element())
		if err != nil {
			return nil, err
		}
		a.Signature = sig
	}
	resp := b.response(now, respID, req.ACS, req.RequestID, status{top: crewjam.StatusSuccess})
	resp.Assertion = a
	return b.finish(resp, b.signResponse)
}

// failure builds a signed error Response (no Assertion). Error Responses
// are always signed so that an SP requiring signatures can trust the status.
func (b builder) failure(now time.Time, rnd io.Reader, acs, inResponseTo string, st status) ([]byte, error) {
	respID, err := newSAMLID(rnd)
	if err != nil {
		return nil, err
	}
	return b.finish(b.response(now.UTC(), respID, acs, inResponseTo, st), true)
}

func (b builder) response(now time.Time, id, acs, inResponseTo string, st status) *crewjam.Response {
	resp := &crewjam.Response{
		ID:           id,
		InResponseTo: inResponseTo,
		Version:      "2.0",
		IssueInstant: now,
		Destination:  acs,
		Issuer:       &crewjam.Issuer{Format: entityNameIDFormat, Value: b.issuer},
		Status:       crewjam.Status{StatusCode: crewjam.StatusCode{Value: st.top}},
	}
	if st.sub != "" {
		resp.Status.StatusCode.StatusCode = &crewjam.StatusCode{Value: st.sub}
	}
	return resp
}

// finish signs the Response (after any Assertion signature, which it then
// covers) and serialises it.
func (b builder) finish(resp *crewjam.Response, sign bool) ([]byte, error) {
	if sign {
		sig, err := b.signer.signature(resp.Element())
		if err != nil {
			return nil, err
		}
		resp.Signature = sig
	}
	doc := etree.NewDocument()
	doc.SetRoot(resp.Element())
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("saml: serialise response: %w", err)
	}
	return out, nil
}

// attributes maps directory values to SAML attributes; attributes without
// values are left out.
func attributes(sp *serviceProvider, id idp.Identity) []crewjam.Attribute {
	var out []crewjam.Attribute
	for _, m := range sp.attributes {
		vals := id.Attributes[m.dirAttr]
		if len(vals) == 0 {
			if v := id.Attribute(m.dirAttr); v != "" {
				vals = []string{v}
			}
		}
		if len(vals) == 0 {
			continue
		}
		attr := crewjam.Attribute{Name: m.samlName, NameFormat: attrNameFormatBasic}
		for _, v := range vals {
			attr.Values = append(attr.Values, crewjam.AttributeValue{Type: "xs:string", Value: v})
		}
		out = append(out, attr)
	}
	return out
}
