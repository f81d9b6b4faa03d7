package ldapdemo

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestScopes(t *testing.T) {
	s := startDemo(t)
	c := bindService(t, s)
	users := []string{demoDN, minsuDN, jiwonDN, obrienDN}
	tests := []struct {
		name   string
		base   string
		scope  int
		filter string
		want   []string
	}{
		{"base", people, ldap.ScopeBaseObject, "(objectClass=*)", []string{people}},
		{"base filtered out", people, ldap.ScopeBaseObject, "(uid=*)", nil},
		{"base of a user", demoDN, ldap.ScopeBaseObject, "(objectClass=*)", []string{demoDN}},
		{"base of a group", ssoDN, ldap.ScopeBaseObject, "(member=" + ldap.EscapeFilter(demoDN) + ")", []string{ssoDN}},
		{"base group without member", adminsDN, ldap.ScopeBaseObject, "(member=" + ldap.EscapeFilter(demoDN) + ")", nil},
		{"one level", people, ldap.ScopeSingleLevel, "(objectClass=*)", users},
		{"one level excludes grandchildren", base, ldap.ScopeSingleLevel, "(objectClass=*)", []string{people, groups, services}},
		{"subtree includes base", people, ldap.ScopeWholeSubtree, "(objectClass=*)", append([]string{people}, users...)},
		{"subtree of a leaf", demoDN, ldap.ScopeWholeSubtree, "(objectClass=*)", []string{demoDN}},
		{"one level of a leaf", demoDN, ldap.ScopeSingleLevel, "(objectClass=*)", nil},
		{"base dn in other spelling", "OU=People, DC=Demo,DC=EXAMPLE", ldap.ScopeSingleLevel, "(uid=demo)", []string{demoDN}},
		{"groups are not people", groups, ldap.ScopeWholeSubtree, "(objectClass=inetOrgPerson)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := searchDNs(t, c, tt.base, tt.scope, tt.filter)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	s := startDemo(t)
	c := bindService(t, s)
	t.Run("missing base", func(t *testing.T) {
		_, err := c.Search(ldap.NewSearchRequest("ou=nowhere,"+people, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, nil))
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			t.Fatalf("error = %v, want noSuchObject", err)
		}
		var lerr *ldap.Error
		if !errors.As(err, &lerr) || lerr.MatchedDN != people {
			t.Errorf("error %v: want matchedDN %q", err, people)
		}
	})
	t.Run("outside the suffix", func(t *testing.T) {
		_, err := c.Search(ldap.NewSearchRequest("dc=other,dc=example", ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, nil))
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			t.Fatalf("error = %v, want noSuchObject", err)
		}
	})
	t.Run("invalid base", func(t *testing.T) {
		_, err := c.Search(ldap.NewSearchRequest("not a dn", ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, nil))
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidDNSyntax) {
			t.Fatalf("error = %v, want invalidDNSyntax", err)
		}
	})
	t.Run("size limit", func(t *testing.T) {
		res, err := c.Search(ldap.NewSearchRequest(people, ldap.ScopeSingleLevel, 0, 2, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			t.Fatalf("error = %v, want sizeLimitExceeded", err)
		}
		if res == nil || !slices.Equal(dnsOf(res.Entries), []string{demoDN, minsuDN}) {
			t.Errorf("entries = %v, want the first two users", res)
		}
	})
	t.Run("size limit not reached", func(t *testing.T) {
		res, err := c.Search(ldap.NewSearchRequest(people, ldap.ScopeSingleLevel, 0, 4, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		if err != nil || len(res.Entries) != 4 {
			t.Fatalf("search = %v, %v; want 4 entries", res, err)
		}
	})
	t.Run("connection still usable", func(t *testing.T) {
		if got := searchDNs(t, c, people, ldap.ScopeSingleLevel, "(uid=demo)"); !slices.Equal(got, []string{demoDN}) {
			t.Errorf("got %q", got)
		}
	})
}

func TestRootDSE(t *testing.T) {
	s := startDemo(t)
	c := bindService(t, s)
	res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"namingContexts"}, nil))
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("namingContexts") != base {
		t.Fatalf("root DSE = %+v, want namingContexts %q", res.Entries, base)
	}
}

// attrMap flattens an entry's attributes, keeping the names as received.
func attrMap(e *ldap.Entry) map[string][]string {
	m := make(map[string][]string)
	for _, a := range e.Attributes {
		m[a.Name] = a.Values
	}
	return m
}

func TestRequestedAttributes(t *testing.T) {
	s := startDemo(t)
	c := bindService(t, s)
	userAttrs := []string{"objectClass", "uid", "cn", "displayName", "sn", "givenName", "mail", "description"}
	tests := []struct {
		name  string
		attrs []string
		want  []string // attribute names, as the client should see them
	}{
		{"named", []string{"uid", "mail", "entryUUID"}, []string{"uid", "mail", "entryUUID"}},
		{"client spelling kept", []string{"MAIL", "entryuuid"}, []string{"MAIL", "entryuuid"}},
		{"none means all user attributes", nil, userAttrs},
		{"star", []string{"*"}, userAttrs},
		{"star and operational by name", []string{"*", "entryUUID"}, append(slices.Clone(userAttrs), "entryUUID")},
		{"plus", []string{"+"}, []string{"entryUUID"}},
		{"no attributes", []string{"1.1"}, nil},
		{"unknown attribute", []string{"employeeNumber"}, nil},
		{"password by name", []string{"userPassword"}, nil},
		{"password in other case", []string{"USERPASSWORD", "uid"}, []string{"uid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Search(ldap.NewSearchRequest(demoDN, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", tt.attrs, nil))
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("search = %v, %v", res, err)
			}
			var got []string
			for _, a := range res.Entries[0].Attributes {
				got = append(got, a.Name)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("attributes %q, want %q", got, want)
			}
		})
	}
	t.Run("values", func(t *testing.T) {
		res, err := c.Search(ldap.NewSearchRequest(minsuDN, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"cn", "mail", "entryUUID", "objectClass"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("search = %v, %v", res, err)
		}
		got := attrMap(res.Entries[0])
		want := map[string][]string{
			"cn":          {"김민수"},
			"mail":        {"minsu.kim@demo.example"},
			"entryUUID":   {"ac9fa116-9c1b-4ca2-a66f-edb6509eec32"},
			"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
		}
		for name, vs := range want {
			if !slices.Equal(got[name], vs) {
				t.Errorf("%s = %q, want %q", name, got[name], vs)
			}
		}
	})
	t.Run("types only", func(t *testing.T) {
		res, err := c.Search(ldap.NewSearchRequest(demoDN, ldap.ScopeBaseObject, 0, 0, 0, true, "(objectClass=*)", []string{"uid", "mail"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("search = %v, %v", res, err)
		}
		for _, a := range res.Entries[0].Attributes {
			if len(a.Values) != 0 {
				t.Errorf("types-only search returned values for %s: %q", a.Name, a.Values)
			}
		}
		if len(res.Entries[0].Attributes) != 2 {
			t.Errorf("types-only attributes = %d, want 2", len(res.Entries[0].Attributes))
		}
	})
}

// TestPasswordsNeverReturned asks for passwords every way a client could and
// checks that neither the attribute nor any password value comes back.
func TestPasswordsNeverReturned(t *testing.T) {
	s := startDemo(t)
	c := bindService(t, s)
	passwords := []string{servicePW}
	for _, a := range s.Directory().Accounts() {
		passwords = append(passwords, a.Password)
	}
	for _, attrs := range [][]string{nil, {"*"}, {"+"}, {"*", "+"}, {"userPassword"}, {"userpassword", "*"}, {"USERPASSWORD;binary"}} {
		res, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", attrs, nil))
		if err != nil {
			t.Fatalf("search %q: %v", attrs, err)
		}
		if len(res.Entries) != 11 {
			t.Fatalf("search %q found %d entries, want 11", attrs, len(res.Entries))
		}
		for _, e := range res.Entries {
			for _, a := range e.Attributes {
				if strings.HasPrefix(strings.ToLower(a.Name), "userpassword") {
					t.Errorf("attributes %q: %s returned %s", attrs, e.DN, a.Name)
				}
				for _, v := range a.Values {
					if slices.Contains(passwords, v) {
						t.Errorf("attributes %q: %s returned a password in %s", attrs, e.DN, a.Name)
					}
				}
			}
		}
	}
	// Bound as the user itself changes nothing.
	u := dial(t, s)
	if err := u.Bind(demoDN, "demo1234"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	res, err := u.Search(ldap.NewSearchRequest(demoDN, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"userPassword", "*", "+"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("self search = %v, %v", res, err)
	}
	if got := res.Entries[0].GetEqualFoldAttributeValues("userPassword"); len(got) != 0 {
		t.Errorf("own userPassword returned: %q", got)
	}
}
