package saml

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestSetDefaults(t *testing.T) {
	c := Config{ServiceProviders: []ServiceProviderConfig{
		{Profile: "workplace", Company: "acme"},
		{Profile: "NaverWorks", Domain: "acme.example"},
	}}
	c.SetDefaults()
	if !*c.SignResponse || !*c.SignAssertion || c.ClockSkew != 3*time.Minute || c.RequestLifetime != 30*time.Minute ||
		c.AssertionLifetime != 5*time.Minute || c.SessionNotOnOrAfter != 8*time.Hour {
		t.Errorf("defaults: %+v", c)
	}
	wp, nw := c.ServiceProviders[0], c.ServiceProviders[1]
	if wp.EntityID != "ncpworkplace.com" || !reflect.DeepEqual(wp.ACSAllowed, []string{"https://acme.ncpworkplace.com/"}) ||
		!reflect.DeepEqual(wp.LogoutRedirectDomains, []string{"acme.ncpworkplace.com"}) || wp.NameIDAttribute != "mail" ||
		wp.NameIDFormat != NameIDFormatUnspecified || wp.Name != "NCP WORKPLACE" {
		t.Errorf("workplace defaults: %+v", wp)
	}
	if nw.Profile != "naverworks" || nw.EntityID != "worksmobile.com" || !reflect.DeepEqual(nw.ACSAllowed, []string{"https://auth.worksmobile.com/acs/acme.example"}) ||
		!reflect.DeepEqual(nw.LogoutRedirectDomains, []string{"auth.worksmobile.com"}) {
		t.Errorf("naverworks defaults: %+v", nw)
	}
	if ps := c.Validate(); !strings.Contains(ps.Error(), "signing.key_file") || len(ps) != 1 {
		t.Errorf("Validate = %v, want only the missing key file", ps)
	}
}

// TestValidateReportsEverything: one run names every mistake, each with
// what to do.
func TestValidateReportsEverything(t *testing.T) {
	no := false
	c := Config{
		EntityID:      "has space",
		Signing:       SigningConfig{KeyFile: "k", UseNext: true, NextKeyFile: "n"},
		SignResponse:  &no,
		SignAssertion: &no,
		ClockSkew:     -time.Second,
		ServiceProviders: []ServiceProviderConfig{
			{Profile: "workplace", Company: "Not A Label", ACSAllowed: []string{"http://x.example/", "https://X.example/"}},
			{Profile: "metadata", ACSAllowed: []string{"https://a.example/"}},
			{Profile: "saml1", Name: "x", NameIDFormat: "email", LogoutRedirectDomains: []string{"https://a.example"}},
			{Profile: "naverworks", Domain: "bad domain!"},
			{Profile: "naverworks", Domain: "acme.example"},
			{Profile: "naverworks", Name: "WORKS without its domain"},
		},
	}
	c.SetDefaults()
	ps := c.Validate()
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
		if p.Msg == "" {
			t.Errorf("%s has no message", p.Key)
		}
	}
	sort.Strings(keys)
	want := []string{
		"clock_skew", "entity_id", "service_providers[0].acs_allowed[0]", "service_providers[0].acs_allowed[1]",
		"service_providers[0].company", "service_providers[1].acs_allowed", "service_providers[1].metadata_file",
		"service_providers[1].name", "service_providers[2].logout_redirect_domains[0]", "service_providers[2].nameid_format",
		"service_providers[2].profile", "service_providers[3].domain", "service_providers[4].entity_id",
		"service_providers[4].name", "service_providers[5].domain", "service_providers[5].entity_id", "sign_response", "signing.key_file", "signing.next_key_file",
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("problem keys:\n got %q\nwant %q\n%v", keys, want, ps)
	}
}

func TestMetadataSPConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := map[string]string{
		"dtd":            `<!DOCTYPE x><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/"/>`,
		"no acs":         `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>`,
		"http acs":       `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://sp.example/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`,
		"signed no cert": `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/"><md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			c := Config{Signing: SigningConfig{InsecureEphemeralKey: true}, ServiceProviders: []ServiceProviderConfig{{Name: "g", Profile: "metadata", MetadataFile: write(name+".xml", body)}}}
			c.SetDefaults()
			ps := c.Validate()
			if len(ps) != 1 || ps[0].Key != "service_providers[0].metadata_file" {
				t.Errorf("Validate = %v", ps)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		body := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
			`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs2" index="2"/>` +
			`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs1" index="1"/>` +
			`</md:SPSSODescriptor></md:EntityDescriptor>`
		c := Config{Signing: SigningConfig{InsecureEphemeralKey: true}, ServiceProviders: []ServiceProviderConfig{{Name: "g", Profile: "metadata", MetadataFile: write("good.xml", body)}}}
		kp, _ := testKeys(t)
		p, err := New(c, Options{Signing: kp})
		if err != nil {
			t.Fatal(err)
		}
		sp := p.reg.byEntityID["https://sp.example/"]
		if sp == nil || sp.defaultACS != "https://sp.example/acs1" || sp.checkACS("https://sp.example/acs2") != nil ||
			sp.checkACS("https://sp.example/acs2/x") == nil || sp.checkACS("https://sp.example/acs") == nil {
			t.Errorf("metadata SP = %+v", sp)
		}
		if !reflect.DeepEqual(sp.logoutDomains, []string{"sp.example"}) {
			t.Errorf("logout domains %v", sp.logoutDomains)
		}
	})
}

// TestExampleYAML keeps example.yaml in step with Config: it decodes
// strictly and validates (apart from the metadata file, which is an example
// path).
func TestExampleYAML(t *testing.T) {
	raw, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SAML Config `yaml:"saml"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	doc.SAML.SetDefaults()
	ps := doc.SAML.Validate()
	if len(ps) != 1 || ps[0].Key != "service_providers[2].metadata_file" {
		t.Errorf("Validate(example) = %v", ps)
	}
}

// TestCertificateFileProblems: certificate_file must hold a PEM
// certificate, and is refused for metadata SPs (theirs is in the metadata).
func TestCertificateFileProblems(t *testing.T) {
	for _, tc := range []struct {
		sp   ServiceProviderConfig
		want string
	}{
		{ServiceProviderConfig{Profile: ProfileNaverWorks, Domain: "acme.example", CertificateFile: "/nonexistent/works.pem"}, "certificate_file"},
		{ServiceProviderConfig{Profile: ProfileMetadata, MetadataFile: "/nonexistent/sp.xml", CertificateFile: "/nonexistent/works.pem"}, "certificate_file"},
	} {
		c := Config{Signing: SigningConfig{InsecureEphemeralKey: true}, ServiceProviders: []ServiceProviderConfig{tc.sp}}
		c.SetDefaults()
		found := false
		for _, p := range c.Validate() {
			if p.Key == "service_providers[0]."+tc.want {
				found = true
			}
		}
		if !found {
			t.Errorf("%s profile: no %s problem in %v", tc.sp.Profile, tc.want, c.Validate())
		}
	}
}

// TestLoginAPIFromProblems: login_api_from takes addresses and CIDR
// networks, on a naverworks SP only.
func TestLoginAPIFromProblems(t *testing.T) {
	ok := ServiceProviderConfig{Profile: ProfileNaverWorks, Domain: "acme.example", LoginAPIFrom: []string{"203.0.113.0/24", "2001:db8::1"}}
	for _, tc := range []struct {
		sp   ServiceProviderConfig
		want string
	}{
		{ok, ""},
		{ServiceProviderConfig{Profile: ProfileNaverWorks, Domain: "acme.example", LoginAPIFrom: []string{"203.0.113.0/33"}}, "login_api_from[0]"},
		{ServiceProviderConfig{Profile: ProfileWorkplace, Company: "acme", LoginAPIFrom: []string{"203.0.113.1"}}, "login_api_from"},
	} {
		c := Config{Signing: SigningConfig{InsecureEphemeralKey: true}, ServiceProviders: []ServiceProviderConfig{tc.sp}}
		c.SetDefaults()
		var keys []string
		for _, p := range c.Validate() {
			keys = append(keys, p.Key)
		}
		if (tc.want == "") != (len(keys) == 0) || (tc.want != "" && !slices.Contains(keys, "service_providers[0]."+tc.want)) {
			t.Errorf("%+v: problems %v, want %q", tc.sp.LoginAPIFrom, keys, tc.want)
		}
	}
}
