package saml

import (
	"bytes"
	"crypto"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	crewjam "github.com/crewjam/saml"
)

// digestSigner stands in for RSA in the fuzz target: its "signature" is
// the digest it was asked to sign, padded to 256 bytes, so equal
// SignatureValues still prove equal canonical SignedInfos, at no RSA cost.
type digestSigner struct{ crypto.Signer }

func (d digestSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	out := make([]byte, 256)
	copy(out, digest)
	return out, nil
}

// diffData is a success Response with the given directory and
// configuration values in every place they can appear.
func diffData(now time.Time, nameIDFormat, nameID, attrName string, values ...string) *responseData {
	now = now.UTC()
	return &responseData{
		id: "_000102030405060708090a0b0c0d0e0f10111213", inResponseTo: "id-diff", destination: testACS,
		issueInstant: now, status: status{top: crewjam.StatusSuccess},
		assertion: &assertionData{
			id: "_1415161718191a1b1c1d1e1f2021222324252627", issueInstant: now,
			nameIDFormat: nameIDFormat, nameID: nameID, inResponseTo: "id-diff", recipient: testACS,
			notBefore: now, notOnOrAfter: now.Add(5 * time.Minute), audience: "ncpworkplace.com",
			authnInstant: now.Add(-time.Minute), sessionIndex: sessionIndex("s"), sessionNotOnOrAfter: now.Add(8 * time.Hour),
			attributes: []samlAttribute{{name: attrName, values: values}, {name: "mail", values: []string{"a@b"}}},
		},
	}
}

// oracleBroken reports whether the etree serialiser wrote a value raw that
// an XML parser then normalises (CR in text; TAB, LF, CR in attribute
// values): the old path's signature over such a Response cannot verify,
// so the direct writer writes a character reference instead and the two
// outputs differ on purpose.
func oracleBroken(texts, attrs []string) bool {
	for _, s := range texts {
		if strings.ContainsRune(s, '\r') {
			return true
		}
	}
	for _, s := range attrs {
		if strings.ContainsAny(s, "\t\n\r") {
			return true
		}
	}
	return false
}

var signModes = []struct {
	name                        string
	signResponse, signAssertion bool
}{
	{"both", true, true},
	{"response", true, false},
	{"assertion", false, true},
	{"none", false, false},
}

// TestRenderMatchesOracle: for the same content the direct writer's bytes
// are exactly those of the etree/goxmldsig path, signatures included (RSA
// PKCS#1 v1.5 is deterministic, so equal SignatureValues mean equal
// canonical SignedInfos and digests).
func TestRenderMatchesOracle(t *testing.T) {
	values := map[string]string{
		"plain":          "hong@acme.example",
		"korean":         "홍길동",
		"markup":         `a<b>&c<!---->"d"]]>'e'`,
		"cdata end":      "]]>",
		"entities":       "&amp;&lt;&#x41;",
		"tab and lf":     "a\tb\nc",
		"emoji nbsp":     "😀\u00a0\u2028x",
		"literal fffd":   "a\uFFFDb",
		"invalid utf8":   "a\xffb\xc3(\xed\xa0\x80",
		"controls":       "a\x00b\x01c\x1fd\x7fe\u0085",
		"noncharacters":  "a\uFFFEb\uFFFF",
		"empty":          "",
		"only spaces":    "   ",
		"long":           strings.Repeat("가&", 3000),
		"quote in attr":  `x"y'z<>&`,
		"truncated utf8": "abc\xe0\xa4",
	}
	b, _ := testBuilder(t, true, true)
	now := time.Date(2026, 2, 14, 3, 33, 50, 120e6, time.UTC)
	for name, v := range values {
		for _, m := range signModes {
			t.Run(name+"/"+m.name, func(t *testing.T) {
				nameID := v
				if nameID == "" {
					nameID = "x"
				}
				// TAB and LF are fine in text but not (for the oracle)
				// in attribute values.
				av := strings.NewReplacer("\t", "", "\n", "").Replace(v)
				d := diffData(now, "urn:format:"+av, nameID, "attr "+av, v, v+"2")
				if oracleBroken([]string{nameID, v}, []string{av}) {
					t.Fatalf("case %q is not one the oracle gets right", name)
				}
				got, err := b.render(d, m.signResponse, m.signAssertion)
				if err != nil {
					t.Fatal(err)
				}
				if want := b.renderOracle(t, d, m.signResponse, m.signAssertion); !bytes.Equal(got, want) {
					t.Errorf("direct writer differs from the oracle:\ngot:  %q\nwant: %q", got, want)
				}
			})
		}
	}
	for _, st := range []status{statusDenied, statusVersionMismatch, statusNoPassive} {
		for _, irt := range []string{"", "id-1"} {
			t.Run("failure/"+st.top+st.sub+"/"+irt, func(t *testing.T) {
				d := &responseData{id: "_01", inResponseTo: irt, destination: testACS, issueInstant: now, status: st}
				got, err := b.render(d, true, false)
				if err != nil {
					t.Fatal(err)
				}
				if want := b.renderOracle(t, d, true, false); !bytes.Equal(got, want) {
					t.Errorf("direct writer differs from the oracle:\ngot:  %s\nwant: %s", got, want)
				}
			})
		}
	}
}

// TestRenderVerifiesWhereOracleCannot: a CR in a directory value, or a
// TAB/LF/CR in a configured attribute value, used to be written raw; the
// verifier's parser turns those into LF or a space before canonicalising,
// so the old signatures failed. The direct writer's character references
// survive parsing: both verifiers accept the Response and the SP reads the
// values back exactly.
func TestRenderVerifiesWhereOracleCannot(t *testing.T) {
	b, _ := testBuilder(t, true, true)
	kp, _ := testKeys(t)
	sp := crewjamSP(t, b)
	acs, _ := url.Parse(testACS)
	tests := []struct {
		name                     string
		format, nameID, attrName string
		value                    string
	}{
		{"cr in values", "urn:f", "hong\r@acme", "displayName", "line1\r\nline2\rend"},
		{"tab and lf in attribute name", "urn:f", "hong", "display\tName\n", "v"},
		{"cr in nameid format", "urn:f\r", "hong", "displayName", "v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := diffData(time.Now(), tt.format, tt.nameID, tt.attrName, tt.value)
			out, err := b.render(d, true, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, node := range []string{responseSigXPath, assertionSigXPath} {
				if err := xmlsec1Verify(t, out, kp.CertPEM(), node); err != nil {
					t.Errorf("xmlsec1 (%s): %v", node, err)
				}
			}
			a, err := sp.ParseXMLResponse(out, []string{"id-diff"}, *acs)
			if err != nil {
				t.Fatalf("SP refused: %s", describe(err))
			}
			at := a.AttributeStatements[0].Attributes[0]
			if a.Subject.NameID.Value != crewjamRead(tt.nameID) || a.Subject.NameID.Format != crewjamRead(tt.format) ||
				at.Name != crewjamRead(tt.attrName) || at.Values[0].Value != crewjamRead(tt.value) {
				t.Errorf("values changed: NameID %q (%q), attribute %q = %q", a.Subject.NameID.Value, a.Subject.NameID.Format, at.Name, at.Values[0].Value)
			}
			// The reason the outputs differ: the old path's signature
			// does not survive parsing.
			old := b.renderOracle(t, d, true, true)
			if err := xmlsec1Verify(t, old, kp.CertPEM(), assertionSigXPath); err == nil {
				t.Error("the oracle's Response verifies: the direct writer need not differ from it here")
			}
		})
	}
}

// crewjamSP is a real SP library configured to trust b's certificate.
func crewjamSP(t testing.TB, b builder) *crewjam.ServiceProvider {
	t.Helper()
	acs, _ := url.Parse(testACS)
	return &crewjam.ServiceProvider{EntityID: "ncpworkplace.com", AcsURL: *acs, IDPMetadata: &crewjam.EntityDescriptor{
		EntityID: b.issuer,
		IDPSSODescriptors: []crewjam.IDPSSODescriptor{{SSODescriptor: crewjam.SSODescriptor{RoleDescriptor: crewjam.RoleDescriptor{
			KeyDescriptors: []crewjam.KeyDescriptor{{Use: "signing", KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
				X509Certificates: []crewjam.X509Certificate{{Data: b.signer.certB64}}}}}},
		}}}},
	}}
}

// crewjamRead is what crewjam's ServiceProvider reads back from a value
// the writers wrote: invalid UTF-8 bytes and characters XML does not allow
// became U+FFFD, one per byte; and a CR, which reaches it intact (xmlsec1
// and crewjam's signature check see it), comes out as LF because crewjam
// re-serialises the verified element with etree, which writes it raw, and
// parses that again.
func crewjamRead(s string) string {
	return strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(sanitized(s))
}

// sanitized replaces what the writers cannot write with U+FFFD.
func sanitized(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000
		if (r == utf8.RuneError && w == 1) || !ok {
			out.WriteRune(utf8.RuneError)
		} else {
			out.WriteString(s[i : i+w])
		}
		i += w
	}
	return out.String()
}

// FuzzRenderMatchesOracle: for any NameID, attribute value, attribute name
// and NameID format, the direct writer matches the oracle byte for byte,
// except where the oracle's signature cannot verify (see oracleBroken);
// there the direct writer's Response verifies with a real SP library and
// every value is read back as written (after U+FFFD replacement).
func FuzzRenderMatchesOracle(f *testing.F) {
	for _, s := range [][3]string{
		{"hong@acme.example", "홍길동", "displayName"},
		{`a<b>&c<!---->"d"]]>'e'`, "]]>", `x"y'<>&`},
		{"cr\r\nlf", "tab\there", "attr\tname\n"},
		{"\xff\xfe\x00\x01", "\uFFFE\uFFFF\ufffd", "\xed\xa0\x80"},
		{"😀", "\u0085\u2028", ""},
	} {
		f.Add(s[0], s[1], s[2], "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
	}
	bRSA, _ := testBuilder(f, true, true)
	bFast := bRSA
	bFast.signer.key = digestSigner{bRSA.signer.key}
	sp := crewjamSP(f, bRSA)
	acs, _ := url.Parse(testACS)
	f.Fuzz(func(t *testing.T, nameID, value, attrName, format string) {
		if nameID == "" {
			return // refused before rendering (errNoNameID)
		}
		d := diffData(time.Now(), format, nameID, attrName, value)
		if !oracleBroken([]string{nameID, value}, []string{format, attrName}) {
			got, err := bFast.render(d, true, true)
			if err != nil {
				t.Fatal(err)
			}
			if want := bFast.renderOracle(t, d, true, true); !bytes.Equal(got, want) {
				t.Fatalf("direct writer differs from the oracle:\ngot:  %q\nwant: %q", got, want)
			}
			return
		}
		out, err := bRSA.render(d, true, true)
		if err != nil {
			t.Fatal(err)
		}
		a, err := sp.ParseXMLResponse(out, []string{"id-diff"}, *acs)
		if err != nil {
			t.Fatalf("SP refused: %s\n%q", describe(err), out)
		}
		at := a.AttributeStatements[0].Attributes[0]
		if a.Subject.NameID.Value != crewjamRead(nameID) || a.Subject.NameID.Format != crewjamRead(format) ||
			at.Name != crewjamRead(attrName) || at.Values[0].Value != crewjamRead(value) {
			t.Fatalf("values changed: %q %q %q %q", a.Subject.NameID.Value, a.Subject.NameID.Format, at.Name, at.Values[0].Value)
		}
	})
}
