package saml

import (
	"bytes"
	"encoding/xml"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/ncp-sso/idp/idp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// counterReader is deterministic "randomness" for golden files: 0,1,2,...
type counterReader struct{ n byte }

func (c *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

func testBuilder(t testing.TB, signResponse, signAssertion bool) (builder, *serviceProvider) {
	t.Helper()
	kp, _ := testKeys(t)
	cfg := workplaceConfig()
	cfg.SetDefaults()
	reg, err := newRegistry(cfg.ServiceProviders)
	if err != nil {
		t.Fatal(err)
	}
	return builder{
		issuer:            testPublicURL + PathMetadata,
		signer:            newSigner(kp.Key, kp.Cert, nil),
		signResponse:      signResponse,
		signAssertion:     signAssertion,
		assertionLifetime: DefaultAssertionLifetime,
		sessionLifetime:   DefaultSessionNotOnOrAfter,
	}, reg.byName["NCP WORKPLACE"]
}

var (
	sigValueRE = regexp.MustCompile(`<ds:SignatureValue>[^<]*</ds:SignatureValue>`)
	certRE     = regexp.MustCompile(`<ds:X509Certificate>[^<]*</ds:X509Certificate>`)
	digestRE   = regexp.MustCompile(`<ds:DigestValue>[^<]*</ds:DigestValue>`)
)

// TestResponseGolden pins the Response shape with a fixed clock and
// deterministic IDs. Signature values and the certificate depend on the
// run-time key and are masked, and so is the Response digest, which covers
// the Assertion's signature value; the Assertion digest is kept: it pins
// every byte of the Assertion's content.
func TestResponseGolden(t *testing.T) {
	b, sp := testBuilder(t, true, true)
	now := time.Date(2026, 2, 14, 3, 33, 50, 123e6, time.FixedZone("KST", 9*3600))
	sess := idp.Session{
		ID:       "golden-session",
		Identity: idp.Identity{Username: "hong", Email: "hong@acme.example", DisplayName: "홍길동"},
		AuthTime: now.Add(-2 * time.Minute),
	}
	pl := flowPayload{SP: sp.name, RequestID: "bemkplgpdoemkhjmncgmbcdibglpngclfombpmed", ACS: testACS}
	out, err := b.success(now, &counterReader{}, sp, pl, sess)
	if err != nil {
		t.Fatal(err)
	}
	got := sigValueRE.ReplaceAll(out, []byte("<ds:SignatureValue>MASKED</ds:SignatureValue>"))
	got = certRE.ReplaceAll(got, []byte("<ds:X509Certificate>MASKED</ds:X509Certificate>"))
	if loc := digestRE.FindIndex(got); loc != nil && bytes.Index(got, []byte("<saml:Assertion ")) > loc[0] {
		got = append(append(append([]byte{}, got[:loc[0]]...), "<ds:DigestValue>MASKED</ds:DigestValue>"...), got[loc[1]:]...)
	}
	golden := filepath.Join("testdata", "response.golden.xml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestResponseGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Response differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
	// Properties the golden file must show.
	for _, want := range []string{
		`IssueInstant="2026-02-13T18:33:50.123Z"`,
		`AuthnInstant="2026-02-13T18:31:50.123Z"`,
		`SessionNotOnOrAfter="2026-02-14T02:31:50.123Z"`,
		`ID="_000102030405060708090a0b0c0d0e0f10111213"`,
		`InResponseTo="bemkplgpdoemkhjmncgmbcdibglpngclfombpmed"`,
		`Destination="` + testACS + `"`,
		`Recipient="` + testACS + `"`,
		`<saml:Audience>ncpworkplace.com</saml:Audience>`,
		`rsa-sha256`, `xmlenc#sha256`, `xml-exc-c14n#`,
		passwordProtectedTransport,
	} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("Response lacks %s", want)
		}
	}
	if bytes.Contains(got, []byte("sha1")) || bytes.Count(got, []byte("<saml:Assertion ")) != 1 {
		t.Error("Response uses SHA-1 or does not hold exactly one Assertion")
	}
}

// TestEscapingAndSignatures: directory values with markup are escaped, the
// SP reads them back exactly, xmlsec1 verifies both signatures with only
// the published certificate, and any tampering breaks them.
func TestEscapingAndSignatures(t *testing.T) {
	hostile := `a<b>&c<!---->"d"]]>'e'`
	tests := []struct {
		name                        string
		signResponse, signAssertion bool
	}{
		{"both signed", true, true},
		{"response only", true, false},
		{"assertion only", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, sp := testBuilder(t, tt.signResponse, tt.signAssertion)
			now := time.Now()
			sess := idp.Session{ID: "s", AuthTime: now, Identity: idp.Identity{Email: "x" + hostile + "@acme.example", DisplayName: hostile}}
			pl := flowPayload{SP: sp.name, RequestID: "id-esc", ACS: testACS}
			out, err := b.success(now, &counterReader{}, sp, pl, sess)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out, []byte("<!---->")) || bytes.Contains(out, []byte("a<b>")) {
				t.Errorf("directory value not escaped:\n%s", out)
			}
			kp, _ := testKeys(t)
			if tt.signResponse {
				if err := xmlsec1Verify(t, out, kp.CertPEM(), responseSigXPath); err != nil {
					t.Errorf("Response signature: %v", err)
				}
			}
			if tt.signAssertion {
				if err := xmlsec1Verify(t, out, kp.CertPEM(), assertionSigXPath); err != nil {
					t.Errorf("Assertion signature: %v", err)
				}
			}
			acs, _ := url.Parse(testACS)
			csp := crewjam.ServiceProvider{EntityID: "ncpworkplace.com", AcsURL: *acs, IDPMetadata: &crewjam.EntityDescriptor{
				EntityID: b.issuer,
				IDPSSODescriptors: []crewjam.IDPSSODescriptor{{SSODescriptor: crewjam.SSODescriptor{RoleDescriptor: crewjam.RoleDescriptor{
					KeyDescriptors: []crewjam.KeyDescriptor{{Use: "signing", KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
						X509Certificates: []crewjam.X509Certificate{{Data: base64Std(kp.Cert.Raw)}}}}}},
				}}}},
			}}
			a, err := csp.ParseXMLResponse(out, []string{"id-esc"}, *acs)
			if err != nil {
				t.Fatalf("SP refused: %s", describe(err))
			}
			if a.Subject.NameID.Value != "x"+hostile+"@acme.example" || a.AttributeStatements[0].Attributes[0].Values[0].Value != hostile {
				t.Errorf("values changed: %q / %+v", a.Subject.NameID.Value, a.AttributeStatements)
			}

			// Tampering: change the NameID, as an attacker would. (The first
			// ">x" of the document may be a Base64 DigestValue or
			// SignatureValue of the Response's own signature, which comes
			// before the Assertion: look inside the NameID.)
			tampered := bytes.Clone(out)
			nameID := bytes.Index(tampered, []byte("<saml:NameID"))
			at := bytes.Index(tampered[max(nameID, 0):], []byte(">x"))
			if nameID < 0 || at < 0 {
				t.Fatalf("no NameID starting with x in:\n%s", out)
			}
			tampered[nameID+at+1] = 'y'
			if bytes.Equal(tampered, out) {
				t.Fatal("tamper did not change the document")
			}
			if _, err := csp.ParseXMLResponse(tampered, []string{"id-esc"}, *acs); err == nil {
				t.Error("SP accepted a tampered Response")
			}
			node := assertionSigXPath
			if !tt.signAssertion {
				node = responseSigXPath
			}
			if err := xmlsec1Verify(t, tampered, kp.CertPEM(), node); err == nil {
				t.Error("xmlsec1 verified a tampered Response")
			}
			// And a signature by another key is refused with our certificate.
			_, other := testKeys(t)
			if err := xmlsec1Verify(t, out, other.CertPEM(), node); err == nil {
				t.Error("xmlsec1 verified the Response with an unrelated certificate")
			}
		})
	}
}

func TestResponseTimesAreUTC(t *testing.T) {
	b, sp := testBuilder(t, true, true)
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.FixedZone("KST", 9*3600))
	out, err := b.success(now, &counterReader{}, sp, flowPayload{RequestID: "i", ACS: testACS}, idp.Session{ID: "s", AuthTime: now, Identity: idp.Identity{Email: "e@x"}})
	if err != nil {
		t.Fatal(err)
	}
	var resp crewjam.Response
	if err := xml.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?:Instant|NotBefore|NotOnOrAfter)="([^"]*)"`).FindAllSubmatch(out, -1) {
		if !strings.HasSuffix(string(m[1]), "Z") {
			t.Errorf("time %s is not UTC", m[1])
		}
	}
}
