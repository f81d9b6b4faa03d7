package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/throttle"
)

// throttledServer is a server whose logins go through a real throttle on a
// memory backend.
func throttledServer(t *testing.T, auth *fakeAuth) *httptest.Server {
	t.Helper()
	b := memory.New()
	st := store.New(b)
	t.Cleanup(func() { st.Close() })
	th, err := throttle.New(b, throttle.Config{MaxFailuresPerAccount: 3, Window: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	s, err := New(Options{
		Config: Config{PublicURL: "http://" + srv.Listener.Addr().String()},
		Store:  st, Authenticator: auth, Throttle: th,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	return srv
}

func TestThrottleStopsBeforeTheDirectory(t *testing.T) {
	auth := &fakeAuth{users: map[string]string{"alice": "alice-pw"}}
	srv := throttledServer(t, auth)
	c := browser(t)
	// Of the account's 3, a browser it never signed in with may spend 2
	// (familiar_browser_failures keeps 1 for its own browsers).
	for i := range 2 {
		_, page := get(t, c, srv.URL+"/login")
		if resp, _ := submitLogin(t, c, srv.URL, page, "alice", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, resp.StatusCode)
		}
	}
	_, page := get(t, c, srv.URL+"/login", "Accept-Language", "en")
	resp, body := submitLogin(t, c, srv.URL, page, " Alice ", "alice-pw", "Accept-Language", "en")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "wait 15 minutes") {
		t.Errorf("throttled page lacks the wait time:\n%s", body)
	}
	if n := auth.calls.Load(); n != 2 {
		t.Errorf("the directory saw %d attempts, want 2 (the throttled one must not reach it)", n)
	}
}

func TestThrottleIgnoresOutages(t *testing.T) {
	auth := &fakeAuth{users: map[string]string{"alice": "alice-pw"}}
	auth.down.Store(true)
	srv := throttledServer(t, auth)
	c := browser(t)
	for range 5 {
		_, page := get(t, c, srv.URL+"/login")
		if resp, _ := submitLogin(t, c, srv.URL, page, "alice", "alice-pw"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("outage: status %d, want 503", resp.StatusCode)
		}
	}
	auth.down.Store(false)
	_, page := get(t, c, srv.URL+"/login")
	if resp, _ := submitLogin(t, c, srv.URL, page, "alice", "alice-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the outage: status %d, want 303 (outages must not count)", resp.StatusCode)
	}
}

// TestContactITShowsReference: "contact IT" states show the request ID the
// log line carries, as the message promises.
func TestContactITShowsReference(t *testing.T) {
	auth := &fakeAuth{users: map[string]string{"dis": "dis-pw"}, state: map[string]idp.AccountState{"dis": idp.StateDisabled}}
	srv := throttledServer(t, auth)
	c := browser(t)
	_, page := get(t, c, srv.URL+"/login")
	resp, body := submitLogin(t, c, srv.URL, page, "dis", "dis-pw")
	ref := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "사용할 수 없는 계정입니다") {
		t.Fatalf("disabled: %d %s", resp.StatusCode, body)
	}
	if ref == "" || !strings.Contains(body, ref) {
		t.Errorf("page does not show the reference %q", ref)
	}
}

// TestFamiliarBrowserNotLockedOut: anyone can spend an account's three
// failures with wrong passwords from a browser of their own; a browser in
// which the employee signed in before (its idp_known cookie, nothing
// else) still signs in with the right password, and clears the count. A
// browser without that cookie, or with another account's, stays refused.
func TestFamiliarBrowserNotLockedOut(t *testing.T) {
	auth := &fakeAuth{users: map[string]string{"alice": "alice-pw", "bob": "bob-pw"}}
	srv := throttledServer(t, auth)
	u, _ := url.Parse(srv.URL)

	signIn := func(c *http.Client, user, pass string) int {
		t.Helper()
		_, page := get(t, c, srv.URL+"/login")
		resp, _ := submitLogin(t, c, srv.URL, page, user, pass)
		return resp.StatusCode
	}
	earlier := browser(t)
	if code := signIn(earlier, "alice", "alice-pw"); code != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", code)
	}
	var known *http.Cookie
	for _, ck := range earlier.Jar.Cookies(u) {
		if ck.Name == knownCookie {
			known = ck
		}
	}
	if known == nil {
		t.Fatal("no idp_known cookie after a sign-in")
	}
	// The same browser later, its session gone: only idp_known is left.
	familiar := browser(t)
	familiar.Jar.SetCookies(u, []*http.Cookie{{Name: knownCookie, Value: known.Value, Path: "/"}})

	attacker := browser(t)
	for range 3 {
		signIn(attacker, "ALICE", "guess")
		signIn(attacker, "bob", "guess")
	}
	if code := signIn(browser(t), "alice", "alice-pw"); code != http.StatusTooManyRequests {
		t.Errorf("a browser that is not familiar: %d, want 429", code)
	}
	other := browser(t)
	other.Jar.SetCookies(u, []*http.Cookie{{Name: knownCookie, Value: known.Value, Path: "/"}})
	if code := signIn(other, "bob", "bob-pw"); code != http.StatusTooManyRequests {
		t.Errorf("alice's cookie used for bob: %d, want 429", code)
	}
	if code := signIn(familiar, "alice", "alice-pw"); code != http.StatusSeeOther {
		t.Fatalf("the employee's familiar browser, right password: %d, want 303", code)
	}
	if code := signIn(browser(t), "alice", "alice-pw"); code != http.StatusSeeOther {
		t.Errorf("after the employee signed in the count is still spent: %d", code)
	}
}
