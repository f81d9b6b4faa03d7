package ldapauth

import (
	"context"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// maxGroups bounds the groups resolved for one user.
const maxGroups = 1000

// checkGroups resolves the user's direct groups (all of them under
// groups.base_dn, or just the required ones) into id.Groups and, when
// groups are required, refuses a user who is in none of them. It runs only
// after the password was verified, so "not permitted" reveals nothing to
// someone who does not know the password.
func (a *Authenticator) checkGroups(ctx context.Context, e *ldap.Entry, id *idp.Identity) error {
	g := a.cfg.Groups
	if len(g.Required) == 0 && g.BaseDN == "" {
		return nil
	}
	// What the groups list: the user's DN, or e.g. uid for memberUid.
	value := e.DN
	if g.UserAttribute != "" {
		value = e.GetEqualFoldAttributeValue(g.UserAttribute)
	}

	var groups []string
	if value != "" {
		var err error
		if g.BaseDN != "" {
			groups, err = a.searchGroups(ctx, value)
		} else {
			groups, err = a.requiredGroupsOf(ctx, value)
		}
		if err != nil {
			return err
		}
	}

	if len(g.Required) == 0 {
		id.Groups = groups
		return nil
	}
	var granted []string
	for _, req := range g.Required {
		if slices.ContainsFunc(groups, func(dn string) bool { return sameDN(dn, req) }) {
			granted = append(granted, req)
		}
	}
	id.Groups = granted
	if g.BaseDN != "" {
		id.Groups = groups
	}
	if len(granted) == 0 {
		verified := *id
		return &idp.AccountError{
			State:    idp.StateNotPermitted,
			Username: id.Username,
			Identity: &verified,
			Reason:   "not a direct member of any group in groups.required",
		}
	}
	return nil
}

// searchGroups returns the DNs of the groups under groups.base_dn that list
// value.
func (a *Authenticator) searchGroups(ctx context.Context, value string) ([]string, error) {
	g := a.cfg.Groups
	req := ldap.NewSearchRequest(g.BaseDN, scopes[g.Scope], ldap.NeverDerefAliases,
		maxGroups, a.timeLimit(), false, memberFilter(g, value), []string{"1.1"}, nil)
	var out []string
	err := a.withPooled(ctx, func(c *conn) error {
		out = nil
		var res *ldap.SearchResult
		err := c.do(ctx, func(l *ldap.Conn) error {
			var err error
			res, err = l.Search(req)
			return err
		})
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil {
			a.logger.WarnContext(ctx, "group search truncated", "event", "group_search_truncated", "limit", maxGroups)
			err = nil
		}
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			out = append(out, e.DN)
		}
		return nil
	})
	return out, err
}

// requiredGroupsOf reads each required group by its DN and returns those
// that list value. A required group that does not exist is logged and
// skipped: it grants nothing, and the other groups may still grant access.
func (a *Authenticator) requiredGroupsOf(ctx context.Context, value string) ([]string, error) {
	g := a.cfg.Groups
	filter := memberFilter(g, value)
	var out []string
	err := a.withPooled(ctx, func(c *conn) error {
		out = nil
		for _, dn := range g.Required {
			req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
				1, a.timeLimit(), false, filter, []string{"1.1"}, nil)
			var res *ldap.SearchResult
			err := c.do(ctx, func(l *ldap.Conn) error {
				var err error
				res, err = l.Search(req)
				return err
			})
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				a.logger.WarnContext(ctx, "required group not found", "event", "group_not_found", "group", dn)
				continue
			}
			if err != nil {
				return err
			}
			if len(res.Entries) > 0 {
				out = append(out, dn)
			}
		}
		return nil
	})
	return out, err
}

// sameDN compares DNs the way the directory does for names: attribute
// types and values case-insensitively, ignoring insignificant spacing.
func sameDN(a, b string) bool {
	da, errA := ldap.ParseDN(a)
	db, errB := ldap.ParseDN(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
}
