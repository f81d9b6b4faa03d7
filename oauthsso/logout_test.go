package oauthsso

import (
	"net/http"
	"net/url"
	"testing"
)

func TestLogout(t *testing.T) {
	for _, tc := range []struct {
		name, redirect, wantLocation string
	}{
		{"no redirect_uri", "", ""},
		{"allowed domain", "https://acme.ncpworkplace.com/after?x=1", "https://acme.ncpworkplace.com/after?x=1"},
		{"allowed domain of another client", "https://auth.worksmobile.com/", "https://auth.worksmobile.com/"},
		{"upper-case host", "https://ACME.ncpworkplace.com/", "https://ACME.ncpworkplace.com/"},
		{"http", "http://acme.ncpworkplace.com/", ""},
		{"other host", "https://evil.example/", ""},
		{"suffix look-alike", "https://acme.ncpworkplace.com.evil.example/", ""},
		{"subdomain", "https://x.acme.ncpworkplace.com/", ""},
		{"other port", "https://acme.ncpworkplace.com:8443/", ""},
		{"userinfo", "https://acme.ncpworkplace.com@evil.example/", ""},
		{"backslash", "https://acme.ncpworkplace.com\\@evil.example/", ""},
		{"fragment", "https://acme.ncpworkplace.com/#x", ""},
		{"scheme relative", "//acme.ncpworkplace.com/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			tok := e.issue(wpID, wpSecret, wpCallback)
			target := PathLogout
			if tc.redirect != "" {
				target += "?redirect_uri=" + url.QueryEscape(tc.redirect)
			}
			rec := e.get(target)
			if tc.wantLocation == "" {
				if rec.Code != http.StatusOK || rec.Body.String() != "page:logged_out" || rec.Header().Get("Location") != "" {
					t.Errorf("got %d %q Location %q, want the signed-out page", rec.Code, rec.Body, rec.Header().Get("Location"))
				}
			} else if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tc.wantLocation {
				t.Errorf("got %d Location %q, want %q", rec.Code, rec.Header().Get("Location"), tc.wantLocation)
			}
			if _, live := e.h.Session(nil); live {
				t.Error("session still live after logout")
			}
			wantAPIError(t, e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)), 401, "invalid_token")
		})
	}
}

func TestSPLogout(t *testing.T) {
	back := url.QueryEscape(publicURL + PathLoggedOut)
	for _, tc := range []struct {
		name, query string
		status      int
		location    string
	}{
		{"workplace", "client_id=" + wpID, 303, "https://acme.ncpworkplace.com/authn/logoutProcess?redirect_uri=" + back},
		{"naverworks with domain", "client_id=" + nwID, 303, "https://auth.worksmobile.com/view/oauth/sso/logout?domain=acme.example&redirect_uri=" + back},
		{"unknown client", "client_id=nobody", 400, ""},
		{"no client", "", 400, ""},
		{"repeated client", "client_id=" + wpID + "&client_id=" + nwID, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			rec := e.get(PathSPLogout + "?" + tc.query)
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
				t.Errorf("got %d Location %q, want %d %q", rec.Code, rec.Header().Get("Location"), tc.status, tc.location)
			}
			_, live := e.h.Session(nil)
			if live != (tc.status != 303) {
				t.Errorf("session live=%v after %d", live, rec.Code)
			}
		})
	}
}

func TestLoggedOutPage(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	if rec := e.get(PathLoggedOut); rec.Code != http.StatusOK || rec.Body.String() != "page:logged_out" {
		t.Errorf("%d %q", rec.Code, rec.Body)
	}
	if _, live := e.h.Session(nil); !live {
		t.Error("the signed-out page must not end a session by itself")
	}
}
