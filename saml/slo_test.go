package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/ncp-sso/idp/certs"
)

const sloCallback = "https://sp.example.org/saml/slo/callback"

// sloQuery is what an SP sends for Single Logout in the HTTP-Redirect
// binding: a LogoutRequest made by crewjam/saml, DEFLATE and Base64, signed
// in the query with the SP's key (sign false: no SigAlg and Signature).
func sloQuery(t *testing.T, sp *crewjam.ServiceProvider, dest, relay string, sign bool, edit func(*crewjam.LogoutRequest)) (query, id string) {
	t.Helper()
	method := sp.SignatureMethod
	sp.SignatureMethod = "" // the signature goes in the query, not the XML
	req, err := sp.MakeLogoutRequest(dest, "hong@acme.example")
	sp.SignatureMethod = method
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.Element())
	raw, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	fw.Write(raw)
	fw.Close()
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(z.Bytes()))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if sign {
		q += "&SigAlg=" + url.QueryEscape(dsig.RSASHA256SignatureMethod)
		sum := sha256.Sum256([]byte(q))
		sig, err := sp.Key.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	return q + "&redirect_uri=" + url.QueryEscape(sloCallback), req.ID
}

// opensslVerify checks an RSA-SHA256 signature over data with the
// certificate's public key, with the openssl command line tool: an
// implementation that is not ours.
func opensslVerify(t *testing.T, certPEM, data, sig []byte) error {
	t.Helper()
	bin := peerTool(t, "openssl", "openssl")
	dir := t.TempDir()
	files := map[string][]byte{"cert.pem": certPEM, "data": data, "sig": sig}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := exec.Command(bin, "x509", "-in", filepath.Join(dir, "cert.pem"), "-pubkey", "-noout").Output()
	if err != nil {
		t.Fatalf("openssl x509: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"),
		"-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		return &verifyError{string(out)}
	}
	return nil
}

type verifyError struct{ out string }

func (e *verifyError) Error() string { return "openssl: " + e.out }

// TestSingleLogout: an SP's signed LogoutRequest ends the session and is
// answered with a LogoutResponse in the HTTP-Redirect binding, signed in
// the query (openssl verifies it with the published certificate),
// InResponseTo the request, RelayState back byte for byte, at the SP's
// callback. A bad signature, a replayed ID, a callback on another host or
// an unknown Issuer get no LogoutResponse, though the session still ends.
func TestSingleLogout(t *testing.T) {
	sp, cfg := signingSP(t)
	cfg.ServiceProviders[0].LogoutRedirectDomains = []string{"sp.example.org"}
	env := newEnv(t, cfg, false)
	sp.IDPMetadata = idpMetadataForSP(t, env)
	dest := testPublicURL + PathLogout
	signIn := func() {
		s := testSession(env.h.Now())
		env.h.session = &s
	}

	signIn()
	relay := `back?to="x"&y=1`
	q, id := sloQuery(t, sp, dest, relay, true, nil)
	rec := env.do(mustReq(http.MethodGet, PathLogout+"?"+q))
	if rec.Code != http.StatusFound {
		t.Fatalf("LogoutRequest: %d %s\n%s", rec.Code, rec.Body, env.h.logBuf.String())
	}
	if env.h.session != nil {
		t.Error("the session did not end")
	}
	loc := rec.Header().Get("Location")
	if !strings.HasPrefix(loc, sloCallback+"?") {
		t.Fatalf("answered to %q, want the SP's callback", loc)
	}
	rawQuery := loc[len(sloCallback)+1:]
	signed, sigParam, ok := strings.Cut(rawQuery, "&Signature=")
	if !ok {
		t.Fatalf("no Signature in %q", rawQuery)
	}
	sig, err := url.QueryUnescape(sigParam)
	if err != nil {
		t.Fatal(err)
	}
	sigRaw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := opensslVerify(t, env.kp.CertPEM(), []byte(signed), sigRaw); err != nil {
		t.Errorf("the LogoutResponse's query signature: %v", err)
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if vals.Get("RelayState") != relay || vals.Get("SigAlg") != dsig.RSASHA256SignatureMethod {
		t.Errorf("RelayState %q SigAlg %q", vals.Get("RelayState"), vals.Get("SigAlg"))
	}
	b, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	var resp crewjam.LogoutResponse
	if err := xml.Unmarshal(x, &resp); err != nil {
		t.Fatalf("LogoutResponse does not parse: %v\n%s", err, x)
	}
	if resp.InResponseTo != id || resp.Destination != sloCallback || resp.Issuer == nil || resp.Issuer.Value != env.p.EntityID() ||
		resp.Status.StatusCode.Value != crewjam.StatusSuccess || resp.Version != "2.0" || !isNCName(resp.ID) {
		t.Errorf("LogoutResponse = %s", x)
	}

	for _, tc := range []struct {
		name  string
		query func() string
	}{
		{"replayed", func() string { return q }},
		{"unsigned", func() string { q, _ := sloQuery(t, sp, dest, "", false, nil); return q }},
		{"signature of other octets", func() string {
			q, _ := sloQuery(t, sp, dest, "r", true, nil)
			return strings.Replace(q, "RelayState=r", "RelayState=s", 1)
		}},
		{"callback elsewhere", func() string {
			q, _ := sloQuery(t, sp, dest, "", true, nil)
			return strings.Replace(q, url.QueryEscape(sloCallback), url.QueryEscape("https://evil.example/cb"), 1)
		}},
		{"another Destination", func() string {
			q, _ := sloQuery(t, sp, "https://other-idp.example/saml/logout", "", true, nil)
			return q
		}},
		{"old", func() string {
			q, _ := sloQuery(t, sp, dest, "", true, func(r *crewjam.LogoutRequest) { r.IssueInstant = time.Now().Add(-time.Hour) })
			return q
		}},
		{"unknown Issuer", func() string {
			q, _ := sloQuery(t, sp, dest, "", true, func(r *crewjam.LogoutRequest) { r.Issuer.Value = "https://nobody.example" })
			return q
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signIn()
			rec := env.do(mustReq(http.MethodGet, PathLogout+"?"+tc.query()))
			if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
				t.Errorf("answered %d, Location %q; want 400 and no LogoutResponse", rec.Code, rec.Header().Get("Location"))
			}
			if env.h.session != nil {
				t.Error("the session did not end")
			}
		})
	}
}

// TestWorksSingleLogout: NAVER WORKS's Single Logout, as the spec gives
// it: a LogoutRequest from worksmobile.com, redirect_uri its SLO callback.
// With certificate_file set it must be signed with that certificate;
// without, it is answered unverified (the session ends either way).
func TestWorksSingleLogout(t *testing.T) {
	const worksCallback = "https://auth.worksmobile.com/saml2/sp/slo/callback"
	kp, err := certs.Generate(certs.Options{CommonName: "worksmobile.com"})
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "works.pem")
	if err := os.WriteFile(certFile, kp.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	works := &crewjam.ServiceProvider{EntityID: "worksmobile.com", Key: kp.Key, Certificate: kp.Cert}
	for _, withCert := range []bool{true, false} {
		cfg := Config{Signing: SigningConfig{InsecureEphemeralKey: true},
			ServiceProviders: []ServiceProviderConfig{{Profile: ProfileNaverWorks, Domain: "acme.example"}}}
		if withCert {
			cfg.ServiceProviders[0].CertificateFile = certFile
		}
		env := newEnv(t, cfg, false)
		works.IDPMetadata = idpMetadataForSP(t, env)
		for _, signed := range []bool{true, false} {
			s := testSession(env.h.Now())
			env.h.session = &s
			q, _ := sloQuery(t, works, testPublicURL+PathLogout, "", signed, nil)
			q = strings.Replace(q, url.QueryEscape(sloCallback), url.QueryEscape(worksCallback), 1)
			rec := env.do(mustReq(http.MethodGet, PathLogout+"?"+q))
			answered := rec.Code == http.StatusFound && strings.HasPrefix(rec.Header().Get("Location"), worksCallback+"?SAMLResponse=")
			if want := signed || !withCert; answered != want {
				t.Errorf("certificate_file %v, signed %v: answered %v (%d %q), want %v", withCert, signed, answered, rec.Code, rec.Header().Get("Location"), want)
			}
			if env.h.session != nil {
				t.Errorf("certificate_file %v, signed %v: the session did not end", withCert, signed)
			}
		}
	}
}

// TestMetadataSingleLogout: an SP whose metadata names a SingleLogoutService
// gets its LogoutResponse there, whatever redirect_uri the query carries
// (the query's redirect_uri is not signed).
func TestMetadataSingleLogout(t *testing.T) {
	sp, cfg := signingSP(t)
	slo, _ := url.Parse("https://sp.example.org/saml/slo")
	sp.SloURL, sp.LogoutBindings = *slo, []string{crewjam.HTTPPostBinding, crewjam.HTTPRedirectBinding}
	raw, err := xmlMarshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.ServiceProviders[0].MetadataFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, cfg, false)
	sp.IDPMetadata = idpMetadataForSP(t, env)
	q, _ := sloQuery(t, sp, testPublicURL+PathLogout, "", true, nil)
	q = strings.Replace(q, url.QueryEscape(sloCallback), url.QueryEscape("https://sp.example.org/elsewhere"), 1)
	rec := env.do(mustReq(http.MethodGet, PathLogout+"?"+q))
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusFound || !strings.HasPrefix(loc, slo.String()+"?SAMLResponse=") {
		t.Errorf("answered %d at %q, want the metadata's SingleLogoutService %s", rec.Code, loc, slo)
	}
}
