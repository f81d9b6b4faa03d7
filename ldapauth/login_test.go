package ldapauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

func TestLoginAttributes(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)

	t.Run("uid and mail", func(t *testing.T) {
		f := newFixtureOn(t, srv)
		alice := f.user(t, "Alice", "alice", "alice@corp.example", "pw-alice", nil)
		f.user(t, "Bob", "bob", "bob@corp.example", "pw-bob", nil)
		a := f.newAuth(t, f.config())
		mustLogin(t, a, "alice", "pw-alice", alice)
		mustLogin(t, a, "alice@corp.example", "pw-alice", alice)
		mustLogin(t, a, "ALICE", "pw-alice", alice) // uid matches case-insensitively
		mustRefuse(t, a, "alice", "pw-bob")
		mustRefuse(t, a, "alice", "PW-ALICE")
		mustRefuse(t, a, "nobody", "pw-alice")
		if !strings.Contains(f.log.String(), `"reason":"wrong_password"`) ||
			!strings.Contains(f.log.String(), `"reason":"unknown_user"`) {
			t.Errorf("failed logins not logged with a reason:\n%s", f.log)
		}
	})

	t.Run("mail only", func(t *testing.T) {
		f := newFixtureOn(t, srv)
		alice := f.user(t, "Alice", "alice", "alice@corp.example", "pw-alice", nil)
		cfg := f.config()
		cfg.User.LoginAttributes = []string{"mail"}
		a := f.newAuth(t, cfg)
		mustLogin(t, a, "alice@corp.example", "pw-alice", alice)
		mustRefuse(t, a, "alice", "pw-alice")
	})

	t.Run("filter restricts", func(t *testing.T) {
		f := newFixtureOn(t, srv)
		f.user(t, "Alice", "alice", "", "pw-alice", map[string][]string{"employeeType": {"contractor"}})
		staff := f.user(t, "Bob", "bob", "", "pw-bob", map[string][]string{"employeeType": {"staff"}})
		cfg := f.config()
		cfg.User.Filter = "(&(objectClass=inetOrgPerson)(employeeType=staff))"
		a := f.newAuth(t, cfg)
		mustRefuse(t, a, "alice", "pw-alice")
		mustLogin(t, a, "bob", "pw-bob", staff)
	})

	t.Run("filter template", func(t *testing.T) {
		f := newFixtureOn(t, srv)
		alice := f.user(t, "Alice", "alice", "", "pw-alice", map[string][]string{"employeeNumber": {"E-1001"}})
		cfg := f.config()
		cfg.User.FilterTemplate = "(&(objectClass=inetOrgPerson)(employeeNumber={username}))"
		a := f.newAuth(t, cfg)
		id := mustLogin(t, a, "E-1001", "pw-alice", alice)
		if id.Username != "alice" {
			t.Errorf("Username = %q, want the uid alice", id.Username)
		}
		mustRefuse(t, a, "alice", "pw-alice")
		mustRefuse(t, a, "E-*", "pw-alice")
	})

	t.Run("one level scope", func(t *testing.T) {
		f := newFixtureOn(t, srv)
		f.add(t, "ou=sub,"+f.ou, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"sub"}})
		top := f.user(t, "Top", "top", "", "pw-top", nil)
		f.add(t, "cn=Deep,ou=sub,"+f.ou, map[string][]string{
			"objectClass": {"inetOrgPerson"}, "cn": {"Deep"}, "sn": {"Deep"}, "uid": {"deep"}, "userPassword": {"pw-deep"}})
		cfg := f.config()
		cfg.User.Scope = "one"
		a := f.newAuth(t, cfg)
		mustLogin(t, a, "top", "pw-top", top)
		mustRefuse(t, a, "deep", "pw-deep")
	})
}

// TestUsernameMetacharacters proves the username is escaped exactly once:
// filter syntax typed as a username matches nobody else, and users whose
// uid really contains those characters can still sign in.
func TestUsernameMetacharacters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.user(t, "Alice", "alice", "alice@corp.example", "pw-alice", nil)
	odd := map[string]string{ // uid -> cn
		"*":       "star",
		")(uid=*": "injection",
		`\`:       "backslash",
		`\2a`:     "escaped-star",
		"(":       "paren",
		"김철수":     "hangul",
		"a*":      "a-star",
	}
	dns := map[string]string{}
	for uid, cn := range odd {
		dns[uid] = f.user(t, cn, uid, "", "pw-"+cn, nil)
	}
	a := f.newAuth(t, f.config())

	for uid, cn := range odd {
		t.Run(cn, func(t *testing.T) {
			mustLogin(t, a, uid, "pw-"+cn, dns[uid])
			mustRefuse(t, a, uid, "pw-alice")
		})
	}
	// Typed filter syntax that, unescaped, would match alice (alone in
	// some cases) must not sign her in.
	for _, u := range []string{"al*", "*lice", "alice)(uid=*", "*)(|(uid=*", "alice)(|(objectClass=*", `al\2a`, "alice\x00", "\x00"} {
		t.Run("no match "+strings.ReplaceAll(u, "\x00", "NUL"), func(t *testing.T) {
			mustRefuse(t, a, u, "pw-alice")
		})
	}
	mustLogin(t, a, "alice", "pw-alice", alice)

	// A NUL inside a uid: slapd refuses to store one (directoryString), so
	// there is no such user to find; the escaped filter must still be
	// answered (no outage) and match nothing.
	c := f.srv.Conn(t)
	err := c.Add(&ldap.AddRequest{DN: "cn=nul," + f.ou, Attributes: []ldap.Attribute{
		{Type: "objectClass", Vals: []string{"inetOrgPerson"}}, {Type: "cn", Vals: []string{"nul"}},
		{Type: "sn", Vals: []string{"nul"}}, {Type: "uid", Vals: []string{"a\x00b"}}, {Type: "userPassword", Vals: []string{"pw-nul"}},
	}})
	if err == nil {
		mustLogin(t, a, "a\x00b", "pw-nul", "cn=nul,"+f.ou)
	} else {
		t.Logf("slapd refuses a NUL in uid (%v)", err)
		mustRefuse(t, a, "a\x00b", "pw-nul")
	}
}

// TestEmptyPassword: a DN with an empty password is an "unauthenticated
// bind" that this slapd accepts (allow bind_anon_dn); Authenticate must
// refuse it before asking the directory.
func TestEmptyPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, slapdtest.WithConfig("allow bind_anon_dn"))
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)

	raw, err := ldap.DialURL(f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.UnauthenticatedBind(alice); err != nil {
		t.Fatalf("precondition: slapd should accept an unauthenticated bind: %v", err)
	}

	a := f.newAuth(t, f.config())
	mustRefuse(t, a, "alice", "")
	mustLogin(t, a, "alice", "pw-alice", alice)

	// Refused before any I/O: against a server that is not there, an empty
	// password is still a plain "no", not an outage.
	cfg := f.config()
	cfg.URLs = []string{"ldap://" + closedPort(t)}
	dead := f.newAuth(t, cfg)
	mustRefuse(t, dead, "alice", "")
	mustRefuse(t, dead, "", "pw")
	mustRefuse(t, dead, strings.Repeat("a", maxUsernameLen+1), "pw")
	mustRefuse(t, dead, "bad\xffutf8", "pw")
	if !strings.Contains(f.log.String(), `"reason":"empty_password"`) {
		t.Errorf("empty password not logged:\n%s", f.log)
	}
}

func TestAmbiguousUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.user(t, "First", "first", "shared@corp.example", "pw-first", nil)
	f.user(t, "Second", "second", "shared@corp.example", "pw-second", nil)
	f.user(t, "Third", "third", "shared@corp.example", "pw-third", nil)
	a := f.newAuth(t, f.config())
	mustRefuse(t, a, "shared@corp.example", "pw-first")
	mustRefuse(t, a, "shared@corp.example", "pw-second")
	mustLogin(t, a, "first", "pw-first", first)
	if !strings.Contains(f.log.String(), `"level":"WARN","msg":"login failed","event":"login_failed","reason":"ambiguous_user"`) {
		t.Errorf("ambiguous match not logged as a warning:\n%s", f.log)
	}
}

func TestServiceAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, slapdtest.WithConfig("allow bind_anon_dn"))
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)
	ctx := context.Background()

	t.Run("wrong service password is an outage", func(t *testing.T) {
		cfg := f.config()
		cfg.BindPassword = "not-the-service-password"
		a := f.newAuth(t, cfg)
		mustOutage(t, a, "alice", "pw-alice")
		if err := a.Check(ctx); !isUnavailable(err) {
			t.Errorf("Check = %v, want ErrDirectoryUnavailable", err)
		}
		if !strings.Contains(f.log.String(), `"level":"ERROR"`) {
			t.Errorf("outage not logged at Error:\n%s", f.log)
		}
	})
	t.Run("check", func(t *testing.T) {
		a := f.newAuth(t, f.config())
		if err := a.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
		mustLogin(t, a, "alice", "pw-alice", alice)
		if err := a.Check(ctx); err != nil { // on the pooled connection
			t.Fatalf("Check on a pooled connection: %v", err)
		}
		a.Close()
		mustOutage(t, a, "alice", "pw-alice")
	})
	t.Run("anonymous", func(t *testing.T) {
		cfg := f.config()
		cfg.BindDN, cfg.BindPassword, cfg.AnonymousBind = "", "", true
		a := f.newAuth(t, cfg)
		mustLogin(t, a, "alice", "pw-alice", alice)
		if err := a.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
	t.Run("wrong base DN is an outage", func(t *testing.T) {
		cfg := f.config()
		cfg.User.BaseDN = "ou=missing," + f.srv.BaseDN
		a := f.newAuth(t, cfg)
		mustOutage(t, a, "alice", "pw-alice")
	})
	t.Run("server stopped", func(t *testing.T) {
		g := newFixture(t)
		bob := g.user(t, "Bob", "bob", "", "pw-bob", nil)
		a := g.newAuth(t, g.config())
		mustLogin(t, a, "bob", "pw-bob", bob) // leaves a pooled connection
		if err := g.srv.Stop(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		mustOutage(t, a, "bob", "pw-bob")
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("outage took %v to report", d)
		}
		if err := a.Check(ctx); !isUnavailable(err) {
			t.Errorf("Check = %v, want ErrDirectoryUnavailable", err)
		}
	})
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.user(t, "Alice", "alice", "", "pw-alice", nil)
	cfg := f.config()
	cfg.URLs = []string{"ldap://" + hungServer(t)}
	cfg.DialTimeout, cfg.RequestTimeout = 10*time.Second, 10*time.Second
	a := f.newAuth(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, ok, err := a.Authenticate(ctx, "alice", "pw-alice")
	if ok || !isUnavailable(err) {
		t.Fatalf("Authenticate = (%v, %v), want ErrDirectoryUnavailable", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Authenticate ignored the context deadline: took %v", d)
	}
}
