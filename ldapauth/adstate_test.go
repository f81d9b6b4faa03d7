package ldapauth

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

func TestSubcodeOf(t *testing.T) {
	adErr := func(code string) error {
		return ldap.NewError(ldap.LDAPResultInvalidCredentials,
			errors.New("80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data "+code+", v4563"))
	}
	tests := []struct {
		err  error
		want ADSubcode
	}{
		{adErr("52e"), ADInvalidCredentials},
		{adErr("775"), ADAccountLockedOut},
		{adErr("52E"), ADInvalidCredentials},
		{fmt.Errorf("wrapped: %w", adErr("773")), ADMustChangePassword},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("")), ""}, // OpenLDAP
		{errors.New("data 533"), ""},
		{nil, ""},
	}
	for _, tc := range tests {
		if got := subcodeOf(tc.err); got != tc.want {
			t.Errorf("subcodeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRefusedMapping checks every AD sub-code against the login contract:
// lockout and unknown user look exactly like a wrong password.
func TestRefusedMapping(t *testing.T) {
	a := &Authenticator{logger: discardLogger()}
	tests := []struct {
		code  ADSubcode
		state idp.AccountState // "" = (false, nil)
	}{
		{"", ""},
		{ADUserNotFound, ""},
		{ADInvalidCredentials, ""},
		{ADAccountLockedOut, ""},
		{"9999", ""},
		{ADLogonHours, idp.StateRestricted},
		{ADWorkstation, idp.StateRestricted},
		{ADTooManySIDs, idp.StateRestricted},
		{ADPasswordExpired, idp.StatePasswordExpired},
		{ADAccountDisabled, idp.StateDisabled},
		{ADAccountExpired, idp.StateAccountExpired},
		{ADMustChangePassword, idp.StateMustChangePassword},
	}
	for _, tc := range tests {
		t.Run(string(tc.code), func(t *testing.T) {
			err := a.refused(t.Context(), "alice", "cn=alice", tc.code)
			ae, ok := idp.IsAccountError(err)
			switch {
			case tc.state == "" && err != nil:
				t.Errorf("got %v, want nil (like a wrong password)", err)
			case tc.state != "" && (!ok || ae.State != tc.state):
				t.Errorf("got %v, want state %s", err, tc.state)
			}
			if en, ko := ExplainSubcode(tc.code); en == "" || ko == "" {
				t.Error("no explanation")
			}
		})
	}
}

func TestADEntryState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ft := func(t time.Time) string { return fmt.Sprint(t.UnixNano()/100 + adFiletimeEpochDiff) }
	entry := func(kv ...string) *ldap.Entry {
		attrs := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			attrs[kv[i]] = []string{kv[i+1]}
		}
		return ldap.NewEntry("cn=x", attrs)
	}
	tests := []struct {
		name   string
		e      *ldap.Entry
		state  idp.AccountState
		locked bool
	}{
		{"normal", entry("userAccountControl", "512", "accountExpires", adNeverExpires, "pwdLastSet", "1"), "", false},
		{"disabled", entry("userAccountControl", "514"), idp.StateDisabled, false},
		{"locked computed", entry("userAccountControl", "512", "msDS-User-Account-Control-Computed", "16"), "", true},
		{"password expired computed", entry("msDS-User-Account-Control-Computed", "8388608"), idp.StatePasswordExpired, false},
		{"account expired", entry("accountExpires", ft(now.Add(-time.Hour))), idp.StateAccountExpired, false},
		{"expires later", entry("accountExpires", ft(now.Add(time.Hour))), "", false},
		{"never (0)", entry("accountExpires", "0"), "", false},
		{"must change", entry("pwdLastSet", "0"), idp.StateMustChangePassword, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, locked, _ := adEntryState(tc.e, now)
			if st != tc.state || locked != tc.locked {
				t.Errorf("got (%q, %v), want (%q, %v)", st, locked, tc.state, tc.locked)
			}
		})
	}
}

func TestGUIDAndSIDStrings(t *testing.T) {
	// objectGUID:: YXVOGL95v0KgbqrNHHSMIQ== as AD and Samba show it.
	raw := []byte{0x61, 0x75, 0x4e, 0x18, 0xbf, 0x79, 0xbf, 0x42, 0xa0, 0x6e, 0xaa, 0xcd, 0x1c, 0x74, 0x8c, 0x21}
	if got, want := guidString(raw), "184e7561-79bf-42bf-a06e-aacd1c748c21"; got != want {
		t.Errorf("guidString = %s, want %s", got, want)
	}
	if got := guidString([]byte{1, 2}); got != "0102" {
		t.Errorf("short GUID = %s, want hex", got)
	}
	sid := []byte{1, 4, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xdd, 0xcc, 0xbb, 0xaa, 1, 0, 0, 0, 0xf4, 0x01, 0, 0}
	if got, want := sidString(sid), "S-1-5-21-2864434397-1-500"; got != want {
		t.Errorf("sidString = %s, want %s", got, want)
	}
}

func TestADLoginTermsAndNormalize(t *testing.T) {
	cfg := Config{Preset: PresetActiveDirectory, URLs: []string{"ldaps://dc"}, BindDN: "cn=s", BindPassword: "x",
		User:            UserConfig{BaseDN: "dc=example,dc=test"},
		ActiveDirectory: ADConfig{NetBIOSDomains: []string{"EXAMPLE"}, UPNSuffixes: []string{"example.test"}}}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, filter, norm string
	}{
		{"alice", "(&(&(objectCategory=person)(objectClass=user))(sAMAccountName=alice))", "alice"},
		{`EXAMPLE\Alice`, "(&(&(objectCategory=person)(objectClass=user))(sAMAccountName=Alice))", "alice"},
		{`OTHER\alice`, "", `other\alice`},
		{`EXAMPLE\`, "", `example\`},
		{"Alice@Example.Test", "(&(&(objectCategory=person)(objectClass=user))(|(userPrincipalName=Alice@Example.Test)(sAMAccountName=Alice)(mail=Alice@Example.Test)))", "alice"},
		{"a.kim@mail.example", "(&(&(objectCategory=person)(objectClass=user))(|(userPrincipalName=a.kim@mail.example)(mail=a.kim@mail.example)))", "a.kim@mail.example"},
		{"a*)(x", `(&(&(objectCategory=person)(objectClass=user))(sAMAccountName=a\2a\29\28x))`, "a*)(x"},
	}
	for _, tc := range tests {
		f, ok := a.searchFilter(tc.in)
		if (tc.filter == "") == ok || f != tc.filter {
			t.Errorf("searchFilter(%q) = %q, %v; want %q", tc.in, f, ok, tc.filter)
		}
		if n := a.NormalizeUsername(tc.in); n != tc.norm {
			t.Errorf("NormalizeUsername(%q) = %q, want %q", tc.in, n, tc.norm)
		}
	}
	if !slices.Equal(a.cfg.ActiveDirectory.LoginForms, DefaultADLoginForms) {
		t.Errorf("login forms %q, want defaults", a.cfg.ActiveDirectory.LoginForms)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
