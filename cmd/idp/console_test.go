package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncp-sso/idp/certs"
)

func TestConsoleValues(t *testing.T) {
	dir := t.TempDir()
	kp, err := certs.Generate(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keyFile, certFile := filepath.Join(dir, "saml.key"), filepath.Join(dir, "saml.pem")
	if err := certs.WriteFiles(kp, keyFile, certFile, false); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "wp-secret")
	os.WriteFile(secretFile, []byte("wp-secret-from-file-123\n"), 0o600)
	t.Setenv("WORKS_SECRET", "works-secret-from-env-123")
	cfgFile := filepath.Join(dir, "idp.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
server:
  public_url: "http://sso.example.com:8080"
ldap:
  urls: ["ldaps://dc1.example.com"]
  bind_dn: "cn=svc,dc=example,dc=com"
  bind_password: "x"
  user: {base_dn: "dc=example,dc=com"}
oauth:
  clients:
    - {name: workplace, client_id: wp-id, client_secret_file: %q, profile: workplace, company: acme}
    - {name: works, client_id: works-id, client_secret: "${WORKS_SECRET}", profile: naverworks, domain: acme.example}
saml:
  signing: {key_file: %q, cert_file: %q}
  service_providers:
    - {profile: workplace, company: acme}
`, secretFile, keyFile, certFile)), 0o600)

	var out, errb strings.Builder
	if code := cmdConsole(context.Background(), []string{"--config", cfgFile, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "wp-secret-from-file") || strings.Contains(out.String(), "works-secret-from-env") {
		t.Fatal("a secret was printed without --show-secrets")
	}
	var got consoleOut
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatal(err)
	}
	field := func(sp int, key string) string {
		for _, f := range got.ServiceProviders[sp].Fields {
			if f.Key == key {
				return f.Value
			}
		}
		return ""
	}
	if len(got.ServiceProviders) != 3 || len(got.Warnings) == 0 {
		t.Fatalf("got %d SPs, warnings %v", len(got.ServiceProviders), got.Warnings)
	}
	for key, want := range map[string]string{
		"web_login_url":    "http://sso.example.com:8080/oauth/authorize",
		"access_token_api": "http://sso.example.com:8080/oauth/token",
		"userinfo_api":     "http://sso.example.com:8080/oauth/userinfo",
		"logout_url":       "http://sso.example.com:8080/oauth/logout",
		"client_id":        "wp-id",
		"client_secret":    "(not shown) from file " + secretFile,
	} {
		if v := field(0, key); v != want {
			t.Errorf("oauth %s = %q, want %q", key, v, want)
		}
	}
	if v := field(1, "client_secret"); v != "(not shown) from environment variable WORKS_SECRET" {
		t.Errorf("works secret source %q", v)
	}
	if field(2, "web_login_url") != "http://sso.example.com:8080/saml/sso" || field(2, "idp_issuer") != "http://sso.example.com:8080/saml/metadata" ||
		field(2, "certificate_file") != certFile || field(2, "certificate_sha256") != certs.Fingerprint(kp.Cert) {
		t.Errorf("saml fields: %+v", got.ServiceProviders[2].Fields)
	}
	// --show-secrets prints them; the text form labels fields in both languages.
	out.Reset()
	if code := cmdConsole(context.Background(), []string{"--config", cfgFile, "--show-secrets"}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	for _, want := range []string{"wp-secret-from-file-123", "works-secret-from-env-123", "Web Login URL / 웹 로그인 URL", "⚠"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q", want)
		}
	}
}
