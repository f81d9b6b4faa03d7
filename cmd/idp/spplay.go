package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	crewjam "github.com/crewjam/saml"
)

// Playing a SAML SP against the IdP over HTTP, shared by the demo's SP page
// and `idp selftest`: build the AuthnRequest WORKPLACE sends, read the
// auto-POST page, and check the Response as a real SP library does.

// samlAuthnRequest returns the AuthnRequest XML in WORKPLACE's shape
// (SPEC.md) and its redirect-binding encoding (DEFLATE, then Base64).
func samlAuthnRequest(id, acs, spEntityID string, now time.Time) (xmlText, encoded string) {
	xmlText = fmt.Sprintf(`<saml2p:AuthnRequest xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" AssertionConsumerServiceURL=%q ID=%q IssueInstant=%q ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ProviderName=%q Version="2.0"><saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">%s</saml2:Issuer><saml2p:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"/></saml2p:AuthnRequest>`,
		acs, id, now.UTC().Format("2006-01-02T15:04:05.000Z"), spEntityID, html.EscapeString(spEntityID))
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	_, _ = fw.Write([]byte(xmlText))
	_ = fw.Close()
	return xmlText, base64.StdEncoding.EncodeToString(z.Bytes())
}

var (
	postFormAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	postFormField  = regexp.MustCompile(`<input type="hidden" name="(SAMLResponse|RelayState)" value="([^"]*)"`)
	hiddenField    = regexp.MustCompile(`<input type="hidden" name="([a-zA-Z_]+)" value="([^"]*)"`)
)

// samlPost is what the IdP's auto-POST page carries.
type samlPost struct {
	Action, RelayState string
	Response           []byte // decoded XML
}

// parseSAMLPost reads the auto-POST page.
func parseSAMLPost(page []byte) (samlPost, error) {
	var p samlPost
	if m := postFormAction.FindSubmatch(page); m != nil {
		p.Action = html.UnescapeString(string(m[1]))
	}
	var enc string
	for _, m := range postFormField.FindAllSubmatch(page, -1) {
		if string(m[1]) == "SAMLResponse" {
			enc = html.UnescapeString(string(m[2]))
		} else {
			p.RelayState = html.UnescapeString(string(m[2]))
		}
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) == 0 {
		return p, errors.New("the page carries no SAMLResponse")
	}
	p.Response = raw
	return p, nil
}

// verifySAMLResponse checks raw the way the SP does, with crewjam/saml's
// ServiceProvider and the IdP's published metadata: signatures, audience,
// recipient, InResponseTo and validity times. It returns the NameID.
func verifySAMLResponse(ctx context.Context, hc *http.Client, base string, raw []byte, spEntityID, acs, requestID string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/saml/metadata", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("metadata: %w", err)
	}
	defer resp.Body.Close()
	var md crewjam.EntityDescriptor
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return "", fmt.Errorf("metadata: %w", err)
	}
	acsURL, err := url.Parse(acs)
	if err != nil {
		return "", err
	}
	sp := crewjam.ServiceProvider{EntityID: spEntityID, AcsURL: *acsURL, IDPMetadata: &md}
	a, err := sp.ParseXMLResponse(raw, []string{requestID}, *acsURL)
	if err != nil {
		var ie *crewjam.InvalidResponseError
		if errors.As(err, &ie) {
			return "", ie.PrivateErr
		}
		return "", err
	}
	return a.Subject.NameID.Value, nil
}

// parkedForLogin reports whether an SP's login request (the GET that
// selftest and the demo send, as WORKPLACE does) was parked for login: the
// IdP answered (resp, body) with the login form of the pending request.
func parkedForLogin(resp *http.Response, body []byte) bool {
	return resp.StatusCode == http.StatusOK && loginFormFlow(body) != ""
}

// loginFormFlow returns the flow handle of page when page is the login form
// of a pending login request (it carries the CSRF token and the request's
// flow handle), or "".
func loginFormFlow(page []byte) string {
	f := hiddenFields(page)
	if f.Get("csrf") == "" {
		return ""
	}
	return f.Get("flow")
}

// hiddenFields returns the hidden fields of the form on page, unescaped,
// as a browser sends them.
func hiddenFields(page []byte) url.Values {
	f := url.Values{}
	for _, m := range hiddenField.FindAllSubmatch(page, -1) {
		f.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	return f
}

// fillLoginForm posts the login form found on page as a browser would:
// every hidden field, plus the username and password.
func fillLoginForm(ctx context.Context, hc *http.Client, base string, page []byte, username, password string) (*http.Response, []byte, error) {
	form := hiddenFields(page)
	if form.Get("csrf") == "" {
		return nil, nil, errors.New("no login form in the page")
	}
	form.Set("username", username)
	form.Set("password", password)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	return doRead(hc, req)
}

// doRead performs req without following redirects and reads the body.
func doRead(hc *http.Client, req *http.Request) (*http.Response, []byte, error) {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
