package spsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/oauthsso"
	"github.com/ncp-sso/idp/oauthsso/spsim"
)

const (
	wpSecret   = "wp-secret-0123456789abcdef"
	nwSecret   = "nw-secret-0123456789abcdef"
	wpCallback = "https://acme.ncpworkplace.com/oauth/callback"
	nwCallback = "https://auth.worksmobile.com/oauth/sso/callback?domain=acme.example"
)

// directory is an in-process Authenticator: this test is about the SP
// journey through the real server; the LDAP path has its own e2e tests.
type directory map[string]string

func (d directory) Authenticate(_ context.Context, u, p string) (idp.Identity, bool, error) {
	if p == "" || d[u] != p {
		return idp.Identity{}, false, nil
	}
	id := idp.Identity{Subject: "sub-" + u, Username: u, Email: u + "@acme.example"}
	if u == "bob" {
		return idp.Identity{}, false, &idp.AccountError{State: idp.StateNotPermitted, Username: u, Identity: &id, Reason: "test"}
	}
	return id, true, nil
}

// newIdP serves the real server with the OAuth provider and a memory store.
func newIdP(t *testing.T) string {
	t.Helper()
	cfg := oauthsso.Config{Clients: []oauthsso.Client{
		{Name: "workplace", ClientID: "wp", ClientSecret: wpSecret, Profile: oauthsso.ProfileWorkplace, Company: "acme"},
		{Name: "works", ClientID: "nw", ClientSecret: nwSecret, Profile: oauthsso.ProfileNaverWorks, Domain: "acme.example"},
	}}
	cfg.SetDefaults()
	p, err := oauthsso.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(memory.New())
	t.Cleanup(func() { st.Close() })
	ts := httptest.NewUnstartedServer(nil)
	t.Cleanup(ts.Close)
	srv, err := server.New(server.Options{
		Config:        server.Config{PublicURL: "http://" + ts.Listener.Addr().String()},
		Store:         st,
		Authenticator: directory{"alice": "alice-pw", "bob": "bob-pw"},
		Protocols:     []server.Protocol{p},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	return ts.URL
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func TestJourneyWorkplaceThenSSO(t *testing.T) {
	idpURL := newIdP(t)
	hc := browser(t)
	cfg := spsim.Config{
		HTTPClient: hc, IdPURL: idpURL, ClientID: "wp", ClientSecret: wpSecret,
		CallbackURL: wpCallback + "?lang=ko", Username: "alice", Password: "alice-pw", LoginHint: "alice",
	}
	res, err := spsim.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("run: %v\nsteps: %+v", err, res.Steps)
	}
	if !res.FormShown || res.UserID != "alice@acme.example" || res.ExpiresIn != "3600" || res.TokenType != "Bearer" {
		t.Errorf("result %+v", res)
	}
	var names []string
	for _, s := range res.Steps {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "authorize,login_submit,callback,token,userinfo" {
		t.Errorf("steps %s", got)
	}
	// The recorded steps are for display: no password, secret, whole code
	// or whole token.
	b, _ := json.Marshal(res)
	for what, s := range map[string]string{"password": "alice-pw", "secret": wpSecret, "code": res.Code, "token": res.AccessToken} {
		if strings.Contains(string(b), s) {
			t.Errorf("recorded steps contain the %s", what)
		}
	}

	// Same browser again: the IdP session gives a code without the form.
	cfg.Password = ""
	res, err = spsim.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if res.FormShown || res.UserID != "alice@acme.example" {
		t.Errorf("SSO run %+v", res)
	}
}

func TestJourneyNaverWorksApp(t *testing.T) {
	idpURL := newIdP(t)
	res, err := spsim.Run(t.Context(), spsim.Config{
		HTTPClient: browser(t), IdPURL: idpURL, ClientID: "nw", ClientSecret: nwSecret,
		CallbackURL: nwCallback, Profile: spsim.ProfileNaverWorks, AppLogin: true,
		Username: "alice", Password: "alice-pw", LoginHint: "alice",
	})
	if err != nil {
		t.Fatalf("run: %v\nsteps: %+v", err, res.Steps)
	}
	if res.UserID != "alice@acme.example" || res.ExpiresIn != "3600" {
		t.Errorf("result %+v", res)
	}
}

func TestJourneyFailures(t *testing.T) {
	idpURL := newIdP(t)
	base := spsim.Config{IdPURL: idpURL, ClientID: "wp", ClientSecret: wpSecret, CallbackURL: wpCallback, Username: "alice", Password: "alice-pw"}
	t.Run("wrong password", func(t *testing.T) {
		cfg := base
		cfg.HTTPClient, cfg.Password = browser(t), "nope"
		if _, err := spsim.Run(t.Context(), cfg); !errors.Is(err, spsim.ErrLoginFailed) {
			t.Errorf("err %v, want ErrLoginFailed", err)
		}
	})
	t.Run("not permitted", func(t *testing.T) {
		cfg := base
		cfg.HTTPClient, cfg.Username, cfg.Password = browser(t), "bob", "bob-pw"
		var ce *spsim.CallbackError
		if _, err := spsim.Run(t.Context(), cfg); !errors.As(err, &ce) || ce.Code != "access_denied" {
			t.Errorf("err %v, want callback access_denied", err)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		cfg := base
		cfg.HTTPClient, cfg.ClientSecret = browser(t), nwSecret
		var ae *spsim.APIError
		if _, err := spsim.Run(t.Context(), cfg); !errors.As(err, &ae) || ae.Step != "token" || ae.Status != 401 || ae.Code != "invalid_client" {
			t.Errorf("err %v, want token invalid_client", err)
		}
	})
	t.Run("callback outside the allowlist", func(t *testing.T) {
		cfg := base
		cfg.HTTPClient, cfg.CallbackURL = browser(t), "https://evil.example/cb"
		if _, err := spsim.Run(t.Context(), cfg); !errors.Is(err, spsim.ErrUnexpected) {
			t.Errorf("err %v, want ErrUnexpected (error page, no redirect)", err)
		}
	})
}

// TestFormParsing runs against a hand-written IdP whose login page has a
// decoy form, extra hidden fields and a relative action, and which checks
// what the browser submits.
func TestFormParsing(t *testing.T) {
	var ts *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		st := url.QueryEscape(r.URL.Query().Get("state"))
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><form action="/search"><input name="q"></form>
<div><form method="POST" action="../auth/do-login?st=` + st + `">
<input type="hidden" name="csrf" value="c&amp;1"><input type="HIDDEN" name="flow" value="f1">
<input type="hidden" name="extra" value="x"><input type="text" name="username"><input type="password" name="password"></form></div>`))
	})
	mux.HandleFunc("POST /auth/do-login", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("csrf") != "c&1" || r.PostForm.Get("flow") != "f1" || r.PostForm.Get("extra") != "x" ||
			r.PostForm.Get("username") != "u" || r.PostForm.Get("password") != "p" || r.Header.Get("Origin") != ts.URL {
			http.Error(w, "bad form "+r.PostForm.Encode(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, wpCallback+"?code=the-code&state="+url.QueryEscape(r.URL.Query().Get("st")), http.StatusSeeOther)
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok-123456789","token_type":"bearer","expires_in":60}`))
	})
	mux.HandleFunc("POST /oauth/userinfo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"email_id":"u@example.test"}`))
	})
	ts = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	res, err := spsim.Run(t.Context(), spsim.Config{HTTPClient: browser(t), IdPURL: ts.URL, ClientID: "c", ClientSecret: "s",
		CallbackURL: wpCallback, Username: "u", Password: "p"})
	if err != nil {
		t.Fatalf("%v\n%+v", err, res.Steps)
	}
	if res.UserID != "u@example.test" || res.ExpiresIn != "60" || res.Code != "the-code" {
		t.Errorf("%+v", res)
	}
}

// TestErrorPagesUseCatalog checks that the error pages the OAuth endpoints
// show exist in the message catalog (a missing key renders as itself).
func TestErrorPagesUseCatalog(t *testing.T) {
	idpURL := newIdP(t)
	for name, q := range map[string]string{
		"oauth_unknown_client":    "response_type=code&client_id=nobody&redirect_uri=" + url.QueryEscape(wpCallback) + "&state=s",
		"oauth_bad_redirect_uri":  "response_type=code&client_id=wp&redirect_uri=" + url.QueryEscape("https://evil.example/") + "&state=s",
		"oauth_request_too_large": "response_type=code&client_id=wp&state=" + strings.Repeat("x", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, idpURL+oauthsso.PathAuthorize+"?"+q, nil)
			req.Header.Set("Accept-Language", "ko")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			if resp.StatusCode != http.StatusBadRequest || strings.Contains(b.String(), name) || !strings.Contains(b.String(), "IT") && name != "oauth_request_too_large" {
				t.Errorf("status %d, page shows the raw key or no message:\n%s", resp.StatusCode, b.String())
			}
		})
	}
}
