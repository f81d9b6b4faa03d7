package ldapauth

import (
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// searchFilter returns the user search filter for a typed (trimmed)
// username. ok is false when the name cannot match any entry under the
// configuration (a DOMAIN\user form for a domain not accepted, a form that
// is switched off): the login then fails like an unknown user, without I/O.
func (a *Authenticator) searchFilter(username string) (filter string, ok bool) {
	forms := a.cfg.ActiveDirectory.LoginForms
	if len(forms) == 0 {
		return userFilter(a.cfg.User, username), true
	}
	terms := adLoginTerms(a.cfg.ActiveDirectory, username)
	if len(terms) == 0 {
		return "", false
	}
	match := terms[0]
	if len(terms) > 1 {
		match = "(|" + strings.Join(terms, "") + ")"
	}
	if f := wrapFilter(a.cfg.User.Filter); f != "" {
		return "(&" + f + match + ")", true
	}
	return match, true
}

// adLoginTerms returns the equality terms, escaped once here, that the typed
// name matches under the enabled AD login forms.
func adLoginTerms(ad ADConfig, name string) []string {
	on := func(form string) bool { return slices.Contains(ad.LoginForms, form) }
	term := func(attr, v string) string { return "(" + attr + "=" + ldap.EscapeFilter(v) + ")" }
	var out []string
	switch {
	case strings.Contains(name, `\`):
		dom, user, _ := strings.Cut(name, `\`)
		if !on(FormDomainUser) || !acceptDomain(ad, dom) || !validSAM(user) {
			return nil
		}
		out = append(out, term("sAMAccountName", user))
	case strings.Contains(name, "@"):
		local, suffix := splitAt(name)
		if on(FormUserPrincipalName) {
			out = append(out, term("userPrincipalName", name))
			if knownSuffix(ad, suffix) && validSAM(local) {
				out = append(out, term("sAMAccountName", local))
			}
		}
		if on(FormMail) {
			out = append(out, term("mail", name))
		}
	default:
		if on(FormSAMAccountName) {
			out = append(out, term("sAMAccountName", name))
		}
	}
	return out
}

// NormalizeUsername returns the key under which a typed username is
// counted by login throttling: trimmed and lower-cased (directories
// compare names case-insensitively) and, with the Active Directory preset,
// "DOMAIN\alice" and "alice@<upn suffix>" reduced to "alice", the same
// account as "alice". It does no I/O.
func (a *Authenticator) NormalizeUsername(username string) string {
	n := strings.ToLower(strings.TrimSpace(username))
	if !a.cfg.isAD() {
		return n
	}
	ad := a.cfg.ActiveDirectory
	switch {
	case strings.Contains(n, `\`):
		dom, user, _ := strings.Cut(n, `\`)
		if acceptDomain(ad, dom) && validSAM(user) {
			return user
		}
	case strings.Contains(n, "@"):
		local, suffix := splitAt(n)
		if knownSuffix(ad, suffix) && validSAM(local) {
			return local
		}
	}
	return n
}

func splitAt(name string) (local, suffix string) {
	i := strings.LastIndex(name, "@")
	return name[:i], name[i+1:]
}

func acceptDomain(ad ADConfig, dom string) bool {
	if dom == "" {
		return false
	}
	if len(ad.NetBIOSDomains) == 0 {
		return true
	}
	return slices.ContainsFunc(ad.NetBIOSDomains, func(d string) bool { return strings.EqualFold(d, dom) })
}

func knownSuffix(ad ADConfig, suffix string) bool {
	return slices.ContainsFunc(ad.UPNSuffixes, func(s string) bool { return strings.EqualFold(s, suffix) })
}

// validSAM reports whether s can be a sAMAccountName: not empty, and none
// of the characters AD forbids in one.
func validSAM(s string) bool {
	return s != "" && !strings.ContainsAny(s, `"/\[]:;|=,+*?<>@`)
}
