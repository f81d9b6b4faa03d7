package oauthsso_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/redisstore"
	"github.com/ncp-sso/idp/idp/store/redisstore/redistest"
	"github.com/ncp-sso/idp/oauthsso"
	"github.com/ncp-sso/idp/oauthsso/spsim"
)

const (
	outageSecret   = "wp-secret-0123456789abcdef"
	outageCallback = "https://acme.ncpworkplace.com/oauth/callback"
)

// oneUser is an in-process Authenticator: the directory is not what this
// test is about.
type oneUser struct{}

func (oneUser) Authenticate(_ context.Context, u, p string) (idp.Identity, bool, error) {
	if u != "alice" || p != "alice-pw" {
		return idp.Identity{}, false, nil
	}
	return idp.Identity{Subject: "sub-alice", Username: "alice", Email: "alice@acme.example"}, true, nil
}

// TestRedisOutageAnswers runs the real server and provider on a real Redis,
// stops Redis, and checks what the SP and the browser get: 503
// temporarily_unavailable with Retry-After from the token and userinfo
// APIs, the server's 503 page (no redirect) from the Web Login URL, and no
// Redis detail anywhere. Once Redis is back (AOF), the code that met the
// outage is redeemed: a 503 spends nothing.
func TestRedisOutageAnswers(t *testing.T) {
	rd := redistest.Start(t, redistest.WithConfig("appendonly yes"))
	rcfg := store.RedisConfig{Addr: rd.Addr, KeyPrefix: "oauthsso-outage:"}
	rcfg.SetDefaults()
	b, err := redisstore.OpenConfig(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(b)
	t.Cleanup(func() { st.Close() })

	cfg := oauthsso.Config{Clients: []oauthsso.Client{
		{Name: "workplace", ClientID: "wp", ClientSecret: outageSecret, Profile: oauthsso.ProfileWorkplace, Company: "acme"},
	}}
	cfg.SetDefaults()
	p, err := oauthsso.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	t.Cleanup(ts.Close)
	srv, err := server.New(server.Options{
		Config:        server.Config{PublicURL: "http://" + ts.Listener.Addr().String()},
		Store:         st,
		Authenticator: oneUser{},
		Protocols:     []server.Protocol{p},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()

	// A whole journey while Redis is up: the browser gets an SSO session
	// and the SP an access token.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spsim.Run(t.Context(), spsim.Config{
		HTTPClient: &http.Client{Jar: jar}, IdPURL: ts.URL, ClientID: "wp", ClientSecret: outageSecret,
		CallbackURL: outageCallback, Username: "alice", Password: "alice-pw",
	})
	if err != nil {
		t.Fatalf("journey before the outage: %v", err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := ts.URL + oauthsso.PathAuthorize + "?" + url.Values{
		"response_type": {"code"}, "client_id": {"wp"}, "redirect_uri": {outageCallback}, "state": {"s1"},
	}.Encode()
	// A second code, through the SSO session, that the SP will present
	// during the outage.
	resp, _ := call(t, browser, http.MethodGet, authorize, nil)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize with a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	code := loc.Query().Get("code")

	if err := rd.Stop(); err != nil {
		t.Fatal(err)
	}
	tokenForm := url.Values{"grant_type": {"authorization_code"}, "client_id": {"wp"}, "client_secret": {outageSecret}, "code": {code}}
	userinfoForm := url.Values{"client_id": {"wp"}, "client_secret": {outageSecret}, "access_token": {res.AccessToken}}
	for _, api := range []struct {
		path string
		form url.Values
	}{{oauthsso.PathToken, tokenForm}, {oauthsso.PathUserinfo, userinfoForm}} {
		resp, body := call(t, http.DefaultClient, http.MethodPost, ts.URL+api.path, api.form)
		var e map[string]any
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %d, body not JSON: %q", api.path, resp.StatusCode, body)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || e["error"] != "temporarily_unavailable" ||
			e["error_description"] == nil || len(e) != 2 {
			t.Errorf("%s during the outage: %d %v, want 503 temporarily_unavailable", api.path, resp.StatusCode, e)
		}
		if got := resp.Header.Get("Retry-After"); got != "5" {
			t.Errorf("%s: Retry-After %q, want 5", api.path, got)
		}
		noInternals(t, api.path, body, rd.Addr)
	}
	resp, body := call(t, browser, http.MethodGet, authorize, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Location") != "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("authorize during the outage: %d %q %q, want the 503 page", resp.StatusCode,
			resp.Header.Get("Location"), resp.Header.Get("Content-Type"))
	}
	noInternals(t, "authorize", body, rd.Addr)

	rd.Restart(t)
	waitStore(t, st)
	resp, body = call(t, http.DefaultClient, http.MethodPost, ts.URL+oauthsso.PathToken, tokenForm)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the code presented during the outage, after it: %d %s", resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token after the outage: %q", body)
	}
	userinfoForm.Set("access_token", tok.AccessToken)
	if resp, body := call(t, http.DefaultClient, http.MethodPost, ts.URL+oauthsso.PathUserinfo, userinfoForm); resp.StatusCode != http.StatusOK {
		t.Errorf("userinfo after the outage: %d %s", resp.StatusCode, body)
	}
}

// call sends a GET, or a form POST when form is not nil, and reads the body.
func call(t *testing.T, hc *http.Client, method, target string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// noInternals fails when an answer names the store, its address or the
// connection error.
func noInternals(t *testing.T, what string, body []byte, addr string) {
	t.Helper()
	for _, s := range []string{"redis", addr, "connection refused", "store unavailable", "dial tcp"} {
		if strings.Contains(strings.ToLower(string(body)), strings.ToLower(s)) {
			t.Errorf("%s answer leaks %q", what, s)
		}
	}
}

// waitStore waits until the store serves again after a restart (the
// client's pooled connections to the old process fail first).
func waitStore(t *testing.T, st idp.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := st.Check(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store not back after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
