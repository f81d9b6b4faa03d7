package ldapauth

import (
	"slices"
	"strings"
	"testing"

	"github.com/ncp-sso/idp/idp"
)

func TestGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)
	bob := f.user(t, "Bob", "bob", "", "pw-bob", nil)
	carol := f.user(t, "Carol", "carol", "", "pw-carol", nil)
	staff := f.group(t, "staff", alice, carol)
	admins := f.group(t, "admins", carol)
	contractors := f.group(t, "contractors", bob)
	f.add(t, "cn=unix,"+f.ou, map[string][]string{
		"objectClass": {"posixGroup"}, "cn": {"unix"}, "gidNumber": {"100"}, "memberUid": {"bob"}})
	unix := "cn=unix," + f.ou
	missing := "cn=deleted," + f.ou

	// notPermitted checks the typed error: the password was verified, and
	// the Identity says who it was.
	notPermitted := func(t *testing.T, a *Authenticator, user, pw, dn string) {
		t.Helper()
		o := login(t, a, user, pw)
		ae, ok := idp.IsAccountError(o.err)
		if o.ok || !ok || ae.State != idp.StateNotPermitted {
			t.Fatalf("Authenticate(%q) = (%v, %v), want AccountError not_permitted", user, o.ok, o.err)
		}
		if ae.Identity == nil || ae.Identity.DN != dn {
			t.Fatalf("AccountError.Identity = %+v, want the verified user %s", ae.Identity, dn)
		}
		if isUnavailable(o.err) {
			t.Fatalf("not permitted must not look like an outage: %v", o.err)
		}
	}

	t.Run("required", func(t *testing.T) {
		cfg := f.config()
		cfg.Groups.Required = []string{missing, strings.ToUpper(staff), admins}
		a := f.newAuth(t, cfg)
		id := mustLogin(t, a, "alice", "pw-alice", alice)
		if !slices.Equal(id.Groups, []string{strings.ToUpper(staff)}) {
			t.Errorf("alice Groups = %q, want the granting group", id.Groups)
		}
		id = mustLogin(t, a, "carol", "pw-carol", carol)
		if len(id.Groups) != 2 {
			t.Errorf("carol Groups = %q, want staff and admins", id.Groups)
		}
		notPermitted(t, a, "bob", "pw-bob", bob)
		// Group membership is checked only after the password: a wrong
		// password is a plain "no", whatever the groups.
		mustRefuse(t, a, "bob", "wrong")
		mustRefuse(t, a, "alice", "wrong")
		if !strings.Contains(f.log.String(), `"event":"group_not_found"`) {
			t.Errorf("missing required group not logged")
		}
		if !strings.Contains(f.log.String(), `"reason":"not_permitted"`) {
			t.Errorf("not permitted login not logged")
		}
	})

	t.Run("resolved under base_dn", func(t *testing.T) {
		cfg := f.config()
		cfg.Groups.BaseDN = f.ou
		cfg.Groups.Filter = "(objectClass=groupOfNames)"
		a := f.newAuth(t, cfg)
		id := mustLogin(t, a, "carol", "pw-carol", carol)
		slices.Sort(id.Groups)
		if want := []string{admins, staff}; !equalFoldAll(id.Groups, want) {
			t.Errorf("carol Groups = %q, want %q", id.Groups, want)
		}
		id = mustLogin(t, a, "bob", "pw-bob", bob)
		if !equalFoldAll(id.Groups, []string{contractors}) {
			t.Errorf("bob Groups = %q, want contractors", id.Groups)
		}

		cfg.Groups.Required = []string{staff}
		a = f.newAuth(t, cfg)
		notPermitted(t, a, "bob", "pw-bob", bob)
		id = mustLogin(t, a, "carol", "pw-carol", carol)
		if len(id.Groups) != 2 {
			t.Errorf("with base_dn, Groups lists every group: %q", id.Groups)
		}
	})

	t.Run("memberUid", func(t *testing.T) {
		cfg := f.config()
		cfg.Groups.Required = []string{unix}
		cfg.Groups.MemberAttribute = "memberUid"
		cfg.Groups.UserAttribute = "uid"
		a := f.newAuth(t, cfg)
		mustLogin(t, a, "bob", "pw-bob", bob)
		notPermitted(t, a, "alice", "pw-alice", alice)
	})

	t.Run("group search outage", func(t *testing.T) {
		cfg := f.config()
		cfg.Groups.BaseDN = "ou=missing," + f.srv.BaseDN
		a := f.newAuth(t, cfg)
		mustOutage(t, a, "alice", "pw-alice")
	})
}

func equalFoldAll(a, b []string) bool {
	return slices.EqualFunc(a, b, strings.EqualFold)
}
