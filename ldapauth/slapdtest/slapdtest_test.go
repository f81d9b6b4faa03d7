package slapdtest_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

func dial(t *testing.T, url string, tc *tls.Config) (*ldap.Conn, error) {
	t.Helper()
	c, err := ldap.DialURL(url, ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(5 * time.Second)
	return c, nil
}

func pool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	p, err := certstest.ReadPool(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartTLSAndLDAPS(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t)
	good := pool(t, s.CAFile)
	wrong := pool(t, s.WrongCAFile(t))

	for _, name := range []string{"127.0.0.1", "localhost"} {
		t.Run("starttls/"+name, func(t *testing.T) {
			c, err := dial(t, s.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.StartTLS(&tls.Config{RootCAs: good, ServerName: name}); err != nil {
				t.Fatalf("StartTLS with the server's CA: %v", err)
			}
			if err := c.Bind(s.RootDN, s.RootPassword); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("ldaps", func(t *testing.T) {
		c, err := dial(t, s.LDAPSURL, &tls.Config{RootCAs: good, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("LDAPS with the server's CA: %v", err)
		}
		if err := c.Bind(s.RootDN, s.RootPassword); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ldaps wrong CA", func(t *testing.T) {
		_, err := dial(t, s.LDAPSURL, &tls.Config{RootCAs: wrong, ServerName: "127.0.0.1"})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("LDAPS with a foreign CA: got %v, want a certificate error", err)
		}
	})
	t.Run("starttls wrong CA", func(t *testing.T) {
		c, err := dial(t, s.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.StartTLS(&tls.Config{RootCAs: wrong, ServerName: "127.0.0.1"}); err == nil {
			t.Fatal("StartTLS with a foreign CA succeeded")
		}
	})
}

func TestLDIFAndOUs(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.WithLDIF("dn: ou=seed,dc=example,dc=test\nobjectClass: organizationalUnit\nou: seed\n"))
	ou1, ou2 := s.NewOU(t), s.NewOU(t)
	if ou1 == ou2 {
		t.Fatalf("NewOU returned %q twice", ou1)
	}
	s.AddLDIF(t, "dn: uid=a,"+ou1+"\nobjectClass: inetOrgPerson\nuid: a\ncn: A\nsn: A\nuserPassword: pw-a\n")

	c := s.Conn(t)
	for _, tc := range []struct {
		base string
		want int
	}{{"ou=seed," + s.BaseDN, 1}, {ou1, 2}, {ou2, 1}} {
		res, err := c.Search(ldap.NewSearchRequest(tc.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		if err != nil {
			t.Fatalf("search %s: %v", tc.base, err)
		}
		if len(res.Entries) != tc.want {
			t.Errorf("search %s: %d entries, want %d", tc.base, len(res.Entries), tc.want)
		}
	}

	// The default ACL lets a user authenticate but hides the password
	// from other users and anonymous readers.
	u, err := dial(t, s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Bind("uid=a,"+ou1, "pw-a"); err != nil {
		t.Fatalf("user bind: %v", err)
	}
	anon, err := dial(t, s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := anon.Search(ldap.NewSearchRequest("uid=a,"+ou1, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"userPassword", "cn"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Entries[0].GetAttributeValue("userPassword"); got != "" {
		t.Errorf("user can read userPassword %q", got)
	}
}

func TestConfigAndStop(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t, slapdtest.WithConfig("allow bind_anon_dn"))
	// An unauthenticated bind (a DN, no password) is only accepted when the
	// extra line made it into slapd.conf.
	c, err := dial(t, s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UnauthenticatedBind("uid=nobody," + s.BaseDN); err != nil {
		t.Fatalf("unauthenticated bind with bind_anon_dn: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, s.URL, nil); err == nil {
		t.Fatal("dial after Stop succeeded")
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestDefaultRefusesUnauthenticatedBind(t *testing.T) {
	t.Parallel()
	s := slapdtest.Start(t)
	c, err := dial(t, s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.UnauthenticatedBind("uid=nobody," + s.BaseDN)
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
		t.Fatalf("unauthenticated bind without bind_anon_dn: got %v, want unwillingToPerform", err)
	}
}
