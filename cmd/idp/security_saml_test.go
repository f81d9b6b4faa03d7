package main

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/server"
)

// samlXML is an AuthnRequest from issuer asking for acs.
func samlXML(issuer, id, acs string, instant time.Time) string {
	return fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" AssertionConsumerServiceURL=%q ID=%q IssueInstant=%q ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Version="2.0"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">%s</saml:Issuer></samlp:AuthnRequest>`,
		acs, id, instant.UTC().Format("2006-01-02T15:04:05.000Z"), issuer)
}

func deflateB64(x string) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write([]byte(x))
	w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// samlAnswer is what the browser got for an AuthnRequest.
type samlAnswer struct {
	status   int
	location string
	parked   string // the login form URL of the pending request it became, if any
	action   string // form action of an auto-POST page
	response []byte // decoded SAMLResponse
	relay    string
	hasRelay bool
	body     string
	header   http.Header
}

// assertion reports whether the answer carries an Assertion.
func (a samlAnswer) assertion() bool {
	return bytes.Contains(a.response, []byte("Assertion")) && bytes.Contains(a.response, []byte(":status:Success"))
}

// parkedAt returns where an SP's SAML request was parked for login, or ""
// when it was not: the own URL (/login?flow=ID) of the login form that
// answers a GET (redirect binding), or the 303 target of a POST (POST
// binding), so that reloading that page does not post the request again.
func parkedAt(resp *http.Response, body string) string {
	if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login?flow=") {
		return loc
	}
	return parkedFlowURL(resp, []byte(body))
}

func readAnswer(t testing.TB, resp *http.Response, body string) samlAnswer {
	t.Helper()
	a := samlAnswer{status: resp.StatusCode, location: resp.Header.Get("Location"), parked: parkedAt(resp, body), body: body, header: resp.Header}
	if m := postFormAction.FindStringSubmatch(body); m != nil {
		a.action = html.UnescapeString(m[1])
	}
	for _, m := range postFormField.FindAllStringSubmatch(body, -1) {
		if m[1] == "SAMLResponse" {
			a.response, _ = base64.StdEncoding.DecodeString(html.UnescapeString(m[2]))
		} else {
			a.relay, a.hasRelay = html.UnescapeString(m[2]), true
		}
	}
	return a
}

// ssoGet sends a redirect-binding request in b (signed in: the answer
// comes at once) with a raw query.
func ssoGet(t testing.TB, b *browser, rawQuery string) samlAnswer {
	t.Helper()
	resp, body := b.get("/saml/sso?" + rawQuery)
	return readAnswer(t, resp, body)
}

func ssoQuery(req, relay string) string {
	q := url.Values{"SAMLRequest": {req}}
	if relay != "" {
		q.Set("RelayState", relay)
	}
	return q.Encode()
}

var samlSeq atomic.Int64

func reqID() string { return fmt.Sprintf("_sec%032d", samlSeq.Add(1)) }

// TestSecuritySAMLRequests: ACS near-misses, cross-SP audience isolation,
// malformed, duplicated, replayed and badly timed requests.
func TestSecuritySAMLRequests(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	signIn(t, b, secUser, secPassword)
	now := time.Now()

	t.Run("control", func(t *testing.T) {
		b := b.in(t)
		a := ssoGet(t, b, ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, now)), "r"))
		if !a.assertion() || a.action != acmeACS {
			t.Fatalf("valid request not answered: %d %q", a.status, a.action)
		}
	})
	t.Run("ACS near-misses", func(t *testing.T) {
		b := b.in(t)
		for _, acs := range []string{
			"https://evil.test/acs",
			"https://acme.ncpworkplace.com.evil.test/acs",
			"https://acme.ncpworkplace.com@evil.test/acs",
			"https://acme.ncpworkplace.com:8443/acs",
			"http://acme.ncpworkplace.com/acs",
			"https://ACME.ncpworkplace.com/acs",
			"https://acme.ncpworkplace.com/a/../../acs",
			"https://acme.ncpworkplace.com/a/%2e%2e/acs",
			"https://acme.ncpworkplace.com/a%2facs",
			`https://acme.ncpworkplace.com\evil.test/acs`,
			"https://acme.ncpworkplace.com/acs#frag",
			"https://other.ncpworkplace.com/acs",
			"https://acme.ncpworkplace.com//evil.test/acs",
			"//acme.ncpworkplace.com/acs",
			"javascript:alert(1)",
			`https://acme.ncpworkplace.com/acs"><script>alert(1)</script>`, // found by FuzzACSCheck
			"https://acme.ncpworkplace.com/acs`x",
		} {
			a := ssoGet(t, b, ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acs, now)), "r"))
			if a.status != http.StatusBadRequest || a.response != nil || a.location != "" {
				t.Errorf("ACS %q: %d action %q", acs, a.status, a.action)
			}
		}
	})
	t.Run("cross-SP audience isolation", func(t *testing.T) {
		b := b.in(t)
		// SP A (WORKPLACE) may not name SP B's ACS, nor B name A's.
		for _, c := range []struct{ issuer, acs string }{{"ncpworkplace.com", worksACS}, {"worksmobile.com", acmeACS}} {
			a := ssoGet(t, b, ssoQuery(deflateB64(samlXML(c.issuer, reqID(), c.acs, now)), "r"))
			if a.status != http.StatusBadRequest || a.response != nil {
				t.Errorf("%s asking for %s: %d", c.issuer, c.acs, a.status)
			}
		}
		// Each SP's own request yields its own audience and ACS only.
		for _, c := range []struct{ issuer, acs, other string }{{"ncpworkplace.com", acmeACS, "worksmobile.com"}, {"worksmobile.com", worksACS, "ncpworkplace.com"}} {
			a := ssoGet(t, b, ssoQuery(deflateB64(samlXML(c.issuer, reqID(), c.acs, now)), "r"))
			var r struct {
				Destination string `xml:"Destination,attr"`
				Assertion   struct {
					Audience []string `xml:"Conditions>AudienceRestriction>Audience"`
					Data     struct {
						Recipient string `xml:"Recipient,attr"`
					} `xml:"Subject>SubjectConfirmation>SubjectConfirmationData"`
				} `xml:"Assertion"`
			}
			if err := xml.Unmarshal(a.response, &r); err != nil || !a.assertion() {
				t.Fatalf("%s: %v %d", c.issuer, err, a.status)
			}
			if a.action != c.acs || r.Destination != c.acs || r.Assertion.Data.Recipient != c.acs ||
				len(r.Assertion.Audience) != 1 || r.Assertion.Audience[0] != c.issuer || bytes.Contains(a.response, []byte(c.other)) {
				t.Errorf("%s: action %q destination %q recipient %q audience %v", c.issuer, a.action, r.Destination, r.Assertion.Data.Recipient, r.Assertion.Audience)
			}
		}
	})
	// Failures after the SP and ACS are known go to that ACS as a signed
	// error Response: never an Assertion.
	noAssertion := func(t *testing.T, name string, a samlAnswer) {
		t.Helper()
		if a.assertion() || a.status >= 500 {
			t.Errorf("%s: answered %d with an assertion=%v", name, a.status, a.assertion())
		}
	}
	t.Run("bad ID", func(t *testing.T) {
		b := b.in(t)
		for _, id := range []string{"", "1abc", "a b", "a<b", `a"b`, strings.Repeat("a", 300), "a:b"} {
			x := strings.Replace(samlXML("ncpworkplace.com", "PLACEHOLDER", acmeACS, now), `ID="PLACEHOLDER"`, `ID="`+html.EscapeString(id)+`"`, 1)
			noAssertion(t, "ID "+id, ssoGet(t, b, ssoQuery(deflateB64(x), "r")))
		}
		x := strings.Replace(samlXML("ncpworkplace.com", "X", acmeACS, now), ` ID="X"`, "", 1)
		noAssertion(t, "no ID", ssoGet(t, b, ssoQuery(deflateB64(x), "r")))
	})
	t.Run("IssueInstant", func(t *testing.T) {
		b := b.in(t)
		for name, at := range map[string]time.Time{"old": now.Add(-10 * time.Minute), "future": now.Add(10 * time.Minute), "epoch": time.Unix(0, 0), "far future": now.AddDate(50, 0, 0)} {
			noAssertion(t, name, ssoGet(t, b, ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, at)), "r")))
		}
		x := strings.Replace(samlXML("ncpworkplace.com", reqID(), acmeACS, now), `IssueInstant="`, `X="`, 1)
		noAssertion(t, "missing", ssoGet(t, b, ssoQuery(deflateB64(x), "r")))
	})
	t.Run("replay", func(t *testing.T) {
		b := b.in(t)
		q := ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, now)), "r")
		if a := ssoGet(t, b, q); !a.assertion() {
			t.Fatal("first request not answered")
		}
		noAssertion(t, "replay", ssoGet(t, b, q))
		// Re-encoded (other compression level) it is still the same ID.
		noAssertion(t, "replay re-encoded", ssoGet(t, b, q))
	})
	t.Run("malformed and duplicated parameters", func(t *testing.T) {
		b := b.in(t)
		good := deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, now))
		for name, q := range map[string]string{
			"no SAMLRequest":      "RelayState=r",
			"empty SAMLRequest":   "SAMLRequest=&RelayState=r",
			"not Base64":          "SAMLRequest=%%%%&RelayState=r",
			"Base64 not DEFLATE":  "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("<x/>"))),
			"DEFLATE not XML":     "SAMLRequest=" + url.QueryEscape(deflateB64("hello")),
			"two SAMLRequest":     "SAMLRequest=" + url.QueryEscape(good) + "&SAMLRequest=" + url.QueryEscape(good),
			"two RelayState":      "SAMLRequest=" + url.QueryEscape(good) + "&RelayState=a&RelayState=b",
			"semicolon separator": "SAMLRequest=" + url.QueryEscape(good) + ";RelayState=a",
			"RelayState with NUL": "SAMLRequest=" + url.QueryEscape(good) + "&RelayState=a%00b",
			"RelayState over 4K":  "SAMLRequest=" + url.QueryEscape(good) + "&RelayState=" + strings.Repeat("a", 5000),
			"not an AuthnRequest": "SAMLRequest=" + url.QueryEscape(deflateB64(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"/>`)),
			"UTF-16":              "SAMLRequest=" + url.QueryEscape(deflateB64("\xff\xfe<\x00x\x00/\x00>\x00")),
		} {
			a := ssoGet(t, b, q)
			if a.status < 400 || a.status >= 500 || a.response != nil {
				t.Errorf("%s: %d response=%v", name, a.status, a.response != nil)
			}
		}
	})
}

// TestSecuritySAMLXML: DEFLATE bombs, deep nesting, DTDs, external entities
// and billion laughs are refused quickly, and an HTTP canary proves no
// external fetch happened.
func TestSecuritySAMLXML(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	var hits atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`<!ENTITY x "pwned">`))
	}))
	t.Cleanup(canary.Close)
	req := samlXML("ncpworkplace.com", reqID(), acmeACS, time.Now())
	body := strings.TrimPrefix(req, `<samlp:AuthnRequest`)
	cases := map[string]string{
		"external DTD": `<!DOCTYPE samlp:AuthnRequest SYSTEM "` + canary.URL + `/dtd"><samlp:AuthnRequest` + body,
		"external entity": `<!DOCTYPE r [<!ENTITY ext SYSTEM "` + canary.URL + `/ent">]>` +
			strings.Replace(`<samlp:AuthnRequest`+body, ">ncpworkplace.com<", ">&ext;<", 1),
		"parameter entity": `<!DOCTYPE r [<!ENTITY % p SYSTEM "` + canary.URL + `/param"> %p;]><samlp:AuthnRequest` + body,
		"billion laughs": `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;"><!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">]>` +
			strings.Replace(`<samlp:AuthnRequest`+body, ">ncpworkplace.com<", ">&i;<", 1),
		"xinclude":               strings.Replace(`<samlp:AuthnRequest`+body, "</samlp:AuthnRequest>", `<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="`+canary.URL+`/xi" parse="text"/></samlp:AuthnRequest>`, 1),
		"processing instruction": `<?xml-stylesheet href="` + canary.URL + `/xsl"?><samlp:AuthnRequest` + body,
		"deep nesting": strings.Replace(`<samlp:AuthnRequest`+body, "</samlp:AuthnRequest>",
			strings.Repeat("<e>", 60000)+strings.Repeat("</e>", 60000)+"</samlp:AuthnRequest>", 1),
	}
	for name, x := range cases {
		t.Run(name, func(t *testing.T) {
			b := b.in(t)
			for _, binding := range []string{"redirect", "post"} {
				start := time.Now()
				var a samlAnswer
				if binding == "redirect" {
					a = ssoGet(t, b, ssoQuery(deflateB64(x), "r"))
				} else {
					resp, body := post(t, b.c, e.base+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(x))}, "RelayState": {"r"}}, nil)
					a = readAnswer(t, resp, body)
				}
				// XInclude is not processed (the element is inert), so that
				// request may proceed to the login page (the form itself for
				// a GET, a redirect to it for a POST); nothing else may.
				mayPark := name == "xinclude"
				if a.assertion() || a.parked != "" && !mayPark || a.location != "" && a.location != a.parked {
					t.Errorf("%s: %d location %q parked at %q", binding, a.status, a.location, a.parked)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s took %s", binding, d)
				}
			}
		})
	}
	t.Run("DEFLATE bomb", func(t *testing.T) {
		b := b.in(t)
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write([]byte("<samlp:AuthnRequest "))
		zeros := make([]byte, 1<<20)
		for range 30 { // 30 MB inflated, 120 times the cap; fits the query cap
			w.Write(zeros)
		}
		w.Close()
		start := time.Now()
		a := ssoGet(t, b, "SAMLRequest="+url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())))
		if a.status != http.StatusBadRequest && a.status != http.StatusRequestEntityTooLarge {
			t.Errorf("bomb (%d bytes compressed): %d", buf.Len(), a.status)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("bomb took %s", d)
		}
	})
	if n := hits.Load(); n != 0 {
		t.Fatalf("the canary was fetched %d times: the XML parser followed an external reference", n)
	}
}

// TestSecuritySAMLOutput: RelayState comes back byte for byte and inert,
// directory values cannot inject XML comments, and the auto-POST page has
// the right headers.
func TestSecuritySAMLOutput(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	signIn(t, b, secUser, secPassword)
	t.Run("RelayState XSS and exact round-trip", func(t *testing.T) {
		b := b.in(t)
		for _, relay := range []string{
			`"><script>alert(1)</script>`,
			`'><img src=x onerror=alert(1)>`,
			`javascript:alert(1)`,
			`https://acme.ncpworkplace.com/home?a=1&b=%2F&c=<x>#frag`,
			`&amp;&lt;&#x27;`,
			"한글 ✓ \u2028",
			strings.Repeat("r", 4096),
		} {
			a := ssoGet(t, b, ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, time.Now())), relay))
			if !a.assertion() || !a.hasRelay || a.relay != relay {
				t.Errorf("RelayState %.40q came back as %.40q (assertion %v)", relay, a.relay, a.assertion())
			}
			for _, bad := range []string{"<script>alert", "<img src=x"} {
				if strings.Contains(a.body, bad) {
					t.Errorf("RelayState %.40q is live in the page", relay)
				}
			}
		}
	})
	t.Run("response page headers", func(t *testing.T) {
		b := b.in(t)
		a := ssoGet(t, b, ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, time.Now())), "r"))
		h := a.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"form-action 'self' https://acme.ncpworkplace.com;", "frame-ancestors 'none'", "default-src 'none'", "script-src 'nonce-"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "worksmobile") || strings.Contains(csp, "*") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP too wide: %q", csp)
		}
		for k, v := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age=31536000"} {
			if h.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, h.Get(k), v)
			}
		}
	})
	t.Run("directory value with an XML comment", func(t *testing.T) {
		c := newBrowserTB(t, e.base)
		signIn(t, c, secCommentID, "Cmt!23456")
		a := ssoGet(t, c, ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, time.Now())), "r"))
		if !a.assertion() {
			t.Fatalf("no assertion: %d", a.status)
		}
		if bytes.Contains(a.response, []byte("<!--")) {
			t.Fatal("the directory value's comment reached the XML as markup")
		}
		var r struct {
			NameID string `xml:"Assertion>Subject>NameID"`
		}
		if err := xml.Unmarshal(a.response, &r); err != nil || r.NameID != secCommentMail {
			t.Fatalf("NameID %q, want exactly %q (%v)", r.NameID, secCommentMail, err)
		}
	})
}
