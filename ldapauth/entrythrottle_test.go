package ldapauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/throttle"
	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

// testClock is a settable clock shared by a throttle and its store.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestThrottle is the real throttle on a memory store, both on clk.
func newTestThrottle(t *testing.T, limit int, opts ...throttle.Option) (*throttle.Throttle, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Now()}
	b := memory.New(memory.WithClock(clk.now), memory.WithSweepInterval(-1))
	t.Cleanup(func() { b.Close() })
	th, err := throttle.New(b, throttle.Config{MaxFailuresPerAccount: limit, MaxFailuresPerIP: 1000, Window: 15 * time.Minute, FamiliarBrowserFailures: new(int)},
		append([]throttle.Option{throttle.WithClock(clk.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return th, clk
}

// guess is one attempt the way the server makes it: the typed-name
// throttle first, then Authenticate, then the outcome. It reports whether
// the attempt was refused as throttled (by either scope).
func guess(t *testing.T, th *throttle.Throttle, a *Authenticator, name, password string) (throttled bool, o outcome) {
	t.Helper()
	done, err := th.Begin(context.Background(), name, "192.0.2.1")
	var te *idp.ThrottledError
	if errors.As(err, &te) {
		return true, outcome{}
	}
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	o = login(t, a, name, password)
	switch {
	case o.ok:
		done(idp.LoginSucceeded)
	case o.err == nil:
		done(idp.LoginFailed)
	default:
		done(idp.LoginNotCounted)
	}
	if errors.As(o.err, &te) {
		if te.Scope != throttle.ScopeEntry || te.RetryAfter <= 0 {
			t.Errorf("Authenticate(%q) refused with %+v, want the entry scope and a wait", name, te)
		}
		return true, outcome{}
	}
	return false, o
}

// ppolicyLockout makes slapd count wrong binds per entry (pwdFailureTime)
// and lock an entry at the 5th within 30 minutes, like an AD domain.
func ppolicyLockout() []slapdtest.Option {
	return []slapdtest.Option{
		slapdtest.WithConfig("moduleload ppolicy"),
		slapdtest.WithDatabaseConfig("overlay ppolicy", `ppolicy_default "cn=lockout,`+slapdtest.DefaultBaseDN+`"`),
		slapdtest.WithLDIF("dn: cn=lockout," + slapdtest.DefaultBaseDN + "\nobjectClass: device\nobjectClass: pwdPolicy\ncn: lockout\n" +
			"pwdAttribute: userPassword\npwdMaxFailure: 5\npwdLockout: TRUE\npwdFailureCountInterval: 1800\npwdLockoutDuration: 1800\n"),
	}
}

// failuresAt reads, as the root DN, how many wrong binds slapd recorded
// for dn and whether it locked the entry.
func failuresAt(t *testing.T, srv *slapdtest.Server, dn string) (failures int, locked bool) {
	t.Helper()
	res, err := srv.Conn(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"pwdFailureTime", "pwdAccountLockedTime"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read %s: %v", dn, err)
	}
	e := res.Entries[0]
	return len(e.GetAttributeValues("pwdFailureTime")), e.GetAttributeValue("pwdAccountLockedTime") != ""
}

// TestEntryThrottleMixedNames guesses one OpenLDAP user's password
// alternately by uid and by mail. The typed-name throttle counts the two
// names apart; the entry throttle stops the binds at the limit, which
// slapd's own per-entry failure count (ppolicy, lockout at 5) confirms.
func TestEntryThrottleMixedNames(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t, ppolicyLockout()...)
	const limit = 3
	names := []string{"alice", "alice.kim@corp.example"}

	t.Run("without the entry throttle slapd locks the entry", func(t *testing.T) {
		// The control: the measurement sees every wrong bind, and the
		// typed-name throttle alone lets 2×limit through.
		f := newFixtureOn(t, srv)
		dn := f.user(t, "Alice", "alice", "alice.kim@corp.example", "pw-alice", nil)
		th, _ := newTestThrottle(t, limit)
		a := f.newAuth(t, f.config())
		for i := range 4 * limit {
			guess(t, th, a, names[i%2], "wrong-guess")
		}
		n, locked := failuresAt(t, srv, dn)
		t.Logf("control, %d attempts: slapd recorded %d wrong binds, locked %v", 4*limit, n, locked)
		if n < 5 || !locked {
			t.Fatalf("slapd recorded %d wrong binds (locked %v), want at least 5 and locked", n, locked)
		}
	})

	t.Run("with it", func(t *testing.T) {
		f := newFixtureOn(t, srv)
		dn := f.user(t, "Alice", "alice", "alice.kim@corp.example", "pw-alice", nil)
		th, clk := newTestThrottle(t, limit)
		a := f.newAuth(t, f.config())
		a.SetEntryThrottle(th)
		refused := 0
		for i := range 4 * limit {
			throttled, o := guess(t, th, a, names[i%2], "wrong-guess")
			switch {
			case throttled:
				refused++
			case o.ok || o.err != nil:
				t.Fatalf("wrong password: (%v, %v)", o.ok, o.err)
			}
		}
		n, locked := failuresAt(t, srv, dn)
		t.Logf("%d attempts: %d wrong binds reached slapd, %d refused", 4*limit, n, refused)
		if n != limit || locked || refused != 3*limit {
			t.Fatalf("slapd recorded %d wrong binds (locked %v), %d attempts refused; want %d, unlocked, %d", n, locked, refused, limit, 3*limit)
		}
		if !strings.Contains(f.log.String(), `"reason":"throttled_entry"`) {
			t.Error("a refused bind is not logged with reason throttled_entry")
		}

		// Within the window not even the right password is sent.
		if throttled, _ := guess(t, th, a, "ALICE", "pw-alice"); !throttled {
			t.Error("the right password was sent within the window")
		}
		// Diagnose goes through the same guard: nothing is bound, and it
		// says why.
		var bindStep *Step
		a.Diagnose(context.Background(), "alice", "pw-alice", func(st Step) {
			if st.Name == "user_bind" {
				bindStep = &st
			}
		})
		if bindStep == nil || bindStep.OK || !strings.Contains(strings.Join(bindStep.Detail, "\n"), "not sent: too many failed logins") {
			t.Errorf("diagnose user_bind = %+v, want refused by the throttle", bindStep)
		}
		if n2, _ := failuresAt(t, srv, dn); n2 != n {
			t.Errorf("slapd recorded %d wrong binds after the refused ones, want %d", n2, n)
		}

		clk.add(15*time.Minute + time.Second)
		if throttled, o := guess(t, th, a, "alice.kim@corp.example", "pw-alice"); throttled || !o.ok {
			t.Fatalf("right password after the window: throttled %v, (%v, %v)", throttled, o.ok, o.err)
		}
		// The success started the entry afresh: limit more wrong binds may
		// be made, and no more.
		for i := range limit {
			if throttled, _ := guess(t, th, a, names[i%2], "wrong-again"); throttled {
				t.Fatalf("wrong password %d after a success refused", i+1)
			}
		}
		if throttled, _ := guess(t, th, a, "ALICE.KIM@corp.example", "wrong-again"); !throttled {
			t.Error("wrong password beyond the limit after a success was sent")
		}
	})

	t.Run("diagnose without a password binds nothing", func(t *testing.T) {
		f := newFixtureOn(t, srv)
		dn := f.user(t, "Alice", "alice", "alice.kim@corp.example", "pw-alice", nil)
		th, _ := newTestThrottle(t, 1)
		a := f.newAuth(t, f.config())
		a.SetEntryThrottle(th)
		for range 3 {
			if !a.Diagnose(context.Background(), "alice", "", func(Step) {}) {
				t.Fatal("diagnose without a password failed")
			}
		}
		// One wrong diagnostic bind uses the only attempt.
		a.Diagnose(context.Background(), "alice", "wrong", func(Step) {})
		if n, _ := failuresAt(t, srv, dn); n != 1 {
			t.Errorf("slapd recorded %d wrong binds, want 1", n)
		}
		if throttled, _ := guess(t, th, a, "alice.kim@corp.example", "pw-alice"); !throttled {
			t.Error("a wrong diagnostic bind was not counted")
		}
	})
}

func TestEntryKey(t *testing.T) {
	guid := []byte{0x61, 0x75, 0x4e, 0x18, 0x5f, 0x79, 0xbf, 0x42, 0xa0, 0x6e, 0xaa, 0xcd, 0x1c, 0x74, 0x8c, 0x21}
	withGUID := &ldap.Entry{DN: "CN=alice,CN=Users,DC=example,DC=test",
		Attributes: []*ldap.EntryAttribute{{Name: "objectGUID", ByteValues: [][]byte{guid}, Values: []string{string(guid)}}}}
	moved := &ldap.Entry{DN: "CN=alice2,OU=Moved,DC=example,DC=test", Attributes: withGUID.Attributes}
	tests := []struct {
		name string
		a, b *ldap.Entry
		same bool
	}{
		{"GUID survives a rename", withGUID, moved, true},
		{"DN spelling", &ldap.Entry{DN: "uid=Alice, ou=People,DC=Example,dc=test"}, &ldap.Entry{DN: "UID=alice,OU=people,dc=example,dc=test"}, true},
		{"other DN", &ldap.Entry{DN: "uid=alice,dc=example,dc=test"}, &ldap.Entry{DN: "uid=bob,dc=example,dc=test"}, false},
		{"GUID or DN", withGUID, &ldap.Entry{DN: withGUID.DN}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := entryKey(tc.a) == entryKey(tc.b); got != tc.same {
				t.Errorf("entryKey(%q) = %q, entryKey(%q) = %q; same = %v, want %v", tc.a.DN, entryKey(tc.a), tc.b.DN, entryKey(tc.b), got, tc.same)
			}
		})
	}
}

func TestBindOutcome(t *testing.T) {
	tests := []struct {
		res  bindResult
		err  error
		want idp.LoginOutcome
	}{
		{bindResult{ok: true}, nil, idp.LoginSucceeded},
		{bindResult{}, nil, idp.LoginFailed},
		{bindResult{code: ADInvalidCredentials}, nil, idp.LoginFailed},
		{bindResult{code: ADAccountLockedOut}, nil, idp.LoginFailed},
		{bindResult{code: ADUserNotFound}, nil, idp.LoginFailed},
		{bindResult{code: "9999"}, nil, idp.LoginFailed},
		{bindResult{code: ADPasswordExpired}, nil, idp.LoginNotCounted},
		{bindResult{code: ADAccountDisabled}, nil, idp.LoginNotCounted},
		{bindResult{}, errors.New("timeout"), idp.LoginNotCounted},
	}
	for _, tc := range tests {
		t.Run(string(tc.res.code)+"/"+errString(tc.err), func(t *testing.T) {
			if got := bindOutcome(tc.res, tc.err); got != tc.want {
				t.Errorf("bindOutcome(%+v, %v) = %v, want %v", tc.res, tc.err, got, tc.want)
			}
		})
	}
}
