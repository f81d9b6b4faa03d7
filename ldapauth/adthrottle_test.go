package ldapauth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/throttle"
	"github.com/ncp-sso/idp/ldapauth/sambatest"
)

// TestADThrottleKeepsAccountUnlocked guesses passwords for one account in
// every login form through the IdP's throttle: only three wrong passwords
// reach Samba (lockout threshold 5), so the account is not locked and the
// right password still works.
func TestADThrottleKeepsAccountUnlocked(t *testing.T) {
	dc := adDC(t)
	a, _ := newADAuth(t, adConfig(dc))
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	th, err := throttle.New(b, throttle.Config{MaxFailuresPerAccount: 3, FamiliarBrowserFailures: new(int)}, throttle.WithNormalizer(a.NormalizeUsername))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"throttled", `EXAMPLE\throttled`, "THROTTLED@example.test", " throttled "}
	reached, refused := 0, 0
	for i := range 3 * sambatest.LockoutThreshold {
		name := names[i%len(names)]
		done, err := th.Begin(context.Background(), name, "192.0.2.1")
		var te *idp.ThrottledError
		if errors.As(err, &te) {
			refused++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		reached++
		o := login(t, a, name, "Wrong-Guess-1")
		if o.ok || o.err != nil {
			t.Fatalf("wrong password: (%v, %v)", o.ok, o.err)
		}
		done(idp.LoginFailed)
	}
	if reached != 3 || refused != 3*sambatest.LockoutThreshold-3 {
		t.Errorf("%d attempts reached AD and %d were refused, want 3 and %d", reached, refused, 3*sambatest.LockoutThreshold-3)
	}
	res, err := dc.Conn(t).Search(ldap.NewSearchRequest(adDN(adThrot.name), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"badPwdCount", "lockoutTime"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read lockout state: %v", err)
	}
	e := res.Entries[0]
	if lt := e.GetAttributeValue("lockoutTime"); lt != "" && lt != "0" {
		t.Errorf("the account is locked in AD: lockoutTime %s", lt)
	}
	if n := e.GetAttributeValue("badPwdCount"); n != "3" {
		t.Errorf("badPwdCount = %q, want 3", n)
	}
	mustLogin(t, a, adThrot.name, adThrot.password, adDN(adThrot.name))
}

// TestADEntryThrottleMixedNameForms guesses one account's password under
// four names the typed-name throttle counts apart (sAMAccountName and
// DOMAIN\user share a key; a UPN whose suffix is not in upn_suffixes and
// the e-mail address each have their own): 3 keys × 3 = 9 wrong passwords
// would reach Samba, which locks at 5. The entry throttle, keyed by
// objectGUID, lets only 3 through; the account stays unlocked and the right
// password works once the window has passed.
func TestADEntryThrottleMixedNameForms(t *testing.T) {
	dc := adDC(t)
	cfg := adConfig(dc)
	cfg.ActiveDirectory.UPNSuffixes = nil // "spray@example.test" is then its own key
	const limit = 3
	a, _ := newADAuth(t, cfg)
	th, clk := newTestThrottle(t, limit, throttle.WithNormalizer(a.NormalizeUsername))
	a.SetEntryThrottle(th)
	names := []string{adSpray.name, `EXAMPLE\` + adSpray.name, adSpray.name + "@example.test", adSprayMail}
	keys := map[string]bool{}
	for _, n := range names {
		keys[a.NormalizeUsername(n)] = true
	}
	if len(keys) != 3 {
		t.Fatalf("the four names give %d typed-name keys, want 3", len(keys))
	}
	const attempts = 12
	reached, refused := 0, 0
	for i := range attempts {
		throttled, o := guess(t, th, a, names[i%len(names)], "Wrong-Guess-1")
		switch {
		case throttled:
			refused++
		case o.ok || o.err != nil:
			t.Fatalf("wrong password as %q: (%v, %v)", names[i%len(names)], o.ok, o.err)
		default:
			reached++
		}
	}
	bad, lockout := adLockoutState(t, dc, adDN(adSpray.name))
	t.Logf("%d attempts under 4 names: %d reached Samba, %d refused; badPwdCount %s, lockoutTime %q", attempts, reached, refused, bad, lockout)
	if reached != limit || refused != attempts-limit {
		t.Errorf("%d attempts reached AD and %d were refused, want %d and %d", reached, refused, limit, attempts-limit)
	}
	if n, err := strconv.Atoi(bad); err != nil || n > limit {
		t.Errorf("badPwdCount = %q, want at most %d", bad, limit)
	}
	if lockout != "" && lockout != "0" {
		t.Errorf("the account is locked in AD: lockoutTime %s", lockout)
	}
	// Within the window even the right password is not sent.
	if throttled, _ := guess(t, th, a, adSprayMail, adSpray.password); !throttled {
		t.Error("the right password was sent within the window")
	}
	clk.add(15*time.Minute + time.Second)
	throttled, o := guess(t, th, a, names[2], adSpray.password)
	if throttled || !o.ok || !strings.EqualFold(o.id.DN, adDN(adSpray.name)) {
		t.Fatalf("right password after the window: throttled %v, (%v, %v)", throttled, o.ok, o.err)
	}
	if bad, _ := adLockoutState(t, dc, adDN(adSpray.name)); bad != "0" {
		t.Errorf("badPwdCount after the right password = %q, want 0", bad)
	}
}

// adLockoutState reads an account's badPwdCount and lockoutTime.
func adLockoutState(t *testing.T, dc *sambatest.DC, dn string) (badPwdCount, lockoutTime string) {
	t.Helper()
	res, err := dc.Conn(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"badPwdCount", "lockoutTime"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read lockout state of %s: %v", dn, err)
	}
	e := res.Entries[0]
	return e.GetAttributeValue("badPwdCount"), e.GetAttributeValue("lockoutTime")
}
