package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// groupAuth is fakeAuth with directory groups.
type groupAuth struct {
	fakeAuth
	groups map[string][]string
}

func (g *groupAuth) Authenticate(ctx context.Context, u, p string) (idp.Identity, bool, error) {
	id, ok, err := g.fakeAuth.Authenticate(ctx, u, p)
	if ok {
		id.Groups = g.groups[u]
	}
	return id, ok, err
}

// recorder is an Auditor that keeps the events.
type recorder struct {
	mu sync.Mutex
	ev []idp.AuditEvent
}

func (r *recorder) Audit(_ context.Context, e idp.AuditEvent) {
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
}

func (r *recorder) events() []idp.AuditEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]idp.AuditEvent(nil), r.ev...)
}

type adminFixture struct {
	*fixture
	rec *recorder
}

// newAdminFixture is newFixture with admin groups, an Auditor that also
// stores the events (as the command wires it), and console values.
func newAdminFixture(t *testing.T, groups []string) *adminFixture {
	t.Helper()
	auth := &groupAuth{
		fakeAuth: fakeAuth{
			users: map[string]string{"root": "root-pw", "alice": "alice-pw", "bob": "bob-pw"},
			state: map[string]idp.AccountState{"bob": idp.StateNotPermitted},
		},
		groups: map[string][]string{
			"root":  {"cn=staff,ou=groups,dc=example,dc=test", "CN=IT Admins, OU=Groups,DC=example,DC=test"},
			"alice": {"cn=staff,ou=groups,dc=example,dc=test"},
		},
	}
	f := &adminFixture{fixture: &fixture{proto: &testProtocol{}, store: store.New(memory.New())}, rec: &recorder{}}
	t.Cleanup(func() { f.store.Close() })
	as := f.store.(idp.AuditStore)
	f.srv = httptest.NewUnstartedServer(nil)
	t.Cleanup(f.srv.Close)
	s, err := New(Options{
		Config:        Config{PublicURL: "http://" + f.srv.Listener.Addr().String()},
		Store:         f.store,
		Authenticator: auth,
		Protocols:     []Protocol{f.proto},
		Auditor:       auditors{f.rec, auditorFunc(func(ctx context.Context, e idp.AuditEvent) { _ = as.PutAudit(ctx, e) })},
		Admin: Admin{
			Config: AdminConfig{Groups: groups},
			Console: func() (AdminConsole, error) {
				return AdminConsole{ServiceProviders: []AdminSP{{Name: "NCP WORKPLACE", Mode: "oauth", Profile: "workplace",
					Fields: []AdminField{{Key: "web_login_url", LabelEN: "Web Login URL", LabelKO: "웹 로그인 URL", Value: "https://sso.example.test/oauth/authorize"}}}}}, nil
			},
			Checks: func(context.Context) []AdminCheck {
				return []AdminCheck{{OK: false, What: "LDAP ldaps://dc1.example.test", Detail: "connection refused", Fix: "check the host"}}
			},
			Certificate: func() ([]byte, error) {
				return []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), nil
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = s.Handler()
	f.srv.Start()
	return f
}

type auditors []Auditor

func (as auditors) Audit(ctx context.Context, e idp.AuditEvent) {
	for _, a := range as {
		a.Audit(ctx, e)
	}
}

type auditorFunc func(context.Context, idp.AuditEvent)

func (f auditorFunc) Audit(ctx context.Context, e idp.AuditEvent) { f(ctx, e) }

// signInForAdmin goes the way an admin does: /admin, redirected to the
// login page, the form, and back to /admin.
func signInForAdmin(t *testing.T, c *http.Client, base, user, pass string) *http.Response {
	t.Helper()
	resp, _ := get(t, c, base+"/admin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fadmin" {
		t.Fatalf("anonymous /admin: %d to %q, want 303 to /login?next=%%2Fadmin", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := get(t, c, base+resp.Header.Get("Location"))
	resp, _ = submitLogin(t, c, base, page, user, pass)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("login with next=/admin: %d to %q, want 303 to /admin", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, c, base+"/admin")
	return resp
}

func TestAdminPage(t *testing.T) {
	f := newAdminFixture(t, []string{"cn=it admins,ou=groups,dc=example,dc=test"})
	base := f.srv.URL

	t.Run("non-admin gets 403", func(t *testing.T) {
		c := browser(t)
		resp := signInForAdmin(t, c, base, "alice", "alice-pw")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("alice: /admin status %d, want 403", resp.StatusCode)
		}
		_, body := get(t, c, base+"/admin?lang=en")
		if !strings.Contains(body, "Only members of the IdP administrators") || strings.Contains(body, "web_login_url") {
			t.Errorf("403 page is not the clear refusal or leaks admin content:\n%s", body)
		}
		if resp, _ := get(t, c, base+"/admin/certificate.pem"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("alice: certificate download %d, want 403", resp.StatusCode)
		}
	})

	t.Run("anonymous certificate download is redirected", func(t *testing.T) {
		resp, _ := get(t, browser(t), base+"/admin/certificate.pem")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want 303 to the login page", resp.StatusCode)
		}
	})

	t.Run("admin sees console, checks and events", func(t *testing.T) {
		// A failed attempt of bob's, to be found by searching for him.
		other := browser(t)
		_, page := get(t, other, base+"/login")
		if resp, _ := submitLogin(t, other, base, page, "bob", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bob's wrong password: status %d", resp.StatusCode)
		}
		c := browser(t)
		resp := signInForAdmin(t, c, base, "root", "root-pw")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("root: /admin status %d, want 200", resp.StatusCode)
		}
		_, body := get(t, c, base+"/admin?lang=en")
		for _, want := range []string{
			"https://sso.example.test/oauth/authorize", `data-copy="https://sso.example.test/oauth/authorize"`,
			"connection refused", "check the host", `href="/admin/certificate.pem"`,
			"success: password", "invalid_credentials", `<script nonce="`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("admin page lacks %q", want)
			}
		}
		_, body = get(t, c, base+"/admin?user=BOB")
		if !strings.Contains(body, "invalid_credentials") || strings.Contains(body, "success: password") {
			t.Errorf("search for bob shows other users' events or misses his:\n%s", body)
		}
		resp, body = get(t, c, base+"/admin/certificate.pem")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "-----BEGIN CERTIFICATE-----") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("certificate download: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
		}
	})

	t.Run("off without groups", func(t *testing.T) {
		off := newAdminFixture(t, nil)
		if resp, _ := get(t, browser(t), off.srv.URL+"/admin"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("/admin without admin.groups: %d, want 404", resp.StatusCode)
		}
	})
}

func TestNextIsSameOriginOnly(t *testing.T) {
	f := newAdminFixture(t, []string{"cn=it admins,ou=groups,dc=example,dc=test"})
	// Query-encoded as an attacker would put them in a link.
	for _, next := range []string{"%2F%2Fevil.example%2F", "%2F%5Cevil.example", "https%3A%2F%2Fevil.example%2F", "javascript:alert(1)", "%2F%0d%0aSet-Cookie:x=1", "admin", "%2F%09%2Fevil.example"} {
		t.Run(next, func(t *testing.T) {
			c := browser(t)
			_, page := get(t, c, f.srv.URL+"/login?next="+next)
			resp, _ := submitLogin(t, c, f.srv.URL, page, "root", "root-pw")
			if loc := resp.Header.Get("Location"); loc != "/login" {
				t.Fatalf("next=%q: redirected to %q, want /login", next, loc)
			}
		})
	}
	tests := []struct{ in, want string }{
		{"/admin", "/admin"}, {"/admin?user=a%20b", "/admin?user=a%20b"}, {"", ""},
		{"//evil.example", ""}, {`/\evil.example`, ""}, {"/a\r\nb", ""}, {"/a\x00", ""},
		{"http://evil.example/admin", ""}, {"evil.example", ""},
	}
	for _, tc := range tests {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAuditEvents: one event per outcome, with the SP and mode of the Flow,
// the client, and the reference ID.
func TestAuditEvents(t *testing.T) {
	f := newAdminFixture(t, nil)
	base := f.srv.URL
	c := browser(t)
	// A Flow: bob is not permitted (Deny), then root signs in (Resume), then
	// a second SP request rides on the session.
	page := flowPage(t, c, base+"/test/start?state=s1")
	submitLogin(t, c, base, page, "bob", "bob-pw")
	page = flowPage(t, c, base+"/test/start?state=s2")
	submitLogin(t, c, base, page, "ghost", "nope")
	submitLogin(t, c, base, page, "root", "root-pw", "User-Agent", "TestBrowser/1.0")
	get(t, c, base+"/test/start?state=s3")
	f.auth = nil
	want := []struct {
		user, sp string
		result   idp.AuditResult
		reason   string
	}{
		{"bob", "test-sp", idp.AuditDenied, string(idp.StateNotPermitted)},
		{"ghost", "test-sp", idp.AuditFailure, idp.ReasonInvalidCredentials},
		{"root", "test-sp", idp.AuditSuccess, idp.ReasonPassword},
		{"root", "test-sp", idp.AuditSuccess, idp.ReasonSSOSession},
	}
	got := f.rec.events()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.User != w.user || e.SP != w.sp || e.Mode != "test" || e.Result != w.result || e.Reason != w.reason {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if e.RequestID == "" || e.IP != "127.0.0.1" || e.Time.IsZero() {
			t.Errorf("event %d lacks request ID, IP or time: %+v", i, e)
		}
	}
	if got[2].UserAgent != "TestBrowser/1.0" || got[2].Subject != "sub-root" {
		t.Errorf("success event: user agent %q, subject %q", got[2].UserAgent, got[2].Subject)
	}
}
