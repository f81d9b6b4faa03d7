package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestBrowserJourneys plays each employee journey in headless Chromium, at a
// phone viewport (the WORKPLACE / NAVER WORKS app's in-app browser) and a
// desktop one, against the real server over HTTPS, a real slapd and an SP
// simulator. Every tab fails its test on a console error, a failed
// sub-request, mixed content or a request to another site, and every
// journey saves screenshots (kept in IDP_SCREENSHOT_DIR; see
// `make screenshots`).
func TestBrowserJourneys(t *testing.T) {
	trust := newTestTLS(t)
	browser := startChromium(t, trust)
	sl, ou := directoryForBrowser(t)
	w := startBrowserWorld(t, sl, ou, trust, false)
	down := startBrowserWorld(t, sl, ou, trust, true)

	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			t.Run("oauth", func(t *testing.T) { journeyOAuth(t, browser, w, vp) })
			t.Run("saml_js", func(t *testing.T) { journeySAML(t, browser, w, vp, true) })
			t.Run("saml_no_js", func(t *testing.T) { journeySAML(t, browser, w, vp, false) })
			t.Run("language_switch", func(t *testing.T) { journeyLanguage(t, browser, w, vp) })
			t.Run("enhancements", func(t *testing.T) { journeyEnhancements(t, browser, w, vp) })
			t.Run("password_expired", func(t *testing.T) { journeyExpired(t, browser, w, vp) })
			t.Run("throttled", func(t *testing.T) { journeyThrottled(t, browser, w, vp) })
			t.Run("directory_down", func(t *testing.T) { journeyDirectoryDown(t, browser, down, vp) })
			t.Run("bad_requests", func(t *testing.T) { journeyBadRequests(t, browser, w, vp) })
		})
	}
}

const (
	langKO = "ko-KR,ko;q=0.9"
	langEN = "en-US,en;q=0.9"
)

// oauthStart is the SP's login button: WORKPLACE on the desktop, the NAVER
// WORKS app login (userAgent=LineWorks) on the phone.
func oauthStart(w *browserWorld, vp viewport) (start, spName string) {
	if vp.mobile {
		return w.spURL + "/oauth/start?client=" + spWorks + "&app=1", "NAVER WORKS"
	}
	return w.spURL + "/oauth/start?client=" + spWorkplace, "NCP WORKPLACE"
}

// keyboardLogin fills the form with the keyboard only: the focused field
// first (autofocus), Tab to the password, Enter to submit. An empty user
// means the username is already there (kept after a failed attempt).
func (tb *tab) keyboardLogin(user, pass string) int64 {
	tb.t.Helper()
	if user != "" {
		if got := tb.waitFocus("username"); got != "username" {
			tb.t.Errorf("focus starts on %q, want the username field", got)
			tb.do(chromedp.Focus(chromedp.CSS("#username")))
		}
		tb.do(chromedp.Clear(chromedp.CSS("#username")), chromedp.KeyEvent(user), chromedp.KeyEvent("\t"))
	}
	if got := tb.waitFocus("password"); got != "password" {
		tb.t.Errorf("focus is on %q, want the password field", got)
		tb.do(chromedp.Focus(chromedp.CSS("#password")))
	}
	tb.do(chromedp.KeyEvent(pass))
	return tb.submit(chromedp.KeyEvent("\r"))
}

// waitLoginForm waits for the login form of a pending login request, which
// is the IdP's answer to the SP's request (at = the IdP's login URL, e.g.
// idpURL+"/oauth/authorize?"), and returns the request's flow handle. With
// JavaScript the address bar may already show the form's own URL
// (/login?flow=ID); wantFormReloads checks that, once.
func (tb *tab) waitLoginForm(at string) string {
	tb.t.Helper()
	tb.waitURL(at, ownLoginURL(at, ""))
	tb.do(chromedp.WaitVisible(chromedp.CSS("#password")))
	flow := tb.value(`input[name="flow"]`)
	if flow == "" {
		tb.t.Fatalf("the login form at %s carries no pending login request", tb.url())
	}
	return flow
}

// wantFormReloads checks that the login form of pending request flow,
// served at the SP's request URL at, shows its own URL, /login?flow=ID, in
// the address bar (the page's JavaScript replaces it), so that a reload
// shows the same form instead of sending the SP's request again (a SAML
// request ID is accepted once).
func (tb *tab) wantFormReloads(at, flow string) {
	tb.t.Helper()
	tb.waitURL(ownLoginURL(at, flow))
	tb.wantStatus("reload of the login form", tb.open(tb.url()), http.StatusOK)
	tb.do(chromedp.WaitVisible(chromedp.CSS("#password")))
	if got := tb.value(`input[name="flow"]`); got != flow {
		tb.t.Fatalf("after a reload of the login form: flow %q, want the same pending request %q", got, flow)
	}
}

// ownLoginURL is the own URL of the login form of pending request flow on
// the IdP of at; with flow "" it is the prefix of every such URL.
func ownLoginURL(at, flow string) string { return originOf(at) + flowLoginPath(flow) }

// originOf is the origin (scheme://host[:port]) of URL u, or "" when u does
// not parse.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// waitFocus gives the page's autofocus a moment to land (a loaded machine
// runs it after the load event we waited for) and returns where focus is.
func (tb *tab) waitFocus(id string) string {
	tb.t.Helper()
	got := tb.activeID()
	for i := 0; i < 60 && got != id; i++ {
		time.Sleep(50 * time.Millisecond)
		got = tb.activeID()
	}
	return got
}

func (tb *tab) wantIn(what, got string, want ...string) {
	tb.t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			tb.t.Errorf("%s (%s): %q lacks %q", what, tb.vp.name, got, w)
		}
	}
}

func (tb *tab) wantStatus(what string, got int64, want int) {
	tb.t.Helper()
	if got != int64(want) {
		tb.t.Errorf("%s (%s): HTTP %d, want %d (at %s)", what, tb.vp.name, got, want, tb.url())
	}
}

// journeyOAuth: the SP's login button → login page → wrong password →
// right password → the SP's callback has the user; the second visit skips
// the form (SSO); logout; the form is back.
func journeyOAuth(t *testing.T, browser context.Context, w *browserWorld, vp viewport) {
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	start, spName := oauthStart(w, vp)
	tb.open(start)
	tb.waitLoginForm(w.idpURL + "/oauth/authorize?")
	tb.wantIn("login title", tb.title(), "로그인", brandCompany)
	tb.wantIn("login lead", tb.text("p.lead"), spName)
	tb.wantLoginPageLight(w.idpURL + "/oauth/authorize?")
	tb.screenshot("login-ko")
	tb.axeCheck("login")
	tb.wantNames("textbox: 아이디 또는 회사 이메일", "textbox: 비밀번호", "button: 로그인", "main: ")

	// Wrong password: the message says what happened and what to do; the
	// username stays, the password never does.
	tb.wantStatus("wrong password", tb.keyboardLogin(userHana, "not-the-password"), http.StatusUnauthorized)
	tb.wantIn("failed title", tb.title(), "로그인하지 못했습니다")
	tb.wantIn("failed message", tb.text("#login-error"), "아이디 또는 비밀번호가 올바르지 않습니다")
	if u, p := tb.value("#username"), tb.value("#password"); u != userHana || p != "" {
		t.Errorf("after a failed attempt: username %q (want kept), password %q (want empty)", u, p)
	}
	tb.wantIn("username description", tb.axDescription("username"), "올바르지 않습니다")
	tb.screenshot("login-failed-ko")
	tb.axeCheck("login failed")

	tb.keyboardLogin("", passHana)
	tb.waitURL(w.spURL + "/oauth/callback")
	tb.wantIn("SP result", tb.text("#sp-user"), mailHana)
	tb.screenshot("oauth-at-sp")

	// SSO: the second login request is answered without the form.
	before := len(tb.rec.pages())
	tb.open(start)
	tb.waitURL(w.spURL + "/oauth/callback")
	tb.wantIn("SSO result", tb.text("#sp-user"), mailHana)
	for _, d := range tb.rec.pages()[before:] {
		if strings.HasPrefix(d, w.idpURL+"/") {
			t.Errorf("SSO visit showed a page of the IdP (the login form): %s", d)
		}
	}

	// Logout, then the form is back.
	tb.wantStatus("logout", tb.open(w.idpURL+"/oauth/logout"), http.StatusOK)
	tb.wantIn("logged out", tb.text("h1"), "로그아웃되었습니다")
	tb.screenshot("logged-out-ko")
	tb.axeCheck("logged out")
	tb.open(start)
	tb.waitLoginForm(w.idpURL + "/oauth/authorize?")
}

// journeySAML: the SP's AuthnRequest → login → the signed Response arrives
// at the SP's ACS and is accepted by a SAML SP library. Without JavaScript
// the page shows a continue button instead of posting by itself.
func journeySAML(t *testing.T, browser context.Context, w *browserWorld, vp viewport, js bool) {
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	if !js {
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		tb.scriptsOff = true
	}
	tb.open(w.spURL + "/saml/start")
	flow := tb.waitLoginForm(w.idpURL + "/saml/sso?")
	if js {
		// The one reload check: the form shown at the SP's request URL,
		// reloaded, still completes this SAML login.
		tb.wantFormReloads(w.idpURL+"/saml/sso?", flow)
	}
	tb.wantIn("login lead", tb.text("p.lead"), "NCP WORKPLACE")
	if !js && tb.visible("#pw-toggle") {
		t.Error("the show-password toggle is visible without JavaScript, where it cannot work")
	}
	tb.wantStatus("SAML login", tb.keyboardLogin(userHana, passHana), http.StatusOK)
	if js {
		tb.waitURL(w.spURL + "/saml/acs")
		tb.wantIn("ACS result", tb.text("#sp-user"), mailHana)
		tb.screenshot("saml-at-sp")
		return
	}
	// No JavaScript: the page stays, says why, and its button posts.
	if !strings.HasPrefix(tb.url(), w.idpURL+"/login") {
		t.Fatalf("without JavaScript the browser left the IdP: %s", tb.url())
	}
	tb.wantIn("continue button", tb.text("#saml-post button"), "계속")
	if !tb.visible("#saml-post button") {
		t.Error("the continue button is not visible without JavaScript")
	}
	tb.screenshot("saml-continue-nojs")
	tb.submit(chromedp.Click(chromedp.CSS("#saml-post button")))
	tb.waitURL(w.spURL + "/saml/acs")
	tb.wantIn("ACS result", tb.text("#sp-user"), mailHana)
}

// journeyLanguage: switching to English on the login page keeps the
// pending login: signing in afterwards still lands at the SP.
func journeyLanguage(t *testing.T, browser context.Context, w *browserWorld, vp viewport) {
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	start, spName := oauthStart(w, vp)
	tb.open(start)
	flow := tb.waitLoginForm(w.idpURL + "/oauth/authorize?")
	tb.submit(chromedp.Click(chromedp.CSS(`footer a[lang="en"]`)))
	if got := mustQuery(t, tb.url()); got.Get("flow") != flow || got.Get("lang") != "en" {
		t.Errorf("the language switch lost the pending login: %s", tb.url())
	}
	tb.wantIn("English title", tb.title(), "Sign in")
	tb.wantIn("English lead", tb.text("p.lead"), "continue to "+spName)
	if lang := tb.eval(`document.documentElement.lang`); lang != "en" {
		t.Errorf("html lang %q, want en", lang)
	}
	tb.wantNames("textbox: ID or work e-mail", "textbox: Password", "button: Sign in")
	tb.screenshot("login-en")
	tb.axeCheck("login (English)")
	tb.keyboardLogin(userHana, passHana)
	tb.waitURL(w.spURL + "/oauth/callback")
	tb.wantIn("SP result", tb.text("#sp-user"), mailHana)
}

// journeyEnhancements: the Caps Lock warning and the show-password toggle
// work with the keyboard and are announced; the password is sent as a
// password field even when shown.
func journeyEnhancements(t *testing.T, browser context.Context, w *browserWorld, vp viewport) {
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	start, _ := oauthStart(w, vp)
	tb.open(start)
	tb.waitLoginForm(w.idpURL + "/oauth/authorize?")
	// Keyboard order: username → password → show password → sign in.
	order := []string{tb.activeID()}
	for range 3 {
		tb.do(chromedp.KeyEvent("\t"))
		order = append(order, tb.activeID())
	}
	if strings.Join(order, ",") != "username,password,pw-toggle,BUTTON" {
		t.Errorf("tab order %v, want username, password, show-password toggle, submit", order)
	}
	tb.wantNames("button: 비밀번호 표시")

	// The toggle, by keyboard: Shift+Tab back to it, Space presses it.
	tb.do(chromedp.Focus(chromedp.CSS("#password")), chromedp.KeyEvent("secret"), chromedp.Focus(chromedp.CSS("#pw-toggle")), chromedp.KeyEvent(" "))
	if typ, pressed := tb.eval(`document.getElementById("password").type`), tb.eval(`document.getElementById("pw-toggle").getAttribute("aria-pressed")`); typ != "text" || pressed != "true" {
		t.Errorf("after pressing show password: type %q, aria-pressed %q; want text, true", typ, pressed)
	}
	tb.do(chromedp.KeyEvent(" "))
	if typ := tb.eval(`document.getElementById("password").type`); typ != "password" {
		t.Errorf("pressing again hides the password: type %q", typ)
	}

	// Caps Lock: the state of a key event with CapsLock on is announced
	// next to the password field, and cleared when it is off.
	caps := func(on bool) string {
		return tb.eval(`(function(){var p=document.getElementById("password");p.dispatchEvent(new KeyboardEvent("keyup",{key:"a",modifierCapsLock:` + map[bool]string{true: "true", false: "false"}[on] + `,bubbles:true}));return document.getElementById("caps-warning").textContent})()`)
	}
	tb.wantIn("Caps Lock warning", caps(true), "Caps Lock")
	if !strings.Contains(tb.axDescription("password"), "Caps Lock") {
		t.Errorf("the Caps Lock warning is not the password field's description: %q", tb.axDescription("password"))
	}
	if tb.eval(`document.getElementById("caps-warning").getAttribute("role")`) != "status" {
		t.Error("the Caps Lock warning is not a live status")
	}
	tb.screenshot("login-capslock-ko")
	if got := caps(false); got != "" {
		t.Errorf("Caps Lock warning stays after Caps Lock is off: %q", got)
	}
}

// journeyExpired: a right password that has expired shows what happened
// and a link to where the password is changed.
func journeyExpired(t *testing.T, browser context.Context, w *browserWorld, vp viewport) {
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	start, _ := oauthStart(w, vp)
	tb.open(start)
	tb.waitLoginForm(w.idpURL + "/oauth/authorize?")
	tb.wantStatus("expired password", tb.keyboardLogin(userJun, passJun), http.StatusForbidden)
	tb.wantIn("expired message", tb.text("#login-error"), "비밀번호 사용 기간이 지났습니다", "비밀번호 변경하기")
	if href := tb.eval(`document.querySelector("#login-error a").href`); href != w.spURL+helpURLPath {
		t.Errorf("help link %q, want %q", href, w.spURL+helpURLPath)
	}
	tb.wantNames("link: 비밀번호 변경하기")
	tb.screenshot("password-expired-ko")
	tb.axeCheck("password expired")
	tb.submit(chromedp.Click(chromedp.CSS("#login-error a")))
	tb.wantIn("help page", tb.text("#password-help"), "비밀번호 변경")
}

// journeyDirectoryDown: the directory cannot be reached: the page says so,
// never "wrong password", and gives the reference to quote.
func journeyDirectoryDown(t *testing.T, browser context.Context, w *browserWorld, vp viewport) {
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	start, _ := oauthStart(w, vp)
	tb.open(start)
	tb.waitLoginForm(w.idpURL + "/oauth/authorize?")
	tb.wantStatus("directory down", tb.keyboardLogin(userHana, passHana), http.StatusServiceUnavailable)
	tb.wantIn("outage title", tb.title(), "잠시 후 다시 시도해 주세요")
	body := tb.text("main")
	tb.wantIn("outage page", body, "회사 계정 서버에 연결할 수 없어", "비밀번호가 틀린 것은 아닙니다", "참조 번호")
	if strings.Contains(body, "올바르지 않습니다") {
		t.Error("an outage is shown as a wrong password")
	}
	tb.screenshot("directory-down-ko")
	tb.axeCheck("directory down")
}

// journeyBadRequests: an unknown SP and a redirect_uri outside the
// allowlist get an error page here, never a redirect.
func journeyBadRequests(t *testing.T, browser context.Context, w *browserWorld, vp viewport) {
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	q := url.Values{"response_type": {"code"}, "client_id": {spWorkplace}, "state": {"s"},
		"redirect_uri": {"https://evil.example/oauth/callback"}}
	tb.wantStatus("bad redirect_uri", tb.open(w.idpURL+"/oauth/authorize?"+q.Encode()), http.StatusBadRequest)
	if !strings.HasPrefix(tb.url(), w.idpURL+"/oauth/authorize") {
		t.Errorf("a bad redirect_uri sent the browser away: %s", tb.url())
	}
	tb.wantIn("bad redirect_uri page", tb.text("main"), "돌아갈 주소가 허용된 주소가 아니어서", "참조 번호")
	tb.screenshot("error-redirect-uri-ko")
	tb.axeCheck("error")

	q.Set("client_id", "no-such-client")
	q.Set("redirect_uri", w.spURL+"/oauth/callback")
	tb.wantStatus("unknown client", tb.open(w.idpURL+"/oauth/authorize?"+q.Encode()), http.StatusBadRequest)
	tb.wantIn("unknown client page", tb.text("main"), "등록되지 않은 서비스")
	tb.screenshot("error-unknown-sp-ko")
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// journeyThrottled: after repeated wrong passwords the account is paused
// before the directory locks it; even the right password then gets the
// "wait N minutes" page (429), and the form stays usable.
func journeyThrottled(t *testing.T, browser context.Context, w *browserWorld, vp viewport) {
	user, pass := "minho", "Minho!2345"
	if !vp.mobile {
		user, pass = "sora", "Sora!2345"
	}
	tb := newTab(t, browser, vp, langKO, w.idpURL, w.spURL)
	start, _ := oauthStart(w, vp)
	tb.open(start)
	tb.waitLoginForm(w.idpURL + "/oauth/authorize?")
	// Of the account's 3, a browser it never signed in with may spend 2
	// (throttle.familiar_browser_failures keeps 1 for its own browsers).
	tb.wantStatus("wrong password 1", tb.keyboardLogin(user, "wrong-1"), http.StatusUnauthorized)
	tb.wantStatus("wrong password 2", tb.keyboardLogin("", "wrong-again"), http.StatusUnauthorized)
	tb.wantStatus("throttled", tb.keyboardLogin("", pass), http.StatusTooManyRequests)
	tb.wantIn("throttled message", tb.text("#login-error"), "로그인을 잠시 막았습니다", "15분 뒤에 다시 시도해 주세요")
	if tb.value("#username") != user || tb.value("#password") != "" {
		t.Errorf("throttled page: username %q, password %q", tb.value("#username"), tb.value("#password"))
	}
	tb.screenshot("throttled-ko")
	tb.axeCheck("throttled")
}
