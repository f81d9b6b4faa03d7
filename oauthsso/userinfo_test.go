package oauthsso

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// issue runs login → code → token for a client and returns the token.
func (e *env) issue(client, secret, redirect string) string {
	e.t.Helper()
	rec := e.post(PathToken, tokenForm(client, secret, e.code(client, redirect, "s")))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	a := decode(e.t, rec)
	return a.body["access_token"].(string)
}

func TestUserinfoAttribute(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Clients[1].UserinfoAttribute = "employeeNumber" })
	e.login("alice")
	tok := e.issue(nwID, nwSecret, nwCallback)
	a := decode(t, e.post(PathUserinfo, userinfoForm(nwID, nwSecret, tok)))
	if a.status != http.StatusOK || a.body["user_id"] != "E-alice" {
		t.Errorf("userinfo %d %v", a.status, a.body)
	}
}

func TestUserinfoWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	tok := e.issue(wpID, wpSecret, wpCallback)
	before := e.st.writes.Load()
	for range 3 {
		if rec := e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)); rec.Code != http.StatusOK {
			t.Fatalf("userinfo: %d", rec.Code)
		}
	}
	e.post(PathUserinfo, userinfoForm(wpID, wpSecret, "bogus"))
	if got := e.st.writes.Load() - before; got != 0 {
		t.Errorf("userinfo made %d store writes, want 0", got)
	}
}

func TestUserinfoRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(e *env, tok string) url.Values
		status int
		err    string
	}{
		{"token of another client", func(e *env, tok string) url.Values { return userinfoForm(nwID, nwSecret, tok) }, 401, "invalid_token"},
		{"tampered token", func(e *env, tok string) url.Values {
			return userinfoForm(wpID, wpSecret, tok[:10]+flip(tok[10])+tok[11:])
		}, 401, "invalid_token"},
		{"expired token", func(e *env, tok string) url.Values {
			e.clk.Advance(DefaultAccessTokenLifetime + time.Second) // with issue's second of grace
			return userinfoForm(wpID, wpSecret, tok)
		}, 401, "invalid_token"},
		{"session ended", func(e *env, tok string) url.Values {
			e.get(PathLogout)
			return userinfoForm(wpID, wpSecret, tok)
		}, 401, "invalid_token"},
		{"wrong secret", func(e *env, tok string) url.Values { return userinfoForm(wpID, "nope-nope-nope-nope", tok) }, 401, "invalid_client"},
		{"another client's secret", func(e *env, tok string) url.Values { return userinfoForm(wpID, nwSecret, tok) }, 401, "invalid_client"},
		{"missing token", func(e *env, tok string) url.Values { return userinfoForm(wpID, wpSecret, "") }, 400, "invalid_request"},
		{"duplicated token", func(e *env, tok string) url.Values {
			f := userinfoForm(wpID, wpSecret, tok)
			f.Add("access_token", tok)
			return f
		}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			tok := e.issue(wpID, wpSecret, wpCallback)
			a := wantAPIError(t, e.post(PathUserinfo, tc.setup(e, tok)), tc.status, tc.err)
			if tc.err == "invalid_token" && !strings.Contains(a.hdr.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("WWW-Authenticate %q", a.hdr.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestUserinfoRefusesQueryAndGET(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	tok := e.issue(wpID, wpSecret, wpCallback)
	wantAPIError(t, e.post(PathUserinfo+"?access_token="+tok, userinfoForm(wpID, wpSecret, "")), 400, "invalid_request")
	wantAPIError(t, e.get(PathUserinfo+"?"+userinfoForm(wpID, wpSecret, tok).Encode()), 405, "invalid_request")
}

func TestTokenLivesUntilExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Clients[0].AccessTokenLifetime = 2 * time.Hour })
	e.login("alice")
	tok := e.issue(wpID, wpSecret, wpCallback)
	// expires_in was 7200; the token has a second of grace beyond it.
	e.clk.Advance(2 * time.Hour)
	if rec := e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)); rec.Code != http.StatusOK {
		t.Errorf("just before expiry: %d %s", rec.Code, rec.Body)
	}
	e.clk.Advance(time.Second)
	wantAPIError(t, e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)), 401, "invalid_token")
}

// TestLogsCarryNoSecrets runs a whole journey and checks that no code,
// token, secret, state or session ID reached the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	sess := e.login("alice")
	code := e.code(wpID, wpCallback, "state-SECRET-42")
	rec := e.post(PathToken, tokenForm(wpID, wpSecret, code))
	tok := decode(t, rec).body["access_token"].(string)
	e.post(PathToken, tokenForm(wpID, wpSecret, code)) // replay
	e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok))
	e.post(PathToken, tokenForm(wpID, "wrong-"+wpSecret, code))
	logs := e.logs.String()
	if !strings.Contains(logs, "oauth token issued") {
		t.Fatalf("expected audit lines, got %q", logs)
	}
	for what, s := range map[string]string{"code": code, "token": tok, "secret": wpSecret, "state": "state-SECRET-42", "session": sess.ID} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains the %s", what)
		}
	}
}
