package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// fakeAuth is an in-process directory for unit tests of the server's own
// logic; the real LDAP path is covered by the end-to-end test.
type fakeAuth struct {
	users map[string]string // username -> password
	state map[string]idp.AccountState
	down  atomic.Bool
	calls atomic.Int32
}

func (f *fakeAuth) Authenticate(_ context.Context, u, p string) (idp.Identity, bool, error) {
	f.calls.Add(1)
	if p == "" {
		return idp.Identity{}, false, nil
	}
	if f.down.Load() {
		return idp.Identity{}, false, fmt.Errorf("ldap dial 10.9.9.9: secret-internal-detail: %w", idp.ErrDirectoryUnavailable)
	}
	want, ok := f.users[u]
	if !ok || want != p {
		return idp.Identity{}, false, nil
	}
	id := idp.Identity{Subject: "sub-" + u, Username: u, Email: u + "@example.test", DisplayName: "User " + u}
	if st, ok := f.state[u]; ok {
		return idp.Identity{}, false, &idp.AccountError{State: st, Username: u, Identity: &id, Reason: "test"}
	}
	return id, true, nil
}

// testProtocol is the smallest protocol: /test/start parks a Flow, Resume
// answers with the identity as JSON, Deny with 403.
type testProtocol struct {
	resumed atomic.Int32
}

func (p *testProtocol) Name() string { return "test" }

func (p *testProtocol) Register(e *echo.Echo, h Host) {
	start := func(c echo.Context) error {
		return h.BeginFlow(c, idp.Flow{
			Protocol: "test", SP: "test-sp", SPName: "Test SP",
			LoginHint:  c.QueryParam("hint"),
			ForceAuthn: c.QueryParam("force") == "1",
			Payload:    []byte(`{"state":"` + c.FormValue("state") + `"}`),
		})
	}
	e.GET("/test/start", start)
	e.POST("/test/start", start)
}

func (p *testProtocol) Resume(c echo.Context, f idp.Flow, s idp.Session) error {
	p.resumed.Add(1)
	return c.JSON(http.StatusOK, map[string]string{"user": s.Identity.Username, "sp": f.SP, "payload": string(f.Payload)})
}

func (p *testProtocol) Deny(c echo.Context, f idp.Flow, ae *idp.AccountError) error {
	return c.JSON(http.StatusForbidden, map[string]string{"error": "access_denied", "state": string(ae.State)})
}

type fixture struct {
	srv   *httptest.Server
	auth  *fakeAuth
	proto *testProtocol
	store idp.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		auth: &fakeAuth{
			users: map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"},
			state: map[string]idp.AccountState{"bob": idp.StateNotPermitted, "carol": idp.StatePasswordExpired},
		},
		proto: &testProtocol{},
		store: store.New(memory.New()),
	}
	t.Cleanup(func() { f.store.Close() })
	f.srv = httptest.NewUnstartedServer(nil)
	t.Cleanup(f.srv.Close)
	s, err := New(Options{
		Config:        Config{PublicURL: "http://" + f.srv.Listener.Addr().String()},
		Branding:      BrandingConfig{CompanyName: "Example Corp", PasswordHelpURL: "https://help.example.test/pw"},
		Store:         f.store,
		Authenticator: f.auth,
		Protocols:     []Protocol{f.proto},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = s.Handler()
	f.srv.Start()
	return f
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// submitLogin fills the login form found in page, as a browser would.
func submitLogin(t *testing.T, c *http.Client, base, page, user, pass string, hdr ...string) (*http.Response, string) {
	t.Helper()
	form := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	form.Set("username", user)
	form.Set("password", pass)
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&#34;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#39;", "'").Replace(s)
}

func TestLoginPageHeadersAndLanguage(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	resp, body := get(t, c, f.srv.URL+"/login")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "default-src 'none'", "script-src 'nonce-", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("missing security headers: %v", resp.Header)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS must not be sent on a plain-http public URL")
	}
	// Sent whole with its length, not chunked.
	if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
		t.Errorf("Content-Length %d, Transfer-Encoding %v for a %d-byte page", resp.ContentLength, resp.TransferEncoding, len(body))
	}
	if !strings.Contains(body, `lang="ko"`) || !strings.Contains(body, "회사 계정으로 로그인") {
		t.Error("default page is not Korean")
	}
	if !strings.Contains(body, `<label for="username">`) || !strings.Contains(body, `<label for="password">`) {
		t.Error("form fields lack labels")
	}
	_, body = get(t, browser(t), f.srv.URL+"/login", "Accept-Language", "en-US,en;q=0.9,ko;q=0.5")
	if !strings.Contains(body, `lang="en"`) || !strings.Contains(body, "Sign in with your company account") {
		t.Error("Accept-Language en not honoured")
	}
	// The visible switch is remembered.
	get(t, c, f.srv.URL+"/login?lang=en")
	_, body = get(t, c, f.srv.URL+"/login")
	if !strings.Contains(body, `lang="en"`) {
		t.Error("language switch not remembered")
	}
}

func TestBareLoginSessionAndFixation(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	base, _ := url.Parse(f.srv.URL)
	// A planted session cookie must not survive login.
	c.Jar.SetCookies(base, []*http.Cookie{{Name: "idp_session", Value: "planted-by-attacker"}})
	_, page := get(t, c, f.srv.URL+"/login")
	resp, _ := submitLogin(t, c, f.srv.URL, page, "alice", "alice-pw")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login status %d", resp.StatusCode)
	}
	var sid string
	for _, ck := range resp.Cookies() {
		if ck.Name == "idp_session" {
			sid = ck.Value
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
				t.Errorf("session cookie flags: %+v", ck)
			}
		}
	}
	if sid == "" || sid == "planted-by-attacker" || len(sid) < 43 {
		t.Fatalf("fresh session ID expected, got %q", sid)
	}
	_, body := get(t, c, f.srv.URL+"/login")
	if !strings.Contains(body, "User alice") || !strings.Contains(body, `href="/logout"`) {
		t.Fatalf("second visit not recognised: %s", body)
	}
	_, body = get(t, c, f.srv.URL+"/logout")
	if !strings.Contains(body, "로그아웃되었습니다") {
		t.Error("logout page")
	}
	if _, err := f.store.GetSession(context.Background(), sid); !errors.Is(err, idp.ErrNotFound) {
		t.Errorf("session still stored after logout: %v", err)
	}
	_, body = get(t, c, f.srv.URL+"/login")
	if !strings.Contains(body, `name="password"`) {
		t.Error("after logout the form must show again")
	}
}

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	f := newFixture(t)
	msg := func(user, pass string) (int, string) {
		c := browser(t)
		_, page := get(t, c, f.srv.URL+"/login")
		resp, body := submitLogin(t, c, f.srv.URL, page, user, pass)
		m := regexp.MustCompile(`role="alert"[^>]*>([^<]*)<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no alert for %s: %s", user, body)
		}
		if strings.Contains(body, `name="password" value=`) {
			t.Error("password field must never be refilled")
		}
		if !strings.Contains(body, `value="`+user+`"`) {
			t.Errorf("username %q not kept after a failed attempt", user)
		}
		return resp.StatusCode, m[1]
	}
	s1, m1 := msg("alice", "wrong")
	s2, m2 := msg("nobody", "whatever")
	if s1 != s2 || m1 != m2 || s1 != http.StatusUnauthorized {
		t.Errorf("wrong password (%d %q) and unknown user (%d %q) differ", s1, m1, s2, m2)
	}
}

func TestDirectoryOutageIs503WithoutInternals(t *testing.T) {
	f := newFixture(t)
	f.auth.down.Store(true)
	c := browser(t)
	_, page := get(t, c, f.srv.URL+"/login")
	resp, body := submitLogin(t, c, f.srv.URL, page, "alice", "alice-pw")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if strings.Contains(body, "secret-internal-detail") || strings.Contains(body, "10.9.9.9") {
		t.Error("internal error text leaked into the page")
	}
	if strings.Contains(body, "올바르지 않습니다") {
		t.Error("an outage must not look like a wrong password")
	}
	if !strings.Contains(body, resp.Header.Get("X-Request-Id")) {
		t.Error("error page must show the reference ID")
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		mod  func(page string) (string, []string)
	}{
		{"no token", func(p string) (string, []string) { return strings.Replace(p, `name="csrf"`, `name="x"`, 1), nil }},
		{"wrong token", func(p string) (string, []string) {
			return regexp.MustCompile(`name="csrf" value="[^"]*"`).ReplaceAllString(p, `name="csrf" value="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`), nil
		}},
		{"cross-site fetch", func(p string) (string, []string) { return p, []string{"Sec-Fetch-Site", "cross-site"} }},
		{"foreign origin", func(p string) (string, []string) { return p, []string{"Origin", "https://evil.example"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := browser(t)
			_, page := get(t, c, f.srv.URL+"/login")
			page, hdr := tc.mod(page)
			before := f.auth.calls.Load()
			resp, _ := submitLogin(t, c, f.srv.URL, page, "alice", "alice-pw", hdr...)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
			if f.auth.calls.Load() != before {
				t.Error("directory was asked despite a CSRF failure")
			}
		})
	}
}

func TestFlowResumedExactlyOnce(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	page := flowPage(t, c, f.srv.URL+"/test/start?hint=%3Cscript%3Ealice&state=s1")
	if strings.Contains(page, "<script>alice") || !strings.Contains(page, "&lt;script&gt;alice") {
		t.Error("login hint not escaped")
	}
	if !strings.Contains(page, "Test SP") {
		t.Error("SP name not shown")
	}
	resp, body := submitLogin(t, c, f.srv.URL, page, "alice", "alice-pw")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resume status %d: %s", resp.StatusCode, body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil || got["user"] != "alice" || got["payload"] != `{"state":"s1"}` {
		t.Fatalf("resume answer %q", body)
	}
	// The same form posted again (double click, replay) resumes nothing.
	resp, body = submitLogin(t, c, f.srv.URL, page, "alice", "alice-pw")
	if resp.StatusCode != http.StatusBadRequest || f.proto.resumed.Load() != 1 {
		t.Fatalf("second resume: status %d, resumed %d", resp.StatusCode, f.proto.resumed.Load())
	}
	if !strings.Contains(body, "만료되었거나 이미 처리") {
		t.Error("flow-gone page text")
	}
	// With a live session the next SP request is answered without the form.
	resp, body = get(t, c, f.srv.URL+"/test/start?state=s2")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `\"state\":\"s2\"`) {
		t.Fatalf("SSO without form: %d %s", resp.StatusCode, body)
	}
	// ForceAuthn shows the form despite the session.
	flowPage(t, c, f.srv.URL+"/test/start?force=1")
}

var flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)

// flowPage GETs an SP request URL that must answer with the login form of
// a new pending request, and returns the page.
func flowPage(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, page := get(t, c, u)
	m := flowField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s: HTTP %d without the login form of a pending request", u, resp.StatusCode)
	}
	// Switching the language keeps the same pending request.
	if want := `href="/login?flow=` + m[1] + `&amp;lang=en"`; !strings.Contains(page, want) {
		t.Errorf("language link %s missing", want)
	}
	return page
}

// The SP's request answered with the form (no redirect to it), and the
// same form at /login?flow=ID; a request that came in a POST is redirected
// there instead, so that reloading the page does not post it again.
func TestFlowLoginPage(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	page := flowPage(t, c, f.srv.URL+"/test/start?hint=alice")
	id := flowField.FindStringSubmatch(page)[1]
	resp, again := get(t, c, f.srv.URL+"/login?flow="+id)
	if resp.StatusCode != http.StatusOK || !strings.Contains(again, `name="flow" value="`+id+`"`) || !strings.Contains(again, `value="alice"`) {
		t.Fatalf("/login?flow=ID: HTTP %d, not the same form", resp.StatusCode)
	}
	resp, err := c.Post(f.srv.URL+"/test/start", "application/x-www-form-urlencoded", strings.NewReader("state=p"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?flow=") {
		t.Fatalf("POSTed SP request: HTTP %d Location %q, want 303 to /login?flow=", resp.StatusCode, loc)
	}
}

func TestAccountStates(t *testing.T) {
	f := newFixture(t)
	// Not permitted inside a flow: the protocol's Deny answers the SP.
	c := browser(t)
	page := flowPage(t, c, f.srv.URL+"/test/start")
	resp, body := submitLogin(t, c, f.srv.URL, page, "bob", "bob-pw")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "access_denied") {
		t.Fatalf("deny: %d %s", resp.StatusCode, body)
	}
	// Expired password on the bare page: message and help link.
	c = browser(t)
	_, page = get(t, c, f.srv.URL+"/login")
	resp, body = submitLogin(t, c, f.srv.URL, page, "carol", "carol-pw")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "비밀번호 사용 기간이 지났습니다") || !strings.Contains(body, "https://help.example.test/pw") {
		t.Fatalf("expired password page: %d %s", resp.StatusCode, body)
	}
}

func TestUnknownFlowAndErrors(t *testing.T) {
	f := newFixture(t)
	c := browser(t)
	resp, body := get(t, c, f.srv.URL+"/login?flow=does-not-exist")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "로그인 요청이 만료") {
		t.Errorf("unknown flow: %d", resp.StatusCode)
	}
	resp, body = get(t, c, f.srv.URL+"/no/such/page")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "goroutine") || !strings.Contains(body, "페이지를 찾을 수 없습니다") {
		t.Errorf("404 page: %d", resp.StatusCode)
	}
	resp, _ = get(t, c, f.srv.URL+"/healthz")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	resp, body = get(t, c, f.srv.URL+"/readyz")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"ready":true`) {
		t.Errorf("readyz %d %s", resp.StatusCode, body)
	}
	// A 1 MB body is refused before anything reads it.
	big := strings.NewReader("username=" + strings.Repeat("a", 1<<20))
	r2, err := http.Post(f.srv.URL+"/login", "application/x-www-form-urlencoded", big)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MB body: %d", r2.StatusCode)
	}
}

// waitingAuth answers only when its caller gives up, as an LDAP call does
// when the browser's request is cancelled.
type waitingAuth struct{ entered chan struct{} }

func (a *waitingAuth) Authenticate(ctx context.Context, _, _ string) (idp.Identity, bool, error) {
	close(a.entered)
	<-ctx.Done()
	return idp.Identity{}, false, fmt.Errorf("ldapauth: user bind: %w: %w", idp.ErrDirectoryUnavailable, ctx.Err())
}

// TestAbandonedLoginIsNotAnOutage: a browser that goes away while its
// password is being checked leaves an info line, not an error, an audit
// event or a directory-unavailable count.
func TestAbandonedLoginIsNotAnOutage(t *testing.T) {
	var logs lockedBuffer
	auth := &waitingAuth{entered: make(chan struct{})}
	rec := &recorder{}
	st := store.New(memory.New())
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	s, err := New(Options{
		Config: Config{PublicURL: "http://" + srv.Listener.Addr().String()},
		Store:  st, Authenticator: auth, Auditor: rec,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()

	c := browser(t)
	_, page := get(t, c, srv.URL+"/login")
	form := url.Values{"username": {"alice"}, "password": {"alice-pw"}}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	go func() { <-auth.entered; cancel() }()
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the cancelled request got an answer: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "login_abandoned") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := logs.String(); !strings.Contains(got, `"msg":"login_abandoned"`) || strings.Contains(got, "login_directory_unavailable") || strings.Contains(got, `"level":"ERROR"`) {
		t.Errorf("log:\n%s", got)
	}
	if ev := rec.events(); len(ev) != 0 {
		t.Errorf("audit events for an abandoned login: %+v", ev)
	}
}
