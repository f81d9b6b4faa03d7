package ldapauth

import (
	"strings"
	"testing"

	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

// TestTLS runs against a slapd that refuses any operation without TLS
// ("security tls=1"), so a login can only succeed over a verified TLS
// session.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t, slapdtest.WithConfig("security tls=1"))
	f := newFixtureOn(t, srv)
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)
	wrongCA := srv.WrongCAFile(t)
	ldapsPort := srv.LDAPSURL[strings.LastIndex(srv.LDAPSURL, ":")+1:]

	tests := []struct {
		name   string
		edit   func(*Config)
		wantOK bool
	}{
		{"starttls", func(c *Config) {}, true},
		{"ldaps", func(c *Config) { c.URLs = []string{srv.LDAPSURL} }, true},
		{"ldaps by name", func(c *Config) { c.URLs = []string{"ldaps://localhost:" + ldapsPort} }, true},
		{"server_name override", func(c *Config) { c.ServerName = "localhost" }, true},
		{"starttls wrong CA", func(c *Config) { c.CAFile = wrongCA }, false},
		{"ldaps wrong CA", func(c *Config) { c.URLs, c.CAFile = []string{srv.LDAPSURL}, wrongCA }, false},
		{"system roots", func(c *Config) { c.CAFile = "" }, false},
		{"wrong server_name", func(c *Config) { c.ServerName = "ldap.other.example" }, false},
		{"plain is refused by this server", func(c *Config) {
			c.InsecureNoTLS, c.StartTLS, c.CAFile = true, nil, ""
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			tc.edit(&cfg)
			a := f.newAuth(t, cfg)
			if tc.wantOK {
				mustLogin(t, a, "alice", "pw-alice", alice)
				return
			}
			// A certificate problem is an outage for the admin to fix,
			// never "wrong password" for the user.
			mustOutage(t, a, "alice", "pw-alice")
		})
	}
}
