package ldapauth

import (
	"context"
	"strings"
	"testing"
)

func diagnose(t *testing.T, a *Authenticator, user, password string) (bool, string) {
	t.Helper()
	var b strings.Builder
	ok := a.Diagnose(context.Background(), user, password, func(st Step) {
		mark := "ok"
		if !st.OK {
			mark = "FAIL"
		}
		b.WriteString(mark + " " + st.Name + "\n")
		for _, d := range st.Detail {
			b.WriteString("  " + d + "\n")
		}
		if st.Fix != "" {
			b.WriteString("  fix: " + st.Fix + "\n")
		}
	})
	out := b.String()
	if password != "" && strings.Contains(out, password) {
		t.Errorf("the report contains the password:\n%s", out)
	}
	return ok, out
}

func TestADDiagnose(t *testing.T) {
	dc := adDC(t)
	a, _ := newADAuth(t, adConfig(dc))
	ok, out := diagnose(t, a, `EXAMPLE\alice`, adAlice.password)
	for _, want := range []string{
		"ok connect", "(LDAPS)", "certificate verified against " + dc.CAFile,
		"ok service_bind", "(sAMAccountName=alice)", "1 entry found: CN=alice,",
		"subject (objectGUID): ", "e-mail (mail, then userPrincipalName): " + adAliceMail,
		"ok user_bind", "mail (OAuth userinfo email_id / SAML NameID by default): " + adAliceMail,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !ok {
		t.Errorf("Diagnose failed:\n%s", out)
	}

	ok, out = diagnose(t, a, "mustc", adMust.password)
	if ok || !strings.Contains(out, "FAIL user_bind") || !strings.Contains(out, "AD data 773") ||
		!strings.Contains(out, "must be changed") || !strings.Contains(out, "다음 로그인 때 변경") {
		t.Errorf("must-change user:\n%s", out)
	}

	cfg := adConfig(dc)
	cfg.BindPassword = "Wrong-Service-1"
	b, _ := newADAuth(t, cfg)
	ok, out = diagnose(t, b, "alice", "")
	if ok || !strings.Contains(out, "FAIL service_bind") || !strings.Contains(out, "AD data 52e") || !strings.Contains(out, "ldap.bind_password") {
		t.Errorf("wrong service password:\n%s", out)
	}
}
