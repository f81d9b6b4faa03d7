package saml

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"
)

const worksACS = "https://auth.worksmobile.com/acs/acme.example"

// worksRequest is NAVER WORKS's AuthnRequest for the login API.
func worksRequest(env *testEnv, id string) authnRequest {
	r := goodRequest(env.h.Now(), id)
	r.Issuer, r.ACS = "worksmobile.com", worksACS
	return r
}

func apiPost(env *testEnv, form url.Values, from ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, PathLoginAPI, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(from) > 0 {
		req.RemoteAddr = from[0]
	}
	return env.do(req)
}

func apiForm(email, password, samlRequest, relay string) url.Values {
	f := url.Values{
		"email":       {base64.StdEncoding.EncodeToString([]byte(email))},
		"password":    {base64.StdEncoding.EncodeToString([]byte(password))},
		"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(samlRequest))},
	}
	if relay != "" {
		f.Set("RelayState", relay)
	}
	return f
}

// TestLoginAPI: NAVER WORKS's IMAP/CalDAV login API. The right password
// gets JSON whose SAMLResponse a real SP library accepts, with RelayState
// back; a wrong one gets a signed Responder / AuthnFailed Response and no
// assertion; malformed input, a replayed request ID, and an SP that is not
// NAVER WORKS get a JSON error. No session is made.
func TestLoginAPI(t *testing.T) {
	cfg := workplaceConfig()
	// httptest requests come from 192.0.2.1: NAVER WORKS's server here.
	cfg.ServiceProviders = append(cfg.ServiceProviders, ServiceProviderConfig{Profile: ProfileNaverWorks, Domain: "acme.example", LoginAPIFrom: []string{"192.0.2.0/28"}})
	env := newEnv(t, cfg, false)
	env.h.passwords = map[string]string{"hong@acme.example": "Hong!2345"}
	works := crewjam.ServiceProvider{EntityID: "worksmobile.com", IDPMetadata: idpMetadataForSP(t, env)}
	works.AcsURL.Scheme, works.AcsURL.Host, works.AcsURL.Path = "https", "auth.worksmobile.com", "/acs/acme.example"

	answer := func(rec *httptest.ResponseRecorder) (apiAnswer, []byte) {
		t.Helper()
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("status %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var a apiAnswer
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		x, err := base64.StdEncoding.DecodeString(a.SAMLResponse)
		if err != nil {
			t.Fatal(err)
		}
		return a, x
	}

	rec := apiPost(env, apiForm("hong@acme.example", "Hong!2345", worksRequest(env, "id-api-1").xml(), "imap"))
	a, x := answer(rec)
	if a.RelayState != "imap" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("RelayState %q, Cache-Control %q", a.RelayState, rec.Header().Get("Cache-Control"))
	}
	assertion, err := works.ParseXMLResponse(x, []string{"id-api-1"}, works.AcsURL)
	if err != nil {
		t.Fatalf("crewjam SP refused the API's Response: %v", describe(err))
	}
	if assertion.Subject.NameID.Value != "hong@acme.example" {
		t.Errorf("NameID %q", assertion.Subject.NameID.Value)
	}
	for _, node := range []string{responseSigXPath, assertionSigXPath} {
		if err := xmlsec1Verify(t, x, env.kp.CertPEM(), node); err != nil {
			t.Errorf("%s: %v", node, err)
		}
	}
	if env.h.session != nil || len(env.h.begun) != 0 {
		t.Error("the API made a session or a flow")
	}
	if len(env.h.checked) != 1 || env.h.checked[0].SP != "worksmobile.com" || env.h.checked[0].Protocol != ProtocolName {
		t.Errorf("PasswordLogin calls: %+v", env.h.checked)
	}

	_, x = answer(apiPost(env, apiForm("hong@acme.example", "wrong", worksRequest(env, "id-api-2").xml(), "")))
	var resp crewjam.Response
	if err := xml.Unmarshal(x, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Assertion != nil || resp.Status.StatusCode.StatusCode == nil || resp.Status.StatusCode.StatusCode.Value != crewjam.StatusAuthnFailed || resp.InResponseTo != "id-api-2" {
		t.Errorf("wrong password answered with %s", x)
	}
	if err := xmlsec1Verify(t, x, env.kp.CertPEM(), responseSigXPath); err != nil {
		t.Errorf("failure Response signature: %v", err)
	}

	for _, tc := range []struct {
		name string
		form url.Values
		want int
		from []string
	}{
		{"not from NAVER WORKS's servers", apiForm("hong@acme.example", "Hong!2345", worksRequest(env, "id-api-5").xml(), ""), http.StatusForbidden, []string{"203.0.113.9:4000"}},
		{"not from NAVER WORKS's servers, and a bad request", func() url.Values {
			r := worksRequest(env, "id-api-6")
			r.ACS = "https://evil.example/acs"
			return apiForm("hong@acme.example", "x", r.xml(), "")
		}(), http.StatusForbidden, []string{"203.0.113.9:4000"}},
		{"a Subject", apiForm("hong@acme.example", "Hong!2345", strings.Replace(worksRequest(env, "id-api-7").xml(), "<saml2p:NameIDPolicy",
			`<saml2:Subject xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"><saml2:NameID>bob@acme.example</saml2:NameID></saml2:Subject><saml2p:NameIDPolicy`, 1), ""), http.StatusBadRequest, nil},
		{"replayed request ID", apiForm("hong@acme.example", "Hong!2345", worksRequest(env, "id-api-1").xml(), ""), http.StatusBadRequest, nil},
		{"not Base64", url.Values{"email": {"%%%"}, "password": {"x"}, "SAMLRequest": {"x"}}, http.StatusBadRequest, nil},
		{"no SAMLRequest", url.Values{"email": {"aG9uZw=="}, "password": {"eA=="}}, http.StatusBadRequest, nil},
		{"WORKPLACE is not NAVER WORKS", apiForm("hong@acme.example", "Hong!2345", goodRequest(env.h.Now(), "id-api-3").xml(), ""), http.StatusForbidden, nil},
		{"twice", func() url.Values {
			f := apiForm("hong@acme.example", "Hong!2345", worksRequest(env, "id-api-4").xml(), "")
			f["password"] = append(f["password"], "eA==")
			return f
		}(), http.StatusBadRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(env.h.checked)
			rec := apiPost(env, tc.form, tc.from...)
			var e apiError
			if rec.Code != tc.want || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Errorf("status %d body %s, want %d and a JSON error", rec.Code, rec.Body, tc.want)
			}
			if len(env.h.checked) != before {
				t.Error("the password was checked for a refused request")
			}
			if tc.want == http.StatusForbidden && e.Description != "forbidden" && tc.from != nil {
				t.Errorf("a caller not listed learns %q", e.Description)
			}
		})
	}
}
