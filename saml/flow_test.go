package saml

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp"
)

// TestRelayStateXSS: a hostile RelayState is escaped in the page and
// round-trips exactly into the form value.
func TestRelayStateXSS(t *testing.T) {
	relays := []string{
		`"><script>alert(1)</script>`,
		`' onmouseover='alert(1)`,
		`&amp;&lt;<!---->]]>`,
		`https://acme.ncpworkplace.com/a?b=1&c=%20d+e`,
		`한국어 릴레이`,
		``,
	}
	for _, relay := range relays {
		t.Run(relay, func(t *testing.T) {
			env := newEnv(t, workplaceConfig(), false)
			s := testSession(env.h.Now())
			env.h.session = &s
			req := redirectReq(t, goodRequest(env.h.Now(), "id-xss").xml(), "", "RelayState="+url.QueryEscape(relay))
			rec := env.do(req)
			if rec.Code != http.StatusOK {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "' onmouseover") || strings.Contains(body, "<!---->") {
				t.Errorf("RelayState not escaped:\n%s", body)
			}
			if strings.Count(body, "<script") != 1 {
				t.Errorf("page has %d script elements, want only the nonce'd one", strings.Count(body, "<script"))
			}
			form := parsePostPage(t, body)
			if !form.HasRelayState || form.RelayState != relay {
				t.Errorf("RelayState round trip: got %q, want %q", form.RelayState, relay)
			}
		})
	}
	t.Run("absent", func(t *testing.T) {
		env := newEnv(t, workplaceConfig(), false)
		s := testSession(env.h.Now())
		env.h.session = &s
		rec := env.do(redirectReq(t, goodRequest(env.h.Now(), "id-norelay").xml(), ""))
		if form := parsePostPage(t, rec.Body.String()); form.HasRelayState {
			t.Error("RelayState field present although the SP sent none")
		}
	})
}

func TestLiveSessionAndForceAuthn(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	s := testSession(env.h.Now())
	env.h.session = &s
	// A passive request with a live session is answered at once.
	r := goodRequest(env.h.Now(), "id-passive")
	r.Extra = ` IsPassive="true"`
	rec := env.do(redirectReq(t, r.xml(), "r"))
	form := parsePostPage(t, rec.Body.String())
	if !strings.Contains(string(form.XML), crewjam.StatusSuccess) {
		t.Error("passive request with a live session did not succeed")
	}
	env.h.takeBegun(t)
	// ForceAuthn goes to the login page even with a live session.
	r = goodRequest(env.h.Now(), "id-force")
	r.Extra = ` ForceAuthn="true"`
	rec = env.do(redirectReq(t, r.xml(), "r"))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("ForceAuthn: got %d", rec.Code)
	}
	if f := env.h.takeBegun(t); !f.ForceAuthn {
		t.Error("Flow.ForceAuthn not set")
	}
}

func TestPOSTBinding(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	x := goodRequest(env.h.Now(), "id-post").xml()
	b64 := base64.StdEncoding.EncodeToString([]byte(x))
	rec := env.do(postReq("SAMLRequest=" + url.QueryEscape(b64[:30]+"\r\n"+b64[30:]) + "&RelayState=rs"))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	f := env.h.takeBegun(t)
	var pl flowPayload
	if err := json.Unmarshal(f.Payload, &pl); err != nil {
		t.Fatal(err)
	}
	if pl.RequestID != "id-post" || pl.ACS != testACS || pl.RelayState != "rs" || !pl.HasRelayState {
		t.Errorf("payload = %+v", pl)
	}
}

// TestResumeNeedsValidPayload: Resume trusts only a well-formed SAML flow
// whose SP and ACS still fit the configuration; otherwise no assertion.
func TestResumeNeedsValidPayload(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	good := flowPayload{SP: "NCP WORKPLACE", RequestID: "id-1", ACS: testACS}
	mk := func(pl any, proto string) idp.Flow {
		b, _ := json.Marshal(pl)
		return idp.Flow{ID: "f", Protocol: proto, Payload: b}
	}
	bad := func(f func(*flowPayload)) idp.Flow {
		pl := good
		f(&pl)
		return mk(pl, "saml")
	}
	tests := map[string]idp.Flow{
		"other protocol":   mk(good, "oauth"),
		"empty payload":    {Protocol: "saml"},
		"garbage payload":  {Protocol: "saml", Payload: []byte("{")},
		"unknown field":    {Protocol: "saml", Payload: []byte(`{"sp":"NCP WORKPLACE","request_id":"id-1","acs":"` + testACS + `","x":1}`)},
		"unknown SP":       bad(func(p *flowPayload) { p.SP = "gone" }),
		"ACS not allowed":  bad(func(p *flowPayload) { p.ACS = "https://evil.example/acs" }),
		"bad request ID":   bad(func(p *flowPayload) { p.RequestID = "<x>" }),
		"bad relay state":  bad(func(p *flowPayload) { p.RelayState = "a\x00b" }),
		"empty request ID": bad(func(p *flowPayload) { p.RequestID = "" }),
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			rec := resume(t, env, f, testSession(env.h.Now()))
			if rec.Code != http.StatusBadRequest || rec.Body.String() != "ERROR-PAGE saml_flow_invalid" {
				t.Errorf("got %d %q", rec.Code, rec.Body.String())
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		rec := resume(t, env, mk(good, "saml"), testSession(env.h.Now()))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "SAMLResponse") {
			t.Errorf("got %d", rec.Code)
		}
	})
}

func TestDeny(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	b, _ := json.Marshal(flowPayload{SP: "NCP WORKPLACE", RequestID: "id-deny", ACS: testACS, RelayState: "r", HasRelayState: true})
	rec := newRecorder()
	c := env.e.NewContext(mustReq(http.MethodPost, "/login"), rec)
	if err := env.p.Deny(c, idp.Flow{Protocol: "saml", Payload: b}, &idp.AccountError{State: idp.StateNotPermitted}); err != nil {
		t.Fatal(err)
	}
	form := parsePostPage(t, rec.Body.String())
	checkErrorResponse(t, env, form, crewjam.StatusResponder, crewjam.StatusRequestDenied, "id-deny")
}

func TestMissingNameIDAttribute(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	b, _ := json.Marshal(flowPayload{SP: "NCP WORKPLACE", RequestID: "id-n", ACS: testACS})
	s := testSession(env.h.Now())
	s.Identity.Email = ""
	rec := resume(t, env, idp.Flow{Protocol: "saml", Payload: b}, s)
	checkErrorResponse(t, env, parsePostPage(t, rec.Body.String()), crewjam.StatusResponder, "", "id-n")
}

// signingSP is a generic SP (crewjam/saml's ServiceProvider) that signs its
// AuthnRequests, registered through its own metadata.
func signingSP(t *testing.T) (*crewjam.ServiceProvider, Config) {
	t.Helper()
	kp, err := certs.Generate(certs.Options{CommonName: "sp"})
	if err != nil {
		t.Fatal(err)
	}
	acs, _ := url.Parse("https://sp.example.org/saml/acs")
	md, _ := url.Parse("https://sp.example.org/saml/metadata")
	sp := &crewjam.ServiceProvider{
		EntityID: "https://sp.example.org/saml/metadata", Key: kp.Key, Certificate: kp.Cert,
		AcsURL: *acs, MetadataURL: *md, SignatureMethod: dsig.RSASHA256SignatureMethod,
		AuthnNameIDFormat: crewjam.UnspecifiedNameIDFormat,
	}
	raw, err := xmlMarshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sp.xml")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Signing:          SigningConfig{InsecureEphemeralKey: true},
		ServiceProviders: []ServiceProviderConfig{{Name: "Generic SP", Profile: ProfileMetadata, MetadataFile: file}},
	}
	return sp, cfg
}

// TestSignedRequestsFromMetadataSP: a real SP library signs its requests on
// both bindings; we verify them, accept them, and it accepts our Response.
func TestSignedRequestsFromMetadataSP(t *testing.T) {
	sp, cfg := signingSP(t)
	for _, binding := range []string{crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding} {
		t.Run(binding[strings.LastIndex(binding, ":")+1:], func(t *testing.T) {
			env := newEnv(t, cfg, false)
			sp.IDPMetadata = idpMetadataForSP(t, env)
			areq, err := sp.MakeAuthenticationRequest(testPublicURL+PathSSO, binding, crewjam.HTTPPostBinding)
			if err != nil {
				t.Fatal(err)
			}
			var httpReq *http.Request
			if binding == crewjam.HTTPRedirectBinding {
				u, err := areq.Redirect("relay", sp)
				if err != nil {
					t.Fatal(err)
				}
				httpReq = mustReq(http.MethodGet, PathSSO+"?"+u.RawQuery)
			} else {
				x, err := xmlMarshal(areq.Element())
				if err != nil {
					t.Fatal(err)
				}
				httpReq = postReq("SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(x)) + "&RelayState=relay")
			}
			rec := env.do(httpReq)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("signed request refused: %d %s\n%s", rec.Code, rec.Body, env.h.logBuf)
			}
			f := env.h.takeBegun(t)
			rec = resume(t, env, f, testSession(env.h.Now()))
			form := parsePostPage(t, rec.Body.String())
			a, err := sp.ParseXMLResponse(form.XML, []string{areq.ID}, sp.AcsURL)
			if err != nil {
				t.Fatalf("SP refused our Response: %s", describe(err))
			}
			if a.Subject.NameID.Value != "hong@acme.example" {
				t.Errorf("NameID %q", a.Subject.NameID.Value)
			}
		})
	}
}

func TestUnsignedOrBadlySignedRequestRefused(t *testing.T) {
	sp, cfg := signingSP(t)
	env := newEnv(t, cfg, false)
	sp.IDPMetadata = idpMetadataForSP(t, env)
	areq, err := sp.MakeAuthenticationRequest(testPublicURL+PathSSO, crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	u, err := areq.Redirect("relay", sp)
	if err != nil {
		t.Fatal(err)
	}
	q := u.RawQuery
	unsigned := q[:strings.Index(q, "&SigAlg=")]
	sha1 := strings.Replace(q, url.QueryEscape(dsig.RSASHA256SignatureMethod), url.QueryEscape(dsig.RSASHA1SignatureMethod), 1)
	otherRelay := strings.Replace(q, "RelayState=relay", "RelayState=other", 1)
	for name, query := range map[string]string{"unsigned": unsigned, "sha1": sha1, "relay changed": otherRelay} {
		t.Run(name, func(t *testing.T) {
			rec := env.do(mustReq(http.MethodGet, PathSSO+"?"+query))
			if rec.Code != http.StatusOK {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			form := parsePostPage(t, rec.Body.String())
			if form.Action != sp.AcsURL.String() || !strings.Contains(string(form.XML), crewjam.StatusRequestDenied) {
				t.Errorf("want RequestDenied to the SP's ACS, got %s", form.XML)
			}
			if len(env.h.begun) != 0 {
				t.Error("a Flow was started")
			}
		})
	}
}
