package main

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	crewjam "github.com/crewjam/saml"
)

// step is one timed part of a login.
type step struct {
	name string
	d    time.Duration
}

// journey is one complete login by user i with a fresh browser; it returns
// the timed steps.
type journey func(ctx context.Context, i int, verify bool) ([]step, error)

// The SP the generator plays.
const (
	oauthClientID     = "bench-client"
	oauthClientSecret = "bench-secret-0123456789abcdef"
	oauthCallback     = "https://acme.ncpworkplace.com/bench/callback"
	spEntityID        = "ncpworkplace.com"
	spACS             = "https://acme.ncpworkplace.com/authn/saml/acs"
)

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isCallback(u *url.URL) bool {
	return u.Scheme == "https" && u.Host == "acme.ncpworkplace.com"
}

// oauthJourney plays WORKPLACE's OAuth login against base: login URL →
// form → code → token → userinfo.
func oauthJourney(base string, tr http.RoundTripper) journey {
	api := spClient(tr)
	return func(ctx context.Context, i int, _ bool) ([]step, error) {
		return oauthLogin(ctx, api, newBrowser(tr), base, i)
	}
}

// spClient is the SP's server side: its own connections, as the SP's
// servers are not the employees' browsers.
func spClient(tr http.RoundTripper) *http.Client {
	if t, ok := tr.(*http.Transport); ok {
		tr = t.Clone()
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// oauthLogin is the whole OAuth login of user i in browser b.
func oauthLogin(ctx context.Context, api *http.Client, b *browser, base string, i int) ([]step, error) {
	steps := make([]step, 0, 4)
	state := randomID()
	q := url.Values{"response_type": {"code"}, "client_id": {oauthClientID},
		"redirect_uri": {oauthCallback}, "state": {state}}
	t := time.Now()
	p, err := b.get(ctx, base+"/oauth/authorize?"+q.Encode(), isCallback)
	if err != nil {
		return steps, err
	}
	steps = append(steps, step{"authorize", time.Since(t)})
	f, err := loginForm(p, userName(i), userPassword(i))
	if err != nil {
		return steps, err
	}
	t = time.Now()
	p, err = b.submit(ctx, p, f, isCallback)
	if err != nil {
		return steps, err
	}
	steps = append(steps, step{"login_submit", time.Since(t)})
	code, ok := callbackCode(p, state)
	if !ok {
		return steps, fmt.Errorf("%w: login answered HTTP %d without a code redirect", errJourney, p.status)
	}
	return backChannel(ctx, api, base, code, state, i, steps)
}

// callbackCode is the code of a redirect to the SP's callback that carries
// the login request's state, as the SP checks it.
func callbackCode(p page, state string) (string, bool) {
	if p.location == "" {
		return "", false
	}
	cb, err := url.Parse(p.location)
	if err != nil {
		return "", false
	}
	got := cb.Query()
	if got.Get("state") != state || got.Get("code") == "" {
		return "", false
	}
	return got.Get("code"), true
}

// oauthSSOJourney plays an employee who already signed in opening
// WORKPLACE again: the login URL answers with a code at once (the SSO
// session), then the SP's token and userinfo calls. It measures the SP's
// back channel without the password form's CPU in the same process. Each
// of the conc browsers signs in with a password once, on first use, and is
// then reused (its cookie jar keeps the session).
func oauthSSOJourney(base string, tr http.RoundTripper, conc int) journey {
	api := spClient(tr)
	type signedIn struct {
		b *browser
		i int
	}
	idle := make(chan signedIn, conc)
	return func(ctx context.Context, i int, _ bool) ([]step, error) {
		var s signedIn
		select {
		case s = <-idle:
		default:
			b := newBrowser(tr)
			if _, err := oauthLogin(ctx, api, b, base, i); err != nil {
				return nil, err
			}
			s = signedIn{b: b, i: i}
		}
		steps, err := codeAndBackChannel(ctx, api, s.b, base, s.i)
		if err == nil {
			idle <- s
		}
		return steps, err
	}
}

// codeAndBackChannel gets a code with b's SSO session and redeems it as
// the SP does.
func codeAndBackChannel(ctx context.Context, api *http.Client, b *browser, base string, i int) ([]step, error) {
	steps := make([]step, 0, 3)
	state := randomID()
	q := url.Values{"response_type": {"code"}, "client_id": {oauthClientID},
		"redirect_uri": {oauthCallback}, "state": {state}}
	t := time.Now()
	p, err := b.get(ctx, base+"/oauth/authorize?"+q.Encode(), isCallback)
	if err != nil {
		return steps, err
	}
	steps = append(steps, step{"authorize", time.Since(t)})
	code, ok := callbackCode(p, state)
	if !ok {
		return steps, fmt.Errorf("%w: SSO session: login URL answered HTTP %d without a code redirect", errJourney, p.status)
	}
	return backChannel(ctx, api, base, code, state, i, steps)
}

// backChannel plays the SP once the browser brought it code: the token
// call, then userinfo, whose e-mail must be user i's. It appends its steps.
func backChannel(ctx context.Context, api *http.Client, base, code, state string, i int, steps []step) ([]step, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	t := time.Now()
	if err := postForm(ctx, api, base+"/oauth/token", url.Values{"grant_type": {"authorization_code"},
		"client_id": {oauthClientID}, "client_secret": {oauthClientSecret},
		"code": {code}, "state": {state}}, &tok); err != nil {
		return steps, err
	}
	steps = append(steps, step{"token", time.Since(t)})
	var ui struct {
		EmailID string `json:"email_id"`
	}
	t = time.Now()
	if err := postForm(ctx, api, base+"/oauth/userinfo", url.Values{"client_id": {oauthClientID},
		"client_secret": {oauthClientSecret}, "access_token": {tok.AccessToken}}, &ui); err != nil {
		return steps, err
	}
	steps = append(steps, step{"userinfo", time.Since(t)})
	if !strings.EqualFold(ui.EmailID, userMail(i)) {
		return steps, fmt.Errorf("%w: userinfo email_id %q, want %q", errJourney, ui.EmailID, userMail(i))
	}
	return steps, nil
}

func postForm(ctx context.Context, hc *http.Client, u string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errJourney, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: HTTP %d", errJourney, req.URL.Path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%w: %s: %v", errJourney, req.URL.Path, err)
	}
	return nil
}

// samlIdP is a SAML IdP under test: where its SSO endpoint is and how to
// check what it signs.
type samlIdP struct {
	ssoURL   string
	entityID string
	cert     *x509.Certificate
}

// authnRequest is WORKPLACE's AuthnRequest for the HTTP-Redirect binding.
func authnRequest(id string, now time.Time) string {
	x := fmt.Sprintf(`<saml2p:AuthnRequest xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" AssertionConsumerServiceURL="%s" ID="%s" IssueInstant="%s" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ProviderName="ncpworkplace.com" Version="2.0"><saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">%s</saml2:Issuer><saml2p:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"/></saml2p:AuthnRequest>`,
		spACS, id, now.UTC().Format("2006-01-02T15:04:05.000Z"), spEntityID)
	var b bytes.Buffer
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&b)
	_, _ = w.Write([]byte(x))
	_ = w.Close()
	deflaters.Put(w)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// deflaters are reused DEFLATE writers: a new one allocates most of a
// megabyte. BestSpeed, whose Reset clears no tables: the IdP inflates any
// level alike.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// serviceProvider is the SP that verifies sampled Responses with only the
// IdP's certificate.
func (s samlIdP) serviceProvider() *crewjam.ServiceProvider {
	acs, _ := url.Parse(spACS)
	md := &crewjam.EntityDescriptor{EntityID: s.entityID, IDPSSODescriptors: []crewjam.IDPSSODescriptor{{
		SSODescriptor: crewjam.SSODescriptor{RoleDescriptor: crewjam.RoleDescriptor{
			ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
			KeyDescriptors: []crewjam.KeyDescriptor{{Use: "signing", KeyInfo: crewjam.KeyInfo{
				X509Data: crewjam.X509Data{X509Certificates: []crewjam.X509Certificate{
					{Data: base64.StdEncoding.EncodeToString(s.cert.Raw)}}}}}},
		}},
	}}}
	return &crewjam.ServiceProvider{EntityID: spEntityID, AcsURL: *acs, IDPMetadata: md}
}

// samlJourney plays WORKPLACE's SAML login: AuthnRequest by redirect →
// form → auto-POST page with the Response. With verify, the Response is
// checked as the SP would (signatures, issuer, audience, InResponseTo).
func samlJourney(idp samlIdP, tr http.RoundTripper) journey {
	sp := idp.serviceProvider()
	acs, _ := url.Parse(spACS)
	return func(ctx context.Context, i int, verify bool) ([]step, error) {
		steps := make([]step, 0, 3)
		b := newBrowser(tr)
		id := "_" + randomID()
		relay := randomID()
		q := url.Values{"SAMLRequest": {authnRequest(id, time.Now())}, "RelayState": {relay}}
		t := time.Now()
		p, err := b.get(ctx, idp.ssoURL+"?"+q.Encode(), nil)
		if err != nil {
			return steps, err
		}
		steps = append(steps, step{"sso", time.Since(t)})
		f, err := loginForm(p, userName(i), userPassword(i))
		if err != nil {
			return steps, err
		}
		t = time.Now()
		p, err = b.submit(ctx, p, f, nil)
		if err != nil {
			return steps, err
		}
		steps = append(steps, step{"login_submit", time.Since(t)})
		var resp64 string
		for _, f := range forms(p.body, p.url) {
			if v := f.values.Get("SAMLResponse"); v != "" && f.action.String() == spACS && f.values.Get("RelayState") == relay {
				resp64 = v
			}
		}
		if resp64 == "" {
			return steps, fmt.Errorf("%w: HTTP %d page without the auto-POST form to the ACS", errJourney, p.status)
		}
		raw, err := base64.StdEncoding.DecodeString(resp64)
		if err != nil {
			return steps, fmt.Errorf("%w: SAMLResponse: %v", errJourney, err)
		}
		if !bytes.Contains(raw, []byte("urn:oasis:names:tc:SAML:2.0:status:Success")) ||
			!bytes.Contains(bytes.ToLower(raw), []byte(userMail(i))) {
			return steps, fmt.Errorf("%w: Response is not a success for %s", errJourney, userName(i))
		}
		if verify {
			t = time.Now()
			a, err := sp.ParseXMLResponse(raw, []string{id}, *acs)
			if err != nil {
				var ie *crewjam.InvalidResponseError
				if asInvalid(err, &ie) {
					err = ie.PrivateErr
				}
				return steps, fmt.Errorf("%w: SP refused the Response: %v", errJourney, err)
			}
			if !strings.EqualFold(a.Subject.NameID.Value, userMail(i)) {
				return steps, fmt.Errorf("%w: NameID %q", errJourney, a.Subject.NameID.Value)
			}
			steps = append(steps, step{"sp_verify", time.Since(t)})
		}
		return steps, nil
	}
}

func asInvalid(err error, target **crewjam.InvalidResponseError) bool {
	ie, ok := err.(*crewjam.InvalidResponseError)
	if ok {
		*target = ie
	}
	return ok
}
