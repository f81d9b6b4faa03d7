package ldapauth

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// FuzzUserFilter checks the one place a typed username enters an LDAP
// filter: whatever the username, the filter compiles, keeps exactly the
// configured shape (no injected clause, wildcard or extra nesting), and every
// assertion value is the username itself, byte for byte.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"alice", "*", ")(uid=*", `\`, `\2a`, "(", "a*b", "김철수", "x\x00y", "))(|(objectClass=*", "\xff\xfe"} {
		f.Add(s)
	}
	cfg := UserConfig{Filter: "(objectClass=inetOrgPerson)", LoginAttributes: []string{"uid", "mail"}}
	f.Fuzz(func(t *testing.T, username string) {
		flt := userFilter(cfg, username)
		p, err := ldap.CompileFilter(flt)
		if err != nil {
			t.Fatalf("filter for %q does not compile: %v (%s)", username, err, flt)
		}
		// (&(objectClass=inetOrgPerson)(|(uid=U)(mail=U)))
		if p.Tag != ldap.FilterAnd || len(p.Children) != 2 {
			t.Fatalf("top-level shape changed for %q: %s", username, flt)
		}
		or := p.Children[1]
		if or.Tag != ldap.FilterOr || len(or.Children) != 2 {
			t.Fatalf("login-attribute clause changed for %q: %s", username, flt)
		}
		for i, eq := range or.Children {
			if eq.Tag != ldap.FilterEqualityMatch || len(eq.Children) != 2 {
				t.Fatalf("clause %d is not an equality match for %q: %s", i, username, flt)
			}
			if got := value(eq.Children[1]); got != username {
				t.Fatalf("assertion value %q, want the username %q", got, username)
			}
			if attr := value(eq.Children[0]); attr != cfg.LoginAttributes[i] {
				t.Fatalf("attribute %q, want %q", attr, cfg.LoginAttributes[i])
			}
		}
	})
}

func value(p *ber.Packet) string {
	if b, ok := p.Value.(string); ok {
		return b
	}
	return string(p.Data.Bytes())
}
