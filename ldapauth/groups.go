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

// groupPageSize is the page size of group searches (AD returns at most
// 1000 entries per search without paging).
const groupPageSize = 500

// matchingRuleInChain is LDAP_MATCHING_RULE_IN_CHAIN: on Active Directory,
// "member:1.2.840.113556.1.4.1941:=DN" matches every group that has DN as
// a member directly or through any chain of nested groups.
const matchingRuleInChain = "1.2.840.113556.1.4.1941"

// nestedChunk bounds the member values ORed into one filter by the generic
// nested search.
const nestedChunk = 32

// checkGroups resolves the user's groups (all of them under
// groups.base_dn, or just the required ones; directly or through nested
// groups) into id.Groups and, when groups are required, refuses a user who
// is in none of them. It runs only after the password was verified, so
// "not permitted" reveals nothing to someone who does not know the
// password.
func (a *Authenticator) checkGroups(ctx context.Context, e *ldap.Entry, id *idp.Identity) error {
	g := a.cfg.Groups
	if len(g.Required) == 0 && g.BaseDN == "" {
		return nil
	}
	groups, err := a.groupsOf(ctx, e)
	if err != nil {
		return err
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
		how := "a direct member"
		if *g.Nested {
			how = "a member (directly or through nested groups)"
		}
		return &idp.AccountError{
			State:    idp.StateNotPermitted,
			Username: id.Username,
			Identity: &verified,
			Reason:   "not " + how + " of any group in groups.required",
		}
	}
	return nil
}

// groupsOf returns the DNs of the user's groups: all under groups.base_dn
// when set, else those of groups.required the user is in.
func (a *Authenticator) groupsOf(ctx context.Context, e *ldap.Entry) ([]string, error) {
	g := a.cfg.Groups
	switch {
	case *g.Nested && a.cfg.isAD():
		filter := "(" + g.MemberAttribute + ":" + matchingRuleInChain + ":=" + ldap.EscapeFilter(e.DN) + ")"
		if f := wrapFilter(g.Filter); f != "" {
			filter = "(&" + f + filter + ")"
		}
		if g.BaseDN != "" {
			return a.searchGroups(ctx, filter)
		}
		return a.requiredGroupsOf(ctx, filter)
	case *g.Nested:
		return a.nestedGroups(ctx, e.DN)
	}
	// What the groups list: the user's DN, or e.g. uid for memberUid.
	value := e.DN
	if g.UserAttribute != "" {
		value = e.GetEqualFoldAttributeValue(g.UserAttribute)
	}
	if value == "" {
		return nil, nil
	}
	if g.BaseDN != "" {
		return a.searchGroups(ctx, memberFilter(g, value))
	}
	return a.requiredGroupsOf(ctx, memberFilter(g, value))
}

// nestedGroups walks up from the user level by level: the groups listing
// the user, then the groups listing those, at most groups.max_depth levels
// and maxGroups groups. A group seen before is not searched again, so
// membership cycles end.
func (a *Authenticator) nestedGroups(ctx context.Context, userDN string) ([]string, error) {
	g := a.cfg.Groups
	seen := map[string]bool{strings.ToLower(userDN): true}
	var out []string
	frontier := []string{userDN}
	for depth := 0; depth < g.MaxDepth && len(frontier) > 0; depth++ {
		var next []string
		for chunk := range slices.Chunk(frontier, nestedChunk) {
			dns, err := a.searchGroups(ctx, memberAnyFilter(g, chunk))
			if err != nil {
				return nil, err
			}
			for _, dn := range dns {
				if k := strings.ToLower(dn); !seen[k] {
					seen[k] = true
					out = append(out, dn)
					next = append(next, dn)
				}
			}
			if len(out) >= maxGroups {
				a.logger.WarnContext(ctx, "group search truncated", "event", "group_search_truncated", "limit", maxGroups)
				return out[:maxGroups], nil
			}
		}
		frontier = next
	}
	if len(frontier) > 0 {
		a.logger.WarnContext(ctx, "nested group search stopped at max_depth", "event", "group_depth_reached", "max_depth", g.MaxDepth)
	}
	return out, nil
}

// memberAnyFilter matches groups listing any of the DNs (escaped here once).
func memberAnyFilter(g GroupsConfig, dns []string) string {
	var b strings.Builder
	if len(dns) > 1 {
		b.WriteString("(|")
	}
	for _, dn := range dns {
		b.WriteString("(" + g.MemberAttribute + "=" + ldap.EscapeFilter(dn) + ")")
	}
	if len(dns) > 1 {
		b.WriteString(")")
	}
	if f := wrapFilter(g.Filter); f != "" {
		return "(&" + f + b.String() + ")"
	}
	return b.String()
}

// searchGroups returns the DNs of the groups under groups.base_dn matching
// filter, page by page (AD caps unpaged results at 1000), at most
// maxGroups.
func (a *Authenticator) searchGroups(ctx context.Context, filter string) ([]string, error) {
	g := a.cfg.Groups
	var out []string
	err := a.withPooled(ctx, func(c *conn) error {
		out = nil
		paging := ldap.NewControlPaging(groupPageSize)
		req := ldap.NewSearchRequest(g.BaseDN, scopes[g.Scope], ldap.NeverDerefAliases,
			maxGroups, a.timeLimit(), false, filter, []string{"1.1"}, []ldap.Control{paging})
		for {
			var res *ldap.SearchResult
			err := c.do(ctx, func(l *ldap.Conn) error {
				var err error
				res, err = l.Search(req)
				return err
			})
			truncated := ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil
			if err != nil && !truncated {
				return err
			}
			for _, e := range res.Entries {
				out = append(out, e.DN)
			}
			if truncated || len(out) >= maxGroups {
				a.logger.WarnContext(ctx, "group search truncated", "event", "group_search_truncated", "limit", maxGroups)
				out = out[:min(len(out), maxGroups)]
				return nil
			}
			pc, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if !ok || len(pc.Cookie) == 0 {
				return nil
			}
			paging.SetCookie(pc.Cookie)
		}
	})
	return out, err
}

// requiredGroupsOf reads each required group by its DN and returns those
// that match filter. A required group that does not exist is logged and
// skipped: it grants nothing, and the other groups may still grant access.
func (a *Authenticator) requiredGroupsOf(ctx context.Context, filter string) ([]string, error) {
	g := a.cfg.Groups
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
