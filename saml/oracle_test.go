package saml

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// renderOracle is how Responses were built before the direct writer:
// crewjam's structs turned into an etree, each signature made by goxmldsig
// (which canonicalises the element, digests it, builds and canonicalises
// SignedInfo), and the tree serialised by etree. It is kept for tests
// only, as the reference the direct writer must match byte for byte.
func (b builder) renderOracle(t testing.TB, d *responseData, signResponse, signAssertion bool) []byte {
	t.Helper()
	resp := &crewjam.Response{
		ID:           d.id,
		InResponseTo: d.inResponseTo,
		Version:      "2.0",
		IssueInstant: d.issueInstant,
		Destination:  d.destination,
		Issuer:       &crewjam.Issuer{Format: entityNameIDFormat, Value: b.issuer},
		Status:       crewjam.Status{StatusCode: crewjam.StatusCode{Value: d.status.top}},
	}
	if d.status.sub != "" {
		resp.Status.StatusCode.StatusCode = &crewjam.StatusCode{Value: d.status.sub}
	}
	if a := d.assertion; a != nil {
		sessionEnd := a.sessionNotOnOrAfter
		ca := &crewjam.Assertion{
			ID:           a.id,
			IssueInstant: a.issueInstant,
			Version:      "2.0",
			Issuer:       crewjam.Issuer{Format: entityNameIDFormat, Value: b.issuer},
			Subject: &crewjam.Subject{
				NameID: &crewjam.NameID{Format: a.nameIDFormat, Value: a.nameID},
				SubjectConfirmations: []crewjam.SubjectConfirmation{{
					Method: bearerMethod,
					SubjectConfirmationData: &crewjam.SubjectConfirmationData{
						InResponseTo: a.inResponseTo,
						NotOnOrAfter: a.notOnOrAfter,
						Recipient:    a.recipient,
					},
				}},
			},
			Conditions: &crewjam.Conditions{
				NotBefore:            a.notBefore,
				NotOnOrAfter:         a.notOnOrAfter,
				AudienceRestrictions: []crewjam.AudienceRestriction{{Audience: crewjam.Audience{Value: a.audience}}},
			},
			AuthnStatements: []crewjam.AuthnStatement{{
				AuthnInstant:        a.authnInstant,
				SessionIndex:        a.sessionIndex,
				SessionNotOnOrAfter: &sessionEnd,
				AuthnContext: crewjam.AuthnContext{
					AuthnContextClassRef: &crewjam.AuthnContextClassRef{Value: passwordProtectedTransport},
				},
			}},
		}
		var attrs []crewjam.Attribute
		for _, at := range a.attributes {
			attr := crewjam.Attribute{Name: at.name, NameFormat: attrNameFormatBasic}
			for _, v := range at.values {
				attr.Values = append(attr.Values, crewjam.AttributeValue{Type: "xs:string", Value: v})
			}
			attrs = append(attrs, attr)
		}
		if len(attrs) > 0 {
			ca.AttributeStatements = []crewjam.AttributeStatement{{Attributes: attrs}}
		}
		if signAssertion {
			ca.Signature = oracleSignature(t, b.signer, ca.Element())
		}
		resp.Assertion = ca
	}
	if signResponse {
		resp.Signature = oracleSignature(t, b.signer, resp.Element())
	}
	doc := etree.NewDocument()
	doc.SetRoot(resp.Element())
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatalf("oracle: serialise: %v", err)
	}
	return out
}

// oracleSignature is the goxmldsig enveloped signature of el, with the
// settings the IdP always used: RSA-SHA256, exclusive C14N, no prefix list.
func oracleSignature(t testing.TB, s signer, el *etree.Element) *etree.Element {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s.certB64)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(s.key, [][]byte{raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		t.Fatal(fmt.Errorf("oracle: sign %s: %w", el.Tag, err))
	}
	return sig
}
