package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/ldapauth/ldapdemo"
	"github.com/ncp-sso/idp/ldapauth/slapdtest"
	"github.com/ncp-sso/idp/oauthsso"
	"github.com/ncp-sso/idp/oauthsso/spsim"
)

// browser is a cookie-keeping client that stops at redirects, so each step
// of a journey can be asserted.
type browser struct {
	t    testing.TB
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser { return newBrowserTB(t, base) }

func newBrowserTB(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// in is b (same cookies) reporting to t, for use inside a subtest of the
// test that made b: its failures then fail the subtest, not the parent.
func (b *browser) in(t testing.TB) *browser {
	c := *b
	c.t = t
	return &c
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// flowLoginPath is the own URL of the login form of the pending login
// request flow, where the page shows itself after it was served as the
// answer to the SP's request.
func flowLoginPath(flow string) string { return "/login?flow=" + url.QueryEscape(flow) }

// parkedFlowURL returns the own URL (flowLoginPath) of the login form that
// answered an SP's login request with resp and body, or "" when the request
// was not parked for login (the test of parkedForLogin, reading the page
// once).
func parkedFlowURL(resp *http.Response, body []byte) string {
	if flow := loginFormFlow(body); resp.StatusCode == http.StatusOK && flow != "" {
		return flowLoginPath(flow)
	}
	return ""
}

// startLogin sends an SP's login request by GET (path: the IdP's login URL
// with the SP's query), which must be answered with the login form of a
// new pending request (the form itself, not a redirect to it). It returns
// the page and the form's own URL (/login?flow=ID).
func (b *browser) startLogin(path string) (page, flowURL string) {
	b.t.Helper()
	resp, page := b.get(path)
	if flowURL = parkedFlowURL(resp, []byte(page)); flowURL == "" {
		b.t.Fatalf("GET %.80s: not the login form of a pending request: HTTP %d: %.300s", path, resp.StatusCode, page)
	}
	return page, flowURL
}

// login fills the form found on page as a person would.
func (b *browser) login(page, user, pass string) (*http.Response, string) {
	b.t.Helper()
	form := hiddenFields([]byte(page))
	form.Set("username", user)
	form.Set("password", pass)
	resp, err := b.c.PostForm(b.base+"/login", form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func startServer(t testing.TB, cfg *config.Config) string {
	t.Helper()
	_, url := startWiring(t, cfg)
	return url
}

// startWiring is startServer that also returns what `idp serve` wired.
func startWiring(t testing.TB, cfg *config.Config) (*wiring, string) {
	t.Helper()
	w, err := build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	ts := httptest.NewServer(w.srv.Handler())
	t.Cleanup(ts.Close)
	return w, ts.URL
}

// dirUser is one employee of a test directory.
type dirUser struct {
	uid, cn, sn, mail, password string
	// member puts the user in the "sso" group.
	member bool
}

var (
	userHanaEntry     = dirUser{uid: "hana", cn: "박하나", sn: "Park", mail: "hana@example.test", password: "Hana!2345", member: true}
	userOutsiderEntry = dirUser{uid: "outsider", cn: "Outsider", sn: "Out", mail: "outsider@example.test", password: "Out!2345"}
)

// startDirectory starts a real slapd (with extra slapd.conf options) and
// fills the test's own OU with the service account cn=svc (password
// "svc-pa$$word"), the users, and the group cn=sso of the members.
func startDirectory(t testing.TB, users []dirUser, opts ...slapdtest.Option) (*slapdtest.Server, string) {
	t.Helper()
	sl := slapdtest.Start(t, opts...)
	ou := sl.NewOU(t)
	var b strings.Builder
	fmt.Fprintf(&b, "dn: cn=svc,%s\nobjectClass: inetOrgPerson\ncn: svc\nsn: Service\nuserPassword: svc-pa$$word\n", ou)
	group := fmt.Sprintf("\ndn: cn=sso,%s\nobjectClass: groupOfNames\ncn: sso\n", ou)
	for _, u := range users {
		fmt.Fprintf(&b, "\ndn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s\nuserPassword: %s\n",
			u.uid, ou, u.uid, u.cn, u.sn, u.mail, u.password)
		if u.member {
			group += fmt.Sprintf("member: uid=%s,%s\n", u.uid, ou)
		}
	}
	sl.AddLDIF(t, b.String()+group)
	return sl, ou
}

// directoryFixture starts a real slapd with a service account, a member of
// the "sso" group (hana) and a non-member (outsider), in the test's own OU.
func directoryFixture(t *testing.T) (*slapdtest.Server, string) { return directoryFixtureTB(t) }

func directoryFixtureTB(t testing.TB) (*slapdtest.Server, string) {
	t.Helper()
	return startDirectory(t, []dirUser{userHanaEntry, userOutsiderEntry})
}

// TestLoginAgainstRealSlapd is the foundation's end-to-end journey: the
// configuration is parsed like a file, the login page is fetched, the form
// posted, the session cookie set and the second visit recognised, with the
// real ldapauth against a real OpenLDAP.
func TestLoginAgainstRealSlapd(t *testing.T) {
	sl, ou := directoryFixture(t)
	yaml := fmt.Sprintf(`
server:
  public_url: "http://127.0.0.1"
store:
  backend: bolt
  path: %q
ldap:
  urls: [%q, %q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "${SVC_PW}"
  user:
    base_dn: %q
  groups:
    required: ["cn=sso,%s"]
`, t.TempDir()+"/idp.db", "ldap://127.0.0.1:1", sl.URL, sl.CAFile, ou, ou, ou)
	cfg, err := config.Parse(strings.NewReader(yaml), func(k string) (string, bool) {
		return map[string]string{"SVC_PW": "svc-pa$$word"}[k], k == "SVC_PW"
	})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, cfg)

	b := newBrowser(t, base)
	_, page := b.get("/login")
	resp, body := b.login(page, "hana", "wrong")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "올바르지 않습니다") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, _ = b.login(body, "hana@example.test", "Hana!2345")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login by mail: %d", resp.StatusCode)
	}
	if len(resp.Cookies()) == 0 {
		t.Fatal("no session cookie")
	}
	_, body = b.get("/login")
	if !strings.Contains(body, "박하나") || !strings.Contains(body, "hana@example.test") {
		t.Fatalf("second visit not recognised:\n%s", body)
	}

	// Outside the required group: a clear "not permitted" message.
	o := newBrowser(t, base)
	_, page = o.get("/login")
	resp, body = o.login(page, "outsider", "Out!2345")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "권한이 없는 계정") {
		t.Fatalf("outsider: %d", resp.StatusCode)
	}

	resp, body = b.get("/readyz")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d %s", resp.StatusCode, body)
	}
	// The directory goes away: the page says so with 503, never "wrong password".
	if err := sl.Stop(); err != nil {
		t.Fatal(err)
	}
	n := newBrowser(t, base)
	_, page = n.get("/login")
	resp, body = n.login(page, "hana", "Hana!2345")
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "올바르지 않습니다") {
		t.Fatalf("outage: %d", resp.StatusCode)
	}
	if resp, _ := n.get("/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz during outage: %d", resp.StatusCode)
	}
}

// TestDemo runs `idp demo` itself: the embedded directory from
// testdata/demo.ldif through the real ldapauth path, every demo account,
// and the demo SP page playing WORKPLACE over OAuth end to end.
func TestDemo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cmdDemo(ctx, []string{"--listen", addr, "--ldif", "../../testdata/demo.ldif", "--log-level", "error"}, &out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("idp demo exited %d", code)
		}
	})
	base := "http://" + addr
	for i := 0; ; i++ {
		if strings.Contains(out.String(), "Log in at") {
			break
		}
		if i > 200 {
			t.Fatalf("demo did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), base+"/login") || !strings.Contains(out.String(), "demo1234") {
		t.Errorf("banner lacks the login URL or the demo account:\n%s", out.String())
	}
	dir, err := ldapdemo.LoadFile("../../testdata/demo.ldif")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range dir.Accounts() {
		t.Run(a.Username, func(t *testing.T) {
			b := newBrowser(t, base)
			_, page := b.get("/login")
			resp, _ := b.login(page, a.Username, a.Password)
			inGroup := slices.Contains(a.Groups, "sso-users")
			switch {
			case inGroup && resp.StatusCode != http.StatusSeeOther:
				t.Fatalf("%s should sign in, got %d", a.Username, resp.StatusCode)
			case !inGroup && resp.StatusCode != http.StatusForbidden:
				t.Fatalf("%s is in no group and must be refused, got %d", a.Username, resp.StatusCode)
			}
		})
	}
	// The SAML button before signing in says to sign in first.
	if _, body := newBrowser(t, base).get("/demo/sp/saml/start"); !strings.Contains(body, "Sign in first") {
		t.Errorf("demo SAML page without a session does not say to sign in first:\n%s", body)
	}
	// The demo SP button: start → login form → callback page with each step.
	b := newBrowser(t, base)
	resp, page := b.get("/demo/sp/oauth/start")
	for i := 0; i < 3 && resp.StatusCode == http.StatusSeeOther; i++ {
		resp, page = b.get(resp.Header.Get("Location"))
	}
	if !parkedForLogin(resp, []byte(page)) {
		t.Fatalf("the demo SP button did not lead to the login form: %d", resp.StatusCode)
	}
	resp, _ = b.login(page, "demo", "demo1234")
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Path != "/demo/sp/oauth/callback" {
		t.Fatalf("login did not return to the demo SP: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := b.get(cb.RequestURI())
	for _, want := range []string{"Access Token Return API", "User info return API", "demo@demo.example", "&#34;token_type&#34;: &#34;Bearer&#34;"} {
		if !strings.Contains(body, want) {
			t.Errorf("demo SP page lacks %q:\n%s", want, body)
		}
	}
	// The SAML button uses the same signed-in session and verifies the
	// Response as an SP library does.
	_, body = b.get("/demo/sp/saml/start")
	for _, want := range []string{"✓ signatures valid", "demo@demo.example", "AuthnRequest", "InResponseTo"} {
		if !strings.Contains(body, want) {
			t.Errorf("demo SAML page lacks %q:\n%s", want, body)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCLIHelp(t *testing.T) {
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			var out, errb strings.Builder
			code := run(context.Background(), []string{name, "--help"}, &out, &errb)
			if code != 0 || !strings.Contains(errb.String()+out.String(), "Usage: idp "+name) {
				t.Errorf("idp %s --help: exit %d, output %q", name, code, errb.String()+out.String())
			}
		})
	}
	var out strings.Builder
	if code := run(context.Background(), []string{"nope"}, &out, &out); code != 2 || !strings.Contains(out.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, out.String())
	}
}

// TestOAuthJourneyAgainstRealSlapd plays WORKPLACE and NAVER WORKS against
// the real server and slapd: login URL → form → code → token → userinfo,
// then SSO without the form, then logout brings the form back.
func TestOAuthJourneyAgainstRealSlapd(t *testing.T) {
	sl, ou := directoryFixture(t)
	yaml := fmt.Sprintf(`
server:
  public_url: "http://127.0.0.1"
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
oauth:
  clients:
    - name: workplace
      client_id: wp-client
      client_secret: "wp-secret-0123456789"
      profile: workplace
      company: acme
    - name: works
      client_id: works-client
      client_secret: "works-secret-0123456789"
      profile: naverworks
`, sl.URL, sl.CAFile, ou, ou, ou)
	cfg, err := config.Parse(strings.NewReader(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, cfg)
	cases := []struct {
		profile, clientID, secret, callback, want string
	}{
		{oauthsso.ProfileWorkplace, "wp-client", "wp-secret-0123456789", "https://acme.ncpworkplace.com/authn/sso/callback?x=1", "hana@example.test"},
		{oauthsso.ProfileNaverWorks, "works-client", "works-secret-0123456789", "https://auth.worksmobile.com/oauth2/callback", "hana@example.test"},
	}
	for _, tc := range cases {
		t.Run(tc.profile, func(t *testing.T) {
			jar, _ := cookiejar.New(nil)
			sp := spsim.Config{
				HTTPClient: &http.Client{Jar: jar}, IdPURL: base,
				ClientID: tc.clientID, ClientSecret: tc.secret, CallbackURL: tc.callback,
				Profile: tc.profile, Username: "hana", Password: "Hana!2345", LoginHint: "hana",
				AppLogin: tc.profile == oauthsso.ProfileNaverWorks,
			}
			res, err := spsim.Run(context.Background(), sp)
			if err != nil {
				t.Fatalf("first login: %v\n%+v", err, res)
			}
			if !res.FormShown || res.UserID != tc.want {
				t.Fatalf("first login: form %v, user %q", res.FormShown, res.UserID)
			}
			// Second visit: the SSO session answers without the form.
			sp.Password = ""
			res, err = spsim.Run(context.Background(), sp)
			if err != nil || res.FormShown || res.UserID != tc.want {
				t.Fatalf("SSO visit: form %v, user %q, err %v", res.FormShown, res.UserID, err)
			}
			// Logout ends the session: the next login shows the form again.
			resp, err := sp.HTTPClient.Get(base + "/oauth/logout")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sp.Password = "Hana!2345"
			res, err = spsim.Run(context.Background(), sp)
			if err != nil || !res.FormShown {
				t.Fatalf("after logout: form %v, err %v", res.FormShown, err)
			}
		})
	}
	// A user outside the required group: the SP gets access_denied.
	jar, _ := cookiejar.New(nil)
	_, err = spsim.Run(context.Background(), spsim.Config{
		HTTPClient: &http.Client{Jar: jar}, IdPURL: base, ClientID: "wp-client", ClientSecret: "wp-secret-0123456789",
		CallbackURL: "https://acme.ncpworkplace.com/cb", Username: "outsider", Password: "Out!2345",
	})
	var ce *spsim.CallbackError
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "access_denied") {
		t.Fatalf("outsider: want access_denied at the callback, got %v", err)
	}
}
