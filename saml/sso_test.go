package saml

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/ncp-sso/idp/idp"
)

func testSession(now time.Time) idp.Session {
	return idp.Session{
		ID: "session-id-that-must-not-leak",
		Identity: idp.Identity{
			Subject: "uuid-1", Username: "hong", Email: "hong@acme.example",
			DisplayName: "홍길동",
		},
		AuthTime:  now.Add(-10 * time.Minute),
		ExpiresAt: now.Add(8 * time.Hour),
	}
}

// idpMetadataForSP fetches our metadata over HTTP, as a real SP would.
func idpMetadataForSP(t *testing.T, env *testEnv) *crewjam.EntityDescriptor {
	t.Helper()
	rec := env.do(mustReq(http.MethodGet, PathMetadata))
	if rec.Code != http.StatusOK {
		t.Fatalf("metadata: %d", rec.Code)
	}
	var ed crewjam.EntityDescriptor
	if err := xml.Unmarshal(rec.Body.Bytes(), &ed); err != nil {
		t.Fatalf("metadata does not parse: %v", err)
	}
	return &ed
}

func mustReq(method, target string) *http.Request {
	r, err := http.NewRequest(method, target, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// TestWorkplaceJourney runs a WORKPLACE redirect-binding login: request,
// parked Flow, resume after login, and a Response that a real SP library
// (crewjam/saml's ServiceProvider) accepts and xmlsec1 verifies with only
// the published certificate.
func TestWorkplaceJourney(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	now := env.h.Now()
	relay := `https://acme.ncpworkplace.com/retry?a=1&b="<x>"`
	rec := env.do(redirectReq(t, goodRequest(now, "bemkplgpdoemkhjmncgmbcdibglpngclfombpmed").xml(), relay, "worksId=hong"))
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?flow=") {
		t.Fatalf("want redirect to the login page, got %d %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	f := env.h.takeBegun(t)
	if f.Protocol != "saml" || f.SP != "ncpworkplace.com" || f.SPName != "NCP WORKPLACE" || f.LoginHint != "" || f.ForceAuthn {
		t.Errorf("flow = %+v", f)
	}
	if !f.ExpiresAt.Equal(now.Add(DefaultRequestLifetime)) {
		t.Errorf("flow expires %s, want request_lifetime after arrival", f.ExpiresAt)
	}

	// The user logs in; the server takes the Flow and resumes it.
	sess := testSession(now)
	rec = resume(t, env, f, sess)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://acme.ncpworkplace.com;") {
		t.Errorf("CSP does not allow posting to the ACS origin: %q", csp)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
	}
	form := parsePostPage(t, rec.Body.String())
	if form.Action != testACS {
		t.Errorf("form posts to %q, want the ACS", form.Action)
	}
	if !form.HasRelayState || form.RelayState != relay {
		t.Errorf("RelayState = %q, want %q byte for byte", form.RelayState, relay)
	}
	body := rec.Body.String()
	if !strings.Contains(body, `<script nonce="test-nonce">`) || !strings.Contains(body, `<button type="submit">`) {
		t.Error("page lacks the nonce'd auto-submit script or the no-JS button")
	}
	if strings.Contains(string(form.XML), sess.ID) || strings.Contains(env.h.logBuf.String(), sess.ID) {
		t.Error("session ID leaked into the Response or the log")
	}
	if strings.Contains(env.h.logBuf.String(), form.SAMLResponse[:40]) {
		t.Error("SAML Response logged")
	}

	// A real SP accepts it.
	acsURL, _ := url.Parse(testACS)
	sp := crewjam.ServiceProvider{
		EntityID:    "ncpworkplace.com",
		AcsURL:      *acsURL,
		IDPMetadata: idpMetadataForSP(t, env),
	}
	a, err := sp.ParseXMLResponse(form.XML, []string{"bemkplgpdoemkhjmncgmbcdibglpngclfombpmed"}, *acsURL)
	if err != nil {
		t.Fatalf("crewjam SP refused the Response: %v", describe(err))
	}
	if a.Subject.NameID.Value != "hong@acme.example" || a.Subject.NameID.Format != NameIDFormatUnspecified {
		t.Errorf("NameID = %+v", a.Subject.NameID)
	}
	if got := a.AuthnStatements[0].AuthnInstant; !got.Equal(sess.AuthTime.Truncate(time.Millisecond)) {
		t.Errorf("AuthnInstant = %s, want the real authentication time %s", got, sess.AuthTime)
	}
	if len(a.AttributeStatements) != 1 || a.AttributeStatements[0].Attributes[0].Values[0].Value != "홍길동" {
		t.Errorf("attributes = %+v", a.AttributeStatements)
	}

	// xmlsec1 verifies both signatures with only the published certificate.
	for _, node := range []string{responseSigXPath, assertionSigXPath} {
		if err := xmlsec1Verify(t, form.XML, env.kp.CertPEM(), node); err != nil {
			t.Errorf("%s: %v", node, err)
		}
	}
}

func describe(err error) string {
	if ire, ok := err.(*crewjam.InvalidResponseError); ok {
		return ire.PrivateErr.Error()
	}
	return err.Error()
}

func resume(t *testing.T, env *testEnv, f idp.Flow, sess idp.Session) *httptestRecorder {
	t.Helper()
	rec := newRecorder()
	c := env.e.NewContext(mustReq(http.MethodPost, "/login"), rec)
	if err := env.p.Resume(c, f, sess); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	return rec
}

// TestNaverWorksJourney: the WORKS profile's entity ID, ACS under
// https://auth.worksmobile.com/acs/{domain}, and the worksId login hint.
func TestNaverWorksJourney(t *testing.T) {
	cfg := Config{
		Signing: SigningConfig{InsecureEphemeralKey: true},
		ServiceProviders: []ServiceProviderConfig{{
			Profile: ProfileNaverWorks, Domain: "acme.example", NameIDAttribute: "uid",
		}},
	}
	env := newEnv(t, cfg, false)
	now := env.h.Now()
	const acs = "https://auth.worksmobile.com/acs/acme.example"
	r := goodRequest(now, "works-req-1")
	r.Issuer, r.ACS = "worksmobile.com", acs
	rec := env.do(redirectReq(t, r.xml(), "works-relay", "worksId="+url.QueryEscape("hong@acme.example")))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	f := env.h.takeBegun(t)
	if f.LoginHint != "hong@acme.example" || f.SP != "worksmobile.com" || f.SPName != "NAVER WORKS" {
		t.Errorf("flow = %+v", f)
	}
	form := parsePostPage(t, resume(t, env, f, testSession(now)).Body.String())
	acsURL, _ := url.Parse(acs)
	sp := crewjam.ServiceProvider{EntityID: "worksmobile.com", AcsURL: *acsURL, IDPMetadata: idpMetadataForSP(t, env)}
	a, err := sp.ParseXMLResponse(form.XML, []string{"works-req-1"}, *acsURL)
	if err != nil {
		t.Fatalf("SP refused: %s", describe(err))
	}
	if a.Subject.NameID.Value != "hong" {
		t.Errorf("NameID %q, want the uid attribute", a.Subject.NameID.Value)
	}
	// Another WORKS tenant's ACS is refused with an error page.
	r = goodRequest(now, "works-req-2")
	r.Issuer, r.ACS = "worksmobile.com", "https://auth.worksmobile.com/acs/other.example"
	if rec := env.do(redirectReq(t, r.xml(), "x")); rec.Code != http.StatusBadRequest {
		t.Errorf("other tenant ACS: got %d", rec.Code)
	}
}
