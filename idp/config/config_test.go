package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncp-sso/idp/idp"
)

const minimal = `
server:
  public_url: "https://sso.example.com"
ldap:
  urls: ["ldaps://dc1.example.com:636"]
  bind_dn: "cn=svc,dc=example,dc=com"
  bind_password: %s
  user:
    base_dn: "ou=people,dc=example,dc=com"
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func parse(t *testing.T, yaml string, e map[string]string) (*Config, error) {
	t.Helper()
	return Parse(strings.NewReader(yaml), env(e))
}

func problems(t *testing.T, err error) idp.Problems {
	t.Helper()
	var ps idp.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want idp.Problems, got %v", err)
	}
	return ps
}

func hasProblem(ps idp.Problems, key, substr string) bool {
	for _, p := range ps {
		if p.Key == key && strings.Contains(p.Msg, substr) {
			return true
		}
	}
	return false
}

func TestMinimalConfigGetsDefaults(t *testing.T) {
	cfg, err := parse(t, strings.Replace(minimal, "%s", `"pw"`, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != ":8080" || cfg.Session.Lifetime.String() != "8h0m0s" || cfg.Store.Backend != "bolt" || cfg.Log.Format != "json" {
		t.Errorf("defaults not applied: %+v %+v %+v", cfg.Server, cfg.Session, cfg.Store)
	}
}

func TestSecretsAreNeverMangled(t *testing.T) {
	cases := []struct {
		name, value string
		env         map[string]string
		want        string
	}{
		{"literal dollar", `'pa$$w0rd${x}$HOME'`, nil, "pa$$w0rd${x}$HOME"},
		{"env reference", `"${BIND_PW}"`, map[string]string{"BIND_PW": "s3cr$t$1"}, "s3cr$t$1"},
		{"env value stays a string", `"${BIND_PW}"`, map[string]string{"BIND_PW": "0123"}, "0123"},
		{"partial reference is literal", `"x${BIND_PW}"`, map[string]string{"BIND_PW": "no"}, "x${BIND_PW}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, strings.Replace(minimal, "%s", tc.value, 1), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LDAP.BindPassword != tc.want {
				t.Errorf("got %q, want %q", cfg.LDAP.BindPassword, tc.want)
			}
		})
	}
}

func TestSecretFromFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("file$ecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(minimal, "bind_password: %s", "bind_password_file: "+f, 1)
	cfg, err := parse(t, y, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LDAP.BindPassword != "file$ecret" {
		t.Errorf("got %q", cfg.LDAP.BindPassword)
	}
	// Both forms at once, and a missing file, are named problems.
	y = strings.Replace(minimal, "%s", "x\n  bind_password_file: /nonexistent/pw", 1)
	ps := problems(t, func() error { _, err := parse(t, y, nil); return err }())
	if !hasProblem(ps, "ldap.bind_password_file", "not both") {
		t.Errorf("problems: %v", ps)
	}
}

func TestEveryProblemAtOnceWithKeyPaths(t *testing.T) {
	y := `
server:
  public_url: "ftp://x"
  lisen: ":80"
session:
  lifetime: 1s
ldap:
  urls: ["http://dc1"]
  user:
    basedn: "x"
log:
  level: loud
unknown_section: {}
`
	_, err := parse(t, y, nil)
	ps := problems(t, err)
	// Unknown keys are reported first, all of them, with suggestions.
	for _, want := range []struct{ key, msg string }{
		{"server.lisen", `did you mean "listen"`},
		{"ldap.user.basedn", `did you mean "base_dn"`},
		{"unknown_section", "unknown key"},
	} {
		if !hasProblem(ps, want.key, want.msg) {
			t.Errorf("missing problem %s: %s in\n%v", want.key, want.msg, ps)
		}
	}
	// With the unknown keys fixed, validation reports every section's problems.
	y = strings.NewReplacer("  lisen: \":80\"\n", "", "basedn", "base_dn", "unknown_section: {}\n", "").Replace(y)
	_, err = parse(t, y, nil)
	ps = problems(t, err)
	for _, key := range []string{"server.public_url", "session.lifetime", "log.level"} {
		if !hasProblem(ps, key, "") {
			t.Errorf("missing problem for %s in\n%v", key, ps)
		}
	}
	found := false
	for _, p := range ps {
		if strings.HasPrefix(p.Key, "ldap.") {
			found = true
		}
	}
	if !found {
		t.Errorf("no ldap problem in\n%v", ps)
	}
}

func TestMissingEnvIsAProblem(t *testing.T) {
	_, err := parse(t, strings.Replace(minimal, "%s", `"${NOPE}"`, 1), nil)
	if !hasProblem(problems(t, err), "ldap.bind_password", "NOPE") {
		t.Errorf("got %v", err)
	}
}

func TestExampleFileIsValidAndComplete(t *testing.T) {
	raw, err := os.ReadFile("../../idp.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The example points at files that exist only on a server; the key check
	// must still pass: no unknown keys, every problem is about files.
	_, err = parse(t, string(raw), map[string]string{})
	if err == nil {
		return
	}
	for _, p := range problems(t, err) {
		if strings.Contains(p.Msg, "unknown key") {
			t.Errorf("idp.example.yaml uses an unknown key: %s", p)
		}
	}
}

// TestExampleDocumentsEveryKey keeps idp.example.yaml complete: every key the
// configuration types accept appears in it.
func TestExampleDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile("../../idp.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := join(path, n.Content[i].Value)
				present[p] = true
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&root, "")
	var want func(t reflect.Type, path string)
	want = func(rt reflect.Type, path string) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || rt == reflect.TypeOf(time.Time{}) {
			return
		}
		for k, ft := range yamlFields(rt) {
			p := join(path, k)
			// A key documented as a commented-out line (for options that
			// exclude each other, or defaults that depend on a profile)
			// counts as documented.
			if !present[p] && !strings.Contains(string(raw), "# "+k+":") {
				t.Errorf("idp.example.yaml does not document %s", p)
			}
			want(ft, p)
		}
	}
	want(reflect.TypeOf(Config{}), "")
}
