package ldapauth

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncp-sso/idp/idp"
)

// decode reads a `ldap:` section strictly, as the config loader does.
func decode(t *testing.T, src string) Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode: %v\n%s", err, src)
	}
	return c
}

const minimal = `
urls: [ldaps://dc1.corp.example]
bind_dn: cn=idp,ou=services,dc=corp,dc=example
bind_password: "pa$$word"
user:
  base_dn: ou=people,dc=corp,dc=example
`

func TestConfigDefaults(t *testing.T) {
	c := decode(t, minimal)
	c.SetDefaults()
	if ps := c.Validate(); len(ps) != 0 {
		t.Fatalf("minimal config: %v", ps)
	}
	if c.StartTLS == nil || !*c.StartTLS {
		t.Error("start_tls should default to true")
	}
	if c.BindPassword != "pa$$word" {
		t.Errorf("bind_password mangled: %q", c.BindPassword)
	}
	for _, d := range []struct {
		name      string
		got, want any
	}{
		{"dial_timeout", c.DialTimeout, 5 * time.Second},
		{"request_timeout", c.RequestTimeout, 10 * time.Second},
		{"pool_size", c.PoolSize, 4},
		{"user.scope", c.User.Scope, "sub"},
		{"user.filter", c.User.Filter, "(objectClass=inetOrgPerson)"},
		{"user.login_attributes", strings.Join(c.User.LoginAttributes, ","), "uid,mail"},
		{"attributes.subject", c.Attributes.Subject, "entryUUID"},
		{"attributes.username", c.Attributes.Username, "uid"},
		{"attributes.email", c.Attributes.Email, "mail"},
		{"attributes.display_name", c.Attributes.DisplayName, "cn"},
		{"groups.member_attribute", c.Groups.MemberAttribute, "member"},
	} {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
		}
	}

	c = decode(t, `
urls: [ldaps://dc1.corp.example]
anonymous_bind: true
dial_timeout: 750ms
request_timeout: 3s
user: {base_dn: "o=x", filter_template: "(cn={username})"}`)
	c.SetDefaults()
	if c.DialTimeout != 750*time.Millisecond || c.RequestTimeout != 3*time.Second {
		t.Errorf("durations: %v %v", c.DialTimeout, c.RequestTimeout)
	}
	if c.User.Filter != "" || len(c.User.LoginAttributes) != 0 {
		t.Errorf("filter_template must not get filter/login_attributes defaults: %+v", c.User)
	}
	if ps := c.Validate(); len(ps) != 0 {
		t.Errorf("template config: %v", ps)
	}
}

func TestConfigUnknownKey(t *testing.T) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(minimal + "bind_pasword: typo\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []string // problem keys, in order
	}{
		{"empty", "{}", []string{"urls", "bind_dn", "user.base_dn"}},
		{"bad urls", `
urls: ["http://x", "ldap://", "ldaps://h/dc=x?uid", "::"]
anonymous_bind: true
user: {base_dn: "o=x"}`, []string{"urls[0]", "urls[1]", "urls[2]", "urls[3]"}},
		{"plain ldap needs explicit insecure", `
urls: [ldap://h]
start_tls: false
anonymous_bind: true
user: {base_dn: "o=x"}`, []string{"urls[0]"}},
		{"insecure allowed", `
urls: [ldap://h]
insecure_no_tls: true
anonymous_bind: true
user: {base_dn: "o=x"}`, nil},
		{"insecure contradicts start_tls", `
urls: [ldap://h]
insecure_no_tls: true
start_tls: true
anonymous_bind: true
user: {base_dn: "o=x"}`, []string{"insecure_no_tls"}},
		{"service account", `
urls: [ldaps://h]
bind_dn: "not a dn"
user: {base_dn: "o=x"}`, []string{"bind_dn", "bind_password"}},
		{"anonymous and bind_dn", `
urls: [ldaps://h]
anonymous_bind: true
bind_dn: cn=x
bind_password: y
user: {base_dn: "o=x"}`, []string{"anonymous_bind"}},
		{"numbers and files", `
urls: [ldaps://h]
anonymous_bind: true
dial_timeout: -1s
request_timeout: -2s
pool_size: 1000
ca_file: ` + notPEM + `
user: {base_dn: "o=x"}`, []string{"ca_file", "dial_timeout", "request_timeout", "pool_size"}},
		{"missing ca file", `
urls: [ldaps://h]
anonymous_bind: true
ca_file: /nonexistent/ca.pem
user: {base_dn: "o=x"}`, []string{"ca_file"}},
		{"user section", `
urls: [ldaps://h]
anonymous_bind: true
user:
  base_dn: "=,="
  scope: base
  filter: "(&(objectClass=person)"
  login_attributes: [uid, "bad attr", userPassword]`,
			[]string{"user.base_dn", "user.scope", "user.filter", "user.login_attributes[1]", "user.login_attributes[2]"}},
		{"template without placeholder", `
urls: [ldaps://h]
anonymous_bind: true
user: {base_dn: "o=x", filter_template: "(uid=alice)"}`, []string{"user.filter_template"}},
		{"template broken", `
urls: [ldaps://h]
anonymous_bind: true
user: {base_dn: "o=x", filter_template: "(uid={username}"}`, []string{"user.filter_template"}},
		{"template and filter", `
urls: [ldaps://h]
anonymous_bind: true
user: {base_dn: "o=x", filter: "(cn=*)", filter_template: "(uid={username})"}`, []string{"user.filter_template"}},
		{"attributes", `
urls: [ldaps://h]
anonymous_bind: true
user: {base_dn: "o=x"}
attributes:
  subject: unicodePwd
  extra: [employeeNumber, "userPassword;binary", "x y"]`,
			[]string{"attributes.subject", "attributes.extra[1]", "attributes.extra[2]"}},
		{"groups", `
urls: [ldaps://h]
anonymous_bind: true
user: {base_dn: "o=x"}
groups:
  required: ["cn=staff,o=x", "staff"]
  base_dn: "=="
  scope: all
  filter: "(&(objectClass=group)"
  member_attribute: "mem ber"
  user_attribute: authPassword`,
			[]string{"groups.required[1]", "groups.base_dn", "groups.scope", "groups.filter", "groups.member_attribute", "groups.user_attribute"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := decode(t, tc.yaml)
			c.SetDefaults()
			ps := c.Validate()
			var keys []string
			for _, p := range ps {
				keys = append(keys, p.Key)
				if p.Msg == "" {
					t.Errorf("%s: empty message", p.Key)
				}
			}
			if !slices.Equal(keys, tc.want) {
				t.Errorf("problem keys = %q, want %q\n%v", keys, tc.want, ps.Err())
			}
			_, err := New(c)
			if (err == nil) != (len(tc.want) == 0) {
				t.Errorf("New: %v, want an error iff problems", err)
			}
			var problems idp.Problems
			if err != nil && !asProblems(err, &problems) {
				t.Errorf("New error does not wrap idp.Problems: %v", err)
			}
		})
	}
}

func TestNewDoesNotChangeCallerConfig(t *testing.T) {
	c := decode(t, minimal)
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if c.DialTimeout != 0 || c.User.LoginAttributes != nil {
		t.Errorf("New filled defaults into the caller's Config: %+v", c)
	}
}
