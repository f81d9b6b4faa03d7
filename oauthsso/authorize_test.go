package oauthsso

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"net/http/httptest"

	"github.com/ncp-sso/idp/idp"
)

// wantErrorPage asserts a 400-class error page and, above all, no redirect.
func wantErrorPage(t *testing.T, rec *httptest.ResponseRecorder, status int, key string) {
	t.Helper()
	if rec.Code != status || rec.Body.String() != "error:"+key {
		t.Errorf("got %d %q, want %d error:%s", rec.Code, rec.Body.String(), status, key)
	}
	if loc := rec.Header().Get("Location"); loc != "" {
		t.Errorf("must never redirect, got Location %q", loc)
	}
}

func TestAuthorizeRefusesUnknownClient(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	for name, target := range map[string]string{
		"unknown":  authorizeURL("nobody", wpCallback, "s"),
		"missing":  PathAuthorize + "?response_type=code&redirect_uri=" + url.QueryEscape(wpCallback) + "&state=s",
		"repeated": authorizeURL(wpID, wpCallback, "s", "client_id", wpID),
		"empty":    authorizeURL("", wpCallback, "s"),
		"case":     authorizeURL(strings.ToUpper(wpID), wpCallback, "s"),
	} {
		t.Run(name, func(t *testing.T) {
			wantErrorPage(t, e.get(target), http.StatusBadRequest, msgUnknownClient)
		})
	}
}

func TestAuthorizeRefusesRedirectURI(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	const h = "https://acme.ncpworkplace.com"
	for name, ru := range map[string]string{
		"missing":               "",
		"http":                  "http://acme.ncpworkplace.com/oauth/callback",
		"other port":            h + ":8443/oauth/callback",
		"port 80 on https":      h + ":80/oauth/callback",
		"empty port":            h + ":/oauth/callback",
		"suffix look-alike":     "https://acme.ncpworkplace.com.evil.com/oauth/callback",
		"prefix look-alike":     "https://evilacme.ncpworkplace.com/oauth/callback",
		"other company":         "https://other.ncpworkplace.com/oauth/callback",
		"userinfo to evil":      "https://acme.ncpworkplace.com@evil.com/oauth/callback",
		"userinfo before host":  "https://evil.com@acme.ncpworkplace.com/oauth/callback",
		"encoded at":            "https://acme.ncpworkplace.com%40evil.com/",
		"trailing dot":          "https://acme.ncpworkplace.com./oauth/callback",
		"dot dot":               h + "/oauth/../callback",
		"encoded dot dot":       h + "/oauth/%2e%2e/callback",
		"mixed encoded dots":    h + "/oauth/.%2E/callback",
		"single dot":            h + "/./oauth/callback",
		"tomcat dot dot":        h + "/oauth/..;/callback",
		"double encoded dots":   h + "/oauth/%252e%252e/callback",
		"encoded slash":         h + "/oauth%2fcallback",
		"encoded slash upper":   h + "/oauth%2Fcallback",
		"encoded backslash":     h + "/oauth%5ccallback",
		"backslash":             h + "\\@evil.com/",
		"backslash authority":   "https:\\\\evil.com/",
		"double slash path":     h + "//evil.com/",
		"scheme relative":       "//acme.ncpworkplace.com/oauth/callback",
		"no slashes":            "https:acme.ncpworkplace.com/oauth/callback",
		"one slash":             "https:/acme.ncpworkplace.com/oauth/callback",
		"fragment":              wpCallback + "#frag",
		"empty fragment":        wpCallback + "#",
		"space":                 h + "/oauth/call back",
		"tab":                   h + "/oauth/\tcallback",
		"newline in host":       "https://acme.ncpworkplace.com\n.evil.com/",
		"nul":                   h + "/oauth/%00callback",
		"non-ascii path":        h + "/oauth/callbäck",
		"cyrillic look-alike":   "https://аcme.ncpworkplace.com/oauth/callback",
		"javascript":            "javascript:alert(1)",
		"data":                  "data:text/html,hi",
		"loopback without flag": "http://127.0.0.1:8080/cb",
		"relative":              "/oauth/callback",
		"quote":                 h + "/oauth/\"callback",
		"angle":                 h + "/oauth/<callback>",
	} {
		t.Run(name, func(t *testing.T) {
			v := url.Values{"response_type": {"code"}, "client_id": {wpID}, "state": {"s"}}
			if ru != "" {
				v.Set("redirect_uri", ru)
			}
			wantErrorPage(t, e.get(PathAuthorize+"?"+v.Encode()), http.StatusBadRequest, msgBadRedirect)
		})
	}
	t.Run("repeated", func(t *testing.T) {
		wantErrorPage(t, e.get(authorizeURL(wpID, wpCallback, "s", "redirect_uri", wpCallback)), http.StatusBadRequest, msgBadRedirect)
	})
	t.Run("another client's allowlist", func(t *testing.T) {
		wantErrorPage(t, e.get(authorizeURL(nwID, wpCallback, "s")), http.StatusBadRequest, msgBadRedirect)
	})
}

func TestAuthorizeAcceptsAndAppends(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	for _, tc := range []struct {
		name, client, redirect, state string
	}{
		{"exact", wpID, wpCallback, "st"},
		{"case in scheme and host", wpID, "HTTPS://ACME.NcpWorkplace.com/oauth/callback", "st"},
		{"explicit 443", wpID, "https://acme.ncpworkplace.com:443/oauth/callback", "st"},
		{"no path", wpID, "https://acme.ncpworkplace.com", "st"},
		{"existing query", wpID, wpCallback + "?lang=ko&x=a%20b", "st"},
		{"query ends with ampersand", wpID, wpCallback + "?lang=ko&", "st"},
		{"empty query", wpID, wpCallback + "?", "st"},
		{"code and state already inside", wpID, wpCallback + "?code=evil&state=evil", "st"},
		{"works state inside, none sent", nwID, nwCallback, ""},
		{"works state inside and sent", nwID, nwCallback, "extra"},
		{"xss state", wpID, wpCallback, `"><script>alert(1)</script>&code=x`},
		{"unicode state", wpID, wpCallback, "상태 값+/="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.get(authorizeURL(tc.client, tc.redirect, tc.state))
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
			}
			loc := rec.Header().Get("Location")
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("code redirect must be no-store")
			}
			// The registered URI comes back byte for byte, then our params.
			if !strings.HasPrefix(loc, tc.redirect) {
				t.Fatalf("Location %q does not start with redirect_uri %q", loc, tc.redirect)
			}
			added := strings.TrimPrefix(loc, tc.redirect)
			switch {
			case strings.HasSuffix(tc.redirect, "?"), strings.HasSuffix(tc.redirect, "&"):
			case strings.Contains(tc.redirect, "?"):
				added = strings.TrimPrefix(added, "&")
			default:
				added = strings.TrimPrefix(added, "?")
			}
			got, err := url.ParseQuery(added)
			if err != nil {
				t.Fatalf("appended part %q: %v", added, err)
			}
			if len(got["code"]) != 1 || len(got["code"][0]) != 43 {
				t.Errorf("appended code %q, want one 256-bit code", got["code"])
			}
			if tc.state != "" && (len(got["state"]) != 1 || got["state"][0] != tc.state) {
				t.Errorf("appended state %q, want %q", got["state"], tc.state)
			}
			if tc.state == "" && got.Has("state") {
				t.Errorf("state appended although none was sent: %q", added)
			}
			if strings.ContainsAny(added, "<>\" ") {
				t.Errorf("appended part not encoded: %q", added)
			}
		})
	}
}

func TestAuthorizeErrorRedirects(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	base := url.Values{"client_id": {wpID}, "redirect_uri": {wpCallback}}
	for _, tc := range []struct {
		name      string
		set       url.Values
		wantErr   string
		wantState string
	}{
		{"missing response_type", url.Values{"state": {"s1"}}, "invalid_request", "s1"},
		{"token response_type", url.Values{"response_type": {"token"}, "state": {"s2"}}, "unsupported_response_type", "s2"},
		{"missing state on workplace", url.Values{"response_type": {"code"}}, "invalid_request", ""},
		{"empty state on workplace", url.Values{"response_type": {"code"}, "state": {""}}, "invalid_request", ""},
		{"repeated state", url.Values{"response_type": {"code"}, "state": {"a", "b"}}, "invalid_request", ""},
		{"repeated loginId", url.Values{"response_type": {"code"}, "state": {"s3"}, "loginId": {"a", "b"}}, "invalid_request", "s3"},
		{"repeated response_type", url.Values{"response_type": {"code", "code"}, "state": {"s4"}}, "invalid_request", "s4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, vs := range base {
				v[k] = vs
			}
			for k, vs := range tc.set {
				v[k] = vs
			}
			rec := e.get(PathAuthorize + "?" + v.Encode())
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
			}
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, wpCallback+"?") {
				t.Fatalf("Location %q", loc)
			}
			q, _ := url.ParseQuery(strings.TrimPrefix(loc, wpCallback+"?"))
			if q.Get("error") != tc.wantErr || q.Get("error_description") == "" || q.Get("state") != tc.wantState || q.Has("code") {
				t.Errorf("got %v, want error=%s state=%q", q, tc.wantErr, tc.wantState)
			}
		})
	}
}

func TestAuthorizeStateOptionalForWorks(t *testing.T) {
	e := newEnv(t)
	// No session: the Flow is parked and the login page shown.
	rec := e.get(authorizeURL(nwID, nwCallback, "", "worksId", "alice@acme.example", "userAgent", "LineWorks", "sessionKey", "SECRET-SESSION-KEY"))
	if rec.Code != http.StatusOK || rec.Body.String() != "login" {
		t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
	}
	f := e.h.flows[0]
	if f.Protocol != ProtocolName || f.SP != "works" || f.SPName != "NAVER WORKS" || f.LoginHint != "alice@acme.example" {
		t.Errorf("flow %+v", f)
	}
	if got := f.ExpiresAt.Sub(f.CreatedAt); got != DefaultFlowLifetime {
		t.Errorf("flow lifetime %s", got)
	}
	pl, err := parsePayload(f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if pl != (flowPayload{ClientID: nwID, RedirectURI: nwCallback}) {
		t.Errorf("payload %+v", pl)
	}
	if strings.Contains(string(f.Payload), "SECRET-SESSION-KEY") || strings.Contains(e.logs.String(), "SECRET-SESSION-KEY") {
		t.Error("sessionKey must be neither stored nor logged")
	}
	// Same request on WORKPLACE without state is refused.
	rec = e.get(authorizeURL(wpID, wpCallback, ""))
	if loc := rec.Header().Get("Location"); !strings.Contains(loc, "error=invalid_request") {
		t.Errorf("workplace without state: %d %q", rec.Code, loc)
	}
}

func TestAuthorizeLoginHint(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, client, param, value, want string }{
		{"loginId", wpID, "loginId", "alice", "alice"},
		{"worksId on works", nwID, "worksId", "bob@acme.example", "bob@acme.example"},
		{"xss kept verbatim for the template to escape", wpID, "loginId", `<script>x</script>`, `<script>x</script>`},
		{"control chars dropped", wpID, "loginId", "ali\x00ce", ""},
		{"too long dropped", wpID, "loginId", strings.Repeat("a", 300), ""},
		{"invalid utf-8 dropped", wpID, "loginId", "\xff\xfe", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redirect := wpCallback
			if tc.client == nwID {
				redirect = nwCallback
			}
			e.h.flows = nil
			rec := e.get(authorizeURL(tc.client, redirect, "s", tc.param, tc.value))
			if rec.Code != http.StatusOK || len(e.h.flows) != 1 {
				t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
			}
			if got := e.h.flows[0].LoginHint; got != tc.want {
				t.Errorf("LoginHint %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAuthorizeOversizedRefusedFast(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	huge := strings.Repeat("A", 1<<20)
	for name, target := range map[string]string{
		"huge redirect_uri":    authorizeURL(wpID, wpCallback+"?x="+huge, "s"),
		"huge state":           authorizeURL(wpID, wpCallback, huge),
		"huge unknown param":   authorizeURL(wpID, wpCallback, "s", "junk", huge),
		"just over param cap":  authorizeURL(wpID, wpCallback, strings.Repeat("s", MaxParamBytes+1)),
		"too many parameters":  authorizeURL(wpID, wpCallback, "s") + strings.Repeat("&a=b", maxParams),
		"malformed escape":     authorizeURL(wpID, wpCallback, "s") + "&x=%zz",
		"semicolon separators": authorizeURL(wpID, wpCallback, "s") + ";x=y",
	} {
		t.Run(name, func(t *testing.T) {
			var rec *httptest.ResponseRecorder
			best := time.Hour
			// Best of three, so that a GC pause or a busy CI core does not
			// decide the result; a handler that did real work on 1 MB would
			// still be slow every time under -race.
			for range 3 {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				start := time.Now()
				rec = e.serve(req)
				best = min(best, time.Since(start))
			}
			if best > 100*time.Millisecond {
				t.Errorf("took %s, want < 100ms", best)
			}
			if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
				t.Errorf("status %d Location %q, want 400 page", rec.Code, rec.Header().Get("Location"))
			}
		})
	}
}

func TestResumeAfterLoginAndDeny(t *testing.T) {
	e := newEnv(t)
	if rec := e.get(authorizeURL(wpID, wpCallback, "st-1", "loginId", "alice")); rec.Code != http.StatusOK {
		t.Fatalf("authorize: %d", rec.Code)
	}
	f, err := e.st.TakeFlow(context.Background(), e.h.flows[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	sess := e.login("alice")
	rec, c := e.ctx(http.MethodPost, "/login")
	if err := e.p.Resume(c, f, sess); err != nil {
		t.Fatal(err)
	}
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, wpCallback+"?code=") || !strings.HasSuffix(loc, "&state=st-1") {
		t.Fatalf("resume: %d %q", rec.Code, loc)
	}

	rec, c = e.ctx(http.MethodPost, "/login")
	if err := e.p.Deny(c, f, &idp.AccountError{State: idp.StateNotPermitted, Username: "alice", Reason: "not in group cn=secret-group"}); err != nil {
		t.Fatal(err)
	}
	loc = rec.Header().Get("Location")
	q, _ := url.ParseQuery(strings.TrimPrefix(loc, wpCallback+"?"))
	if rec.Code != http.StatusSeeOther || q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Has("code") {
		t.Errorf("deny: %d %q", rec.Code, loc)
	}
	if strings.Contains(loc, "secret-group") {
		t.Error("deny leaks the internal reason to the SP")
	}
}

func TestResumeRefusesBadFlows(t *testing.T) {
	e := newEnv(t)
	sess := e.login("alice")
	noMail := sess
	noMail.Identity.Email = ""
	goodPayload, _ := json.Marshal(flowPayload{ClientID: wpID, RedirectURI: wpCallback, State: "s"})
	gonePayload, _ := json.Marshal(flowPayload{ClientID: "removed-client", RedirectURI: wpCallback, State: "s"})
	for _, tc := range []struct {
		name   string
		f      idp.Flow
		s      idp.Session
		status int
		key    string
	}{
		{"identity without mail", idp.Flow{Protocol: ProtocolName, Payload: goodPayload}, noMail, http.StatusForbidden, msgNoUserinfo},
		{"client removed from config", idp.Flow{Protocol: ProtocolName, Payload: gonePayload}, sess, http.StatusBadRequest, msgUnknownClient},
		{"other protocol", idp.Flow{Protocol: "saml", Payload: goodPayload}, sess, http.StatusBadRequest, msgUnknownClient},
		{"garbage payload", idp.Flow{Protocol: ProtocolName, Payload: []byte("{")}, sess, http.StatusBadRequest, msgUnknownClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, c := e.ctx(http.MethodPost, "/login")
			if err := e.p.Resume(c, tc.f, tc.s); err != nil {
				t.Fatal(err)
			}
			wantErrorPage(t, rec, tc.status, tc.key)
		})
	}
}

// ctx returns an echo context for calling Resume/Deny directly, as the
// server's login handler does.
func (e *env) ctx(method, target string) (*httptest.ResponseRecorder, echo.Context) {
	rec := httptest.NewRecorder()
	return rec, e.e.NewContext(httptest.NewRequest(method, target, nil), rec)
}
