package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/idp/server"
)

// TestSelftest plays both modes against a temporary IdP built from a config
// file and a real slapd: it passes for a real user and fails with a clear
// step for a missing one.
func TestSelftest(t *testing.T) {
	sl, ou := directoryFixture(t)
	dir := t.TempDir()
	k, c := certstest.SigningFiles(t, dir)
	cfgFile := filepath.Join(dir, "idp.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
server: {public_url: "https://sso.example.test"}
store: {path: "/nonexistent/never-opened.db"}
ldap:
  urls: [%q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "svc-pa$$word"
  user: {base_dn: %q}
  groups: {required: ["cn=sso,%s"]}
oauth:
  clients:
    - {name: workplace, client_id: wp, client_secret: "wp-secret-0123456789", profile: workplace, company: acme}
    - {name: works, client_id: works, client_secret: "works-secret-0123456789", profile: naverworks, domain: acme.example}
saml:
  signing: {key_file: %q, cert_file: %q}
  service_providers: [{profile: workplace, company: acme}]
`, sl.URL, sl.CAFile, ou, ou, ou, k, c)), 0o600)
	run := func(user, password string) (int, string) {
		stdin = strings.NewReader(password + "\n")
		t.Cleanup(func() { stdin = os.Stdin })
		var out, errb strings.Builder
		code := cmdSelftest(context.Background(), []string{"--config", cfgFile, "--user", user, "--password-stdin"}, &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run("hana", "Hana!2345")
	if code != 0 {
		t.Fatalf("selftest failed for a real user (exit %d):\n%s", code, out)
	}
	for _, want := range []string{"email_id = hana@example.test", "user_id = hana@example.test", "NameID = hana@example.test", "✓ token", "✓ SP checks Response", "safe to switch SSO on"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out = run("nobody", "whatever")
	if code != 1 || !strings.Contains(out, "✗") || !strings.Contains(out, "refused the username or password") || !strings.Contains(out, "do NOT switch SSO on") {
		t.Errorf("missing user: exit %d\n%s", code, out)
	}
	code, out = run("outsider", "Out!2345")
	if code != 1 || !strings.Contains(out, "allowed group") {
		t.Errorf("user outside the group: exit %d\n%s", code, out)
	}
}

// TestLoginFormPage: the SP player behind `idp selftest` and the demo
// recognises the login form that answers an SP's request and signs in with
// it, whether the form answered the GET itself (redirect binding) or is
// where the 303 that answers a POST (POST binding) leads; nothing else
// passes for it.
func TestLoginFormPage(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	signedIn := newBrowserTB(t, e.base)
	signIn(t, signedIn, secUser, secPassword)
	authnRequest := func() string { return samlXML("ncpworkplace.com", reqID(), acmeACS, time.Now()) }
	get := func(b *browser, query string) (*http.Response, []byte) {
		resp, body := b.get("/saml/sso?" + query)
		return resp, []byte(body)
	}
	for _, tc := range []struct {
		name     string
		b        *browser
		send     func(b *browser) (*http.Response, []byte)
		wantForm bool
	}{
		{"redirect binding: the form itself", newBrowserTB(t, e.base), func(b *browser) (*http.Response, []byte) {
			return get(b, ssoQuery(deflateB64(authnRequest()), "r"))
		}, true},
		{"POST binding: the form the 303 leads to", newBrowserTB(t, e.base), func(b *browser) (*http.Response, []byte) {
			resp, body := post(t, b.c, e.base+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(authnRequest()))}, "RelayState": {"r"}}, nil)
			if parkedForLogin(resp, []byte(body)) || resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POSTed request: HTTP %d, want a 303 to the form, not the form (a reload would post it again)", resp.StatusCode)
			}
			loc := parkedAt(resp, body)
			if loc == "" {
				t.Fatalf("POSTed request: 303 to %q, want /login?flow=ID", resp.Header.Get("Location"))
			}
			resp, body = b.get(loc)
			return resp, []byte(body)
		}, true},
		{"session: the auto-POST to the ACS", signedIn, func(b *browser) (*http.Response, []byte) {
			return get(b, ssoQuery(deflateB64(authnRequest()), "r"))
		}, false},
		{"bad request: an error page", newBrowserTB(t, e.base), func(b *browser) (*http.Response, []byte) {
			return get(b, "SAMLRequest=%%%%")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, page := tc.send(tc.b)
			if got := parkedForLogin(resp, page); got != tc.wantForm {
				t.Fatalf("parkedForLogin = %v, want %v (HTTP %d)", got, tc.wantForm, resp.StatusCode)
			}
			if !tc.wantForm {
				return
			}
			// The page found is a usable form: signing in answers the SP.
			resp, body, err := fillLoginForm(context.Background(), tc.b.c, e.base, page, secUser, secPassword)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := parseSAMLPost(body); err != nil || p.Action != acmeACS {
				t.Fatalf("signing in with the form found: HTTP %d, %v", resp.StatusCode, err)
			}
		})
	}
}
