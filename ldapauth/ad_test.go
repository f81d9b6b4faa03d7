package ldapauth

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/ldapauth/sambatest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := sambatest.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// adUser is one account of the AD fixture.
type adUser struct{ name, password string }

// The AD fixture's accounts, created once per test binary.
var (
	adAlice   = adUser{"alice", "Alice-Pass-1"} // in sso-team, nested in sso-users
	adBob     = adUser{"bob", "Bob-Pass-1"}     // in no group
	adCarol   = adUser{"carol", "Carol-Pass-1"} // in cycle-a <-> cycle-b, cycle-b in sso-users
	adDave    = adUser{"dave", "Dave-Pass-1"}   // in loop-x <-> loop-y, not allowed
	adDis     = adUser{"dis", "Dis-Pass-1"}     // disabled
	adMust    = adUser{"mustc", "Must-Pass-1"}  // must change at next logon
	adAcctExp = adUser{"acctexp", "Exp-Pass-1"} // account expired
	adPwdExp  = adUser{"pwdexp", "Pexp-Pass-1"} // password expired (PSO)
	adLocked  = adUser{"locked", "Lock-Pass-1"} // locked out by wrong passwords
	adThrot   = adUser{"throttled", "Throt-Pass-1"}
	adSpray   = adUser{"spray", "Spray-Pass-1"} // with mail, guessed under four names

	adSetupOnce sync.Once
	adSetupErr  error
	adSetupTime time.Duration
)

const (
	adAliceMail = "alice.kim@mail.example.test"
	adSprayMail = "spray.kim@mail.example.test"
)

// adDC returns the shared Samba DC with the fixture's accounts.
func adDC(t *testing.T) *sambatest.DC {
	t.Helper()
	dc := sambatest.Shared(t)
	adSetupOnce.Do(func() {
		start := time.Now()
		adSetupErr = adSetup(t, dc)
		adSetupTime = time.Since(start)
		t.Logf("samba: provisioned in %v, started in %v, fixture in %v", dc.Provisioned, dc.Started, adSetupTime)
	})
	if adSetupErr != nil {
		t.Fatal(adSetupErr)
	}
	return dc
}

// adSetup creates users and groups with samba-tool and puts each account
// in its state.
func adSetup(t *testing.T, dc *sambatest.DC) (err error) {
	// Fatal inside SambaTool would end only the first test; report instead.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("AD fixture: %v", r)
		}
	}()
	tool := func(args ...string) {
		t.Helper()
		dc.SambaTool(t, args...)
	}
	var wg sync.WaitGroup
	for _, u := range []adUser{adAlice, adBob, adCarol, adDave, adDis, adMust, adAcctExp, adPwdExp, adLocked, adThrot, adSpray} {
		args := []string{"user", "create", u.name, u.password, "--given-name=" + u.name, "--surname=Test", "--use-username-as-cn"}
		switch u {
		case adAlice:
			args = append(args, "--mail-address="+adAliceMail)
		case adSpray:
			args = append(args, "--mail-address="+adSprayMail)
		case adMust:
			args = append(args, "--must-change-at-next-login")
		}
		wg.Add(1)
		go func() { defer wg.Done(); tool(args...) }()
	}
	wg.Wait()
	// samba-tool is mostly Python start-up: run independent calls side by side.
	parallel := func(calls ...[]string) {
		var wg sync.WaitGroup
		for _, args := range calls {
			wg.Add(1)
			go func() { defer wg.Done(); tool(args...) }()
		}
		wg.Wait()
	}
	var adds [][]string
	for _, g := range []string{"sso-users", "sso-team", "cycle-a", "cycle-b", "loop-x", "loop-y"} {
		adds = append(adds, []string{"group", "add", g})
	}
	adds = append(adds, []string{"user", "disable", adDis.name}, []string{"user", "setexpiry", adAcctExp.name, "--days=0"})
	parallel(adds...)
	parallel(
		[]string{"group", "addmembers", "sso-team", "alice"},
		[]string{"group", "addmembers", "sso-users", "sso-team,cycle-b"},
		[]string{"group", "addmembers", "cycle-a", "carol,cycle-b"},
		[]string{"group", "addmembers", "cycle-b", "cycle-a"},
		[]string{"group", "addmembers", "loop-x", "dave,loop-y"},
		[]string{"group", "addmembers", "loop-y", "loop-x"},
	)
	// The domain's passwords expire after 42 days: date pwdexp's back.
	dc.SetPasswordChanged(t, adDN(adPwdExp.name), adPwdExp.password, time.Now().Add(-60*24*time.Hour))
	// Lock "locked" out: LockoutThreshold wrong passwords, straight to AD.
	for i := range sambatest.LockoutThreshold {
		bc := dc.Conn(t)
		if err := bc.Bind(adDN(adLocked.name), fmt.Sprintf("wrong-%d", i)); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return fmt.Errorf("AD fixture: wrong bind %d for locked: %v", i, err)
		}
	}
	return nil
}

func adDN(cn string) string { return "CN=" + cn + "," + sambatest.UsersDN }

func adGroupDN(cn string) string { return adDN(cn) }

// adConfig is a minimal AD configuration: the preset does the rest.
func adConfig(dc *sambatest.DC, urls ...string) Config {
	if len(urls) == 0 {
		urls = []string{dc.LDAPSURL}
	}
	return Config{
		Preset:          PresetActiveDirectory,
		URLs:            urls,
		CAFile:          dc.CAFile,
		BindDN:          sambatest.AdminDN,
		BindPassword:    sambatest.AdminPassword,
		DialTimeout:     2 * time.Second,
		RequestTimeout:  5 * time.Second,
		User:            UserConfig{BaseDN: sambatest.BaseDN},
		ActiveDirectory: ADConfig{NetBIOSDomains: []string{"EXAMPLE"}, UPNSuffixes: []string{"example.test"}},
	}
}

func newADAuth(t *testing.T, cfg Config) (*Authenticator, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	a, err := New(cfg, WithLogger(slog.New(slog.NewJSONHandler(log, nil))))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		a.Close()
		for _, u := range []adUser{adAlice, adBob, adCarol, adDis, adMust, adPwdExp, adLocked} {
			if strings.Contains(log.String(), u.password) {
				t.Errorf("the log contains %s's password", u.name)
			}
		}
		if t.Failed() {
			t.Logf("authenticator log:\n%s", log.String())
		}
	})
	return a, log
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestADLoginForms(t *testing.T) {
	dc := adDC(t)
	a, _ := newADAuth(t, adConfig(dc))
	id := mustLogin(t, a, "alice", adAlice.password, adDN("alice"))
	if !guidRE.MatchString(id.Subject) {
		t.Errorf("subject %q is not a GUID string", id.Subject)
	}
	// The GUID string must be AD's mixed-endian rendering of objectGUID.
	res, err := dc.Conn(t).Search(ldap.NewSearchRequest(adDN("alice"), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"objectGUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read objectGUID: %v", err)
	}
	if want := guidString(res.Entries[0].GetRawAttributeValue("objectGUID")); id.Subject != want {
		t.Errorf("subject %q, want %q", id.Subject, want)
	}
	if id.Username != "alice" || id.Email != adAliceMail {
		t.Errorf("identity = %+v, want username alice, e-mail %s", id, adAliceMail)
	}

	for _, name := range []string{"ALICE", "  alice ", `EXAMPLE\alice`, `example\Alice`, "alice@example.test", "Alice@EXAMPLE.TEST", adAliceMail} {
		t.Run(name, func(t *testing.T) {
			got := mustLogin(t, a, name, adAlice.password, adDN("alice"))
			if got.Subject != id.Subject {
				t.Errorf("subject %q, want %q", got.Subject, id.Subject)
			}
		})
	}
	t.Run("other domain", func(t *testing.T) { mustRefuse(t, a, `OTHER\alice`, adAlice.password) })
	t.Run("wrong password", func(t *testing.T) { mustRefuse(t, a, "alice", "Not-Alice-1") })
	t.Run("unknown", func(t *testing.T) { mustRefuse(t, a, "nobody", "Whatever-1") })

	t.Run("email fallback to UPN", func(t *testing.T) {
		got := mustLogin(t, a, "bob", adBob.password, adDN("bob"))
		if got.Email != "bob@example.test" {
			t.Errorf("e-mail %q, want the UPN bob@example.test", got.Email)
		}
	})
	t.Run("forms switched off", func(t *testing.T) {
		cfg := adConfig(dc)
		cfg.ActiveDirectory.LoginForms = []string{FormMail}
		b, _ := newADAuth(t, cfg)
		mustRefuse(t, b, "alice", adAlice.password)
		mustRefuse(t, b, `EXAMPLE\alice`, adAlice.password)
		mustLogin(t, b, adAliceMail, adAlice.password, adDN("alice"))
	})
}

func TestADTransport(t *testing.T) {
	dc := adDC(t)
	t.Run("StartTLS", func(t *testing.T) {
		a, _ := newADAuth(t, adConfig(dc, dc.URL))
		mustLogin(t, a, "alice", adAlice.password, adDN("alice"))
	})
	t.Run("LDAPS", func(t *testing.T) {
		a, _ := newADAuth(t, adConfig(dc, dc.LDAPSURL))
		mustLogin(t, a, "alice", adAlice.password, adDN("alice"))
	})
	t.Run("unknown CA", func(t *testing.T) {
		cfg := adConfig(dc)
		cfg.CAFile = certstest.WriteOtherCAFile(t, "other CA")
		a, _ := newADAuth(t, cfg)
		mustOutage(t, a, "alice", adAlice.password)
	})
	t.Run("failover from a dead first DC", func(t *testing.T) {
		a, _ := newADAuth(t, adConfig(dc, "ldaps://"+closedPort(t), dc.LDAPSURL))
		mustLogin(t, a, "alice", adAlice.password, adDN("alice"))
		mustLogin(t, a, "alice", adAlice.password, adDN("alice"))
	})
}

func TestADNestedGroups(t *testing.T) {
	dc := adDC(t)
	cfg := adConfig(dc)
	cfg.Groups.Required = []string{adGroupDN("sso-users"), adGroupDN("no-such-group")}
	a, _ := newADAuth(t, cfg)
	id := mustLogin(t, a, "alice", adAlice.password, adDN("alice"))
	if len(id.Groups) != 1 || !sameDN(id.Groups[0], adGroupDN("sso-users")) {
		t.Errorf("groups = %q, want sso-users", id.Groups)
	}
	mustLogin(t, a, "carol", adCarol.password, adDN("carol")) // through a cycle
	for _, u := range []adUser{adBob, adDave} {
		o := login(t, a, u.name, u.password)
		ae, ok := idp.IsAccountError(o.err)
		if o.ok || !ok || ae.State != idp.StateNotPermitted {
			t.Errorf("%s: (%v, %v), want not permitted", u.name, o.ok, o.err)
		}
	}
	t.Run("all groups under base_dn", func(t *testing.T) {
		cfg := adConfig(dc)
		cfg.Groups.BaseDN = sambatest.BaseDN
		b, _ := newADAuth(t, cfg)
		id := mustLogin(t, b, "carol", adCarol.password, adDN("carol"))
		for _, g := range []string{"cycle-a", "cycle-b", "sso-users"} {
			if !containsDN(id.Groups, adGroupDN(g)) {
				t.Errorf("groups %q lack %s", id.Groups, g)
			}
		}
	})
	t.Run("direct only", func(t *testing.T) {
		cfg := adConfig(dc)
		no := false
		cfg.Groups.Nested = &no
		cfg.Groups.Required = []string{adGroupDN("sso-users")}
		b, _ := newADAuth(t, cfg)
		if o := login(t, b, "alice", adAlice.password); o.ok {
			t.Error("alice signed in through a nested group with nested: false")
		}
	})
}

func containsDN(dns []string, dn string) bool {
	for _, d := range dns {
		if sameDN(d, dn) {
			return true
		}
	}
	return false
}

func TestADAccountStates(t *testing.T) {
	dc := adDC(t)
	a, log := newADAuth(t, adConfig(dc))
	tests := []struct {
		user   adUser
		state  idp.AccountState // "" = looks like a wrong password
		reason string           // logged for the admin
	}{
		{adDis, idp.StateDisabled, "account_disabled"},
		{adMust, idp.StateMustChangePassword, "must_change_password"},
		{adAcctExp, idp.StateAccountExpired, "account_expired"},
		{adPwdExp, idp.StatePasswordExpired, "password_expired"},
		{adLocked, "", "locked_out"},
	}
	for _, tc := range tests {
		t.Run(tc.user.name, func(t *testing.T) {
			o := login(t, a, tc.user.name, tc.user.password)
			if tc.state == "" {
				if o.ok || o.err != nil {
					t.Fatalf("(%v, %v), want (false, nil) like a wrong password", o.ok, o.err)
				}
			} else {
				ae, ok := idp.IsAccountError(o.err)
				if o.ok || !ok || ae.State != tc.state {
					t.Fatalf("(%v, %v), want account state %s", o.ok, o.err, tc.state)
				}
			}
			if !strings.Contains(log.String(), `"reason":"`+tc.reason+`"`) {
				t.Errorf("log lacks reason %s", tc.reason)
			}
			// With a wrong password every one of them is a plain wrong password.
			if o := login(t, a, tc.user.name, "Wrong-Pass-9"); o.ok || o.err != nil {
				t.Errorf("wrong password: (%v, %v), want (false, nil)", o.ok, o.err)
			}
		})
	}
}

func TestADRefusesReferralHost(t *testing.T) {
	// A domain-root search on AD returns referrals to the configuration
	// partition's host (example.test, which does not resolve here); the
	// login must neither follow them nor fail because of them.
	dc := adDC(t)
	cfg := adConfig(dc)
	cfg.User.Scope = "sub"
	a, _ := newADAuth(t, cfg)
	mustLogin(t, a, "bob", adBob.password, adDN("bob"))
}
