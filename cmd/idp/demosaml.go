package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/labstack/echo/v4"
)

// The demo's SAML button plays WORKPLACE's SAML login with the browser's
// signed-in session: it sends the AuthnRequest WORKPLACE sends, receives
// the auto-POST page the browser would get, and verifies the Response as a
// real SP does (crewjam/saml's ServiceProvider with our metadata), instead
// of letting the browser post it to a WORKPLACE host that does not exist.

// demoACS is the demo SP's ACS: a WORKPLACE-shaped URL on the demo
// company, which the demo configuration allows. Nothing is ever sent there.
const demoACS = "https://demo.ncpworkplace.com/authn/saml/acs"

var (
	demoFormAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	demoFormField  = regexp.MustCompile(`<input type="hidden" name="(SAMLResponse|RelayState)" value="([^"]*)"`)
)

func (d *demoSP) samlStart(c echo.Context) error {
	page := demoPage{Mode: "saml", SAML: true}
	var rb [16]byte
	_, _ = io.ReadFull(d.srv.Rand(), rb[:])
	id := "_demo" + hex.EncodeToString(rb[:])
	reqXML := fmt.Sprintf(`<saml2p:AuthnRequest xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" AssertionConsumerServiceURL=%q ID=%q IssueInstant=%q ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ProviderName="ncpworkplace.com" Version="2.0"><saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">ncpworkplace.com</saml2:Issuer><saml2p:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"/></saml2p:AuthnRequest>`,
		demoACS, id, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	_, _ = fw.Write([]byte(reqXML))
	_ = fw.Close()
	q := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(z.Bytes())}, "RelayState": {"demo-" + id[5:13]}}
	page.Steps = append(page.Steps, demoStep{Title: "1. AuthnRequest (as WORKPLACE sends it, HTTP-Redirect binding)", Request: indentXML([]byte(reqXML))})

	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.publicURL+"/saml/sso?"+q.Encode(), nil)
	// The browser's own cookies: the demo runs with your SSO session.
	req.Header.Set("Cookie", c.Request().Header.Get("Cookie"))
	start := time.Now()
	resp, err := d.noRedirect().Do(req)
	if err != nil {
		page.Error = "request to /saml/sso failed: " + err.Error()
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	step := demoStep{Title: "2. Web Login URL answers", Request: "GET /saml/sso?SAMLRequest=…&RelayState=" + q.Get("RelayState"),
		Status: resp.StatusCode, Millis: fmt.Sprintf("%.1f ms", float64(time.Since(start).Microseconds())/1000)}
	if resp.StatusCode == http.StatusSeeOther {
		step.Response = "303 → " + resp.Header.Get("Location") + " (the login form)"
		page.Steps = append(page.Steps, step)
		page.Error = "Sign in first (the demo uses your SSO session), then press the SAML button again."
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	action := demoFormAction.FindSubmatch(body)
	var samlResponse, relay string
	for _, m := range demoFormField.FindAllSubmatch(body, -1) {
		if string(m[1]) == "SAMLResponse" {
			samlResponse = html.UnescapeString(string(m[2]))
		} else {
			relay = html.UnescapeString(string(m[2]))
		}
	}
	if action != nil {
		step.Response = "auto-POST form to " + html.UnescapeString(string(action[1])) + "\nRelayState = " + relay
	}
	page.Steps = append(page.Steps, step)
	raw, err := base64.StdEncoding.DecodeString(samlResponse)
	if err != nil || len(raw) == 0 {
		page.Error = "no SAMLResponse in the answer"
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	verdict, nameID := d.verifyAsSP(ctx, raw, id)
	page.Steps = append(page.Steps, demoStep{Title: "3. SAMLResponse (decoded) — " + verdict, Response: indentXML(raw)})
	page.Result = nameID
	return d.srv.Render(c, http.StatusOK, "demo_sp", page)
}

// verifyAsSP checks the Response the way the SP does: signatures against
// the certificate in our metadata, audience, recipient, InResponseTo, times.
func (d *demoSP) verifyAsSP(ctx context.Context, raw []byte, requestID string) (verdict, nameID string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.publicURL+"/saml/metadata", nil)
	resp, err := d.hc.Do(req)
	if err != nil {
		return "metadata unavailable: " + err.Error(), ""
	}
	defer resp.Body.Close()
	var md crewjam.EntityDescriptor
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return "metadata unreadable", ""
	}
	acs, _ := url.Parse(demoACS)
	sp := crewjam.ServiceProvider{EntityID: "ncpworkplace.com", AcsURL: *acs, IDPMetadata: &md}
	a, err := sp.ParseXMLResponse(raw, []string{requestID}, *acs)
	if err != nil {
		if ie, ok := err.(*crewjam.InvalidResponseError); ok {
			return "✗ refused by the SP library: " + ie.PrivateErr.Error(), ""
		}
		return "✗ refused by the SP library: " + err.Error(), ""
	}
	return "✓ signatures valid, accepted by a real SAML SP library (crewjam/saml)", a.Subject.NameID.Value
}

func (d *demoSP) noRedirect() *http.Client {
	c := *d.hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// indentXML pretty-prints XML for reading; the signed bytes are not changed
// anywhere else.
func indentXML(raw []byte) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return string(raw)
	}
	doc.Indent(2)
	s, _ := doc.WriteToString()
	return s
}
