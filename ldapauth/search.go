package ldapauth

import (
	"context"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// findUser searches the entries matching username with the service account
// and returns them with the server that answered. At most two entries are
// asked for: two already means "ambiguous".
func (a *Authenticator) findUser(ctx context.Context, filter string) ([]*ldap.Entry, *server, error) {
	u := a.cfg.User
	req := ldap.NewSearchRequest(u.BaseDN, scopes[u.Scope], ldap.NeverDerefAliases,
		2, a.timeLimit(), false, filter, a.attrs, nil)
	var entries []*ldap.Entry
	var srv *server
	err := a.withPooled(ctx, func(c *conn) error {
		entries, srv = nil, c.srv
		var res *ldap.SearchResult
		err := c.do(ctx, func(l *ldap.Conn) error {
			var err error
			res, err = l.Search(req)
			return err
		})
		// The server stops at the size limit and says so: that is a
		// result (several matches), not a failure.
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil {
			err = nil
		}
		if err != nil {
			return err
		}
		// Referrals in res.Referrals are deliberately not followed: a
		// login must not be answered by a server we were not told to trust.
		entries = res.Entries
		return nil
	})
	return entries, srv, err
}

// timeLimit is the server-side search time limit in whole seconds.
func (a *Authenticator) timeLimit() int {
	return max(1, int(a.cfg.RequestTimeout.Seconds()))
}

// requestedAttributes lists every attribute the configuration maps, and no
// other: the directory never sends what we did not ask for.
func requestedAttributes(cfg *Config) []string {
	as := cfg.Attributes
	list := []string{as.Subject, as.Username, as.Email, as.DisplayName}
	list = append(list, as.EmailFallback...)
	list = append(list, as.Extra...)
	if cfg.isAD() {
		list = append(list, adStateAttributes...)
		list = append(list, guidAttribute) // entryKey
	}
	if cfg.Groups.UserAttribute != "" {
		list = append(list, cfg.Groups.UserAttribute)
	}
	var out []string
	for _, x := range list {
		if x == "" || isPasswordAttribute(x) || slices.ContainsFunc(out, func(y string) bool { return strings.EqualFold(x, y) }) {
			continue
		}
		out = append(out, x)
	}
	return out
}

// identity maps a user entry onto an Identity.
func (a *Authenticator) identity(e *ldap.Entry, typed string) idp.Identity {
	as := a.cfg.Attributes
	first := func(name string) string {
		if vs := attrValues(e, name); len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	id := idp.Identity{
		Subject:     first(as.Subject),
		Username:    first(as.Username),
		Email:       first(as.Email),
		DisplayName: first(as.DisplayName),
		DN:          e.DN,
	}
	for _, name := range as.EmailFallback {
		if id.Email != "" {
			break
		}
		id.Email = first(name)
	}
	if id.Subject == "" {
		id.Subject = e.DN
	}
	if id.Username == "" {
		id.Username = typed
	}
	for _, name := range as.Extra {
		vs := attrValues(e, name)
		if len(vs) == 0 || isPasswordAttribute(name) {
			continue
		}
		if id.Attributes == nil {
			id.Attributes = make(map[string][]string)
		}
		id.Attributes[name] = slices.Clone(vs)
	}
	return id
}
