package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/idp/config"
)

// workplaceAuthnRequest is the request WORKPLACE sends (SPEC.md), DEFLATE'd
// and Base64'd for the redirect binding.
func workplaceAuthnRequest(t *testing.T, id, acs string) string {
	return workplaceAuthnRequestTB(t, id, acs)
}

func workplaceAuthnRequestTB(t testing.TB, id, acs string) string {
	t.Helper()
	x := fmt.Sprintf(`<saml2p:AuthnRequest xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" AssertionConsumerServiceURL=%q ID=%q IssueInstant=%q ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ProviderName="ncpworkplace.com" Version="2.0"><saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">ncpworkplace.com</saml2:Issuer><saml2p:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"/></saml2p:AuthnRequest>`,
		acs, id, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write([]byte(x))
	w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// TestSAMLJourneyAgainstRealSlapd plays WORKPLACE's SAML login against the
// real server and slapd; the Response is accepted by crewjam/saml's
// ServiceProvider and its signatures verified by xmlsec1 with only the
// certificate the admin downloads.
func TestSAMLJourneyAgainstRealSlapd(t *testing.T) {
	sl, ou := directoryFixture(t)
	keyFile, certFile := certstest.SigningFiles(t, t.TempDir())
	yaml := fmt.Sprintf(`
server:
  public_url: "https://sso.example.test"
store:
  backend: memory
ldap:
  urls: [%q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "svc-pa$$word"
  user:
    base_dn: %q
  groups:
    required: ["cn=sso,%s"]
saml:
  signing:
    key_file: %q
    cert_file: %q
  service_providers:
    - profile: workplace
      company: acme
`, sl.URL, sl.CAFile, ou, ou, ou, keyFile, certFile)
	cfg, err := config.Parse(strings.NewReader(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	w, base := startWiring(t, cfg)
	b := newBrowser(t, base)

	// The certificate and metadata the admin and a standard SP download.
	resp, pemBody := b.get("/saml/certificate.pem")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(pemBody, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("certificate download: %d %q", resp.StatusCode, pemBody[:min(40, len(pemBody))])
	}
	_, mdBody := b.get("/saml/metadata")
	var md crewjam.EntityDescriptor
	if err := xml.Unmarshal([]byte(mdBody), &md); err != nil {
		t.Fatal(err)
	}

	acs := "https://acme.ncpworkplace.com/authn/saml/acs"
	relay := `https://acme.ncpworkplace.com/home?a=1&b=<x>`
	login := func(id string) (formShown bool, p samlPost) {
		t.Helper()
		q := url.Values{"SAMLRequest": {workplaceAuthnRequest(t, id, acs)}, "RelayState": {relay}}
		resp, body := b.get("/saml/sso?" + q.Encode())
		if parkedForLogin(resp, []byte(body)) {
			formShown = true
			resp, body = b.login(body, "hana", "Hana!2345")
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("expected the auto-POST page, got %d: %s", resp.StatusCode, body)
		}
		p, err := parseSAMLPost([]byte(body))
		if p.Action != acs {
			t.Fatalf("form does not post to the ACS: %q", p.Action)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "https://acme.ncpworkplace.com") {
			t.Errorf("CSP form-action does not allow the ACS: %q", resp.Header.Get("Content-Security-Policy"))
		}
		if err != nil {
			t.Fatal(err)
		}
		return formShown, p
	}

	shown, p := login("_req1aaaaaaaaaaaaaaaaaaaaaa")
	if !shown || p.RelayState != relay {
		t.Fatalf("form shown %v; RelayState %q must round-trip exactly", shown, p.RelayState)
	}
	raw := p.Response
	acsURL, _ := url.Parse(acs)
	sp := crewjam.ServiceProvider{EntityID: "ncpworkplace.com", AcsURL: *acsURL, IDPMetadata: &md}
	a, err := sp.ParseXMLResponse(raw, []string{"_req1aaaaaaaaaaaaaaaaaaaaaa"}, *acsURL)
	if err != nil {
		var ie *crewjam.InvalidResponseError
		if ok := asInvalid(err, &ie); ok {
			t.Fatalf("SP refused the Response: %v", ie.PrivateErr)
		}
		t.Fatalf("SP refused the Response: %v", err)
	}
	if a.Subject.NameID.Value != "hana@example.test" {
		t.Errorf("NameID %q", a.Subject.NameID.Value)
	}
	xmlsec1(t, raw, []byte(pemBody))

	// Second visit: the session answers without the form.
	shown, p = login("_req2bbbbbbbbbbbbbbbbbbbbbb")
	if shown || len(p.Response) == 0 {
		t.Fatalf("SSO visit showed the form (%v) or gave no Response", shown)
	}
	// Two logins, two signatures each (Response and Assertion); the first
	// is timed in its thread's CPU time for the metrics, then one in 16.
	rec := httptest.NewRecorder()
	w.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	metrics := rec.Body.String()
	sigs, timed, cpu := metricValue(t, metrics, "idp_saml_signatures_total"), metricValue(t, metrics, "idp_saml_signatures_timed_total"), metricValue(t, metrics, "idp_saml_signing_cpu_seconds_total")
	if sigs != 4 {
		t.Errorf("idp_saml_signatures_total = %v, want 4", sigs)
	}
	if wantTimed := 1.0; runtime.GOOS == "linux" && timed != wantTimed {
		t.Errorf("idp_saml_signatures_timed_total = %v, want %v", timed, wantTimed)
	}
	if per := cpu / timed; runtime.GOOS == "linux" && (per < 50e-6 || per > 0.1) {
		t.Errorf("signing CPU %v s per signature: not an RSA-2048 signature's", per)
	}

	// A replayed request ID never yields an assertion.
	q := url.Values{"SAMLRequest": {workplaceAuthnRequest(t, "_req2bbbbbbbbbbbbbbbbbbbbbb", acs)}, "RelayState": {"r"}}
	_, body := b.get("/saml/sso?" + q.Encode())
	if strings.Contains(body, `name="SAMLResponse"`) {
		p, err := parseSAMLPost([]byte(body))
		if err != nil || bytes.Contains(p.Response, []byte("<saml:Assertion")) || !bytes.Contains(p.Response, []byte("urn:oasis:names:tc:SAML:2.0:status:Requester")) {
			t.Errorf("replayed request answered with (%v):\n%s", err, p.Response)
		}
	}
}

// metricValue is the value of an unlabelled metric in the text format.
func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}

func asInvalid(err error, target **crewjam.InvalidResponseError) bool {
	ie, ok := err.(*crewjam.InvalidResponseError)
	if ok {
		*target = ie
	}
	return ok
}

// xmlsec1 verifies both signatures of doc with only the downloaded certificate.
func xmlsec1(t *testing.T, doc, certPEM []byte) {
	t.Helper()
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("IDP_REQUIRE_PEERS") != "" {
			t.Fatalf("xmlsec1 is required (apt-get install xmlsec1): %v", err)
		}
		t.Skip("xmlsec1 not installed")
	}
	dir := t.TempDir()
	df, cf := filepath.Join(dir, "r.xml"), filepath.Join(dir, "c.pem")
	os.WriteFile(df, doc, 0o600)
	os.WriteFile(cf, certPEM, 0o600)
	for _, node := range []string{"", "//*[local-name()='Assertion']/*[local-name()='Signature']"} {
		args := []string{"--verify", "--enabled-key-data", "rsa", "--pubkey-cert-pem", cf,
			"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
			"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"}
		if node != "" {
			args = append(args, "--node-xpath", node)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, bin, append(args, df)...).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("xmlsec1 %s: %v\n%s", node, err, out)
		}
	}
}
