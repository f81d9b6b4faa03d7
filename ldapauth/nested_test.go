package ldapauth

import (
	"testing"

	"github.com/ncp-sso/idp/idp"
)

// TestNestedGroupsGeneric checks the level-by-level recursion on OpenLDAP:
// a member of a group nested two levels down is allowed, a group cycle
// ends, and max_depth bounds the walk.
func TestNestedGroupsGeneric(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice", "alice", "alice@example.test", "alice-pw", nil)
	carol := f.user(t, "carol", "carol", "carol@example.test", "carol-pw", nil)
	dave := f.user(t, "dave", "dave", "dave@example.test", "dave-pw", nil)
	f.passwords = append(f.passwords, "alice-pw", "carol-pw", "dave-pw")
	team := f.group(t, "team", alice)
	dept := f.group(t, "dept", team)
	allowed := f.group(t, "allowed", dept)
	// cycle-a <-> cycle-b, carol in cycle-a, cycle-b in allowed-2.
	f.group(t, "cycle-a", carol, "cn=cycle-b,"+f.ou)
	cycleB := f.group(t, "cycle-b", "cn=cycle-a,"+f.ou)
	allowed2 := f.group(t, "allowed-2", cycleB)
	f.group(t, "loop-x", dave, "cn=loop-y,"+f.ou)
	f.group(t, "loop-y", "cn=loop-x,"+f.ou)

	yes := true
	cfg := f.config()
	cfg.Groups = GroupsConfig{Required: []string{allowed, allowed2}, BaseDN: f.ou, Nested: &yes, Filter: "(objectClass=groupOfNames)"}
	a := f.newAuth(t, cfg)
	id := mustLogin(t, a, "alice", "alice-pw", alice)
	for _, g := range []string{team, dept, allowed} {
		if !containsDN(id.Groups, g) {
			t.Errorf("groups %q lack %s", id.Groups, g)
		}
	}
	mustLogin(t, a, "carol", "carol-pw", carol)
	o := login(t, a, "dave", "dave-pw")
	if ae, ok := idp.IsAccountError(o.err); o.ok || !ok || ae.State != idp.StateNotPermitted {
		t.Errorf("dave in a cycle of other groups: (%v, %v), want not permitted", o.ok, o.err)
	}

	cfg.Groups.MaxDepth = 2
	b := f.newAuth(t, cfg)
	if o := login(t, b, "alice", "alice-pw"); o.ok {
		t.Error("max_depth 2 reached a group three levels up")
	}
}
