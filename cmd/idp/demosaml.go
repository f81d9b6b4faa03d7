package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/beevik/etree"
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

func (d *demoSP) samlStart(c echo.Context) error {
	page := demoPage{Mode: "saml", SAML: true}
	var rb [16]byte
	_, _ = io.ReadFull(d.srv.Rand(), rb[:])
	id := "_demo" + hex.EncodeToString(rb[:])
	reqXML, encoded := samlAuthnRequest(id, demoACS, "ncpworkplace.com", time.Now())
	q := url.Values{"SAMLRequest": {encoded}, "RelayState": {"demo-" + id[5:13]}}
	page.Steps = append(page.Steps, demoStep{Title: "1. AuthnRequest (as WORKPLACE sends it, HTTP-Redirect binding)", Request: indentXML([]byte(reqXML))})

	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.publicURL+"/saml/sso?"+q.Encode(), nil)
	// The browser's own cookies: the demo runs with your SSO session.
	req.Header.Set("Cookie", c.Request().Header.Get("Cookie"))
	start := time.Now()
	resp, body, err := doRead(d.hc, req)
	if err != nil {
		page.Error = "request to /saml/sso failed: " + err.Error()
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	step := demoStep{Title: "2. Web Login URL answers", Request: "GET /saml/sso?SAMLRequest=…&RelayState=" + q.Get("RelayState"),
		Status: resp.StatusCode, Millis: fmt.Sprintf("%.1f ms", float64(time.Since(start).Microseconds())/1000)}
	if parkedForLogin(resp, body) {
		step.Response = "the login form (no SSO session yet)"
		page.Steps = append(page.Steps, step)
		page.Error = "Sign in first (the demo uses your SSO session), then press the SAML button again."
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	post, err := parseSAMLPost(body)
	step.Response = "auto-POST form to " + post.Action + "\nRelayState = " + post.RelayState
	page.Steps = append(page.Steps, step)
	if err != nil {
		page.Error = err.Error()
		return d.srv.Render(c, http.StatusOK, "demo_sp", page)
	}
	verdict := "✓ signatures valid, accepted by a real SAML SP library (crewjam/saml)"
	nameID, err := verifySAMLResponse(ctx, d.hc, d.publicURL, post.Response, "ncpworkplace.com", demoACS, id)
	if err != nil {
		verdict = "✗ refused by the SP library: " + err.Error()
	}
	page.Steps = append(page.Steps, demoStep{Title: "3. SAMLResponse (decoded) — " + verdict, Response: indentXML(post.Response)})
	page.Result = nameID
	return d.srv.Render(c, http.StatusOK, "demo_sp", page)
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
