package ldapauth

import (
	"context"
	"errors"
	"testing"

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
	th, err := throttle.New(b, throttle.Config{MaxFailuresPerAccount: 3}, throttle.WithNormalizer(a.NormalizeUsername))
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
