package saml

import (
	"errors"
	"testing"
)

func TestACSMatcher(t *testing.T) {
	m, err := newACSMatcher([]string{
		"https://acme.ncpworkplace.com/authn/",          // prefix
		"https://auth.worksmobile.com/acs/acme.example", // exact
		"https://bare.example",                          // bare origin: prefix "/"
	})
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"https://acme.ncpworkplace.com/authn/saml",
		"https://acme.ncpworkplace.com/authn/saml/acs?x=1&y=2",
		"https://acme.ncpworkplace.com/authn/",
		"https://auth.worksmobile.com/acs/acme.example",
		"https://bare.example/",
		"https://bare.example/acs",
	}
	refused := []string{
		"https://acme.ncpworkplace.com/authn",            // trailing slash missing
		"https://acme.ncpworkplace.com/authnx/acs",       // prefix without its slash
		"https://acme.ncpworkplace.com/other/acs",        // extra path outside the prefix
		"https://acme.ncpworkplace.com/AUTHN/acs",        // path case
		"https://Acme.ncpworkplace.com/authn/acs",        // host case
		"HTTPS://acme.ncpworkplace.com/authn/acs",        // scheme case
		"http://acme.ncpworkplace.com/authn/acs",         // http
		"https://acme.ncpworkplace.com:443/authn/acs",    // explicit port
		"https://acme.ncpworkplace.com./authn/acs",       // trailing dot host
		"https://acme.ncpworkplace.com/authn/../x",       // dot-dot
		"https://acme.ncpworkplace.com/authn/./x",        // dot
		"https://acme.ncpworkplace.com/authn/%2e%2e/x",   // encoded dot-dot
		"https://acme.ncpworkplace.com/authn/%2F",        // encoded slash
		"https://acme.ncpworkplace.com/authn/%5c",        // encoded backslash
		"https://acme.ncpworkplace.com/authn\\x",         // backslash
		"https://acme.ncpworkplace.com/authn//x",         // empty segment
		"https://u:p@acme.ncpworkplace.com/authn/x",      // userinfo
		"https://acme.ncpworkplace.com/authn/x#f",        // fragment
		"https://acme.ncpworkplace.com/authn/x y",        // space
		"https://acme.ncpworkplace.com/authn/é",          // non-ASCII
		"https://auth.worksmobile.com/acs/acme.example/", // exact entry: nothing more
		"https://auth.worksmobile.com/acs/other",
		"https://bare.example.evil.test/",
		"https://bare.exampleevil.test/",
		"",
	}
	for _, a := range allowed {
		if err := m.check(a); err != nil {
			t.Errorf("check(%q) = %v, want allowed", a, err)
		}
	}
	for _, r := range refused {
		if err := m.check(r); !errors.Is(err, errACSNotAllowed) {
			t.Errorf("check(%q) = %v, want refused", r, err)
		}
	}
}

func TestParseAllowEntry(t *testing.T) {
	for _, bad := range []string{"http://a.example/", "https://A.example/", "https://a.example/?q", "https://u@a.example/", "a.example", "https://a.example/../", "https://a.example/#x"} {
		if _, err := parseAllowEntry(bad); err == nil {
			t.Errorf("parseAllowEntry(%q) accepted", bad)
		}
	}
}
