package ldapdemo

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestFilters sends each filter over the wire (go-ldap compiles it, gldap
// decodes it, the server evaluates it) and checks the entries found under
// the whole demo tree.
func TestFilters(t *testing.T) {
	s := startDemo(t)
	c := bindService(t, s)
	users := []string{demoDN, minsuDN, jiwonDN, obrienDN}
	all := []string{base, people, groups, services, serviceDN, demoDN, minsuDN, jiwonDN, obrienDN, ssoDN, adminsDN}
	byUsername := func(u string) string {
		u = ldap.EscapeFilter(u)
		return "(&(objectClass=inetOrgPerson)(|(uid=" + u + ")(mail=" + u + ")))"
	}
	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		// Equality: names and values ignore case and insignificant spaces.
		{"uid", "(uid=demo)", []string{demoDN}},
		{"case-insensitive name and value", "(UID=DeMo)", []string{demoDN}},
		{"insignificant spaces", "(cn=  김데모 )", []string{demoDN}},
		{"korean cn", "(cn=김민수)", []string{minsuDN}},
		{"entryUUID any case", "(entryUUID=AC9FA116-9C1B-4CA2-A66F-EDB6509EEC32)", []string{minsuDN}},
		{"approx is equality", "(uid~=DEMO)", []string{demoDN}},
		{"empty value", "(uid=)", nil},
		{"no such attribute", "(employeeNumber=1)", nil},

		// The authenticator's user search, with the username escaped once.
		{"login by uid", byUsername("kim.minsu"), []string{minsuDN}},
		{"login by mail", byUsername("Minsu.Kim@demo.example"), []string{minsuDN}},
		{"login with metacharacters", byUsername(obrienUID), []string{obrienDN}},
		{"escaped star matches no one", byUsername("*"), nil},
		{"escaped partial star", byUsername("o'brien*"), nil},
		{"escaped parenthesis", byUsername("demo)(uid=*"), nil},
		{"unknown user", byUsername("nobody"), nil},

		// Substrings.
		{"initial", "(uid=kim*)", []string{minsuDN}},
		{"final", "(mail=*@demo.example)", users},
		{"any", "(sn=*ri*)", []string{obrienDN}},
		{"initial any final", "(uid=k*.*u)", []string{minsuDN}},
		{"korean initial", "(cn=김*)", []string{demoDN, minsuDN}},
		{"escaped star inside substrings", `(uid=*\2a)`, []string{obrienDN}},
		{"parts in order", "(uid=*minsu*kim*)", nil},

		// Present.
		{"present", "(uid=*)", users},
		{"objectClass present", "(objectClass=*)", all},

		// Ordering: strings compare after case folding.
		{"greater or equal", "(uid>=LEE)", []string{jiwonDN, obrienDN}},
		{"less or equal", "(uid<=demo)", []string{demoDN}},

		// Boolean operators.
		{"and", "(&(objectClass=person)(sn=Kim))", []string{demoDN, minsuDN}},
		{"or", "(|(uid=demo)(cn=이지원))", []string{demoDN, jiwonDN}},
		{"not", "(&(objectClass=inetOrgPerson)(!(sn=kim)))", []string{jiwonDN, obrienDN}},
		{"nested", "(&(objectClass=inetOrgPerson)(|(uid=demo)(!(|(sn=kim)(sn=lee)))))", []string{demoDN, obrienDN}},
		{"absolute true", "(&)", all},
		{"absolute false", "(|)", nil},

		// Groups: member matches as a DN, in any spelling.
		{"groups of member", "(&(objectClass=groupOfNames)(member=" + ldap.EscapeFilter(minsuDN) + "))", []string{ssoDN, adminsDN}},
		{"member in other spelling", "(member=UID=Kim.Minsu, OU=People,DC=demo,DC=EXAMPLE)", []string{ssoDN, adminsDN}},
		{"member with metacharacters", "(member=" + ldap.EscapeFilter(obrienDN) + ")", []string{ssoDN}},
		{"member not a DN is undefined", "(!(member=not a dn))", nil},
		{"member has no substrings rule", "(member=uid=demo*)", nil},

		// userPassword cannot be probed, and Undefined survives NOT.
		{"password equality", "(userPassword=demo1234)", nil},
		{"password present", "(userPassword=*)", nil},
		{"password substrings", "(userPassword=demo*)", nil},
		{"password under not", "(!(userPassword=wrong))", nil},
		{"password under and", "(&(uid=demo)(!(userPassword=wrong)))", nil},
		{"undefined or true is true", "(|(uid=demo)(userPassword=demo1234))", []string{demoDN}},

		// Extensible match is not supported: Undefined, never true.
		{"extensible", "(cn:caseExactMatch:=김데모)", nil},
		{"extensible under not", "(&(uid=demo)(!(cn:=x)))", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := searchDNs(t, c, base, ldap.ScopeWholeSubtree, tt.filter, "1.1")
			if !slices.Equal(got, tt.want) {
				t.Errorf("filter %s found\n%q\nwant\n%q", tt.filter, got, tt.want)
			}
		})
	}
}

func TestSubstringsDoNotOverlap(t *testing.T) {
	d := loadString(t, "dn: dc=x\ndc: x\n\ndn: cn=aba,dc=x\ncn: aba\n\ndn: cn=abba,dc=x\ncn: abba\n\ndn: cn=a b,dc=x\ncn: a  b\n")
	tests := []struct {
		filter string
		want   []string
	}{
		{"(cn=ab*ba)", []string{"cn=abba,dc=x"}},
		{"(cn=a*a)", []string{"cn=aba,dc=x", "cn=abba,dc=x"}},
		{"(cn=*b*b*)", []string{"cn=abba,dc=x"}},
		{"(cn=a *)", []string{"cn=a b,dc=x"}},
		{"(cn=a b)", []string{"cn=a b,dc=x"}},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			res, rerr := d.search(query{baseDN: "dc=x", scope: 2, filter: tt.filter})
			if rerr != nil {
				t.Fatalf("search: %v", rerr)
			}
			var got []string
			for _, r := range res {
				got = append(got, r.dn)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCompileFilterErrors(t *testing.T) {
	deep := strings.Repeat("(!", maxFilterDepth+1) + "(cn=a)" + strings.Repeat(")", maxFilterDepth+1)
	for _, f := range []string{"", "cn=a", "(cn=a", "(cn=a))", `(cn=\zz)`, deep} {
		if _, err := compileFilter(f); !errors.Is(err, errFilter) {
			t.Errorf("compileFilter(%q) error = %v, want errFilter", f, err)
		}
	}
	if _, err := compileFilter(strings.Repeat("(!", maxFilterDepth) + "(cn=a)" + strings.Repeat(")", maxFilterDepth)); err != nil {
		t.Errorf("filter nested %d levels: %v", maxFilterDepth, err)
	}
}
