package saml

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

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
	// statusOtherPrincipal: the request named a Subject, and the employee
	// who signed in is someone else.
	statusOtherPrincipal = status{crewjam.StatusResponder, crewjam.StatusUnknownPrincipal}
	// statusAuthnFailed: the login API's password was wrong (or the
	// account paused or refused: the SP is told no more than that).
	statusAuthnFailed = status{crewjam.StatusResponder, crewjam.StatusAuthnFailed}
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

// responseData is everything a Response says, computed once from the
// request and the session; render writes it. Empty optional strings leave
// their attribute out.
type responseData struct {
	id, inResponseTo, destination string
	issueInstant                  time.Time
	status                        status
	assertion                     *assertionData // nil in an error Response
}

type assertionData struct {
	id                      string
	issueInstant            time.Time
	nameIDFormat, nameID    string
	inResponseTo            string // SubjectConfirmationData
	recipient               string // SubjectConfirmationData
	notBefore, notOnOrAfter time.Time
	audience                string
	authnInstant            time.Time
	sessionIndex            string
	sessionNotOnOrAfter     time.Time
	attributes              []samlAttribute
}

// samlAttribute is one Attribute of the AttributeStatement; each value is
// an xs:string AttributeValue.
type samlAttribute struct {
	name   string
	values []string
}

// success builds and signs the Response for an authenticated user.
func (b builder) success(now time.Time, rnd io.Reader, sp *serviceProvider, req flowPayload, sess idp.Session) ([]byte, error) {
	d, err := b.successData(now, rnd, sp, req, sess)
	if err != nil {
		return nil, err
	}
	return b.render(d, b.signResponse, b.signAssertion)
}

func (b builder) successData(now time.Time, rnd io.Reader, sp *serviceProvider, req flowPayload, sess idp.Session) (*responseData, error) {
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
	notAfter := now.Add(b.assertionLifetime)
	return &responseData{
		id:           respID,
		inResponseTo: req.RequestID,
		destination:  req.ACS,
		issueInstant: now,
		status:       status{top: crewjam.StatusSuccess},
		assertion: &assertionData{
			id:                  assertionID,
			issueInstant:        now,
			nameIDFormat:        sp.nameIDFormat,
			nameID:              nameID,
			inResponseTo:        req.RequestID,
			recipient:           req.ACS,
			notBefore:           now,
			notOnOrAfter:        notAfter,
			audience:            sp.entityID,
			authnInstant:        authTime,
			sessionIndex:        sessionIndex(sess.ID),
			sessionNotOnOrAfter: authTime.Add(b.sessionLifetime),
			attributes:          attributes(sp, sess.Identity),
		},
	}, nil
}

// failure builds a signed error Response (no Assertion). Error Responses
// are always signed so that an SP requiring signatures can trust the status.
func (b builder) failure(now time.Time, rnd io.Reader, acs, inResponseTo string, st status) ([]byte, error) {
	respID, err := newSAMLID(rnd)
	if err != nil {
		return nil, err
	}
	d := &responseData{id: respID, inResponseTo: inResponseTo, destination: acs, issueInstant: now.UTC(), status: st}
	return b.render(d, true, false)
}

// attributes maps directory values to SAML attributes; attributes without
// values are left out.
func attributes(sp *serviceProvider, id idp.Identity) []samlAttribute {
	var out []samlAttribute
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
		out = append(out, samlAttribute{name: m.samlName, values: vals})
	}
	return out
}
