package ldapdemo

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestBind(t *testing.T) {
	s := startDemo(t)
	tests := []struct {
		name, dn, password string
		wantCode           uint16 // 0: success
	}{
		{"service account", serviceDN, servicePW, 0},
		{"user", demoDN, "demo1234", 0},
		{"dn in other spelling", "UID=Demo, OU=People, DC=Demo, DC=Example", "demo1234", 0},
		{"dn with metacharacters", obrienDN, obrienPass, 0},
		{"korean password user", minsuDN, "Minsu!2345", 0},
		{"wrong password", demoDN, "demo12345", ldap.LDAPResultInvalidCredentials},
		{"password of another user", demoDN, "Minsu!2345", ldap.LDAPResultInvalidCredentials},
		{"password case matters", minsuDN, "minsu!2345", ldap.LDAPResultInvalidCredentials},
		{"unknown dn", "uid=nobody," + people, "demo1234", ldap.LDAPResultInvalidCredentials},
		{"entry without password", people, "x", ldap.LDAPResultInvalidCredentials},
		{"invalid dn", "not a dn", "demo1234", ldap.LDAPResultInvalidCredentials},
		{"password without dn", "", "demo1234", ldap.LDAPResultInvalidCredentials},
		{"hash is not a password", demoDN, "{SSHA}x", ldap.LDAPResultInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s)
			err := c.Bind(tt.dn, tt.password)
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("Bind: %v", err)
			case tt.wantCode != 0 && !ldap.IsErrorWithCode(err, tt.wantCode):
				t.Fatalf("Bind error = %v, want result code %d", err, tt.wantCode)
			}
		})
	}
}

func TestUnauthenticatedBindRefused(t *testing.T) {
	s := startDemo(t)
	c := dial(t, s)
	// go-ldap refuses an empty password itself unless asked to send it.
	if err := c.Bind(demoDN, ""); err == nil {
		t.Fatal("client-side Bind with empty password succeeded")
	}
	err := c.UnauthenticatedBind(demoDN)
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Fatalf("UnauthenticatedBind error = %v, want unwillingToPerform", err)
	}
	if _, err := c.Search(userSearch("demo")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Fatalf("search after unauthenticated bind: %v, want insufficientAccessRights", err)
	}
}

func TestSearchNeedsBind(t *testing.T) {
	s := startDemo(t)
	t.Run("no bind", func(t *testing.T) {
		c := dial(t, s)
		if _, err := c.Search(userSearch("demo")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Fatalf("search error = %v, want insufficientAccessRights", err)
		}
	})
	t.Run("anonymous bind", func(t *testing.T) {
		c := dial(t, s)
		if err := c.UnauthenticatedBind(""); err != nil {
			t.Fatalf("anonymous bind: %v", err)
		}
		if _, err := c.Search(userSearch("demo")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Fatalf("search error = %v, want insufficientAccessRights", err)
		}
	})
	t.Run("after failed bind", func(t *testing.T) {
		// The authenticator's pattern on one connection: service bind,
		// search, user bind. A wrong user password must not leave the
		// connection bound as the service account.
		c := bindService(t, s)
		if _, err := c.Search(userSearch("demo")); err != nil {
			t.Fatalf("search as service: %v", err)
		}
		if err := c.Bind(demoDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("wrong bind error = %v", err)
		}
		if _, err := c.Search(userSearch("demo")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Fatalf("search after failed bind: %v, want insufficientAccessRights", err)
		}
	})
	t.Run("anonymous rebind", func(t *testing.T) {
		c := bindService(t, s)
		if err := c.UnauthenticatedBind(""); err != nil {
			t.Fatalf("anonymous bind: %v", err)
		}
		if _, err := c.Search(userSearch("demo")); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Fatalf("search after anonymous rebind: %v, want insufficientAccessRights", err)
		}
	})
}

func TestRebindChangesIdentity(t *testing.T) {
	s := startDemo(t)
	c := bindService(t, s)
	if err := c.Bind(demoDN, "demo1234"); err != nil {
		t.Fatalf("user bind: %v", err)
	}
	if got := whoAmI(t, s, c); got != demoDN {
		t.Fatalf("bound as %q after rebind, want %q", got, demoDN)
	}
	if err := c.Bind(serviceDN, servicePW); err != nil {
		t.Fatalf("service rebind: %v", err)
	}
	if got := whoAmI(t, s, c); got != serviceDN {
		t.Fatalf("bound as %q after second rebind, want %q", got, serviceDN)
	}
}

// whoAmI returns the DN the server has recorded for the client's connection.
// The client connection is the only one open to this test's server.
func whoAmI(t *testing.T, s *Server, c *ldap.Conn) string {
	t.Helper()
	// A search proves the bind has been processed before we look.
	if _, err := c.Search(userSearch("demo")); err != nil {
		t.Fatalf("search: %v", err)
	}
	sess := s.sessions
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if len(sess.bound) != 1 {
		t.Fatalf("sessions = %v, want exactly one", sess.bound)
	}
	for _, dn := range sess.bound {
		return dn
	}
	return ""
}

// userSearch is the authenticator's user search.
func userSearch(username string) *ldap.SearchRequest {
	u := ldap.EscapeFilter(username)
	return ldap.NewSearchRequest(people, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
		"(&(objectClass=inetOrgPerson)(|(uid="+u+")(mail="+u+")))", []string{"uid", "mail", "cn", "entryUUID"}, nil)
}

func TestBindLogsNoPasswords(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := StartDirectory(t.Context(), loadDemo(t), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	_ = c.Bind(demoDN, "Wrong-Pa55word")
	_ = c.Bind(demoDN, "demo1234")
	_ = c.UnauthenticatedBind(demoDN)
	c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"ldapdemo bind failed", "ldapdemo bind succeeded", "ldapdemo bind refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"Wrong-Pa55word", "demo1234"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a password:\n%s", out)
		}
	}
}
