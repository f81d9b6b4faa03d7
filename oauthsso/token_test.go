package oauthsso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

type apiAnswer struct {
	status int
	body   map[string]any
	hdr    http.Header
}

func decode(t testing.TB, rec *httptest.ResponseRecorder) apiAnswer {
	t.Helper()
	a := apiAnswer{status: rec.Code, hdr: rec.Header(), body: map[string]any{}}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body.String())
	}
	return a
}

func wantAPIError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) apiAnswer {
	t.Helper()
	a := decode(t, rec)
	if a.status != status || a.body["error"] != code {
		t.Errorf("got %d %v, want %d error=%s", a.status, a.body, status, code)
	}
	if _, ok := a.body["access_token"]; ok {
		t.Error("error answer carries an access_token")
	}
	if a.hdr.Get("Cache-Control") != "no-store" || a.hdr.Get("Pragma") != "no-cache" {
		t.Errorf("missing no-store headers: %v", a.hdr)
	}
	return a
}

func TestTokenSuccess(t *testing.T) {
	for _, tc := range []struct {
		name, client, secret, redirect string
		wantExpires                    any
		field, wantValue               string
	}{
		{"workplace: expires_in string, email_id", wpID, wpSecret, wpCallback, "3600", "email_id", "alice@acme.example"},
		{"naverworks: expires_in number, user_id", nwID, nwSecret, nwCallback, float64(3600), "user_id", "alice@acme.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			code := e.code(tc.client, tc.redirect, "s")
			a := decode(t, e.post(PathToken, tokenForm(tc.client, tc.secret, code)))
			if a.status != http.StatusOK || a.body["token_type"] != "Bearer" || a.body["expires_in"] != tc.wantExpires {
				t.Fatalf("token: %d %v", a.status, a.body)
			}
			tok, _ := a.body["access_token"].(string)
			if len(tok) != idp.TimedIDLen {
				t.Errorf("access_token %q is not a timed 256-bit opaque token", tok)
			}
			if a.hdr.Get("Cache-Control") != "no-store" || a.hdr.Get("Pragma") != "no-cache" {
				t.Errorf("headers %v", a.hdr)
			}
			u := decode(t, e.post(PathUserinfo, userinfoForm(tc.client, tc.secret, tok)))
			if u.status != http.StatusOK || len(u.body) != 1 || u.body[tc.field] != tc.wantValue {
				t.Errorf("userinfo: %d %v", u.status, u.body)
			}
		})
	}
}

func TestTokenBasicAuthAlone(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	form := tokenForm(wpID, "", e.code(wpID, wpCallback, "s"))
	form.Del("client_secret")
	req := formRequest(PathToken, form)
	req.SetBasicAuth(url.QueryEscape(wpID), url.QueryEscape(wpSecret))
	if a := decode(t, e.serve(req)); a.status != http.StatusOK {
		t.Errorf("Basic alone: %d %v", a.status, a.body)
	}
}

func TestTokenRefusals(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(wpID+":"+wpSecret))
	for _, tc := range []struct {
		name   string
		req    func(code string) *http.Request
		status int
		err    string
		// burns reports whether the code is spent after the refusal.
		burns bool
	}{
		{"wrong secret", func(c string) *http.Request { return formRequest(PathToken, tokenForm(wpID, wpSecret+"x", c)) }, 401, "invalid_client", false},
		{"missing secret", func(c string) *http.Request { return formRequest(PathToken, tokenForm(wpID, "", c)) }, 401, "invalid_client", false},
		{"another client's secret", func(c string) *http.Request { return formRequest(PathToken, tokenForm(wpID, nwSecret, c)) }, 401, "invalid_client", false},
		{"unknown client", func(c string) *http.Request { return formRequest(PathToken, tokenForm("nobody", wpSecret, c)) }, 401, "invalid_client", false},
		{"missing client_id", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Del("client_id")
			return formRequest(PathToken, f)
		}, 400, "invalid_request", false},
		{"secret in query", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Del("client_secret")
			r := formRequest(PathToken+"?client_secret="+url.QueryEscape(wpSecret), f)
			return r
		}, 400, "invalid_request", false},
		{"code in query", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Del("code")
			return formRequest(PathToken+"?code="+c, f)
		}, 400, "invalid_request", false},
		{"basic and form secret", func(c string) *http.Request {
			r := formRequest(PathToken, tokenForm(wpID, wpSecret, c))
			r.Header.Set("Authorization", basic)
			return r
		}, 400, "invalid_request", false},
		{"bearer header", func(c string) *http.Request {
			r := formRequest(PathToken, tokenForm(wpID, wpSecret, c))
			r.Header.Set("Authorization", "Bearer x")
			return r
		}, 400, "invalid_request", false},
		{"GET", func(c string) *http.Request {
			return httptest.NewRequest(http.MethodGet, PathToken+"?"+tokenForm(wpID, wpSecret, c).Encode(), nil)
		}, 405, "invalid_request", false},
		{"JSON body", func(c string) *http.Request {
			b, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "client_id": wpID, "client_secret": wpSecret, "code": c})
			r := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(string(b)))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 400, "invalid_request", false},
		{"multipart body", func(c string) *http.Request {
			r := formRequest(PathToken, tokenForm(wpID, wpSecret, c))
			r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			return r
		}, 400, "invalid_request", false},
		{"no content type", func(c string) *http.Request {
			r := formRequest(PathToken, tokenForm(wpID, wpSecret, c))
			r.Header.Del("Content-Type")
			return r
		}, 400, "invalid_request", false},
		{"duplicated code", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Add("code", c)
			return formRequest(PathToken, f)
		}, 400, "invalid_request", false},
		{"duplicated client_secret", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Add("client_secret", "other")
			return formRequest(PathToken, f)
		}, 400, "invalid_request", false},
		{"missing grant_type", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Del("grant_type")
			return formRequest(PathToken, f)
		}, 400, "invalid_request", false},
		{"password grant", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Set("grant_type", "password")
			return formRequest(PathToken, f)
		}, 400, "unsupported_grant_type", false},
		{"missing code", func(c string) *http.Request { return formRequest(PathToken, tokenForm(wpID, wpSecret, "")) }, 400, "invalid_request", false},
		{"tampered code", func(c string) *http.Request {
			return formRequest(PathToken, tokenForm(wpID, wpSecret, c[:len(c)-1]+flip(c[len(c)-1])))
		}, 400, "invalid_grant", false},
		{"redirect_uri mismatch", func(c string) *http.Request {
			f := tokenForm(wpID, wpSecret, c)
			f.Set("redirect_uri", wpCallback+"/other")
			return formRequest(PathToken, f)
		}, 400, "invalid_grant", true},
		{"code of another client", func(c string) *http.Request { return formRequest(PathToken, tokenForm(nwID, nwSecret, c)) }, 400, "invalid_grant", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := e.code(wpID, wpCallback, "s")
			tokenID := e.tokenIDOf(code)
			wantAPIError(t, e.serve(tc.req(code)), tc.status, tc.err)
			// A burnt code's token, stored when the code was issued, is
			// deleted with it: no unused token stays behind.
			if e.tokenStored(tokenID) == tc.burns {
				t.Errorf("the code's token after the refusal: stored=%v, want deleted=%v", !tc.burns, tc.burns)
			}
			// Refusals before client authentication must leave the code
			// usable; refusals after TakeCode burn it.
			rec := e.post(PathToken, tokenForm(wpID, wpSecret, code))
			if got := rec.Code != http.StatusOK; got != tc.burns {
				t.Errorf("after refusal, redemption status %d; code burnt=%v, want %v", rec.Code, got, tc.burns)
			}
		})
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func TestTokenRedirectURIMatches(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	f := tokenForm(wpID, wpSecret, e.code(wpID, wpCallback, "s"))
	f.Set("redirect_uri", wpCallback)
	f.Set("state", "s")
	if rec := e.post(PathToken, f); rec.Code != http.StatusOK {
		t.Errorf("matching redirect_uri and state: %d %s", rec.Code, rec.Body)
	}
}

func TestTokenOversizedBodyRefusedFast(t *testing.T) {
	e := newEnv(t)
	huge := url.Values{"grant_type": {"authorization_code"}, "code": {strings.Repeat("A", 1<<20)}}.Encode()
	for name, chunked := range map[string]bool{"declared length": false, "chunked": true} {
		t.Run(name, func(t *testing.T) {
			var rec *httptest.ResponseRecorder
			var body *countingReader
			best := time.Hour
			for range 3 { // best of three, as in TestAuthorizeOversizedRefusedFast
				body = &countingReader{r: strings.NewReader(huge)}
				req := httptest.NewRequest(http.MethodPost, PathToken, body)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.ContentLength = int64(len(huge))
				if chunked {
					req.ContentLength = -1
				}
				start := time.Now()
				rec = e.serve(req)
				best = min(best, time.Since(start))
			}
			if best > 100*time.Millisecond {
				t.Errorf("took %s, want < 100ms", best)
			}
			if body.n > MaxBodyBytes+4096 {
				t.Errorf("handler read %d bytes of a 1 MB body, want at most the cap", body.n)
			}
			wantAPIError(t, rec, http.StatusBadRequest, "invalid_request")
		})
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestTokenNumericErrorCode(t *testing.T) {
	e := newEnv(t)
	a := wantAPIError(t, e.post(PathToken, tokenForm(nwID, nwSecret, "no-such-code")), 400, "invalid_grant")
	if a.body["code"] != float64(303) {
		t.Errorf("naverworks error body %v, want numeric code 303", a.body)
	}
	a = wantAPIError(t, e.post(PathToken, tokenForm(nwID, "wrong-secret", "x")), 401, "invalid_client")
	if a.body["code"] != float64(301) {
		t.Errorf("naverworks invalid_client body %v, want code 301", a.body)
	}
	a = wantAPIError(t, e.post(PathToken, tokenForm(wpID, wpSecret, "no-such-code")), 400, "invalid_grant")
	if _, ok := a.body["code"]; ok {
		t.Errorf("workplace error body %v must not carry a numeric code", a.body)
	}
}

// TestCodeReplayRevokesToken: a replayed code revokes the token of its
// first redemption, also when the replaying client hangs up at once (the
// revocation must not run on the request's cancelled context).
func TestCodeReplayRevokesToken(t *testing.T) {
	for _, hangUp := range []bool{false, true} {
		t.Run(fmt.Sprintf("hang up %v", hangUp), func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			code := e.code(wpID, wpCallback, "s")
			first := decode(t, e.post(PathToken, tokenForm(wpID, wpSecret, code)))
			if first.status != http.StatusOK {
				t.Fatalf("first redemption: %d %v", first.status, first.body)
			}
			tok := first.body["access_token"].(string)
			if rec := e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)); rec.Code != http.StatusOK {
				t.Fatalf("userinfo before replay: %d", rec.Code)
			}
			replay := formRequest(PathToken, tokenForm(wpID, wpSecret, code))
			if hangUp {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				e.serve(replay.WithContext(ctx))
			} else {
				wantAPIError(t, e.serve(replay), 400, "invalid_grant")
			}
			wantAPIError(t, e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)), 401, "invalid_token")
			if !strings.Contains(e.logs.String(), "oauth code replayed") {
				t.Error("replay not logged")
			}
		})
	}
}

func TestCodeExpires(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	code := e.code(wpID, wpCallback, "s")
	e.clk.Advance(DefaultCodeLifetime)
	wantAPIError(t, e.post(PathToken, tokenForm(wpID, wpSecret, code)), 400, "invalid_grant")

	// Just inside the lifetime still works.
	code = e.code(wpID, wpCallback, "s")
	e.clk.Advance(DefaultCodeLifetime - time.Second)
	if rec := e.post(PathToken, tokenForm(wpID, wpSecret, code)); rec.Code != http.StatusOK {
		t.Errorf("code at 59s: %d %s", rec.Code, rec.Body)
	}
}

func TestCodeAfterLogoutIsRefused(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	code := e.code(wpID, wpCallback, "s")
	tokenID := e.tokenIDOf(code)
	e.get(PathLogout)
	wantAPIError(t, e.post(PathToken, tokenForm(wpID, wpSecret, code)), 400, "invalid_grant")
	if e.tokenStored(tokenID) {
		t.Error("the code's token is still stored after the refusal")
	}
}

// TestTokenGoneAtRedemption: a code whose token was deleted since issue (a
// replay, a store that lost it) is refused with invalid_grant, not a 5xx,
// and is spent.
func TestTokenGoneAtRedemption(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	code := e.code(wpID, wpCallback, "s")
	if err := e.st.Store.RevokeToken(t.Context(), e.tokenIDOf(code)); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, e.post(PathToken, tokenForm(wpID, wpSecret, code)), 400, "invalid_grant")
	if _, err := e.st.Store.TakeCode(t.Context(), code); !errors.Is(err, idp.ErrAlreadyUsed) {
		t.Errorf("code after the refusal: %v, want spent", err)
	}
}

func TestConcurrentRedemption(t *testing.T) {
	e := newEnv(t)
	e.login("alice")
	code := e.code(wpID, wpCallback, "s")
	const n = 20
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			recs[i] = e.post(PathToken, tokenForm(wpID, wpSecret, code))
		}()
	}
	close(start)
	wg.Wait()
	ok, grant := 0, 0
	var tok string
	for _, r := range recs {
		a := decode(t, r)
		switch {
		case a.status == http.StatusOK:
			ok++
			tok = a.body["access_token"].(string)
		case a.status == http.StatusBadRequest && a.body["error"] == "invalid_grant":
			grant++
		default:
			t.Errorf("unexpected answer %d %v", a.status, a.body)
		}
	}
	if ok > 1 || ok+grant != n {
		t.Errorf("%d successes and %d invalid_grant of %d", ok, grant, n)
	}
	// Every other redemption was a replay, so the one token is revoked
	// whichever way the race went.
	if tok != "" {
		wantAPIError(t, e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)), 401, "invalid_token")
	}
	// The token was stored once, with the code; the race wrote no other,
	// and the replays deleted that one.
	spent, err := e.st.Store.TakeCode(t.Context(), code)
	if !errors.Is(err, idp.ErrAlreadyUsed) {
		t.Fatalf("code after the race: %v, want spent", err)
	}
	if e.tokenStored(spent.TokenID) {
		t.Error("the raced code's token is still stored")
	}
	if got := e.st.putTokens.Load(); got != 1 {
		t.Errorf("%d token writes for one code and %d redemptions, want 1", got, n)
	}
}

// TestExpiresIn: the token is stored when the code is issued, so its
// lifetime runs from then; expires_in is what is left in whole seconds,
// never more (a second of grace makes it the configured lifetime for a
// prompt SP); the token call writes nothing but the spent code.
func TestExpiresIn(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait time.Duration
		want float64
	}{
		{"prompt", 0, 3600},
		{"after 10.4s", 10400 * time.Millisecond, 3590},
		{"after 59s", 59 * time.Second, 3542},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			code := e.code(nwID, nwCallback, "")
			e.clk.Advance(tc.wait)
			before := e.st.putTokens.Load()
			a := decode(t, e.post(PathToken, tokenForm(nwID, nwSecret, code)))
			if a.status != http.StatusOK || a.body["expires_in"] != tc.want {
				t.Fatalf("got %d %v, want expires_in %v", a.status, a.body, tc.want)
			}
			if got := e.st.putTokens.Load() - before; got != 0 {
				t.Errorf("the token call stored %d tokens, want 0", got)
			}
			// The token answers for at least as long as announced.
			tok := a.body["access_token"].(string)
			e.clk.Advance(time.Duration(tc.want)*time.Second - time.Millisecond)
			if rec := e.post(PathUserinfo, userinfoForm(nwID, nwSecret, tok)); rec.Code != http.StatusOK {
				t.Errorf("just before expires_in ran out: %d %s", rec.Code, rec.Body)
			}
			e.clk.Advance(time.Second + time.Millisecond)
			wantAPIError(t, e.post(PathUserinfo, userinfoForm(nwID, nwSecret, tok)), 401, "invalid_token")
		})
	}
}

// denyAfter is a ClientLimiter that refuses a client after n failures.
type denyAfter struct {
	mu     sync.Mutex
	n      int
	failed map[string]int
}

func (d *denyAfter) Allow(_ context.Context, id, _ string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed[id] < d.n, nil
}
func (d *denyAfter) Failed(_ context.Context, id, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed[id]++
	return nil
}

func TestClientLimiterSeam(t *testing.T) {
	lim := &denyAfter{n: 2, failed: map[string]int{}}
	cfg := testConfig()
	p, err := New(cfg, WithClientLimiter(lim))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.p, e.h.p = p, p
	e.e = echo.New()
	p.Register(e.e, e.h)
	for range 2 {
		wantAPIError(t, e.post(PathUserinfo, userinfoForm(wpID, "wrong-secret-000000", "t")), 401, "invalid_client")
	}
	// Now even the right secret is refused for this client, not for others.
	wantAPIError(t, e.post(PathUserinfo, userinfoForm(wpID, wpSecret, "t")), 429, "invalid_client")
	wantAPIError(t, e.post(PathUserinfo, userinfoForm(nwID, nwSecret, "t")), 401, "invalid_token")
}
