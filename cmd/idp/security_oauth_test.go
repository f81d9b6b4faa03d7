package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
)

// evilLink finds a link, form or resource pointing at the attacker's host.
var evilLink = regexp.MustCompile(`(?i)(href|action|src|url)\s*=\s*["']?\s*(https?:)?(//|\\\\)[^"' >]*evil`)

// apiErr decodes an RFC 6749 error body.
func apiErr(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not a JSON error body: %q", body)
	}
	return e.Error
}

// TestSecurityOAuthRedirectURI: an unregistered client and every redirect_uri
// confusion trick get an error page and never a redirect.
func TestSecurityOAuthRedirectURI(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	// Control: the registered prefix is accepted and parked for login, and
	// its login form may post (and be redirected) to the SP's origin only.
	resp, body := b.get(authorizeURL(wpClientID, wpCallback, "s"))
	if !parkedForLogin(resp, []byte(body)) {
		t.Fatalf("control request refused: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://acme.ncpworkplace.com;") {
		t.Errorf("login form's CSP %q does not allow exactly the SP's origin", csp)
	}
	tricks := map[string]string{
		"other host":          "https://evil.test/cb",
		"explicit other port": "https://acme.ncpworkplace.com:8443/cb",
		"http downgrade":      "http://acme.ncpworkplace.com/cb",
		"userinfo @":          "https://acme.ncpworkplace.com@evil.test/cb",
		"userinfo in prefix":  "https://evil.test@acme.ncpworkplace.com/cb",
		"suffix look-alike":   "https://acme.ncpworkplace.com.evil.test/cb",
		"prefix look-alike":   "https://evilacme.ncpworkplace.com/cb",
		"other company":       "https://other.ncpworkplace.com/cb",
		"dot-dot":             "https://acme.ncpworkplace.com/a/../../cb",
		"encoded dot-dot":     "https://acme.ncpworkplace.com/a/%2e%2e/cb",
		"double encoded":      "https://acme.ncpworkplace.com/a/%252e%252e/cb",
		"encoded slash":       "https://acme.ncpworkplace.com/a%2f..%2fcb",
		"backslash":           `https://acme.ncpworkplace.com\@evil.test/cb`,
		"backslash path":      `https://acme.ncpworkplace.com/..\evil`,
		"scheme-relative":     "//evil.test/cb",
		"javascript":          "javascript:alert(1)//acme.ncpworkplace.com/",
		"data":                "data:text/html,<script>alert(1)</script>",
		"fragment":            "https://acme.ncpworkplace.com/cb#@evil.test",
		"tab in host":         "https://acme.ncpworkplace.com\t.evil.test/cb",
		"newline":             "https://acme.ncpworkplace.com/cb\nLocation: https://evil.test",
		"IDN look-alike":      "https://acme.ncpworkplacе.com/cb",
		"trailing dot host":   "https://acme.ncpworkplace.com./cb",
		"IPv6 literal":        "https://[::1]/cb",
		"empty":               "",
		"relative":            "/cb",
		"tomcat dot-dot-semi": "https://acme.ncpworkplace.com/a/..;/cb",
		"empty segment":       "https://acme.ncpworkplace.com//evil.test/cb",
		"NUL":                 "https://acme.ncpworkplace.com/cb%00.evil.test",
		"port zero-padded":    "https://acme.ncpworkplace.com:0443/cb",
		"empty port":          "https://acme.ncpworkplace.com:/cb",
	}
	for name, ru := range tricks {
		t.Run(name, func(t *testing.T) {
			b := b.in(t)
			resp, body := b.get(authorizeURL(wpClientID, ru, "s"))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("redirect_uri %q: %d Location %q", ru, resp.StatusCode, resp.Header.Get("Location"))
			}
			if evilLink.MatchString(body) {
				t.Errorf("error page links to the rejected URI")
			}
		})
	}
	// Host names are case-insensitive: an upper-case host is the same host.
	t.Run("upper-case host is the same host", func(t *testing.T) {
		b := newBrowserTB(t, e.base)
		b.startLogin(authorizeURL(wpClientID, "https://ACME.ncpworkplace.com/cb", "s"))
	})
	t.Run("unregistered client", func(t *testing.T) {
		b := b.in(t)
		resp, _ := b.get(authorizeURL("nobody", wpCallback, "s"))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("another client's redirect_uri", func(t *testing.T) {
		b := b.in(t)
		resp, _ := b.get(authorizeURL(wpClientID, "https://auth.worksmobile.com/oauth2/callback", "s"))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("repeated redirect_uri", func(t *testing.T) {
		b := b.in(t)
		resp, _ := b.get(authorizeURL(wpClientID, wpCallback, "s") + "&redirect_uri=" + url.QueryEscape("https://evil.test/"))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	// Injected code/state in the registered URI's query: our own code and
	// state are appended, the SP sees both values and the injected code is
	// never ours to honour; what matters here is that the real code is a
	// fresh one and the injected one is refused at the token endpoint.
	t.Run("injected code and state", func(t *testing.T) {
		b := b.in(t)
		signIn(t, b, secUser, secPassword)
		ru := wpCallback + "?code=attacker-code&state=attacker-state"
		resp, _ := b.get(authorizeURL(wpClientID, ru, "real-state"))
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, ru+"&") {
			t.Fatalf("%d %q", resp.StatusCode, loc)
		}
		q, _ := url.ParseQuery(strings.TrimPrefix(loc, ru+"&"))
		if q.Get("state") != "real-state" || len(q.Get("code")) != 43 {
			t.Fatalf("appended query %v", q)
		}
		r, body := post(t, nil, e.base+"/oauth/token", tokenForm(wpClientID, wpClientSecret, "attacker-code", ""), nil)
		if r.StatusCode != http.StatusBadRequest || apiErr(t, body) != "invalid_grant" {
			t.Fatalf("injected code: %d %s", r.StatusCode, body)
		}
	})
}

// TestSecurityOAuthCodes: replay revokes, concurrent redemption has one
// winner, codes are bound to client and redirect_uri, and expire.
func TestSecurityOAuthCodes(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	signIn(t, b, secUser, secPassword)
	redeem := func(form url.Values) (int, map[string]any) {
		t.Helper()
		resp, body := post(t, nil, e.base+"/oauth/token", form, nil)
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return resp.StatusCode, m
	}
	userinfo := func(tok string) int {
		resp, _ := userinfoAsWorkplace(t, e.base, tok)
		return resp.StatusCode
	}

	t.Run("replay revokes the token", func(t *testing.T) {
		b := b.in(t)
		code := codeFor(t, b, wpClientID, wpCallback)
		st, m := redeem(tokenForm(wpClientID, wpClientSecret, code, wpCallback))
		tok, _ := m["access_token"].(string)
		if st != http.StatusOK || userinfo(tok) != http.StatusOK {
			t.Fatalf("first redemption %d %v", st, m)
		}
		if st, m := redeem(tokenForm(wpClientID, wpClientSecret, code, wpCallback)); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("replay: %d %v", st, m)
		}
		if userinfo(tok) != http.StatusUnauthorized {
			t.Fatal("token still valid after the code was replayed")
		}
	})
	t.Run("concurrent redemption", func(t *testing.T) {
		b := b.in(t)
		code := codeFor(t, b, wpClientID, wpCallback)
		var mu sync.Mutex
		var wg sync.WaitGroup
		wins, toks := 0, []string{}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body := post(t, nil, e.base+"/oauth/token", tokenForm(wpClientID, wpClientSecret, code, ""), nil)
				mu.Lock()
				defer mu.Unlock()
				if resp.StatusCode == http.StatusOK {
					wins++
					var m map[string]string
					json.Unmarshal([]byte(body), &m)
					toks = append(toks, m["access_token"])
				}
			}()
		}
		wg.Wait()
		if wins > 1 {
			t.Fatalf("%d concurrent redemptions succeeded", wins)
		}
		// The losers replayed the code: whatever won is revoked too.
		for _, tok := range toks {
			if userinfo(tok) != http.StatusUnauthorized {
				t.Error("token from a raced code survived the replay")
			}
		}
	})
	t.Run("bound to the client", func(t *testing.T) {
		b := b.in(t)
		code := codeFor(t, b, wpClientID, wpCallback)
		if st, m := redeem(tokenForm(nwClientID, nwSecret, code, "")); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("other client redeemed: %d %v", st, m)
		}
		// The attempt burnt the code for its real client as well.
		if st, _ := redeem(tokenForm(wpClientID, wpClientSecret, code, "")); st != http.StatusBadRequest {
			t.Fatalf("code usable after another client presented it: %d", st)
		}
	})
	t.Run("bound to redirect_uri", func(t *testing.T) {
		b := b.in(t)
		code := codeFor(t, b, wpClientID, wpCallback)
		if st, m := redeem(tokenForm(wpClientID, wpClientSecret, code, wpCallback+"/other")); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("%d %v", st, m)
		}
	})
	t.Run("expired", func(t *testing.T) {
		b := b.in(t)
		code := codeFor(t, b, wpClientID, wpCallback)
		e.clock.Jump(61 * time.Second)
		if st, m := redeem(tokenForm(wpClientID, wpClientSecret, code, "")); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("expired code: %d %v", st, m)
		}
	})
	t.Run("unknown and malformed codes", func(t *testing.T) {
		for _, c := range []string{"x", strings.Repeat("A", 43), "../../etc/passwd", "' OR 1=1 --", strings.Repeat("z", 4000)} {
			if st, m := redeem(tokenForm(wpClientID, wpClientSecret, c, "")); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
				t.Errorf("code %.20q: %d %v", c, st, m)
			}
		}
	})
}

// TestSecurityOAuthClientAuth: every client authentication variant that is
// not exactly one method with the right secret is refused, and guessing is
// throttled per client.
func TestSecurityOAuthClientAuth(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	signIn(t, b, secUser, secPassword)
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	cases := []struct {
		name   string
		form   url.Values
		query  string
		hdr    map[string]string
		status int
		err    string
	}{
		{"wrong secret", url.Values{"client_id": {wpClientID}, "client_secret": {"wrong-secret-012345"}}, "", nil, 401, "invalid_client"},
		{"empty secret", url.Values{"client_id": {wpClientID}, "client_secret": {""}}, "", nil, 401, "invalid_client"},
		{"no secret", url.Values{"client_id": {wpClientID}}, "", nil, 401, "invalid_client"},
		{"another client's secret", url.Values{"client_id": {wpClientID}, "client_secret": {nwSecret}}, "", nil, 401, "invalid_client"},
		{"unknown client", url.Values{"client_id": {"nobody"}, "client_secret": {wpClientSecret}}, "", nil, 401, "invalid_client"},
		{"secret in the query", url.Values{"client_id": {wpClientID}}, "client_secret=" + wpClientSecret, nil, 400, "invalid_request"},
		{"basic and form together", url.Values{"client_id": {wpClientID}, "client_secret": {wpClientSecret}}, "", map[string]string{"Authorization": basic(wpClientID, wpClientSecret)}, 400, "invalid_request"},
		{"basic for another client id", url.Values{"client_id": {nwClientID}}, "", map[string]string{"Authorization": basic(wpClientID, wpClientSecret)}, 400, "invalid_request"},
		{"bearer header", url.Values{"client_id": {wpClientID}, "client_secret": {wpClientSecret}}, "", map[string]string{"Authorization": "Bearer x"}, 400, "invalid_request"},
		{"secret case changed", url.Values{"client_id": {wpClientID}, "client_secret": {strings.ToUpper(wpClientSecret)}}, "", nil, 401, "invalid_client"},
		{"secret prefix", url.Values{"client_id": {wpClientID}, "client_secret": {wpClientSecret[:10]}}, "", nil, 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := b.in(t)
			code := codeFor(t, b, wpClientID, wpCallback)
			form := tc.form
			form.Set("grant_type", "authorization_code")
			form.Set("code", code)
			target := e.base + "/oauth/token"
			if tc.query != "" {
				target += "?" + tc.query
			}
			resp, body := post(t, nil, target, form, tc.hdr)
			if resp.StatusCode != tc.status || apiErr(t, body) != tc.err || strings.Contains(body, "access_token") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("basic alone is accepted", func(t *testing.T) {
		b := b.in(t)
		code := codeFor(t, b, wpClientID, wpCallback)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
		resp, body := post(t, nil, e.base+"/oauth/token", form, map[string]string{"Authorization": basic(wpClientID, wpClientSecret)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	// Brute force: after DefaultClientFailuresPerIP wrong secrets, even the
	// right secret is refused with 429 for this client from this address;
	// the other client is unaffected. Wrong codes count as well.
	t.Run("guessing is throttled", func(t *testing.T) {
		b := b.in(t)
		for i := range 20 {
			resp, _ := post(t, nil, e.base+"/oauth/userinfo", url.Values{"client_id": {nwClientID}, "client_secret": {"guess-" + strings.Repeat("x", i+10)}, "access_token": {"t"}}, nil)
			if resp.StatusCode == http.StatusTooManyRequests {
				if i < 10 {
					t.Fatalf("throttled after only %d failures", i)
				}
				if resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				break
			}
			if i == 19 {
				t.Fatal("20 wrong secrets were never throttled")
			}
		}
		resp, body := post(t, nil, e.base+"/oauth/userinfo", url.Values{"client_id": {nwClientID}, "client_secret": {nwSecret}, "access_token": {"t"}}, nil)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("right secret during throttling: %d %s", resp.StatusCode, body)
		}
		// Guessing access tokens with the right secret is throttled too.
		for i := 0; ; i++ {
			resp, _ := post(t, nil, e.base+"/oauth/userinfo", url.Values{"client_id": {wpClientID}, "client_secret": {wpClientSecret}, "access_token": {"guess" + strings.Repeat("x", i)}}, nil)
			if resp.StatusCode == http.StatusTooManyRequests {
				break
			}
			if resp.StatusCode != http.StatusUnauthorized || i > 20 {
				t.Fatalf("token guess %d: %d", i, resp.StatusCode)
			}
		}
		// The window ends: the SP is served again.
		e.clock.Jump(10 * time.Minute)
		code := codeFor(t, b, wpClientID, wpCallback)
		if resp, body := post(t, nil, e.base+"/oauth/token", tokenForm(wpClientID, wpClientSecret, code, ""), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("after the window: %d %s", resp.StatusCode, body)
		}
	})
}

// TestSecurityOAuthTokens: entropy of codes, tokens and session IDs; the
// token endpoint's method, content type and cache headers; and refusal of
// JWT-shaped and oversized tokens (tokens are opaque: there is no JWT to
// confuse, see SECURITY.md).
func TestSecurityOAuthTokens(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	signIn(t, b, secUser, secPassword)

	t.Run("entropy", func(t *testing.T) {
		b := b.in(t)
		var samples []string
		for range 40 {
			code := codeFor(t, b, wpClientID, wpCallback)
			samples = append(samples, code, redeemCode(t, e.base, code))
		}
		for range 10 {
			nb := newBrowserTB(t, e.base)
			signIn(t, nb, secUser, secPassword)
			u, _ := url.Parse(e.base)
			for _, ck := range nb.c.Jar.Cookies(u) {
				if strings.HasSuffix(ck.Name, "idp_session") {
					samples = append(samples, ck.Value)
				}
			}
		}
		if len(samples) != 90 {
			t.Fatalf("collected %d samples, want 90", len(samples))
		}
		seen := map[string]bool{}
		ones, total := 0, 0
		for _, s := range samples {
			raw, err := base64.RawURLEncoding.DecodeString(s)
			if err == nil && len(raw) == idp.TimePrefixBytes+32 {
				// Sessions and tokens: their creation time, then the
				// random part.
				var ms [8]byte
				copy(ms[2:], raw[:idp.TimePrefixBytes])
				if made := time.UnixMilli(int64(binary.BigEndian.Uint64(ms[:]))); time.Since(made) > time.Minute || time.Until(made) > time.Second {
					t.Fatalf("%q: time prefix %s is not its creation time", s, made)
				}
				raw = raw[idp.TimePrefixBytes:]
			}
			if err != nil || len(raw) != 32 {
				t.Fatalf("%q is not 256 bits of base64url (%d bytes, %v)", s, len(raw), err)
			}
			if seen[s] {
				t.Fatal("a value was issued twice")
			}
			seen[s] = true
			for _, c := range raw {
				ones += bits.OnesCount8(c)
			}
			total += 8 * len(raw)
		}
		// 23040 bits: a fair source lands within ±3% of half (over 9 sigma).
		if f := float64(ones) / float64(total); f < 0.47 || f > 0.53 {
			t.Errorf("bit balance %.3f: values are not uniformly random", f)
		}
	})
	t.Run("method, content type and headers", func(t *testing.T) {
		b := b.in(t)
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(m, e.base+"/oauth/token?grant_type=authorization_code&client_id=x&client_secret=y&code=z", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: %d Allow %q Cache-Control %q", m, resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Cache-Control"))
			}
		}
		code := codeFor(t, b, wpClientID, wpCallback)
		form := tokenForm(wpClientID, wpClientSecret, code, "")
		for _, ct := range []string{"application/json", "multipart/form-data; boundary=x", "text/plain", ""} {
			req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/token", strings.NewReader(form.Encode()))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("content type %q: %d", ct, resp.StatusCode)
			}
		}
		resp, body := post(t, nil, e.base+"/oauth/token", form, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("control: %d %s", resp.StatusCode, body)
		}
		h := resp.Header
		if h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("token response headers: %v", h)
		}
	})
	t.Run("JWT-shaped and oversized tokens", func(t *testing.T) {
		enc := base64.RawURLEncoding.EncodeToString
		claims := enc([]byte(`{"sub":"hana","email_id":"admin@example.test","aud":"` + wpClientID + `"}`))
		for name, tok := range map[string]string{
			"alg none":            enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims + ".",
			"HS256 with secret":   enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + claims + "." + enc([]byte(wpClientSecret)),
			"RS256 no exp":        enc([]byte(`{"alg":"RS256"}`)) + "." + claims + ".c2ln",
			"oversized":           strings.Repeat("A", 3000),
			"oversized over caps": strings.Repeat("A", 20000),
			"empty segments":      "..",
		} {
			resp, body := post(t, nil, e.base+"/oauth/userinfo", url.Values{"client_id": {nwClientID}, "client_secret": {nwSecret}, "access_token": {tok}}, nil)
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "@") {
				t.Errorf("%s: %d %s", name, resp.StatusCode, body)
			}
		}
	})
}
