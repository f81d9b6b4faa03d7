package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/server"
)

// serveReal serves e's handler through Server.Serve on a real listener, so
// that the server's own timeouts and header limits apply.
func serveReal(t *testing.T, e *secEnv) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// TestSecurityFlowFlood: flooding the login URLs parks at most the per-IP
// and global caps of pending requests, and parked requests expire.
func TestSecurityFlowFlood(t *testing.T) {
	sl, ou := secDirectory(t)
	cfg := secConfig(t, sl, ou, "", "", "")
	cfg.Server.TrustedProxies = []string{"127.0.0.1"}
	e := startSecEnv(t, sl, ou, cfg, server.FlowLimits{PerIP: 20, Global: 50})
	// from sends a login request from ip; parked is its answer: the login
	// form of a new pending request.
	const parked = -1
	from := func(ip string) int {
		req, _ := http.NewRequest(http.MethodGet, e.base+authorizeURL(wpClientID, wpCallback, "s"), nil)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := newBrowserTB(t, e.base).c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if parkedForLogin(resp, body) {
			return parked
		}
		return resp.StatusCode
	}
	for i := range 25 {
		st := from("192.0.2.1")
		if i < 20 && st != parked || i >= 20 && st != http.StatusTooManyRequests {
			t.Fatalf("request %d from one address: %d", i, st)
		}
	}
	if st := from("192.0.2.2"); st != parked {
		t.Fatalf("another address is refused: %d", st)
	}
	// 21 parked so far; the global cap of 50 stops a distributed flood.
	refused := 0
	for i := range 40 {
		if st := from("198.51.100." + string(rune('0'+i/10)) + string(rune('0'+i%10))); st == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused != 40-29 {
		t.Fatalf("global cap: %d of 40 refused, want 11", refused)
	}
	// A parked request expires with its lifetime.
	b := newBrowserTB(t, e.base)
	e.clock.Jump(-time.Hour) // a fresh window for the counters
	_, flow := b.startLogin(authorizeURL(wpClientID, wpCallback, "s"))
	if resp, _ := b.get(flow); resp.StatusCode != http.StatusOK {
		t.Fatalf("parked flow before it expires: %d", resp.StatusCode)
	}
	e.clock.Jump(31 * time.Minute)
	if resp, _ := b.get(flow); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("expired flow: %d", resp.StatusCode)
	}
}

// TestSecurityFlowCapCountsPending: the global cap counts login requests
// still pending, not logins: an IdP serving more logins than the cap in
// one window keeps serving, while parked requests still hit it.
func TestSecurityFlowCapCountsPending(t *testing.T) {
	sl, ou := secDirectory(t)
	e := startSecEnv(t, sl, ou, secConfig(t, sl, ou, "", "", ""), server.FlowLimits{Global: 5})
	for i := range 8 {
		b := newBrowserTB(t, e.base)
		page, _ := b.startLogin(authorizeURL(wpClientID, wpCallback, "s"))
		if resp, body := b.login(page, secUser, secPassword); resp.StatusCode != http.StatusSeeOther ||
			!strings.HasPrefix(resp.Header.Get("Location"), wpCallback) {
			t.Fatalf("login %d: %d %q\n%s", i, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	for i := range 6 {
		resp, body := newBrowserTB(t, e.base).get(authorizeURL(wpClientID, wpCallback, "s"))
		if got := parkedForLogin(resp, []byte(body)); got != (i < 5) || !got && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("parked request %d: HTTP %d, parked %v; want the first 5 parked, then 503", i, resp.StatusCode, got)
		}
	}
}

// TestSecuritySlowAndBigInputs: slow-loris clients are cut off by the
// server's timeouts, and 1 MB and 10 MB parameters are refused quickly
// everywhere while the server stays responsive.
func TestSecuritySlowAndBigInputs(t *testing.T) {
	sl, ou := secDirectory(t)
	cfg := secConfig(t, sl, ou, "", "", "")
	cfg.Server.ReadHeaderTimeout = 500 * time.Millisecond
	cfg.Server.ReadTimeout = time.Second
	e := startSecEnv(t, sl, ou, cfg, server.FlowLimits{})
	base := serveReal(t, e)
	addr := strings.TrimPrefix(base, "http://")

	closedWithin := func(t *testing.T, c net.Conn, d time.Duration) {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadAll(c)
		if took := time.Since(start); err != nil || took > d {
			t.Fatalf("connection still open after %s (err %v)", took, err)
		}
	}
	t.Run("slow headers", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /login HTTP/1.1\r\nHost: x\r\nX-A: ")
		closedWithin(t, c, 2*time.Second)
	})
	t.Run("slow body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000\r\n\r\ngrant_type=")
		closedWithin(t, c, 3*time.Second)
	})
	t.Run("big parameters", func(t *testing.T) {
		hangGuard := &http.Client{Timeout: time.Minute}
		for _, n := range []int{1 << 20, 10 << 20} {
			big := strings.Repeat("a", n)
			for _, tc := range []struct {
				name, method, path string
				form               url.Values
			}{
				{"query", http.MethodGet, "/oauth/authorize?client_id=" + big, nil},
				{"saml query", http.MethodGet, "/saml/sso?SAMLRequest=" + big, nil},
				{"login form", http.MethodPost, "/login", url.Values{"username": {big}, "password": {"x"}}},
				{"token form", http.MethodPost, "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {big}}},
				{"userinfo form", http.MethodPost, "/oauth/userinfo", url.Values{"access_token": {big}}},
				{"saml post", http.MethodPost, "/saml/sso", url.Values{"SAMLRequest": {big}}},
			} {
				var body io.Reader
				if tc.form != nil {
					body = strings.NewReader(tc.form.Encode())
				}
				req, _ := http.NewRequest(tc.method, base+tc.path, body)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				// A hang is a failure; how long a 10 MB upload takes on a
				// loaded machine is not this test's business (no timed
				// assertions: 0.5 s alone, 3.7 s once in a full -race run).
				resp, err := hangGuard.Do(req)
				if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("%s of %d bytes: no answer within %s", tc.name, n, hangGuard.Timeout)
				}
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode < 400 || resp.StatusCode >= 500 {
						t.Errorf("%s of %d bytes: %d", tc.name, n, resp.StatusCode)
					}
				}
				// A connection reset while we still upload is a refusal too.
			}
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		req.Header.Set("Cookie", "idp_session="+strings.Repeat("c", 1<<20))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("1 MB cookie: %d", resp.StatusCode)
			}
		}
		resp, err := http.Get(base + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("server unresponsive after the big inputs: %v", err)
		}
		resp.Body.Close()
	})
}

// proxy forwards TCP connections to target, delaying each chunk by delay,
// or (hang) accepting connections and never answering.
func proxy(t *testing.T, target string, delay time.Duration, hang bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if hang {
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, u)
			mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						dst.Close()
						return
					}
				}
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return "ldap://" + ln.Addr().String()
}

// TestSecurityLDAPFaults: a directory that is down, hung or slow never
// shows as a wrong password, never hangs the login page past its timeouts,
// and a slow one still signs people in.
func TestSecurityLDAPFaults(t *testing.T) {
	sl, ou := secDirectory(t)
	slapdAddr := strings.TrimPrefix(sl.URL, "ldap://")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "ldap://" + dead.Addr().String()
	dead.Close()
	cases := []struct {
		name   string
		url    string
		want   int
		within time.Duration
	}{
		{"down", deadURL, http.StatusServiceUnavailable, 3 * time.Second},
		{"hung", proxy(t, slapdAddr, 0, true), http.StatusServiceUnavailable, 6 * time.Second},
		{"slow", proxy(t, slapdAddr, 150*time.Millisecond, false), http.StatusSeeOther, 8 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := secConfig(t, sl, ou, tc.url, "", "")
			cfg.LDAP.RequestTimeout = 2 * time.Second
			e := startSecEnv(t, sl, ou, cfg, server.FlowLimits{})
			b := newBrowserTB(t, e.base)
			f := loginForm(t, b, "/login")
			f.Set("username", secUser)
			f.Set("password", secPassword)
			start := time.Now()
			resp, body := post(t, b.c, e.base+"/login", f, nil)
			took := time.Since(start)
			if resp.StatusCode != tc.want || took > tc.within {
				t.Fatalf("%d after %s", resp.StatusCode, took)
			}
			if tc.want != http.StatusSeeOther && strings.Contains(body, "올바르지 않습니다") {
				t.Fatal("a directory fault was shown as a wrong password")
			}
		})
	}
}

// TestSecurityClockJumps: a clock that jumps forward ends what has expired;
// one that jumps back does not revive a replayed request or a spent code.
func TestSecurityClockJumps(t *testing.T) {
	e := newSecEnv(t, server.FlowLimits{}, "")
	b := newBrowserTB(t, e.base)
	signIn(t, b, secUser, secPassword)

	q := ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, e.clock.Now())), "r")
	if a := ssoGet(t, b, q); !a.assertion() {
		t.Fatal("control SAML request refused")
	}
	code := codeFor(t, b, wpClientID, wpCallback)
	resp, body := post(t, nil, e.base+"/oauth/token", tokenForm(wpClientID, wpClientSecret, code, ""), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	// Back one hour: the replayed request and the spent code stay refused.
	e.clock.Jump(-time.Hour)
	if a := ssoGet(t, b, q); a.assertion() {
		t.Error("replayed SAML request answered after the clock went back")
	}
	if resp, _ := post(t, nil, e.base+"/oauth/token", tokenForm(wpClientID, wpClientSecret, code, ""), nil); resp.StatusCode == http.StatusOK {
		t.Error("spent code redeemed after the clock went back")
	}
	e.clock.Jump(time.Hour)
	// Forward: a fresh request ages past clock_skew, a code past its
	// lifetime, the session past its lifetime.
	late := ssoQuery(deflateB64(samlXML("ncpworkplace.com", reqID(), acmeACS, e.clock.Now())), "r")
	code = codeFor(t, b, wpClientID, wpCallback)
	e.clock.Jump(10 * time.Minute)
	if a := ssoGet(t, b, late); a.assertion() {
		t.Error("request older than clock_skew answered")
	}
	if resp, _ := post(t, nil, e.base+"/oauth/token", tokenForm(wpClientID, wpClientSecret, code, ""), nil); resp.StatusCode == http.StatusOK {
		t.Error("code redeemed after its lifetime")
	}
	e.clock.Jump(9 * time.Hour)
	if _, body := b.get("/login"); !strings.Contains(body, `name="password"`) {
		t.Error("session alive past its lifetime")
	}
}
