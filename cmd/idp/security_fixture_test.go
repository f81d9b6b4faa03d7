package main

// The adversarial suite (issue 6): black-box requests against the wired
// server (real ldapauth against a real slapd, real store, both SSO modes),
// one file per category:
//
//	security_oauth_test.go   OAuth: redirect_uri tricks, codes, client auth, entropy
//	security_saml_test.go    SAML: ACS, audience isolation, XML attacks, RelayState
//	security_login_test.go   login and sessions: CSRF, fixation, redirects, XSS, enumeration
//	security_abuse_test.go   abuse and faults: floods, slow clients, big inputs, LDAP faults
//	security_process_test.go the real binary: kill -9 and restart, a locked store file
//
// Each case asserts the safe outcome, and where the unsafe outcome would be
// silent (no redirect, no assertion), a control case shows the same request
// shape succeeding, so that no test passes because nothing works.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/ldapauth"
	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

// Accounts of the security fixture (see secDirectory).
const (
	secUser      = "hana"
	secPassword  = "Hana!2345"
	secMail      = "hana@example.test"
	secCommentID = "cmt" // mail carries an XML comment injection attempt
	// secCommentMail is a directory value that, written into XML without
	// escaping, would read as "cmt@example.test" to a comment-stripping SP.
	secCommentMail = "cmt@example.test<!---->.evil.test"
	wpClientID     = "wp-client"
	wpClientSecret = "wp-secret-0123456789"
	nwClientID     = "works-client"
	nwSecret       = "works-secret-0123456789"
	wpCallback     = "https://acme.ncpworkplace.com/authn/sso/callback"
	secPublicURL   = "https://sso.example.test"
	acmeACS        = "https://acme.ncpworkplace.com/authn/saml/acs"
	worksACS       = "https://auth.worksmobile.com/acs/acme.example"
)

// secClock is a settable clock shared by the server, its protocols and the
// memory store, for expiry and clock-jump cases.
type secClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *secClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *secClock) Jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// secEnv is a running server for one test function.
type secEnv struct {
	base  string
	cfg   *config.Config
	sl    *slapdtest.Server
	ou    string
	clock *secClock
	store idp.Store
	srv   *server.Server
}

// secDirectory starts slapd with the accounts the suite needs. slapd is
// told to accept unauthenticated binds (a DN with an empty password
// "succeeds" as anonymous), so the empty-password cases prove that the IdP
// refuses them itself rather than relying on the directory.
func secDirectory(t testing.TB) (*slapdtest.Server, string) {
	t.Helper()
	return startDirectory(t, []dirUser{
		userHanaEntry,
		{uid: "hanb", cn: "Hanb", sn: "B", mail: "hanb@example.test", password: "Hanb!2345", member: true},
		{uid: "cmt", cn: "Comment", sn: "C", mail: secCommentMail, password: "Cmt!23456", member: true},
	}, slapdtest.WithConfig("allow bind_anon_dn"))
}

// secConfig is the suite's configuration: both SSO modes, two OAuth clients
// and two SAML SPs (WORKPLACE company acme, NAVER WORKS domain acme.example).
// ldapURL replaces the slapd URL (for fault proxies) when not empty; extra
// is appended YAML.
func secConfig(t testing.TB, sl *slapdtest.Server, ou, ldapURL, storeYAML, extra string) *config.Config {
	t.Helper()
	if ldapURL == "" {
		ldapURL = sl.URL
	}
	if storeYAML == "" {
		storeYAML = "backend: memory"
	}
	keyFile, certFile := certstest.SigningFiles(t, t.TempDir())
	y := fmt.Sprintf(`
server:
  public_url: %q
store:
  %s
ldap:
  urls: [%q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "svc-pa$$word"
  dial_timeout: 1s
  request_timeout: 1s
  user:
    base_dn: %q
  groups:
    required: ["cn=sso,%s"]
oauth:
  clients:
    - name: workplace
      client_id: %s
      client_secret: %q
      profile: workplace
      company: acme
    - name: works
      client_id: %s
      client_secret: %q
      profile: naverworks
saml:
  signing:
    key_file: %q
    cert_file: %q
  service_providers:
    - profile: workplace
      company: acme
    - profile: naverworks
      domain: acme.example
%s`, secPublicURL, storeYAML, ldapURL, sl.CAFile, ou, ou, ou,
		wpClientID, wpClientSecret, nwClientID, nwSecret, keyFile, certFile, extra)
	cfg, err := config.Parse(strings.NewReader(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newSecEnv starts slapd and the server (memory store, settable clock).
func newSecEnv(t testing.TB, limits server.FlowLimits, extra string) *secEnv {
	t.Helper()
	sl, ou := secDirectory(t)
	return startSecEnv(t, sl, ou, secConfig(t, sl, ou, "", "", extra), limits)
}

// startSecEnv wires the server as build does, plus a settable clock and
// flow limits, and serves it with httptest.
func startSecEnv(t testing.TB, sl *slapdtest.Server, ou string, cfg *config.Config, limits server.FlowLimits) *secEnv {
	t.Helper()
	e := &secEnv{cfg: cfg, sl: sl, ou: ou, clock: &secClock{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.store = store.New(memory.New(memory.WithClock(e.clock.Now), memory.WithSweepInterval(-1)))
	t.Cleanup(func() { e.store.Close() })
	auth, err := ldapauth.New(cfg.LDAP, ldapauth.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	protocols, err := buildProtocols(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = server.New(server.Options{
		Config: cfg.Server, Session: cfg.Session, Branding: cfg.Branding,
		Store: e.store, Authenticator: auth, Protocols: protocols,
		Logger: log, Now: e.clock.Now, FlowLimits: limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(e.srv.Handler())
	t.Cleanup(ts.Close)
	e.base = ts.URL
	return e
}

// authorizeURL is a WORKPLACE login request.
func authorizeURL(clientID, redirectURI, state string) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"}}
	if state != "" {
		q.Set("state", state)
	}
	return "/oauth/authorize?" + q.Encode()
}

// signIn logs b in through the plain login page.
func signIn(t testing.TB, b *browser, user, pass string) {
	t.Helper()
	_, page := b.get("/login")
	resp, body := b.login(page, user, pass)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d\n%s", user, resp.StatusCode, body)
	}
}

// codeFor runs an OAuth login request in a signed-in browser and returns
// the code from the redirect to the SP.
func codeFor(t testing.TB, b *browser, clientID, redirectURI string) string {
	t.Helper()
	resp, body := b.get(authorizeURL(clientID, redirectURI, "st"))
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return loc.Query().Get("code")
}

// post sends a form with optional extra headers and returns status, headers
// and body.
func post(t testing.TB, c *http.Client, target string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// tokenForm is a token request of clientID with its secret.
// redeemCode redeems code at the token API and returns the access token.
func redeemCode(t testing.TB, base, code string) string {
	t.Helper()
	resp, body := post(t, nil, base+"/oauth/token", tokenForm(wpClientID, wpClientSecret, code, ""), nil)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token call: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// wantUserinfo checks that the userinfo API answers the access token with
// the signed-in employee's e-mail.
func wantUserinfo(t testing.TB, base, accessToken, what string) {
	t.Helper()
	resp, body := userinfoAsWorkplace(t, base, accessToken)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, secMail) {
		t.Fatalf("userinfo, %s: %d %s", what, resp.StatusCode, body)
	}
}

// userinfoAsWorkplace calls the userinfo API as the WORKPLACE client.
func userinfoAsWorkplace(t testing.TB, base, accessToken string) (*http.Response, string) {
	t.Helper()
	return post(t, nil, base+"/oauth/userinfo", url.Values{"client_id": {wpClientID}, "client_secret": {wpClientSecret}, "access_token": {accessToken}}, nil)
}

func tokenForm(clientID, secret, code, redirectURI string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "client_secret": {secret}, "code": {code}}
	if redirectURI != "" {
		f.Set("redirect_uri", redirectURI)
	}
	return f
}
