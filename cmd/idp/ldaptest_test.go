package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeLDAPTestConfig writes a configuration for the slapd fixture with the
// given CA file.
func writeLDAPTestConfig(t *testing.T, url, caFile, ou string) string {
	t.Helper()
	yaml := fmt.Sprintf(`
server:
  public_url: "http://127.0.0.1"
store:
  backend: memory
ldap:
  urls: [%q, %q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "svc-pa$$word"
  user:
    base_dn: %q
  groups:
    required: ["cn=sso,%s"]
`, "ldap://127.0.0.1:1", url, caFile, ou, ou, ou)
	path := filepath.Join(t.TempDir(), "idp.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runLDAPTest(t *testing.T, password string, args ...string) (int, string) {
	t.Helper()
	ldapTestStdin = strings.NewReader(password + "\n")
	t.Cleanup(func() { ldapTestStdin = os.Stdin })
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"ldap", "test"}, args...), &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestLDAPTestCommand(t *testing.T) {
	sl, ou := directoryFixture(t)
	cfgPath := writeLDAPTestConfig(t, sl.URL, sl.CAFile, ou)

	t.Run("good user and password", func(t *testing.T) {
		code, out := runLDAPTest(t, "Hana!2345", "--config", cfgPath, "--user", "hana", "--password-stdin")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{
			"✗ connect", "ldap://127.0.0.1:1", // the dead first server, then failover
			"✓ connect", "certificate subject:", "certificate issuer:", "certificate verified against " + sl.CAFile,
			"✓ service_bind", "filter (&(objectClass=inetOrgPerson)(|(uid=hana)(mail=hana)))", "1 entry found: uid=hana," + ou,
			"e-mail (mail): hana@example.test", "✓ groups", "✓ user_bind", "hana@example.test", "every step passed",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Hana!2345") {
			t.Error("the password was printed")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		code, out := runLDAPTest(t, "nope", "--config", cfgPath, "--user", "hana", "--password-stdin")
		if code != 1 || !strings.Contains(out, "✗ user_bind") || !strings.Contains(out, "invalid credentials") || !strings.Contains(out, "비밀번호가 올바르지 않습니다") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		code, out := runLDAPTest(t, "", "--config", cfgPath, "--user", "nobody")
		if code != 1 || !strings.Contains(out, "0 entries found") || !strings.Contains(out, "fix: no entry matches") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("not in the group", func(t *testing.T) {
		code, out := runLDAPTest(t, "", "--config", cfgPath, "--user", "outsider")
		if code != 1 || !strings.Contains(out, "✗ groups") || !strings.Contains(out, "ldap.groups.required") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("untrusted CA", func(t *testing.T) {
		code, out := runLDAPTest(t, "", "--config", writeLDAPTestConfig(t, sl.URL, sl.WrongCAFile(t), ou))
		if code != 1 || !strings.Contains(out, "certificate NOT verified") || !strings.Contains(out, "set ldap.ca_file") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _ := runLDAPTest(t, "", "--user", "x"); code != 2 {
			t.Errorf("without --config: exit %d, want 2", code)
		}
	})
}
