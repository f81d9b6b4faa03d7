package ldapdemo

import (
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const demoLDIF = "../../testdata/demo.ldif"

// Demo DNs, spelled as in testdata/demo.ldif.
const (
	base       = "dc=demo,dc=example"
	people     = "ou=people," + base
	groups     = "ou=groups," + base
	services   = "ou=services," + base
	serviceDN  = "cn=idp-service," + services
	servicePW  = "demo-service-secret"
	demoDN     = "uid=demo," + people
	minsuDN    = "uid=kim.minsu," + people
	jiwonDN    = "uid=lee.jiwon," + people
	obrienDN   = "uid=o'brien(test)*," + people
	ssoDN      = "cn=sso-users," + groups
	adminsDN   = "cn=it-admins," + groups
	obrienUID  = "o'brien(test)*"
	obrienPass = "Obrien!2345"
)

// loadDemo loads testdata/demo.ldif.
func loadDemo(t *testing.T) *Directory {
	t.Helper()
	d, err := LoadFile(demoLDIF)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	return d
}

// loadString loads an LDIF given as a string.
func loadString(t *testing.T, ldif string) *Directory {
	t.Helper()
	d, err := Load(strings.NewReader(ldif))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return d
}

// startDemo serves testdata/demo.ldif for the duration of the test.
func startDemo(t *testing.T) *Server {
	t.Helper()
	return startDir(t, loadDemo(t))
}

func startDir(t *testing.T, d *Directory) *Server {
	t.Helper()
	s, err := StartDirectory(t.Context(), d)
	if err != nil {
		t.Fatalf("StartDirectory: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// dial opens a client connection that is closed when the test ends.
func dial(t *testing.T, s *Server) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL())
	if err != nil {
		t.Fatalf("DialURL: %v", err)
	}
	c.SetTimeout(5 * time.Second)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// bindService opens a connection bound as the service account.
func bindService(t *testing.T, s *Server) *ldap.Conn {
	t.Helper()
	c := dial(t, s)
	if err := c.Bind(serviceDN, servicePW); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	return c
}

// searchDNs runs a search and returns the DNs found.
func searchDNs(t *testing.T, c *ldap.Conn, baseDN string, scope int, filter string, attrs ...string) []string {
	t.Helper()
	res, err := c.Search(ldap.NewSearchRequest(baseDN, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		t.Fatalf("search %s %q: %v", baseDN, filter, err)
	}
	return dnsOf(res.Entries)
}

func dnsOf(entries []*ldap.Entry) []string {
	dns := make([]string, 0, len(entries))
	for _, e := range entries {
		dns = append(dns, e.DN)
	}
	return dns
}
