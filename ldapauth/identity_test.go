package ldapauth

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// TestIdentityMapping signs in through the root DN as service account, the
// one account that can read userPassword: if the authenticator asked for
// more than the mapped attributes, the password would show up.
func TestIdentityMapping(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.user(t, "Alice Kim", "alice", "alice@corp.example", "pw-alice", map[string][]string{
		"displayName":      {"김앨리스"},
		"employeeNumber":   {"E-1001"},
		"departmentNumber": {"D1", "D2"},
		"description":      {"not mapped"},
	})
	bare := f.user(t, "Bare", "bare", "", "pw-bare", nil)

	// Precondition: the service account sees the password.
	c := f.srv.Conn(t)
	res, err := c.Search(ldap.NewSearchRequest(alice, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"*", "entryUUID"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries[0].GetAttributeValue("userPassword") != "pw-alice" {
		t.Fatal("precondition: the root DN should read userPassword")
	}
	uuid := res.Entries[0].GetAttributeValue("entryUUID")
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(uuid) {
		t.Fatalf("precondition: entryUUID %q", uuid)
	}

	cfg := f.config()
	cfg.BindDN, cfg.BindPassword = f.srv.RootDN, f.srv.RootPassword
	cfg.Attributes = AttributesConfig{
		DisplayName: "displayName",
		Extra:       []string{"employeeNumber", "DEPARTMENTNUMBER", "telephoneNumber"},
	}
	a := f.newAuth(t, cfg)

	id := mustLogin(t, a, "ALICE@corp.example", "pw-alice", alice)
	if id.Subject != uuid {
		t.Errorf("Subject = %q, want entryUUID %q", id.Subject, uuid)
	}
	if id.Username != "alice" || id.Email != "alice@corp.example" || id.DisplayName != "김앨리스" {
		t.Errorf("Identity = %+v", id)
	}
	want := map[string][]string{"employeeNumber": {"E-1001"}, "DEPARTMENTNUMBER": {"D1", "D2"}}
	if len(id.Attributes) != len(want) {
		t.Errorf("Attributes = %q, want exactly %q", id.Attributes, want)
	}
	for k, vs := range want {
		got := slices.Clone(id.Attributes[k])
		slices.Sort(got)
		if !slices.Equal(got, vs) {
			t.Errorf("Attributes[%s] = %q, want %q", k, got, vs)
		}
	}
	for k, vs := range id.Attributes {
		if isPasswordAttribute(k) || slices.Contains(vs, "pw-alice") {
			t.Errorf("password leaked into Attributes[%s]", k)
		}
	}
	if id.Attribute("employeeNumber") != "E-1001" || id.Attribute("email") != "alice@corp.example" {
		t.Errorf("Identity.Attribute lookups: %q %q", id.Attribute("employeeNumber"), id.Attribute("email"))
	}

	// Missing attributes fall back: subject to the DN, username to what
	// was typed.
	cfg.Attributes = AttributesConfig{Subject: "description", Username: "employeeNumber"}
	a = f.newAuth(t, cfg)
	id = mustLogin(t, a, "bare", "pw-bare", bare)
	if id.Subject != bare || id.Username != "bare" || id.Email != "" || id.Attributes != nil {
		t.Errorf("fallbacks: %+v", id)
	}
	if strings.Contains(f.log.String(), f.srv.RootPassword) {
		t.Error("service password logged")
	}
}

func TestRequestedAttributes(t *testing.T) {
	cfg := Config{Attributes: AttributesConfig{Extra: []string{"Mail", "userPassword", "title"}}, Groups: GroupsConfig{UserAttribute: "uid"}}
	cfg.SetDefaults()
	got := requestedAttributes(&cfg)
	want := []string{"entryUUID", "uid", "mail", "cn", "title"}
	if !slices.Equal(got, want) {
		t.Errorf("requestedAttributes = %q, want %q", got, want)
	}
}
