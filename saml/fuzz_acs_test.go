package saml

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzACSCheck: whatever the ACS allowlist accepts is a plain https URL on
// the allowed host, under the allowed path, without dot segments, userinfo
// or anything a browser could read as another host.
func FuzzACSCheck(f *testing.F) {
	for _, s := range []string{
		"https://acme.ncpworkplace.com/acs", "https://acme.ncpworkplace.com.evil.test/acs",
		"https://acme.ncpworkplace.com@evil.test/acs", "https://acme.ncpworkplace.com:8443/acs",
		"https://acme.ncpworkplace.com/a/../acs", "https://acme.ncpworkplace.com/a/%2e%2e/acs",
		`https://acme.ncpworkplace.com\evil.test/acs`, "https://auth.worksmobile.com/acs/acme.example",
		"https://auth.worksmobile.com/acs/acme.example/../other", "https://auth.worksmobile.com/acs/acme.exampleX",
	} {
		f.Add(s)
	}
	m, err := newACSMatcher([]string{"https://acme.ncpworkplace.com/", "https://auth.worksmobile.com/acs/acme.example"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, acs string) {
		if m.check(acs) != nil {
			return
		}
		u, err := url.Parse(acs)
		if err != nil || u.Scheme != "https" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("accepted %q (%v)", acs, err)
		}
		switch u.Host {
		case "acme.ncpworkplace.com":
		case "auth.worksmobile.com":
			if acs != "https://auth.worksmobile.com/acs/acme.example" {
				t.Fatalf("accepted %q beyond the exact WORKS ACS", acs)
			}
		default:
			t.Fatalf("accepted %q on host %q", acs, u.Host)
		}
		if strings.ContainsAny(acs, "\\\t\r\n @#<>\"") {
			t.Fatalf("accepted %q with an ambiguous character", acs)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("accepted %q with a dot segment", acs)
			}
		}
	})
}
