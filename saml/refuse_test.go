package saml

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
)

// TestRefusedWithErrorPage: requests that cannot be tied to a trusted ACS
// get an HTTP 400 page; nothing is posted or redirected anywhere.
func TestRefusedWithErrorPage(t *testing.T) {
	now := time.Now()
	withACS := func(acs string) string {
		r := goodRequest(now, "id-acs")
		r.ACS = acs
		return r.xml()
	}
	good := goodRequest(now, "id-good").xml()
	b64 := func(b []byte) string { return url.QueryEscape(base64.StdEncoding.EncodeToString(b)) }
	get := func(q string) *http.Request { return mustReq(http.MethodGet, PathSSO+"?"+q) }
	tests := []struct {
		name string
		req  *http.Request
		code int
		key  string
	}{
		{"unknown issuer", redirectReq(t, strings.Replace(good, ">ncpworkplace.com<", ">evil.example<", 1), "r"), 400, "saml_unknown_sp"},
		{"issuer differs in case", redirectReq(t, strings.Replace(good, ">ncpworkplace.com<", ">NCPWORKPLACE.COM<", 1), "r"), 400, "saml_unknown_sp"},
		{"no issuer", redirectReq(t, regexpReplace(good, `<saml2:Issuer[^>]*>[^<]*</saml2:Issuer>`, ""), "r"), 400, "saml_unknown_sp"},
		{"acs http", redirectReq(t, withACS("http://acme.ncpworkplace.com/authn/saml/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs upper-case host", redirectReq(t, withACS("https://ACME.ncpworkplace.com/authn/saml/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs explicit port", redirectReq(t, withACS("https://acme.ncpworkplace.com:443/authn/saml/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs other port", redirectReq(t, withACS("https://acme.ncpworkplace.com:8443/authn/saml/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs userinfo", redirectReq(t, withACS("https://acme.ncpworkplace.com@evil.example/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs userinfo before host", redirectReq(t, withACS("https://x@acme.ncpworkplace.com/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs dot dot", redirectReq(t, withACS("https://acme.ncpworkplace.com/authn/../../evil"), "r"), 400, "saml_acs_not_allowed"},
		{"acs encoded dot dot", redirectReq(t, withACS("https://acme.ncpworkplace.com/authn/%2e%2e/evil"), "r"), 400, "saml_acs_not_allowed"},
		{"acs encoded slash", redirectReq(t, withACS("https://acme.ncpworkplace.com/a%2F..%2Fevil"), "r"), 400, "saml_acs_not_allowed"},
		{"acs backslash", redirectReq(t, withACS(`https://acme.ncpworkplace.com\@evil.example/`), "r"), 400, "saml_acs_not_allowed"},
		{"acs look-alike suffix", redirectReq(t, withACS("https://acme.ncpworkplace.com.evil.example/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs look-alike unicode", redirectReq(t, withACS("https://аcme.ncpworkplace.com/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs other company", redirectReq(t, withACS("https://other.ncpworkplace.com/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs without trailing slash", redirectReq(t, withACS("https://acme.ncpworkplace.com"), "r"), 400, "saml_acs_not_allowed"},
		{"acs double slash", redirectReq(t, withACS("https://acme.ncpworkplace.com//evil.example/acs"), "r"), 400, "saml_acs_not_allowed"},
		{"acs fragment", redirectReq(t, withACS("https://acme.ncpworkplace.com/acs#x"), "r"), 400, "saml_acs_not_allowed"},
		{"acs javascript", redirectReq(t, withACS("javascript:alert(1)"), "r"), 400, "saml_acs_not_allowed"},
		{"no acs and no default", redirectReq(t, withACS(""), "r"), 400, "saml_acs_not_allowed"},
		{"malformed base64", get("SAMLRequest=%%%%&RelayState=r"), 400, "saml_bad_request"},
		{"base64 with junk", get("SAMLRequest=" + url.QueryEscape("ab$cd") + "&RelayState=r"), 400, "saml_bad_request"},
		{"not deflated on redirect", get("SAMLRequest=" + b64([]byte(good)) + "&RelayState=r"), 400, "saml_bad_request"},
		{"deflated on POST", postReq("SAMLRequest=" + b64(deflate(t, good)) + "&RelayState=r"), 400, "saml_bad_request"},
		{"no SAMLRequest", get("RelayState=r"), 400, "saml_bad_request"},
		{"duplicated SAMLRequest", get("SAMLRequest=" + b64(deflate(t, good)) + "&SAMLRequest=" + b64(deflate(t, good))), 400, "saml_bad_request"},
		{"duplicated RelayState", redirectReq(t, good, "a", "RelayState=b"), 400, "saml_bad_request"},
		{"semicolon separator", redirectReq(t, good, "", "RelayState=a;RelayState=b"), 400, "saml_bad_request"},
		{"control character in RelayState", redirectReq(t, good, "a\nb"), 400, "saml_bad_request"},
		{"RelayState too long", redirectReq(t, good, strings.Repeat("x", maxRelayState+1)), 413, "saml_bad_request"},
		{"DTD", redirectReq(t, strings.Replace(good, `<saml2p:AuthnRequest`, `<!DOCTYPE x [<!ENTITY e "ncpworkplace.com">]><saml2p:AuthnRequest`, 1), "r"), 400, "saml_bad_request"},
		{"billion laughs", redirectReq(t, billionLaughs, "r"), 400, "saml_bad_request"},
		{"external entity", redirectReq(t, `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`+strings.Replace(good, ">ncpworkplace.com<", ">&xxe;<", 1), "r"), 400, "saml_bad_request"},
		{"not an AuthnRequest", redirectReq(t, `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"/>`, "r"), 400, "saml_bad_request"},
		{"POST wrong content type", func() *http.Request {
			r := postReq("SAMLRequest=" + b64([]byte(good)))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}(), 400, "saml_bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, workplaceConfig(), false)
			rec := env.do(tt.req)
			if rec.Code != tt.code || rec.Body.String() != "ERROR-PAGE "+tt.key {
				t.Fatalf("got %d %q, want %d ERROR-PAGE %s", rec.Code, rec.Body.String(), tt.code, tt.key)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("redirected to %q", loc)
			}
			if len(env.h.begun) != 0 {
				t.Error("a Flow was started")
			}
		})
	}
}

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a" Version="2.0"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">&lol4;</saml:Issuer></samlp:AuthnRequest>`

// TestRefusedWithSAMLError: once the SP and its ACS are trusted, other
// failures are answered to the ACS as a signed error Response without an
// Assertion, and no Flow starts.
func TestRefusedWithSAMLError(t *testing.T) {
	now := time.Now()
	mod := func(f func(*authnRequest)) string {
		r := goodRequest(now, "id-1")
		f(&r)
		return r.xml()
	}
	tests := []struct {
		name         string
		xml          string
		session      bool
		top, sub     string
		inResponseTo string
	}{
		{"version 1.1", mod(func(r *authnRequest) { r.Version = "1.1" }), false, crewjam.StatusVersionMismatch, "", "id-1"},
		{"no version", mod(func(r *authnRequest) { r.Version = "" }), false, crewjam.StatusVersionMismatch, "", "id-1"},
		{"ID not an NCName", mod(func(r *authnRequest) { r.ID = "1abc" }), false, crewjam.StatusRequester, crewjam.StatusRequestDenied, ""},
		{"ID missing", mod(func(r *authnRequest) { r.ID = "" }), false, crewjam.StatusRequester, crewjam.StatusRequestDenied, ""},
		{"IssueInstant too old", mod(func(r *authnRequest) {
			r.IssueInstant = now.Add(-DefaultClockSkew - time.Minute).UTC().Format(time.RFC3339)
		}), false, crewjam.StatusRequester, crewjam.StatusRequestDenied, "id-1"},
		{"IssueInstant in the future", mod(func(r *authnRequest) {
			r.IssueInstant = now.Add(DefaultClockSkew + time.Minute).UTC().Format(time.RFC3339)
		}), false, crewjam.StatusRequester, crewjam.StatusRequestDenied, "id-1"},
		{"IssueInstant missing", mod(func(r *authnRequest) { r.IssueInstant = "" }), false, crewjam.StatusRequester, crewjam.StatusRequestDenied, "id-1"},
		{"artifact binding", mod(func(r *authnRequest) { r.Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" }), false, crewjam.StatusRequester, crewjam.StatusRequestUnsupported, "id-1"},
		{"persistent NameID", strings.Replace(goodRequest(now, "id-1").xml(), "nameid-format:unspecified", "nameid-format:persistent", 1), false, crewjam.StatusRequester, crewjam.StatusInvalidNameIDPolicy, "id-1"},
		{"IsPassive without session", mod(func(r *authnRequest) { r.Extra = ` IsPassive="true"` }), false, crewjam.StatusResponder, crewjam.StatusNoPassive, "id-1"},
		{"IsPassive with ForceAuthn", mod(func(r *authnRequest) { r.Extra = ` IsPassive="true" ForceAuthn="true"` }), true, crewjam.StatusResponder, crewjam.StatusNoPassive, "id-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, workplaceConfig(), false)
			if tt.session {
				s := testSession(now)
				env.h.session = &s
			}
			rec := env.do(redirectReq(t, tt.xml, "relay"))
			if rec.Code != http.StatusOK {
				t.Fatalf("got %d %s, want the auto-POST page", rec.Code, rec.Body)
			}
			form := parsePostPage(t, rec.Body.String())
			checkErrorResponse(t, env, form, tt.top, tt.sub, tt.inResponseTo)
			if form.RelayState != "relay" {
				t.Errorf("RelayState = %q", form.RelayState)
			}
			if len(env.h.begun) != 0 {
				t.Error("a Flow was started")
			}
		})
	}
}

func checkErrorResponse(t *testing.T, env *testEnv, form postedForm, top, sub, inResponseTo string) {
	t.Helper()
	if form.Action != testACS {
		t.Errorf("posted to %q", form.Action)
	}
	var resp crewjam.Response
	if err := xml.Unmarshal(form.XML, &resp); err != nil {
		t.Fatalf("Response does not parse: %v", err)
	}
	if resp.Assertion != nil || bytes.Contains(form.XML, []byte("Assertion")) {
		t.Error("error Response carries an Assertion")
	}
	got := resp.Status.StatusCode
	if got.Value != top || (sub == "") != (got.StatusCode == nil) || (sub != "" && got.StatusCode.Value != sub) {
		t.Errorf("status = %+v / %+v, want %s / %s", got, got.StatusCode, top, sub)
	}
	if resp.InResponseTo != inResponseTo || resp.Destination != testACS {
		t.Errorf("InResponseTo %q Destination %q", resp.InResponseTo, resp.Destination)
	}
	if err := xmlsec1Verify(t, form.XML, env.kp.CertPEM(), responseSigXPath); err != nil {
		t.Errorf("error Response signature: %v", err)
	}
}

func TestReplayedRequestID(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	x := goodRequest(env.h.Now(), "id-replay").xml()
	if rec := env.do(redirectReq(t, x, "r")); rec.Code != http.StatusSeeOther {
		t.Fatalf("first request: %d", rec.Code)
	}
	env.h.takeBegun(t)
	rec := env.do(redirectReq(t, x, "r"))
	if rec.Code != http.StatusOK {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	checkErrorResponse(t, env, parsePostPage(t, rec.Body.String()), crewjam.StatusRequester, crewjam.StatusRequestDenied, "id-replay")
	if len(env.h.begun) != 0 {
		t.Error("the replay started a Flow")
	}
}

// TestRequestedSubject: an AuthnRequest that names a Subject is answered
// with an assertion only about that principal (SAML core §3.4.1). Another
// employee's session gets Responder / UnknownPrincipal and no assertion;
// the named one's gets the assertion; a Subject without a NameID (an
// identifier we cannot read) is refused.
func TestRequestedSubject(t *testing.T) {
	withSubject := func(id, subject string) string {
		return strings.Replace(goodRequest(time.Now(), id).xml(), "<saml2p:NameIDPolicy",
			`<saml2:Subject xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">`+subject+`</saml2:Subject><saml2p:NameIDPolicy`, 1)
	}
	env := newEnv(t, workplaceConfig(), false)
	sess := testSession(env.h.Now()) // hong@acme.example
	env.h.session = &sess

	rec := env.do(redirectReq(t, withSubject("id-subject-other", "<saml2:NameID>bob@acme.example</saml2:NameID>"), "r"))
	if rec.Code != http.StatusOK {
		t.Fatalf("another principal: %d %s", rec.Code, rec.Body)
	}
	checkErrorResponse(t, env, parsePostPage(t, rec.Body.String()), crewjam.StatusResponder, crewjam.StatusUnknownPrincipal, "id-subject-other")
	if !strings.Contains(env.h.logBuf.String(), "saml_subject_mismatch") {
		t.Error("the mismatch is not logged")
	}

	rec = env.do(redirectReq(t, withSubject("id-subject-same", "<saml2:NameID> Hong@ACME.example </saml2:NameID>"), "r"))
	if rec.Code != http.StatusOK {
		t.Fatalf("the named principal: %d", rec.Code)
	}
	var resp crewjam.Response
	if err := xml.Unmarshal(parsePostPage(t, rec.Body.String()).XML, &resp); err != nil {
		t.Fatal(err)
	}
	if a := resp.Assertion; a == nil || a.Subject == nil || a.Subject.NameID == nil || a.Subject.NameID.Value != "hong@acme.example" {
		t.Errorf("the named principal got no assertion about them: %+v", resp.Status)
	}

	rec = env.do(redirectReq(t, withSubject("id-subject-none", `<saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"/>`), "r"))
	if rec.Code != http.StatusOK {
		t.Fatalf("Subject without a NameID: %d", rec.Code)
	}
	checkErrorResponse(t, env, parsePostPage(t, rec.Body.String()), crewjam.StatusRequester, crewjam.StatusRequestUnsupported, "id-subject-none")
}
