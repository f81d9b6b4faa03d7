package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/server"
)

// usernameValue finds the login form's username field value.
var usernameValue = regexp.MustCompile(`name="username" value="([^"]*)"`)

// loginForm returns the hidden fields of a fresh login page in b.
func loginForm(t *testing.T, b *browser, path string) url.Values {
	t.Helper()
	_, page := b.get(path)
	return hiddenFields([]byte(page))
}

// TestSecurityLoginCSRFAndSessions: cross-site login POSTs are refused, a
// planted session ID is never promoted, and tampered hidden fields fail.
func TestSecurityLoginCSRFAndSessions(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	t.Run("cross-site POST", func(t *testing.T) {
		for name, hdr := range map[string]map[string]string{
			"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
			"foreign Origin":            {"Origin": "https://evil.test"},
			"look-alike Origin":         {"Origin": "https://sso.example.test.evil.test"},
		} {
			b := newBrowserTB(t, e.base)
			f := loginForm(t, b, "/login")
			f.Set("username", secUser)
			f.Set("password", secPassword)
			resp, _ := post(t, b.c, e.base+"/login", f, hdr)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d", name, resp.StatusCode)
			}
		}
		// No CSRF cookie (a cross-site form: SameSite keeps it home), or a
		// token that does not match it.
		b := newBrowserTB(t, e.base)
		f := loginForm(t, b, "/login")
		f.Set("username", secUser)
		f.Set("password", secPassword)
		if resp, _ := post(t, nil, e.base+"/login", f, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("no CSRF cookie: %d", resp.StatusCode)
		}
		f.Set("csrf", strings.Repeat("A", 43))
		if resp, _ := post(t, b.c, e.base+"/login", f, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("wrong CSRF token: %d", resp.StatusCode)
		}
	})
	t.Run("session fixation", func(t *testing.T) {
		b := newBrowserTB(t, e.base)
		u, _ := url.Parse(e.base)
		planted := strings.Repeat("P", 43)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-idp_session", Value: planted, Path: "/"}, {Name: "idp_session", Value: planted, Path: "/"}})
		signIn(t, b, secUser, secPassword)
		var got *http.Cookie
		for _, ck := range b.c.Jar.Cookies(u) {
			if ck.Name == "__Host-idp_session" {
				got = ck
			}
		}
		if got == nil || got.Value == planted {
			t.Fatalf("session cookie after login: %+v", got)
		}
		// The planted ID does not open a session.
		a := newBrowserTB(t, e.base)
		a.c.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-idp_session", Value: planted, Path: "/"}})
		if _, body := a.get("/login"); !strings.Contains(body, `name="password"`) {
			t.Fatal("planted session ID is signed in")
		}
	})
	t.Run("cookie attributes", func(t *testing.T) {
		b := newBrowserTB(t, e.base)
		f := loginForm(t, b, "/login")
		f.Set("username", secUser)
		f.Set("password", secPassword)
		resp, _ := post(t, b.c, e.base+"/login", f, nil)
		found := false
		for _, ck := range resp.Cookies() {
			if ck.Name == "__Host-idp_session" {
				found = true
				if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.MaxAge > 0 {
					t.Errorf("session cookie %+v", ck)
				}
			}
		}
		if !found {
			t.Fatal("no session cookie")
		}
	})
	t.Run("tampered flow handle and hidden fields", func(t *testing.T) {
		b := newBrowserTB(t, e.base)
		_, flowPath := b.startLogin(authorizeURL(wpClientID, wpCallback, "s"))
		f := loginForm(t, b, flowPath)
		if f.Get("flow") == "" {
			t.Fatal("no flow field")
		}
		for name, mut := range map[string]func(url.Values){
			"random handle":   func(v url.Values) { v.Set("flow", strings.Repeat("x", 43)) },
			"truncated":       func(v url.Values) { v.Set("flow", v.Get("flow")[:20]) },
			"injection":       func(v url.Values) { v.Set("flow", `../../x' OR '1'='1`) },
			"huge":            func(v url.Values) { v.Set("flow", strings.Repeat("x", 100000)) },
			"duplicated flow": func(v url.Values) { v.Add("flow", strings.Repeat("y", 43)) },
			"duplicated user": func(v url.Values) { v.Add("username", "outsider") },
		} {
			v := url.Values{}
			for k, vs := range f {
				v[k] = append([]string(nil), vs...)
			}
			v.Set("username", secUser)
			v.Set("password", secPassword)
			mut(v)
			resp, body := post(t, b.c, e.base+"/login", v, nil)
			if resp.StatusCode < 400 || resp.Header.Get("Location") != "" || strings.Contains(body, "code=") {
				t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// The untampered form still completes the login (the flow survived).
		f.Set("username", secUser)
		f.Set("password", secPassword)
		resp, _ := post(t, b.c, e.base+"/login", f, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), wpCallback+"?code=") {
			t.Fatalf("control: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// And it cannot be resumed a second time.
		resp, _ = post(t, b.c, e.base+"/login", f, nil)
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatal("a flow was resumed twice")
		}
	})
}

// TestSecurityRedirectsAndReflection: no open redirect anywhere, generated
// URLs come from public_url whatever the Host header says, and no reflected
// parameter is live HTML.
func TestSecurityRedirectsAndReflection(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	signIn(t, b, secUser, secPassword)
	offsite := func(loc string) bool {
		if loc == "" {
			return false
		}
		u, err := url.Parse(loc)
		if err != nil || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) || strings.Contains(loc, `\`) {
			return true
		}
		return u.Host != "" && u.Hostname() != "acme.ncpworkplace.com" && u.Hostname() != "auth.worksmobile.com"
	}
	t.Run("open redirects", func(t *testing.T) {
		b := b.in(t)
		for _, p := range []string{
			"/logout?redirect_uri=https://evil.test/",
			"/oauth/logout?redirect_uri=https://evil.test/",
			"/oauth/logout?redirect_uri=https://acme.ncpworkplace.com.evil.test/",
			"/oauth/logout?redirect_uri=https://acme.ncpworkplace.com@evil.test/",
			"/oauth/logout?redirect_uri=//evil.test/",
			"/oauth/logout?redirect_uri=https://acme.ncpworkplace.com:444/",
			"/oauth/logout?redirect_uri=" + url.QueryEscape(`https://acme.ncpworkplace.com\@evil.test/`),
			"/oauth/logout/sp?client_id=nobody&redirect_uri=https://evil.test/",
			"/saml/logout?redirect_uri=https://evil.test/",
			"/saml/logout?redirect_uri=https://auth.worksmobile.com.evil.test/",
			"/saml/logout?redirect_uri=https://auth.worksmobile.com@evil.test/",
			"/oauth/logged-out?redirect_uri=https://evil.test/",
			"/login?next=https://evil.test/&return_to=https://evil.test/&redirect=https://evil.test/",
			"//evil.test/",
			"//evil.test/%2f..",
			"/%2F%2Fevil.test/",
			`/\evil.test/`,
			"/./evil.test/",
			"/login/..//evil.test/",
			"/branding/logo/..//evil.test",
			"/saml/..%2f..%2fevil.test",
			"/.well-known/../..//evil.test",
			"/nonexistent?redirect_uri=https://evil.test/",
		} {
			resp, body := b.get(p)
			if offsite(resp.Header.Get("Location")) || evilLink.MatchString(body) {
				t.Errorf("%s: %d Location %q", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// Control: an allowed logout domain is followed.
		resp, _ := b.get("/oauth/logout?redirect_uri=https://acme.ncpworkplace.com/bye")
		if resp.Header.Get("Location") != "https://acme.ncpworkplace.com/bye" {
			t.Fatalf("control logout redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("Host header poisoning", func(t *testing.T) {
		c := newBrowserTB(t, e.base)
		signIn(t, c, secUser, secPassword)
		get := func(p string) (*http.Response, string) {
			req, _ := http.NewRequest(http.MethodGet, e.base+p, nil)
			req.Host = "evil.test"
			req.Header.Set("X-Forwarded-Host", "evil.test")
			req.Header.Set("X-Forwarded-Proto", "http")
			req.Header.Set("Forwarded", "host=evil.test;proto=http")
			u, _ := url.Parse(e.base)
			for _, ck := range c.c.Jar.Cookies(u) {
				req.AddCookie(ck)
			}
			resp, err := c.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var sb strings.Builder
			buf := make([]byte, 32<<10)
			for {
				n, err := resp.Body.Read(buf)
				sb.Write(buf[:n])
				if err != nil {
					break
				}
			}
			return resp, sb.String()
		}
		for _, p := range []string{
			"/saml/metadata",
			"/saml/sso?" + ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, time.Now())), "r"),
			"/oauth/logout/sp?client_id=" + wpClientID,
			authorizeURL(wpClientID, wpCallback, "s"),
			"/login",
			"/",
			"/nonexistent",
		} {
			resp, body := get(p)
			hdrs := ""
			for k, vs := range resp.Header {
				hdrs += k + ": " + strings.Join(vs, ",") + "\n"
			}
			if strings.Contains(body, "evil.test") || strings.Contains(hdrs, "evil.test") {
				t.Errorf("%s: the Host header reached the answer (%d)", p, resp.StatusCode)
			}
		}
		_, md := get("/saml/metadata")
		if !strings.Contains(md, secPublicURL+"/saml/sso") {
			t.Error("metadata does not name the public URL")
		}
	})
	t.Run("XSS in reflected parameters", func(t *testing.T) {
		const x = `"><svg/onload=alert(1)><script>alert(1)</script>`
		live := regexp.MustCompile(`<svg/onload|<script>alert`)
		pages := []string{
			"/login?login_hint=" + url.QueryEscape(x),
			"/login?lang=" + url.QueryEscape(x),
			"/login?flow=" + url.QueryEscape(x),
			"/nonexistent/" + url.PathEscape(x),
			"/oauth/authorize?" + url.Values{"client_id": {x}, "redirect_uri": {wpCallback}}.Encode(),
			"/oauth/authorize?" + url.Values{"client_id": {wpClientID}, "redirect_uri": {x}}.Encode(),
			"/oauth/logout?redirect_uri=" + url.QueryEscape(x),
			"/saml/sso?SAMLRequest=" + url.QueryEscape(x),
			"/saml/logout?redirect_uri=" + url.QueryEscape(x),
		}
		n := newBrowserTB(t, e.base) // not signed in: the login page renders hints
		for _, p := range pages {
			if _, body := n.get(p); live.MatchString(body) {
				t.Errorf("%s reflects live markup", p)
			}
		}
		// loginId / worksId land in the login form's username field.
		for _, k := range []string{"loginId", "worksId"} {
			page, flowPath := n.startLogin(authorizeURL(wpClientID, wpCallback, "s") + "&" + k + "=" + url.QueryEscape(x))
			if m := usernameValue.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != x {
				t.Errorf("%s is not the login form's username: %v", k, m)
			}
			if live.MatchString(page) {
				t.Errorf("%s reflects live markup", k)
			}
			if _, body := n.get(flowPath); live.MatchString(body) {
				t.Errorf("%s reflects live markup at %s", k, flowPath)
			}
		}
		// The typed username after a failed login.
		f := loginForm(t, n, "/login")
		f.Set("username", x)
		f.Set("password", "wrong")
		if _, body := post(t, n.c, e.base+"/login", f, nil); live.MatchString(body) {
			t.Error("failed login reflects live markup")
		}
	})
}

// TestSecurityDirectoryAnswers: wrong password and unknown user look the
// same by message and by time; LDAP filter metacharacters and empty
// passwords never sign anyone in.
func TestSecurityDirectoryAnswers(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	try := func(user, pass string) (int, string) {
		b := newBrowserTB(t, e.base)
		f := loginForm(t, b, "/login")
		f.Set("username", user)
		f.Set("password", pass)
		resp, body := post(t, b.c, e.base+"/login", f, nil)
		return resp.StatusCode, body
	}
	volatile := regexp.MustCompile(`nonce-[^'"]+|nonce="[^"]+"|value="[A-Za-z0-9_-]{43}"|[A-Z2-7]{13}\b`)
	t.Run("same message", func(t *testing.T) {
		s1, b1 := try(secUser, "wrong-password")
		s2, b2 := try("nobody-here", "wrong-password")
		b1 = strings.ReplaceAll(volatile.ReplaceAllString(b1, ""), secUser, "U")
		b2 = strings.ReplaceAll(volatile.ReplaceAllString(b2, ""), "nobody-here", "U")
		if s1 != http.StatusUnauthorized || s1 != s2 || b1 != b2 {
			t.Fatalf("wrong password %d vs unknown user %d; pages differ: %v", s1, s2, b1 != b2)
		}
	})
	t.Run("same time", func(t *testing.T) {
		// Alternate the two kinds so drift affects both alike, and compare
		// trimmed means (the slowest fifth dropped: GC, scheduling).
		var known, unknown []time.Duration
		for i := range 40 {
			for _, u := range []string{secUser, "nobody-here"} {
				start := time.Now()
				try(u, "wrong-password")
				d := time.Since(start)
				if i < 4 {
					continue // warm-up
				}
				if u == secUser {
					known = append(known, d)
				} else {
					unknown = append(unknown, d)
				}
			}
		}
		mk, mu := trimmedMean(known), trimmedMean(unknown)
		diff := mk - mu
		if diff < 0 {
			diff = -diff
		}
		t.Logf("mean login time: wrong password %s, unknown user %s, difference %s", mk, mu, diff)
		if diff > 5*time.Millisecond {
			t.Errorf("wrong password and unknown user differ by %s on average", diff)
		}
	})
	t.Run("LDAP injection", func(t *testing.T) {
		for _, u := range []string{"*", "h*", "*)(uid=*", "hana)(|(uid=*", "hana)(&", `hana\2a`, "hana\x00", "*)(objectClass=*))(|(uid=*", "(uid=hana)", "uid=hana,ou=x", "hana*)(userPassword=*"} {
			if st, _ := try(u, secPassword); st == http.StatusSeeOther {
				t.Errorf("username %q signed in with hana's password", u)
			} else if st >= 500 {
				t.Errorf("username %q: %d", u, st)
			}
		}
		if st, _ := try(secUser, secPassword); st != http.StatusSeeOther {
			t.Fatalf("control login: %d", st)
		}
	})
	t.Run("empty password", func(t *testing.T) {
		for _, u := range []string{secUser, "cn=svc," + e.ou, "nobody-here"} {
			if st, _ := try(u, ""); st == http.StatusSeeOther {
				t.Errorf("%q signed in with an empty password", u)
			}
		}
		for _, p := range []string{" ", "\x00", "\t"} {
			if st, _ := try(secUser, p); st == http.StatusSeeOther {
				t.Errorf("password %q signed in", p)
			}
		}
	})
}

func trimmedMean(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	s = s[:len(s)*4/5]
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum / time.Duration(len(s))
}
