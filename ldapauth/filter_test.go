package ldapauth

import (
	"errors"

	"github.com/ncp-sso/idp/idp"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestUserFilter(t *testing.T) {
	def := UserConfig{Filter: DefaultUserFilter, LoginAttributes: DefaultLoginAttributes}
	tests := []struct {
		name     string
		cfg      UserConfig
		username string
		want     string
	}{
		{"plain", def, "alice", "(&(objectClass=inetOrgPerson)(|(uid=alice)(mail=alice)))"},
		{"star", def, "*", `(&(objectClass=inetOrgPerson)(|(uid=\2a)(mail=\2a)))`},
		{"injection", def, ")(uid=*", `(&(objectClass=inetOrgPerson)(|(uid=\29\28uid=\2a)(mail=\29\28uid=\2a)))`},
		{"backslash once", def, `\`, `(&(objectClass=inetOrgPerson)(|(uid=\5c)(mail=\5c)))`},
		{"escaped input stays literal", def, `\2a`, `(&(objectClass=inetOrgPerson)(|(uid=\5c2a)(mail=\5c2a)))`},
		{"open paren", def, "(", `(&(objectClass=inetOrgPerson)(|(uid=\28)(mail=\28)))`},
		{"nul", def, "a\x00b", `(&(objectClass=inetOrgPerson)(|(uid=a\00b)(mail=a\00b)))`},
		{"hangul", def, "김철수", `(&(objectClass=inetOrgPerson)(|(uid=\ea\b9\80\ec\b2\a0\ec\88\98)(mail=\ea\b9\80\ec\b2\a0\ec\88\98)))`},
		{"one attribute", UserConfig{Filter: "(objectClass=person)", LoginAttributes: []string{"sAMAccountName"}}, "bob",
			"(&(objectClass=person)(sAMAccountName=bob))"},
		{"filter without parens", UserConfig{Filter: "objectClass=person", LoginAttributes: []string{"uid"}}, "bob",
			"(&(objectClass=person)(uid=bob))"},
		{"no extra filter", UserConfig{LoginAttributes: []string{"uid", "mail"}}, "bob", "(|(uid=bob)(mail=bob))"},
		{"template", UserConfig{FilterTemplate: "(&(objectClass=user)(|(sAMAccountName={username})(userPrincipalName={username})))"}, "a*b",
			`(&(objectClass=user)(|(sAMAccountName=a\2ab)(userPrincipalName=a\2ab)))`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := userFilter(tc.cfg, tc.username)
			if got != tc.want {
				t.Errorf("userFilter(%q)\n got %s\nwant %s", tc.username, got, tc.want)
			}
			if _, err := ldap.CompileFilter(got); err != nil {
				t.Errorf("filter %s does not compile: %v", got, err)
			}
		})
	}
}

func TestMemberFilter(t *testing.T) {
	g := GroupsConfig{MemberAttribute: "member"}
	if got, want := memberFilter(g, "cn=a*(b),dc=x"), `(member=cn=a\2a\28b\29,dc=x)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	g = GroupsConfig{MemberAttribute: "memberUid", Filter: "objectClass=posixGroup"}
	if got, want := memberFilter(g, "alice"), "(&(objectClass=posixGroup)(memberUid=alice))"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func asProblems(err error, ps *idp.Problems) bool { return errors.As(err, ps) }
