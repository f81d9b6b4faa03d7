package ldapauth

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// FuzzPlainDN holds entryKey's shortcut to what it stands for: a DN that
// plainDN accepts parses, and prints back as itself (ignoring case), so
// the shortcut and ParseDN give one key.
func FuzzPlainDN(f *testing.F) {
	for _, s := range []string{
		"uid=u004899,ou=people,dc=bench,dc=test",
		"CN=Kim Minsu,OU=Users,DC=corp,DC=example",
		"cn=alice.kim@corp.example,dc=x",
		"cn=a b ,dc=x", "cn= a,dc=x", "cn=a+sn=b,dc=x", `cn=a\,b,dc=x`,
		"cn=#41,dc=x", "2.5.4.3=a,dc=x", "cn=김민수,dc=x", "cn=a,,dc=x", "cn=a, dc=x",
		"", "=", "cn=", "cn==a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainDN(s) {
			return
		}
		dn, err := ldap.ParseDN(s)
		if err != nil {
			t.Fatalf("plainDN(%q) but ParseDN: %v", s, err)
		}
		if got := strings.ToLower(dn.String()); got != strings.ToLower(s) {
			t.Fatalf("plainDN(%q) but ParseDN prints it as %q", s, dn.String())
		}
	})
}

func TestPlainDN(t *testing.T) {
	for s, want := range map[string]bool{
		"uid=u004899,ou=people,dc=bench,dc=test":   true,
		"CN=Kim Minsu,OU=Users,DC=corp,DC=example": true,
		"cn=o'brien,dc=x":                          false,
		"cn=a+sn=b,dc=x":                           false,
		`cn=a\,b,dc=x`:                             false,
		"cn=a, dc=x":                               false,
		"cn=a ,dc=x":                               false,
		"cn=김민수,dc=x":                              false,
		"2.5.4.3=a,dc=x":                           false,
		"cn=a,,dc=x":                               false,
		"":                                         false,
	} {
		if got := plainDN(s); got != want {
			t.Errorf("plainDN(%q) = %v, want %v", s, got, want)
		}
	}
}

func BenchmarkEntryKey(b *testing.B) {
	for _, dn := range []string{"uid=u004899,ou=people,dc=bench,dc=test", "CN=김민수,OU=Users,DC=corp,DC=example"} {
		e := &ldap.Entry{DN: dn}
		b.Run(map[bool]string{true: "plain", false: "parsed"}[plainDN(dn)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = entryKey(e)
			}
		})
	}
}
