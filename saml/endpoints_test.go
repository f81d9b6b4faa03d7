package saml

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"testing"

	crewjam "github.com/crewjam/saml"

	"github.com/ncp-sso/idp/certs"
)

func TestMetadataAndRollover(t *testing.T) {
	for _, useNext := range []bool{false, true} {
		name := "current"
		if useNext {
			name = "use_next"
		}
		t.Run(name, func(t *testing.T) {
			cfg := workplaceConfig()
			cfg.Signing.UseNext = useNext
			env := newEnv(t, cfg, true)
			cur, next := testKeys(t)
			rec := env.do(mustReq(http.MethodGet, PathMetadata))
			if ct := rec.Header().Get("Content-Type"); ct != "application/samlmetadata+xml" {
				t.Errorf("Content-Type %q", ct)
			}
			ed := idpMetadataForSP(t, env)
			if ed.EntityID != testPublicURL+PathMetadata {
				t.Errorf("entityID %q", ed.EntityID)
			}
			if !ed.ValidUntil.After(env.h.Now()) {
				t.Errorf("validUntil %s is not in the future", ed.ValidUntil)
			}
			d := ed.IDPSSODescriptors[0]
			var published []string
			for _, kd := range d.KeyDescriptors {
				published = append(published, kd.KeyInfo.X509Data.X509Certificates[0].Data)
			}
			if len(published) != 2 || published[0] != base64Std(cur.Cert.Raw) || published[1] != base64Std(next.Cert.Raw) {
				t.Errorf("metadata does not publish current and next certificates")
			}
			bindings := map[string]string{}
			for _, ep := range d.SingleSignOnServices {
				bindings[ep.Binding] = ep.Location
			}
			if bindings[crewjam.HTTPRedirectBinding] != testPublicURL+PathSSO || bindings[crewjam.HTTPPostBinding] != testPublicURL+PathSSO {
				t.Errorf("SSO endpoints %v", bindings)
			}
			if len(d.NameIDFormats) != 1 || string(d.NameIDFormats[0]) != NameIDFormatUnspecified {
				t.Errorf("NameIDFormats %v", d.NameIDFormats)
			}

			want := cur
			if useNext {
				want = next
			}
			// certificate.pem is the certificate that signs.
			rec = env.do(mustReq(http.MethodGet, PathCertificate))
			if rec.Header().Get("Content-Type") != "application/x-pem-file" || rec.Header().Get("Content-Disposition") != `attachment; filename="saml-signing.pem"` {
				t.Errorf("headers %v", rec.Header())
			}
			block, rest := pem.Decode(rec.Body.Bytes())
			if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 || !bytes.HasPrefix(rec.Body.Bytes(), []byte("-----BEGIN CERTIFICATE-----\n")) {
				t.Fatalf("certificate.pem is not one PEM CERTIFICATE block")
			}
			if !bytes.Equal(block.Bytes, want.Cert.Raw) {
				t.Error("certificate.pem is not the signing certificate")
			}
			if rec := env.do(mustReq(http.MethodGet, PathNextCertificate)); !bytes.Contains(rec.Body.Bytes(), next.CertPEM()) {
				t.Error("certificate-next.pem does not serve the next certificate")
			}
			// And Responses are signed by that key: an SP that knows only the
			// selected certificate accepts them.
			b, _ := json.Marshal(flowPayload{SP: "NCP WORKPLACE", RequestID: "id-roll", ACS: testACS})
			form := parsePostPage(t, resume(t, env, flowOf(b), testSession(env.h.Now())).Body.String())
			if err := xmlsec1Verify(t, form.XML, want.CertPEM(), responseSigXPath); err != nil {
				t.Errorf("not signed by the selected key: %v", err)
			}
			acs, _ := url.Parse(testACS)
			sp := crewjam.ServiceProvider{EntityID: "ncpworkplace.com", AcsURL: *acs, IDPMetadata: ed}
			if _, err := sp.ParseXMLResponse(form.XML, []string{"id-roll"}, *acs); err != nil {
				t.Errorf("SP with rollover metadata refused: %s", describe(err))
			}
		})
	}
}

func TestNoNextCertificate(t *testing.T) {
	env := newEnv(t, workplaceConfig(), false)
	if rec := env.do(mustReq(http.MethodGet, PathNextCertificate)); rec.Code != http.StatusNotFound {
		t.Errorf("got %d", rec.Code)
	}
	if n := len(idpMetadataForSP(t, env).IDPSSODescriptors[0].KeyDescriptors); n != 1 {
		t.Errorf("metadata publishes %d certificates, want 1", n)
	}
}

func TestLogout(t *testing.T) {
	tests := []struct {
		name, query, wantLocation string
	}{
		{"allowed domain", "redirect_uri=" + url.QueryEscape("https://acme.ncpworkplace.com/authn/logoutProcess?x=1"), "https://acme.ncpworkplace.com/authn/logoutProcess?x=1"},
		{"no redirect", "", ""},
		{"other host", "redirect_uri=" + url.QueryEscape("https://evil.example/"), ""},
		{"look-alike host", "redirect_uri=" + url.QueryEscape("https://acme.ncpworkplace.com.evil.example/"), ""},
		{"subdomain", "redirect_uri=" + url.QueryEscape("https://x.acme.ncpworkplace.com/"), ""},
		{"http", "redirect_uri=" + url.QueryEscape("http://acme.ncpworkplace.com/"), ""},
		{"userinfo", "redirect_uri=" + url.QueryEscape("https://acme.ncpworkplace.com@evil.example/"), ""},
		{"other port", "redirect_uri=" + url.QueryEscape("https://acme.ncpworkplace.com:8443/"), ""},
		{"scheme-relative", "redirect_uri=" + url.QueryEscape("//evil.example/"), ""},
		{"duplicated", "redirect_uri=" + url.QueryEscape("https://acme.ncpworkplace.com/") + "&redirect_uri=" + url.QueryEscape("https://evil.example/"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, workplaceConfig(), false)
			s := testSession(env.h.Now())
			env.h.session = &s
			rec := env.do(mustReq(http.MethodGet, PathLogout+"?"+tt.query))
			if env.h.ended != 1 || env.h.session != nil {
				t.Error("session not ended")
			}
			if tt.wantLocation != "" {
				if rec.Code != http.StatusFound || rec.Header().Get("Location") != tt.wantLocation {
					t.Errorf("got %d %q, want redirect to %q", rec.Code, rec.Header().Get("Location"), tt.wantLocation)
				}
				return
			}
			if rec.Code != http.StatusOK || rec.Header().Get("Location") != "" || !bytes.Contains(rec.Body.Bytes(), []byte("로그아웃")) {
				t.Errorf("want the signed-out page, got %d %q", rec.Code, rec.Header().Get("Location"))
			}
		})
	}
}

func TestNewRefusesBadKeys(t *testing.T) {
	cfg := workplaceConfig()
	cfg.Signing = SigningConfig{KeyFile: "/nonexistent.key", CertFile: "/nonexistent.pem"}
	if _, err := New(cfg, Options{}); err == nil {
		t.Error("New accepted missing key files")
	}
	cfg.Signing = SigningConfig{InsecureEphemeralKey: true, UseNext: true}
	if _, err := New(cfg, Options{}); err == nil {
		t.Error("New accepted use_next without a next key")
	}
	// The insecure ephemeral key works for demos.
	cfg.Signing = SigningConfig{InsecureEphemeralKey: true}
	p, err := New(cfg, Options{})
	if err != nil || p.signing == nil || p.signing.Key.N.BitLen() != certs.DefaultBits {
		t.Fatalf("ephemeral: %v", err)
	}
}
