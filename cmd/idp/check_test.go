package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs"
)

// TestCheck runs `idp check` against a real slapd: a good configuration
// passes; a wrong service password, a wrong CA and an expired SAML
// certificate each fail with a ✗ line and a fix, and exit 1.
func TestCheck(t *testing.T) {
	sl, ou := directoryFixture(t)
	dir := t.TempDir()
	keyPair := func(name string, now time.Time, validity time.Duration) (string, string) {
		kp, err := certs.Generate(certs.Options{Now: now, Validity: validity})
		if err != nil {
			t.Fatal(err)
		}
		k, c := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pem")
		if err := certs.WriteFiles(kp, k, c, false); err != nil {
			t.Fatal(err)
		}
		return k, c
	}
	goodKey, goodCert := keyPair("good", time.Now(), 365*24*time.Hour)
	oldKey, oldCert := keyPair("old", time.Now().Add(-48*time.Hour), 24*time.Hour)
	write := func(name, password, ca, key, cert string) string {
		f := filepath.Join(dir, name+".yaml")
		os.WriteFile(f, []byte(fmt.Sprintf(`
server: {public_url: "https://sso.example.test"}
store: {path: %q}
ldap:
  urls: [%q, %q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: %q
  user: {base_dn: %q}
saml:
  signing: {key_file: %q, cert_file: %q}
  service_providers: [{profile: workplace, company: acme}]
`, filepath.Join(dir, "idp.db"), sl.URL, sl.LDAPSURL, ca, ou, password, ou, key, cert)), 0o600)
		return f
	}
	cases := []struct {
		name, file string
		code       int
		want       []string
	}{
		{"good", write("good", "svc-pa$$word", sl.CAFile, goodKey, goodCert), 0, []string{"✓ LDAP " + sl.URL, "✓ LDAP " + sl.LDAPSURL, "✓ SAML signing key", "All checks passed"}},
		{"bad service password", write("badpw", "nope", sl.CAFile, goodKey, goodCert), 1, []string{"✗ LDAP " + sl.URL, "→ check the host"}},
		{"wrong CA", write("badca", "svc-pa$$word", sl.WrongCAFile(t), goodKey, goodCert), 1, []string{"✗ LDAP " + sl.LDAPSURL}},
		{"expired SAML certificate", write("expired", "svc-pa$$word", sl.CAFile, oldKey, oldCert), 1, []string{"✗ SAML signing key", "expired"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := cmdCheck(context.Background(), []string{"--config", tc.file, "--timeout", "5s"}, &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
