package ldapauth

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// wrapFilter adds the outer parentheses that RFC 4515 requires and that
// people often leave out in configuration ("objectClass=person").
func wrapFilter(f string) string {
	f = strings.TrimSpace(f)
	if f == "" || strings.HasPrefix(f, "(") {
		return f
	}
	return "(" + f + ")"
}

// userFilter builds the search filter for a typed username. This is the one
// place the username is escaped (ldap.EscapeFilter): callers pass it raw and
// nothing downstream escapes it again, so metacharacters such as "*" or
// ")(uid=*" match only themselves.
func userFilter(u UserConfig, username string) string {
	v := ldap.EscapeFilter(username)
	if u.FilterTemplate != "" {
		return strings.ReplaceAll(u.FilterTemplate, UsernamePlaceholder, v)
	}
	var b strings.Builder
	extra := wrapFilter(u.Filter)
	if extra != "" {
		b.WriteString("(&")
		b.WriteString(extra)
	}
	if len(u.LoginAttributes) > 1 {
		b.WriteString("(|")
	}
	for _, a := range u.LoginAttributes {
		b.WriteString("(" + a + "=" + v + ")")
	}
	if len(u.LoginAttributes) > 1 {
		b.WriteString(")")
	}
	if extra != "" {
		b.WriteString(")")
	}
	return b.String()
}

// memberFilter builds the filter matching groups that list value (a DN or
// an attribute value of the user, taken from the directory, not typed) in
// attr, escaped here once.
func memberFilter(g GroupsConfig, value string) string {
	m := "(" + g.MemberAttribute + "=" + ldap.EscapeFilter(value) + ")"
	if f := wrapFilter(g.Filter); f != "" {
		return "(&" + f + m + ")"
	}
	return m
}
