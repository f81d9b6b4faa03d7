package oauthsso

import (
	"bytes"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestSetDefaultsPerProfile(t *testing.T) {
	cfg := testConfig()
	if cfg.CodeLifetime != DefaultCodeLifetime || cfg.FlowLifetime != DefaultFlowLifetime {
		t.Errorf("lifetimes %s %s", cfg.CodeLifetime, cfg.FlowLifetime)
	}
	wp, nw := cfg.Clients[0], cfg.Clients[1]
	for _, tc := range []struct{ name, got, want string }{
		{"wp redirect", strings.Join(wp.RedirectURIsAllowed, ","), "https://acme.ncpworkplace.com/"},
		{"wp logout domains", strings.Join(wp.LogoutRedirectDomains, ","), "acme.ncpworkplace.com"},
		{"wp sp logout", wp.SPLogoutURL, "https://acme.ncpworkplace.com/authn/logoutProcess"},
		{"wp expires_in", wp.ExpiresInType, "string"},
		{"wp field", wp.UserinfoField, "email_id"},
		{"wp attribute", wp.UserinfoAttribute, "mail"},
		{"nw redirect", strings.Join(nw.RedirectURIsAllowed, ","), "https://auth.worksmobile.com/"},
		{"nw logout domains", strings.Join(nw.LogoutRedirectDomains, ","), "auth.worksmobile.com"},
		{"nw sp logout", nw.SPLogoutURL, "https://auth.worksmobile.com/view/oauth/sso/logout"},
		{"nw expires_in", nw.ExpiresInType, "number"},
		{"nw field", nw.UserinfoField, "user_id"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if !*wp.RequireState || *nw.RequireState || *wp.NumericErrorCode || !*nw.NumericErrorCode {
		t.Error("require_state / numeric_error_code defaults")
	}
	if wp.AccessTokenLifetime != time.Hour {
		t.Errorf("token lifetime %s", wp.AccessTokenLifetime)
	}
	if ps := cfg.Validate(); len(ps) != 0 {
		t.Errorf("defaults do not validate: %v", ps)
	}
}

func TestOverridesKept(t *testing.T) {
	const y = `
code_lifetime: 30s
clients:
  - name: wp
    client_id: id-1
    client_secret: 0123456789abcdef0123
    profile: workplace
    company: acme
    require_state: false
    expires_in_type: number
    userinfo_field: user_id
    redirect_uris_allowed: ["https://acme.ncpworkplace.com/oauth/"]
`
	var cfg Config
	if err := yaml.Unmarshal([]byte(y), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	cl := cfg.Clients[0]
	if cfg.CodeLifetime != 30*time.Second || *cl.RequireState || cl.ExpiresInType != "number" || cl.UserinfoField != "user_id" ||
		cl.RedirectURIsAllowed[0] != "https://acme.ncpworkplace.com/oauth/" {
		t.Errorf("override lost: %+v", cl)
	}
	if ps := cfg.Validate(); len(ps) != 0 {
		t.Errorf("%v", ps)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	cfg := Config{
		CodeLifetime: 11 * time.Minute,
		FlowLifetime: time.Hour,
		Clients: []Client{
			{Name: "a", ClientID: "dup", ClientSecret: "short", Profile: "workplace", Company: "acme"},
			{Name: "a", ClientID: "dup", ClientSecret: "0123456789abcdef", ClientSecretHash: "sha256:00", Profile: "naverworks"},
			{Name: "", ClientID: "has space", Profile: "other"},
			{Name: "c", ClientID: "c", ClientSecretHash: "md5:abc", Profile: "workplace"},
			{Name: "d", ClientID: "d", ClientSecret: "0123456789abcdef", Profile: "workplace", Company: "Bad_Company!",
				RedirectURIsAllowed:   []string{"http://acme.example/", "https://acme.example/?q=1", "https://u@acme.example/", "https://acme.example/#f", "https://acme.example/a/../b", "http://127.0.0.1:*/cb"},
				LogoutRedirectDomains: []string{"https://acme.example/", "Acme.Example"},
				SPLogoutURL:           "ftp://acme.example/",
				AccessTokenLifetime:   time.Second, ExpiresInType: "bool", UserinfoField: "mail"},
		},
	}
	cfg.SetDefaults()
	ps := cfg.Validate()
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
		if p.Msg == "" {
			t.Errorf("%s: empty message", p.Key)
		}
	}
	sort.Strings(keys)
	want := []string{
		"clients[0].client_secret",
		"clients[1].client_id",
		"clients[1].client_secret",
		"clients[1].name",
		"clients[2].client_id",
		"clients[2].client_secret",
		"clients[2].name",
		"clients[2].profile",
		"clients[2].redirect_uris_allowed",
		"clients[2].sp_logout_url",
		"clients[3].client_secret_hash",
		"clients[3].redirect_uris_allowed",
		"clients[3].sp_logout_url",
		"clients[4].access_token_lifetime",
		"clients[4].company",
		"clients[4].expires_in_type",
		"clients[4].logout_redirect_domains[0]",
		"clients[4].logout_redirect_domains[1]",
		"clients[4].redirect_uris_allowed[0]",
		"clients[4].redirect_uris_allowed[1]",
		"clients[4].redirect_uris_allowed[2]",
		"clients[4].redirect_uris_allowed[3]",
		"clients[4].redirect_uris_allowed[4]",
		"clients[4].redirect_uris_allowed[5]",
		"clients[4].sp_logout_url",
		"clients[4].userinfo_field",
		"code_lifetime",
		"flow_lifetime",
	}
	if strings.Join(keys, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%v\nwant keys:\n%s", ps, strings.Join(want, "\n"))
	}
	if _, err := New(cfg); err == nil {
		t.Error("New accepted an invalid config")
	}
}

// TestTokenOutlivesCode: the token is stored when its code is issued, so
// a token lifetime not longer than the code's is refused, naming the key.
func TestTokenOutlivesCode(t *testing.T) {
	for _, tc := range []struct {
		code, token time.Duration
		ok          bool
	}{
		{2 * time.Minute, time.Minute, false},
		{2 * time.Minute, 2 * time.Minute, false},
		{2 * time.Minute, 3 * time.Minute, true},
		{DefaultCodeLifetime, time.Minute, false},
		{30 * time.Second, time.Minute, true},
	} {
		cfg := testConfig()
		cfg.CodeLifetime = tc.code
		cfg.Clients[1].AccessTokenLifetime = tc.token
		ps := cfg.Validate()
		if tc.ok != (len(ps) == 0) {
			t.Errorf("code %s, token %s: %v; want ok=%v", tc.code, tc.token, ps, tc.ok)
		}
		if !tc.ok && (len(ps) != 1 || ps[0].Key != "clients[1].access_token_lifetime" || !strings.Contains(ps[0].Msg, "code_lifetime")) {
			t.Errorf("code %s, token %s: %v; want one problem at clients[1].access_token_lifetime naming code_lifetime", tc.code, tc.token, ps)
		}
	}
}

func TestInsecureLoopback(t *testing.T) {
	mk := func(insecure bool) Config {
		cfg := Config{InsecureAllowHTTPLoopback: insecure, Clients: []Client{{
			Name: "demo", ClientID: "demo", ClientSecret: "demo-secret-0123456789", Profile: "workplace",
			RedirectURIsAllowed:   []string{"http://127.0.0.1:*/callback", "http://localhost:8081/"},
			LogoutRedirectDomains: []string{"localhost"},
			SPLogoutURL:           "http://127.0.0.1:8081/logout",
		}}}
		cfg.SetDefaults()
		return cfg
	}
	strict := mk(false)
	if ps := strict.Validate(); len(ps) != 3 {
		t.Errorf("without the switch want 3 problems, got %v", ps)
	}
	cfg := mk(true)
	if ps := cfg.Validate(); len(ps) != 0 {
		t.Fatalf("with the switch: %v", ps)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := p.clients["demo"]
	for ru, want := range map[string]bool{
		"http://127.0.0.1:39999/callback":   true,
		"http://127.0.0.1/callback/x":       true,
		"http://127.0.0.1:39999/other":      false,
		"http://localhost:8081/cb":          true,
		"http://localhost:8082/cb":          false,
		"http://127.0.0.2:39999/callback":   false,
		"http://example.com:39999/callback": false,
	} {
		if got := checkRedirectURI(ru, cl.allowed, true) == nil; got != want {
			t.Errorf("%s: allowed=%v, want %v", ru, got, want)
		}
	}
}

// TestExampleYAML keeps example.yaml in step with the Config keys: strict
// decode, then the loader's job (secrets) done by hand, then Validate.
func TestExampleYAML(t *testing.T) {
	raw, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OAuth Config `yaml:"oauth"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	cfg := doc.OAuth
	for i := range cfg.Clients {
		cfg.Clients[i].ClientSecretFile = ""
		cfg.Clients[i].ClientSecret = "resolved-by-the-loader-0123"
	}
	cfg.SetDefaults()
	if ps := cfg.Validate(); len(ps) != 0 {
		t.Errorf("example.yaml does not validate: %v", ps)
	}
	if len(cfg.Clients) != 2 || cfg.Clients[1].UserinfoField != "user_id" {
		t.Errorf("decoded %+v", cfg.Clients)
	}
}
